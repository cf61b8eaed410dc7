"""``/api/objectspecs``: the object models of a registered client, as Eclipse Leshan 2.x has them.

``GET /api/objectspecs/{endpoint}`` answers 200 with a JSON array: one model for
each object the client listed in its registration, in the version it declared
(``</3>;ver=1.1``), sorted by object id::

    [{"id": 3, "name": "Device", "instancetype": "single", "mandatory": true,
      "urn": "urn:oma:lwm2m:oma:3:1.1", "version": "1.1", "lwm2mversion": "1.1",
      "description": "...", "description2": "",
      "resourcedefs": [{"id": 0, "name": "Manufacturer", "operations": "R",
                        "instancetype": "single", "mandatory": false, "type": "string",
                        "range": "", "units": "", "description": "..."}, ...]},
     ...]

``operations`` is ``NONE``, ``R``, ``W``, ``RW`` or ``E``; ``type`` is ``string``,
``integer``, ``unsigned_integer``, ``float``, ``boolean``, ``opaque``, ``time``,
``objlnk``, ``corelink`` or ``none`` (executable resources). An object listed
without ``ver`` is taken in its default version for the client's LwM2M version:
the version of the core specification for objects 0-7 and 21 under LwM2M 1.1,
1.0 otherwise. An object whose declared version the registry does not hold is
left out of the list.

``GET /api/objectspecs`` (no endpoint) lists every model the server knows, every
version of each, by object id then version, in the same shape: a UI names the
objects of any client from it, and it shows what ``--models DIR`` loaded.
Leshan 2.x's servlet answers 400 there; a list is more useful and breaks no tool
that works with Leshan.

Refusals are text, as Leshan's: ``400 no registered client with id 'EP'`` for an
endpoint that is not registered, ``400 Invalid path`` with more than one path
segment.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from lwm2m.model.ddf import object_urn
from lwm2m.model.definitions import ObjectDef, Operations, ResourceDef
from lwm2m.model.registry import Registry
from lwm2m.model.types import ResourceType
from lwm2m.server.registration import Registration
from lwm2m.server.rest.responses import HttpError, Json, json_response
from lwm2m.server.server import Server

__all__ = [
    "add_routes",
    "declared_versions",
    "default_object_version",
    "object_model_to_json",
    "registration_models",
    "resource_model_to_json",
]

_OPERATIONS: Final = {
    Operations.NONE: "NONE",
    Operations.R: "R",
    Operations.W: "W",
    Operations.RW: "RW",
    Operations.E: "E",
}

_TYPES: Final = {
    ResourceType.STRING: "string",
    ResourceType.INTEGER: "integer",
    ResourceType.UNSIGNED_INTEGER: "unsigned_integer",
    ResourceType.FLOAT: "float",
    ResourceType.BOOLEAN: "boolean",
    ResourceType.OPAQUE: "opaque",
    ResourceType.TIME: "time",
    ResourceType.OBJLNK: "objlnk",
    ResourceType.CORELNK: "corelink",
    ResourceType.NONE: "none",
}

# Versions of the core objects that a client of an LwM2M enabler version supports
# when its registration names none (LwM2M 1.1.1 core specification: Security,
# Server, Access Control, Device, Connectivity Monitoring, Firmware Update,
# Location, Connectivity Statistics, OSCORE). Other objects, and every object
# under another enabler version, default to 1.0.
_CORE_DEFAULTS: Final[dict[str, dict[int, str]]] = {
    "1.1": {
        0: "1.1",
        1: "1.1",
        2: "1.0",
        3: "1.1",
        4: "1.2",
        5: "1.0",
        6: "1.0",
        7: "1.0",
        21: "1.0",
    },
}


def default_object_version(lwm2m_version: str, object_id: int) -> str:
    """The version of an object a client declared without ``ver``."""
    return _CORE_DEFAULTS.get(lwm2m_version, {}).get(object_id, "1.0")


def declared_versions(reg: Registration) -> dict[int, str]:
    """Object id -> the object version the registration declares (or implies)."""
    return {
        oid: version if version is not None else default_object_version(reg.version, oid)
        for oid, version in reg.object_links.objects.items()
    }


def registration_models(reg: Registration, registry: Registry) -> list[ObjectDef]:
    """The models of the registration's objects that ``registry`` holds, by object id."""
    found = (
        registry.get_version(oid, version)
        for oid, version in sorted(declared_versions(reg).items())
    )
    return [obj for obj in found if obj is not None]


def resource_model_to_json(res: ResourceDef) -> dict[str, Json]:
    return {
        "id": res.id,
        "name": res.name,
        "operations": _OPERATIONS.get(res.operations, res.operations.to_ddf() or "NONE"),
        "instancetype": "multiple" if res.multiple else "single",
        "mandatory": res.mandatory,
        "type": _TYPES[res.type],
        "range": res.range_text,
        "units": res.units,
        "description": res.description,
    }


def object_model_to_json(obj: ObjectDef) -> dict[str, Json]:
    """One object model; its resources by id."""
    return {
        "id": obj.id,
        "name": obj.name,
        "instancetype": "multiple" if obj.multiple else "single",
        "mandatory": obj.mandatory,
        "urn": obj.urn or object_urn(obj.id, obj.version),
        "version": obj.version,
        "lwm2mversion": obj.lwm2m_version,
        "description": obj.description,
        # The loader keeps no second description (DDF <Description2>).
        "description2": "",
        "resourcedefs": [
            resource_model_to_json(obj.resources[rid]) for rid in sorted(obj.resources)
        ],
    }


def add_routes(app: web.Application, server: Server) -> None:
    """Add ``GET /api/objectspecs[/...]`` to ``app``."""

    async def specs(request: web.Request) -> web.Response:
        segments = [s for s in request.match_info.get("tail", "").split("/") if s]
        if not segments:
            return json_response(
                [object_model_to_json(obj) for obj in server.registry.all_versions()]
            )
        if len(segments) != 1:
            raise HttpError(400, "Invalid path")
        endpoint = segments[0]
        reg = server.get_registration(endpoint)
        if reg is None:
            raise HttpError(400, f"no registered client with id '{endpoint}'")
        models = registration_models(reg, server.registry)
        return json_response([object_model_to_json(obj) for obj in models])

    app.router.add_get("/api/objectspecs", specs)
    app.router.add_get("/api/objectspecs/{tail:.*}", specs)

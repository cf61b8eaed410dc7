"""``GET /api/objectspecs/{endpoint}`` against the contract of Eclipse Leshan 2.x's demo server.

The facts pinned here, and the Leshan source each comes from (repository
eclipse-leshan/leshan):

* route and refusals -- ``leshan-demo-server/src/main/java/org/eclipse/leshan/demo/server/
  servlet/ObjectSpecServlet.java``: the endpoint is the one path segment after
  ``/api/objectspecs`` (empty segments ignored), no segment or more than one is
  ``400 Invalid path``, an endpoint without registration is ``400 no registered
  client with id 'EP'``; the answer is a JSON array sorted by object id. The
  refusals are ``text/plain`` (``leshan-demo-servers-shared/.../servlet/
  LeshanDemoServlet.java``, ``safelySendError``).
* object fields -- ``leshan-demo-server/.../model/ObjectModelSerDes.java``: ``id``,
  ``name``, ``instancetype`` ("multiple"/"single"), ``mandatory``, ``urn``,
  ``version``, ``lwm2mversion``, ``description``, ``description2``, ``resourcedefs``.
* resource fields -- ``leshan-demo-server/.../model/ResourceModelSerDes.java``:
  ``id``, ``name``, ``operations`` (the name of the enum ``ResourceModel.Operations``:
  NONE, R, W, RW, E), ``instancetype``, ``mandatory``, ``type`` (the lower-cased
  name of the enum ``ResourceModel.Type``: none, string, integer, float, boolean,
  opaque, time, objlnk, unsigned_integer, corelink -- ``leshan-lwm2m-core/.../model/
  ResourceModel.java``), ``range``, ``units``, ``description``.
* which models -- ``leshan-lwm2m-server/.../model/VersionedModelProvider.java``:
  the version each object was registered with; an object whose version has no
  model is left out. The version of an object listed without ``ver`` --
  ``leshan-lwm2m-server/.../registration/DefaultRegistrationDataExtractor.java``
  and ``leshan-lwm2m-core/.../model/LwM2mCoreObjectVersionRegistry.java``: the
  core-specification version for objects 0-7 and 21 under LwM2M 1.1 (Device 1.1,
  Connectivity Monitoring 1.2, ...), 1.0 for every other object and under 1.0.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.model import ObjectDef, Operations, Registry, ResourceDef, ResourceType
from lwm2m.model.registry import default_registry
from lwm2m.server import Server
from lwm2m.server.rest import create_app
from lwm2m.server.rest.objectspecs import (
    default_object_version,
    object_model_to_json,
    resource_model_to_json,
)

HOST = "127.0.0.1"
FAST = TransmissionParams(ack_timeout=0.2, ack_random_factor=1.0, max_retransmit=2)
T = ResourceType

#: A vendor object with every resource type and operation.
VENDOR = ObjectDef(
    10250,
    "Vendor Meter",
    {
        0: ResourceDef(0, "Count", T.INTEGER, Operations.R, mandatory=True, range_text="-5..5"),
        1: ResourceDef(1, "Ratio", T.FLOAT, Operations.RW, units="%"),
        2: ResourceDef(2, "Label", T.STRING, Operations.W, description="A label."),
        3: ResourceDef(3, "Reset", T.NONE, Operations.E),
        4: ResourceDef(4, "Blobs", T.OPAQUE, Operations.RW, multiple=True),
        5: ResourceDef(5, "Flag", T.BOOLEAN),
        6: ResourceDef(6, "When", T.TIME),
        7: ResourceDef(7, "Peer", T.OBJLNK),
        8: ResourceDef(8, "Total", T.UNSIGNED_INTEGER),
        9: ResourceDef(9, "Links", T.CORELNK),
        10: ResourceDef(10, "Secret", T.OPAQUE, Operations.NONE),
    },
    multiple=False,
    mandatory=True,
    version="1.0",
    lwm2m_version="1.1",
    description="Counts things.",
)

#: Device 1.0 (resources 0-16 in the OMA registry; two are enough here).
DEVICE_10 = ObjectDef(
    3,
    "Device",
    {
        0: ResourceDef(0, "Manufacturer", T.STRING),
        4: ResourceDef(4, "Reboot", T.NONE, Operations.E, mandatory=True),
    },
    multiple=False,
    mandatory=True,
    version="1.0",
    lwm2m_version="1.0",
    urn="urn:oma:lwm2m:oma:3",
)


def registry() -> Registry:
    reg = default_registry().copy()
    reg.add(VENDOR)
    reg.add(DEVICE_10)
    reg.add(default_registry()[3])  # the built-in Device 1.1 stays the current one
    return reg


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with Server(HOST, 0, transmission=FAST, registry=registry()) as srv:
        yield srv


@pytest.fixture
async def api(server: Server) -> AsyncIterator[aiohttp.ClientSession]:
    runner = web.AppRunner(create_app(server, heartbeat=0.2))
    await runner.setup()
    try:
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        port = runner.addresses[0][1]
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(f"http://{HOST}:{port}", timeout=timeout) as session:
            yield session
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def peer() -> AsyncIterator[Endpoint]:
    endpoint = await Endpoint.create_udp(HOST, 0, params=FAST)
    try:
        yield endpoint
    finally:
        await endpoint.close()


async def register(
    device: Endpoint, server: Server, name: str, links: str, lwm2m: str = "1.1"
) -> None:
    """Register ``name`` with exactly these object links."""
    response = await device.request(
        Code.POST,
        "/rd",
        remote=server.coap_address,
        query=[f"ep={name}", f"lwm2m={lwm2m}", "lt=300", "b=U"],
        payload=links.encode(),
        content_format=ContentFormat.LINK_FORMAT,
        timeout=5,
    )
    assert response.code == Code.CREATED, response


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str, str]:
    async with session.get(url) as resp:
        return resp.status, resp.content_type, await resp.text()


async def specs(session: aiohttp.ClientSession, endpoint: str) -> list[dict[str, Any]]:
    status, ctype, text = await get(session, f"/api/objectspecs/{endpoint}")
    assert (status, ctype) == (200, "application/json"), text
    body = json.loads(text)
    assert isinstance(body, list)
    return body


def by_id(models: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {m["id"]: m for m in models}


# --- the JSON of one model ---------------------------------------------------------------


VENDOR_JSON = {
    "id": 10250,
    "name": "Vendor Meter",
    "instancetype": "single",
    "mandatory": True,
    "urn": "urn:oma:lwm2m:x:10250",
    "version": "1.0",
    "lwm2mversion": "1.1",
    "description": "Counts things.",
    "description2": "",
    "resourcedefs": [
        {
            "id": 0,
            "name": "Count",
            "operations": "R",
            "instancetype": "single",
            "mandatory": True,
            "type": "integer",
            "range": "-5..5",
            "units": "",
            "description": "",
        },
        {
            "id": 1,
            "name": "Ratio",
            "operations": "RW",
            "instancetype": "single",
            "mandatory": False,
            "type": "float",
            "range": "",
            "units": "%",
            "description": "",
        },
        {
            "id": 2,
            "name": "Label",
            "operations": "W",
            "instancetype": "single",
            "mandatory": False,
            "type": "string",
            "range": "",
            "units": "",
            "description": "A label.",
        },
        {
            "id": 3,
            "name": "Reset",
            "operations": "E",
            "instancetype": "single",
            "mandatory": False,
            "type": "none",
            "range": "",
            "units": "",
            "description": "",
        },
        {
            "id": 4,
            "name": "Blobs",
            "operations": "RW",
            "instancetype": "multiple",
            "mandatory": False,
            "type": "opaque",
            "range": "",
            "units": "",
            "description": "",
        },
    ],
}


def test_object_model_json_fields_and_order() -> None:
    body = object_model_to_json(VENDOR)
    assert list(body) == [
        "id",
        "name",
        "instancetype",
        "mandatory",
        "urn",
        "version",
        "lwm2mversion",
        "description",
        "description2",
        "resourcedefs",
    ]
    assert body["resourcedefs"][:5] == VENDOR_JSON["resourcedefs"]
    assert {k: v for k, v in body.items() if k != "resourcedefs"} == {
        k: v for k, v in VENDOR_JSON.items() if k != "resourcedefs"
    }
    assert list(body["resourcedefs"][0]) == [
        "id",
        "name",
        "operations",
        "instancetype",
        "mandatory",
        "type",
        "range",
        "units",
        "description",
    ]


def test_type_and_operation_names() -> None:
    names = {
        r["id"]: (r["type"], r["operations"]) for r in object_model_to_json(VENDOR)["resourcedefs"]
    }
    assert names == {
        0: ("integer", "R"),
        1: ("float", "RW"),
        2: ("string", "W"),
        3: ("none", "E"),
        4: ("opaque", "RW"),
        5: ("boolean", "R"),
        6: ("time", "R"),
        7: ("objlnk", "R"),
        8: ("unsigned_integer", "R"),
        9: ("corelink", "R"),
        10: ("opaque", "NONE"),
    }
    executable = resource_model_to_json(VENDOR.resources[3])
    assert executable["type"] == "none" and executable["operations"] == "E"


def test_versioned_urn_is_generated_when_the_definition_has_none() -> None:
    obj = ObjectDef(10251, "X", {}, version="1.2")
    assert object_model_to_json(obj)["urn"] == "urn:oma:lwm2m:x:10251:1.2"
    assert object_model_to_json(obj)["resourcedefs"] == []


@pytest.mark.parametrize(
    ("lwm2m", "object_id", "version"),
    [
        ("1.0", 3, "1.0"),
        ("1.0", 1, "1.0"),
        ("1.1", 0, "1.1"),
        ("1.1", 1, "1.1"),
        ("1.1", 2, "1.0"),
        ("1.1", 3, "1.1"),
        ("1.1", 4, "1.2"),
        ("1.1", 5, "1.0"),
        ("1.1", 21, "1.0"),
        ("1.1", 3303, "1.0"),
        ("1.1", 10250, "1.0"),
        ("1.2", 3, "1.0"),
    ],
)
def test_default_object_versions(lwm2m: str, object_id: int, version: str) -> None:
    assert default_object_version(lwm2m, object_id) == version


# --- the route ------------------------------------------------------------------------------


async def test_models_of_a_registration(server: Server, api: aiohttp.ClientSession) -> None:
    async with peer() as device:
        links = '</>;rt="oma.lwm2m";ct=110,</1/0>,</3>;ver=1.1,</3/0>,</10250/0>,</3303/0>;ver=1.1'
        await register(device, server, "dev1", links)
        models = await specs(api, "dev1")
    assert [m["id"] for m in models] == [1, 3, 3303, 10250]  # sorted by object id
    assert models[-1] == VENDOR_JSON | {
        "resourcedefs": [resource_model_to_json(VENDOR.resources[r]) for r in range(11)]
    }
    device_model = by_id(models)[3]
    assert device_model["version"] == "1.1" and device_model["urn"] == "urn:oma:lwm2m:oma:3:1.1"
    assert [r["id"] for r in device_model["resourcedefs"]] == list(range(23))
    assert by_id(models)[1]["version"] == "1.1"  # Server object, default under LwM2M 1.1


async def test_declared_version_picks_the_model(server: Server, api: aiohttp.ClientSession) -> None:
    async with peer() as a, peer() as b, peer() as c:
        # LwM2M 1.0 client declaring Device 1.1 gets the 1.1 model
        await register(a, server, "declares-1-1", "</3>;ver=1.1,</3/0>", lwm2m="1.0")
        # LwM2M 1.0 client without ver: Device 1.0
        await register(b, server, "plain-1-0", "</3/0>", lwm2m="1.0")
        # LwM2M 1.1 client without ver: the Device of the 1.1 core specification, 1.1
        await register(c, server, "plain-1-1", "</3/0>", lwm2m="1.1")
        declared = await specs(api, "declares-1-1")
        plain_10 = await specs(api, "plain-1-0")
        plain_11 = await specs(api, "plain-1-1")
    assert [(m["id"], m["version"]) for m in declared] == [(3, "1.1")]
    assert len(declared[0]["resourcedefs"]) == 23
    assert plain_10 == [object_model_to_json(DEVICE_10)]
    assert plain_10[0]["urn"] == "urn:oma:lwm2m:oma:3"
    assert [(m["id"], m["version"]) for m in plain_11] == [(3, "1.1")]


async def test_objects_without_a_model_of_their_version_are_left_out(
    server: Server, api: aiohttp.ClientSession
) -> None:
    async with peer() as device:
        # 10250 exists only as 1.0, 3303 only as 1.1, 4 (default 1.2 under 1.1) only
        # as 1.0 and 1.3; 42424 is unknown; 5 (default 1.0) and 6 are there as 1.0
        links = "</10250>;ver=2.0,</10250/0>,</3303/0>,</4/0>,</42424/0>,</5/0>,</6/0>"
        await register(device, server, "sparse", links)
        models = await specs(api, "sparse")
    assert [(m["id"], m["version"]) for m in models] == [(5, "1.0"), (6, "1.0")]


async def test_a_registration_of_unknown_objects_only_is_an_empty_list(
    server: Server, api: aiohttp.ClientSession
) -> None:
    async with peer() as device:
        await register(device, server, "odd", "</42424/0>")
        assert await specs(api, "odd") == []
        # a trailing slash or a doubled one still names the endpoint
        status, _, text = await get(api, "/api/objectspecs//odd/")
        assert (status, text) == (200, "[]")


async def test_unknown_endpoint_is_400_text(api: aiohttp.ClientSession) -> None:
    status, ctype, text = await get(api, "/api/objectspecs/nobody")
    assert (status, ctype, text) == (400, "text/plain", "no registered client with id 'nobody'")


@pytest.mark.parametrize("url", ["/api/objectspecs/a/b", "/api/objectspecs/a/b/c"])
async def test_a_longer_path_is_invalid(api: aiohttp.ClientSession, url: str) -> None:
    assert await get(api, url) == (400, "text/plain", "Invalid path")


@pytest.mark.parametrize("url", ["/api/objectspecs", "/api/objectspecs/"])
async def test_without_endpoint_every_known_model_is_listed(
    api: aiohttp.ClientSession, url: str
) -> None:
    async with api.get(url) as resp:
        assert resp.status == 200
        models = await resp.json()
    ids = [(m["id"], m["version"]) for m in models]
    assert ids == sorted(ids, key=lambda item: (item[0], tuple(map(int, item[1].split(".")))))
    assert {0, 1, 3, 3303} <= {oid for oid, _ in ids}
    device = next(m for m in models if m["id"] == 3)
    assert device["name"] == "Device" and device["resourcedefs"][0]["name"] == "Manufacturer"


async def test_only_get(api: aiohttp.ClientSession) -> None:
    async with api.post("/api/objectspecs/dev1") as resp:
        assert resp.status == 405
    async with api.delete("/api/objectspecs/dev1") as resp:
        assert resp.status == 405


async def test_models_follow_the_registry_of_the_server(
    server: Server, api: aiohttp.ClientSession
) -> None:
    """A definition added to the server's registry later is served from then on."""
    async with peer() as device:
        await register(device, server, "late", "</10260/0>")
        assert await specs(api, "late") == []
        late = ObjectDef(10260, "Late", {0: ResourceDef(0, "x", T.STRING)})
        server.registry.add(late)
        assert await specs(api, "late") == [object_model_to_json(late)]

"""JSON nodes and values of the REST API, as Eclipse Leshan's demo server writes them.

* a node is ``{"kind": "singleResource", "id": 0, "type": "STRING", "value": ...}``,
  ``{"kind": "resourceInstance", ...}`` (a ``/o/i/r/ri`` path), ``{"kind":
  "multiResource", "id": 7, "type": "INTEGER", "values": {"0": ..., "1": ...}}``,
  ``{"kind": "instance", "id": 0, "resources": [...]}`` or ``{"kind": "obj", "id":
  3, "instances": [...]}``;
* types are the LwM2M type names STRING, INTEGER, UNSIGNED_INTEGER, FLOAT, BOOLEAN,
  OPAQUE, TIME, OBJLNK, CORELINK (NONE for executable resources);
* values: OPAQUE is lower-case hex, TIME is milliseconds since the epoch (a Java
  ``Date``; the model keeps seconds), OBJLNK is ``{"objectId": o, "objectInstanceId":
  i}``, numbers are JSON numbers (numeric strings are accepted on input), a
  non-finite FLOAT is the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``;
* composite content (Read-Composite, Observe-Composite, Send) is one node per
  requested path, keyed by that path: ``{"/3/0": {"kind": "instance", ...},
  "/1/0/1": {"kind": "singleResource", ...}}`` (:func:`composite_to_json`).

Everything that parses client input raises :class:`RestInputError` with a message
naming the field; the API answers it with HTTP 400.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Final

from lwm2m.coap.numbers import ContentFormat
from lwm2m.errors import ModelError
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    Node,
    ObjectNode,
    ObjLink,
    Path,
    Records,
    Registry,
    ResourceNode,
    ResourceType,
    Value,
    coerce,
    from_records,
    guess_type,
)
from lwm2m.server.rest.responses import Json, RestInputError

__all__ = [
    "FORMAT_NAMES",
    "TYPE_NAMES",
    "RestInputError",
    "composite_to_json",
    "instance_from_json",
    "node_from_json",
    "node_to_json",
    "parse_format",
    "parse_path",
    "records_from_json",
    "records_to_json",
    "value_from_json",
    "value_to_json",
]


#: ``?format=`` names (case-insensitive) -> CoAP Content-Format.
FORMAT_NAMES: Final[dict[str, int]] = {
    "TLV": ContentFormat.LWM2M_TLV,
    "JSON": ContentFormat.LWM2M_JSON,
    "SENML_JSON": ContentFormat.SENML_JSON,
    "SENML_CBOR": ContentFormat.SENML_CBOR,
    "LWM2M_CBOR": ContentFormat.LWM2M_CBOR,
    "TEXT": ContentFormat.TEXT_PLAIN,
    "OPAQUE": ContentFormat.OCTET_STREAM,
    "CBOR": ContentFormat.CBOR,
}

#: LwM2M type -> its name in JSON nodes.
TYPE_NAMES: Final[dict[ResourceType, str]] = {
    ResourceType.STRING: "STRING",
    ResourceType.INTEGER: "INTEGER",
    ResourceType.UNSIGNED_INTEGER: "UNSIGNED_INTEGER",
    ResourceType.FLOAT: "FLOAT",
    ResourceType.BOOLEAN: "BOOLEAN",
    ResourceType.OPAQUE: "OPAQUE",
    ResourceType.TIME: "TIME",
    ResourceType.OBJLNK: "OBJLNK",
    ResourceType.CORELNK: "CORELINK",
    ResourceType.NONE: "NONE",
}
_TYPES_BY_NAME: Final = {name: rtype for rtype, name in TYPE_NAMES.items()}
_NUMERIC: Final = frozenset(
    {ResourceType.INTEGER, ResourceType.UNSIGNED_INTEGER, ResourceType.FLOAT, ResourceType.TIME}
)
_NON_FINITE: Final = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def parse_format(name: str | None) -> int | None:
    """The Content-Format of a ``?format=`` name; None when absent or empty."""
    if name is None or name == "":
        return None
    cf = FORMAT_NAMES.get(name.upper())
    if cf is None:
        known = ", ".join(FORMAT_NAMES)
        raise RestInputError(f"unknown format {name!r}; expected one of {known}")
    return cf


def parse_path(text: str) -> Path:
    """An LwM2M path from URL text such as ``3/0/1`` or ``/3/0/1``."""
    try:
        return Path.parse(text)
    except ModelError as exc:
        raise RestInputError(str(exc)) from None


# --- values ------------------------------------------------------------------------


def _type_of(path: Path, value: Value, registry: Registry) -> ResourceType:
    """The definition's type when the value fits it, else the value's natural type."""
    rdef = registry.resource(path)
    if rdef is not None:
        try:
            coerce(rdef.type, value)
        except ModelError:
            pass
        else:
            return rdef.type
    return guess_type(value)


def value_to_json(rtype: ResourceType, value: Value) -> Json:
    """One value in its JSON form (see the module docstring)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, ObjLink):
        return {"objectId": value.object_id, "objectInstanceId": value.instance_id}
    if rtype is ResourceType.TIME and isinstance(value, int) and not isinstance(value, bool):
        return value * 1000
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _integer(raw: Json, where: str) -> int:
    if isinstance(raw, bool):
        raise RestInputError(f"{where}: expected an integer, got a boolean")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str):
        try:
            return int(raw.strip(), 10)
        except ValueError:
            pass
    raise RestInputError(f"{where}: expected an integer, got {raw!r}")


def _float(raw: Json, where: str) -> float:
    if isinstance(raw, bool):
        raise RestInputError(f"{where}: expected a number, got a boolean")
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        if raw in _NON_FINITE:
            return _NON_FINITE[raw]
        try:
            value = float(raw.strip())
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return value
    raise RestInputError(f"{where}: expected a number, got {raw!r}")


def _objlnk(raw: Json, where: str) -> ObjLink:
    try:
        if isinstance(raw, str):
            return ObjLink.parse(raw)
        if isinstance(raw, Mapping):
            return ObjLink(
                _integer(raw.get("objectId"), f"{where}.objectId"),
                _integer(raw.get("objectInstanceId"), f"{where}.objectInstanceId"),
            )
    except ModelError as exc:
        raise RestInputError(f"{where}: {exc}") from None
    raise RestInputError(f"{where}: expected {{'objectId', 'objectInstanceId'}} or 'o:i'")


def _parse_value(rtype: ResourceType, raw: Json, where: str) -> Value:
    if rtype is ResourceType.NONE:
        if raw is not None:
            raise RestInputError(f"{where}: an executable resource carries no value")
        return None
    if raw is None:
        raise RestInputError(f"{where}: a value is required")
    if rtype in (ResourceType.STRING, ResourceType.CORELNK):
        if not isinstance(raw, str):
            raise RestInputError(f"{where}: expected a string, got {raw!r}")
        return raw
    if rtype is ResourceType.BOOLEAN:
        if not isinstance(raw, bool):
            raise RestInputError(f"{where}: expected true or false, got {raw!r}")
        return raw
    if rtype is ResourceType.OPAQUE:
        if not isinstance(raw, str):
            raise RestInputError(f"{where}: expected a hex string, got {raw!r}")
        try:
            return bytes.fromhex(raw)
        except ValueError:
            raise RestInputError(f"{where}: {raw!r} is not a hex string") from None
    if rtype is ResourceType.OBJLNK:
        return _objlnk(raw, where)
    if rtype is ResourceType.FLOAT:
        return _float(raw, where)
    if rtype is ResourceType.TIME:
        return _integer(raw, where) // 1000  # JSON carries milliseconds
    return _integer(raw, where)


def _natural_type(raw: Json, where: str) -> ResourceType:
    """The type of a JSON value given without a type or definition."""
    if isinstance(raw, Mapping):
        return ResourceType.OBJLNK
    if isinstance(raw, bool | int | float | str):
        return guess_type(raw)
    raise RestInputError(f"{where}: cannot tell the type of {raw!r}; give a 'type'")


def _declared_type(data: Mapping[str, Json], where: str) -> ResourceType | None:
    name = data.get("type")
    if name is None:
        return None
    if not isinstance(name, str):
        raise RestInputError(f"{where}.type: expected a type name, got {name!r}")
    rtype = _TYPES_BY_NAME.get(name.upper())
    if rtype is None:
        raise RestInputError(f"{where}.type: unknown type {name!r}")
    return rtype


def value_from_json(
    path: Path, raw: Json, declared: ResourceType | None, registry: Registry, where: str
) -> Value:
    """The model value at resource (instance) ``path`` from its JSON form.

    The definition's type wins; a declared ``type`` must agree with it (numeric
    types may stand for one another).
    """
    rdef = registry.resource(path)
    if rdef is None:
        rtype = declared if declared is not None else _natural_type(raw, where)
        return _parse_value(rtype, raw, where)
    if (
        declared is not None
        and declared is not rdef.type
        and not (declared in _NUMERIC and rdef.type in _NUMERIC)
    ):
        raise RestInputError(
            f"{where}: type {TYPE_NAMES[declared]} does not match the definition of {path} "
            f"({TYPE_NAMES[rdef.type]})"
        )
    value = _parse_value(rdef.type, raw, where)
    try:
        return coerce(rdef.type, value, where)
    except ModelError as exc:
        raise RestInputError(str(exc)) from None


# --- nodes: model -> JSON -----------------------------------------------------------------


def _resource_json(
    res: ResourceNode | MultiResourceNode, path: Path, registry: Registry
) -> dict[str, Json]:
    """``path`` is the resource path (or resource instance path for a level-4 node)."""
    if isinstance(res, MultiResourceNode):
        first = next(iter(res.values.values()), None)
        rdef = registry.resource(path)
        rtype = (
            _type_of(path.child(next(iter(res.values))), first, registry)
            if res.values
            else (rdef.type if rdef is not None else ResourceType.NONE)
        )
        return {
            "kind": "multiResource",
            "id": res.id,
            "type": TYPE_NAMES[rtype],
            "values": {str(ri): value_to_json(rtype, v) for ri, v in res.values.items()},
        }
    rtype = _type_of(path, res.value, registry)
    return {
        "kind": "resourceInstance" if path.level == 4 else "singleResource",
        "id": res.id,
        "type": TYPE_NAMES[rtype],
        "value": value_to_json(rtype, res.value),
    }


def _instance_json(inst: InstanceNode, object_id: int, registry: Registry) -> dict[str, Json]:
    base = Path(object_id, inst.id)
    return {
        "kind": "instance",
        "id": inst.id,
        "resources": [
            _resource_json(res, base.child(rid), registry) for rid, res in inst.resources.items()
        ],
    }


def node_to_json(node: Node, path: Path, registry: Registry) -> dict[str, Json]:
    """The JSON node for ``node``, the content at request ``path``."""
    if isinstance(node, ObjectNode):
        return {
            "kind": "obj",
            "id": node.id,
            "instances": [
                _instance_json(inst, node.id, registry) for inst in node.instances.values()
            ],
        }
    if isinstance(node, InstanceNode):
        return _instance_json(node, path[0], registry)
    if path.level == 4:
        return _resource_json(node, path, registry)
    rpath = path if path.level == 3 else Path(*path[:2], node.id)
    return _resource_json(node, rpath, registry)


def composite_to_json(
    records: Records, paths: Iterable[Path], registry: Registry
) -> dict[str, Json]:
    """Composite content as one node per requested path, keyed by that path.

    ``{"/3303": {"kind": "obj", ...}, "/3/0/1": {"kind": "singleResource", ...}}``;
    a path with no value in ``records`` is left out (the client had nothing
    there). The root path ``/`` stands for every object: its records are shown
    as one ``obj`` node per object, keyed ``/o``.
    """
    out: dict[str, Json] = {}
    for path in paths:
        if not path:
            objects = sorted({p[0] for p in records})
            for oid in objects:
                out.update(composite_to_json(records, [Path(oid)], registry))
            continue
        below = {p: v for p, v in records.items() if path.is_prefix_of(p)}
        if not below:
            continue
        multiple = {p.parent: True for p in below if p.level == 4}
        for p in below:
            if p.level == 3:
                rdef = registry.resource(p)
                multiple.setdefault(p, rdef is not None and rdef.multiple)
        try:
            node = from_records(below, path, multiple)
        except ModelError:
            continue
        assert not isinstance(node, dict)
        out[str(path)] = node_to_json(node, path, registry)
    return out


def records_to_json(records: Records, registry: Registry) -> dict[str, Json]:
    """Composite content (read, notification, Send): ``{"/3/0/0": node, ...}``."""
    return {
        str(path): _resource_json(ResourceNode(path[-1], value), path, registry)
        for path, value in records.items()
    }


# --- nodes: JSON -> model -----------------------------------------------------------------


def _mapping(data: Json, where: str) -> Mapping[str, Json]:
    if not isinstance(data, Mapping):
        raise RestInputError(f"{where}: expected a JSON object, got {type(data).__name__}")
    return data


def _kind(data: Mapping[str, Json], where: str) -> str:
    kind = data.get("kind")
    if kind is not None:
        if kind not in ("obj", "instance", "multiResource", "singleResource", "resourceInstance"):
            raise RestInputError(f"{where}.kind: unknown node kind {kind!r}")
        return str(kind)
    for key, implied in (
        ("instances", "obj"),
        ("resources", "instance"),
        ("values", "multiResource"),
        ("value", "singleResource"),
    ):
        if key in data:
            return implied
    raise RestInputError(f"{where}: not a node (no kind, instances, resources, values or value)")


def _node_id(data: Mapping[str, Json], expected: int | None, where: str) -> int:
    raw = data.get("id")
    if raw is None:
        if expected is None:
            raise RestInputError(f"{where}: an 'id' is required")
        return expected
    node_id = _integer(raw, f"{where}.id")
    if expected is not None and node_id != expected:
        raise RestInputError(f"{where}.id: {node_id} does not match the path id {expected}")
    try:
        Path(node_id)
    except ModelError as exc:
        raise RestInputError(f"{where}.id: {exc}") from None
    return node_id


def _list(data: Mapping[str, Json], key: str, where: str) -> list[Json]:
    items = data.get(key)
    if not isinstance(items, list):
        raise RestInputError(f"{where}.{key}: expected a list")
    return items


def _resource_from_json(
    data: Mapping[str, Json], base: Path, expected: int | None, registry: Registry, where: str
) -> ResourceNode | MultiResourceNode:
    """A resource node below instance path ``base``."""
    kind = _kind(data, where)
    rid = _node_id(data, expected, where)
    path = base.child(rid)
    declared = _declared_type(data, where)
    if kind == "multiResource":
        values = _mapping(data.get("values"), f"{where}.values")
        multi = MultiResourceNode(rid)
        for key, raw in values.items():
            ri = _integer(key, f"{where}.values key")
            try:
                ripath = path.child(ri)
            except ModelError as exc:
                raise RestInputError(f"{where}.values: {exc}") from None
            multi.values[ri] = value_from_json(
                ripath, raw, declared, registry, f"{where}.values[{key}]"
            )
        return multi
    if kind != "singleResource":
        raise RestInputError(f"{where}: expected a resource node, got kind {kind!r}")
    return ResourceNode(rid, value_from_json(path, data.get("value"), declared, registry, where))


def _instance_from_json(
    data: Mapping[str, Json],
    object_id: int,
    expected: int | None,
    registry: Registry,
    where: str,
) -> InstanceNode:
    if _kind(data, where) != "instance":
        raise RestInputError(f"{where}: expected an instance node")
    iid = _node_id(data, expected, where)
    inst = InstanceNode(iid)
    for n, item in enumerate(_list(data, "resources", where)):
        at = f"{where}.resources[{n}]"
        res = _resource_from_json(_mapping(item, at), Path(object_id, iid), None, registry, at)
        if res.id in inst.resources:
            raise RestInputError(f"{at}: resource {res.id} given twice")
        inst.resources[res.id] = res
    return inst


def node_from_json(data: Json, path: Path, registry: Registry) -> Node:
    """The node to write at ``path`` (object, instance, resource or resource instance)."""
    body = _mapping(data, "body")
    level = path.level
    if level == 4:
        kind = _kind(body, "body")
        if kind not in ("singleResource", "resourceInstance"):
            raise RestInputError(f"body: {path} takes a resourceInstance node, not {kind!r}")
        rid = _node_id(body, path[3], "body")
        declared = _declared_type(body, "body")
        return ResourceNode(
            rid, value_from_json(path, body.get("value"), declared, registry, "body")
        )
    if level == 3:
        return _resource_from_json(body, path.parent, path[2], registry, "body")
    if level == 2:
        return _instance_from_json(body, path[0], path[1], registry, "body")
    if level == 1:
        if _kind(body, "body") != "obj":
            raise RestInputError(f"body: {path} takes an obj node")
        oid = _node_id(body, path[0], "body")
        obj = ObjectNode(oid)
        for n, item in enumerate(_list(body, "instances", "body")):
            at = f"body.instances[{n}]"
            inst = _instance_from_json(_mapping(item, at), oid, None, registry, at)
            obj.instances[inst.id] = inst
        return obj
    raise RestInputError("a node is written at an object, instance or resource path")


def instance_from_json(
    data: Json, object_id: int, instance_id: int | None, registry: Registry
) -> InstanceNode:
    """The instance of a Create on ``/object_id`` (``instance_id`` from the URL, if any)."""
    return _instance_from_json(_mapping(data, "body"), object_id, instance_id, registry, "body")


def records_from_json(data: Json, registry: Registry) -> dict[Path, Value]:
    """Write-Composite values from ``{"/3/0/14": node, "/1/0/2": node, ...}``."""
    body = _mapping(data, "body")
    if not body:
        raise RestInputError("body: at least one path is required")
    out: dict[Path, Value] = {}
    for key, item in body.items():
        path = parse_path(key)
        where = f"body[{key!r}]"
        if path.level < 3:
            raise RestInputError(f"{where}: composite writes take resource paths")
        node = node_from_json(item, path, registry)
        if isinstance(node, MultiResourceNode):
            out.update({path.child(ri): v for ri, v in node.values.items()})
        else:
            assert isinstance(node, ResourceNode)
            out[path] = node.value
    return out

"""The record model shared by the SenML-like LwM2M formats.

SenML (RFC 8428) and the LwM2M formats built on the same idea (OMA JSON of
LwM2M 1.0, TS 6.4.4; SenML JSON and SenML CBOR of LwM2M 1.1, TS 7.4.5 and
7.4.6) carry a flat list of records. Each record has a name resolved against
the current base name (``bn`` + ``n``, RFC 8428 section 4.5.1), an optional
time (``bt`` + ``t``) and at most one value whose field tells its kind:

=========  =====================  =======================================
kind       SenML fields           Python value when no definition exists
=========  =====================  =======================================
number     ``v``                  ``int`` or ``float``
string     ``vs`` (OMA: ``sv``)   ``str``
boolean    ``vb`` (OMA: ``bv``)   ``bool``
data       ``vd``                 ``bytes``
objlnk     ``vlo`` (OMA: ``ov``)  :class:`~lwm2m.model.ObjLink`
=========  =====================  =======================================

LwM2M requires every resolved name to be a path ("/3/0/7/1"). A value is
typed by the registry's :class:`~lwm2m.model.ResourceDef` when there is one
(a number for an Integer resource must be integral, Time becomes ``int``,
Float becomes ``float``); a value that breaks the definition raises
:class:`~lwm2m.errors.DecodeError` naming the record index and the field.
Only the type and its 64-bit range are checked here, not the DDF range.

Time fields are checked to be numbers and are otherwise not kept: the node
model carries no timestamps. When a name occurs twice (a Send with history)
the last record wins. Fields RFC 8428 section 4.4 calls must-understand
(labels ending in ``_``) are rejected; other unknown fields are ignored.

The formats differ only in the labels of these fields and in how data
travels (base64url text in JSON, a byte string in CBOR); each describes
itself with a :class:`Dialect`. :mod:`lwm2m.formats.lwm2m_cbor` uses the
same value typing for its nested maps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lwm2m.errors import DecodeError, EncodeError
from lwm2m.model import (
    MAX_ID,
    InstanceNode,
    MultiResourceNode,
    Node,
    ObjectDef,
    ObjectNode,
    ObjLink,
    Path,
    Records,
    Registry,
    ResourceDef,
    ResourceNode,
    ResourceType,
    Value,
)

# Value kinds. The numbers index :attr:`Dialect.labels` and the converter tables.
NUM = 0
STR = 1
BOOL = 2
DATA = 3
OBJLNK = 4
TIME_TAG = 5  # LwM2M CBOR only: a CBOR tag 1 epoch time (already an int)
_KINDS = 6

# Structure fields, numbered after the kinds.
BN = 6
BT = 7
N = 8
T = 9

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

Converter = Callable[[object], Value]


# --- value converters (raise ValueError with a short reason) ------------------
def _to_str(raw: object) -> Value:
    if type(raw) is not str:
        raise ValueError(f"expected a text string, got {type(raw).__name__}")
    return raw


def _to_bool(raw: object) -> Value:
    if type(raw) is not bool:
        raise ValueError(f"expected a boolean, got {type(raw).__name__}")
    return raw


def _to_integral(raw: object) -> int:
    if type(raw) is int:
        return raw
    if type(raw) is float:
        if not raw.is_integer():
            raise ValueError(f"{raw!r} is not an integer")
        return int(raw)
    raise ValueError(f"expected a number, got {type(raw).__name__}")


def _to_int64(raw: object) -> Value:
    v = _to_integral(raw)
    if not INT64_MIN <= v <= INT64_MAX:
        raise ValueError(f"{v} does not fit a signed 64-bit integer")
    return v


def _to_uint64(raw: object) -> Value:
    v = _to_integral(raw)
    if not 0 <= v <= UINT64_MAX:
        raise ValueError(f"{v} out of range for an unsigned 64-bit integer")
    return v


def _to_float(raw: object) -> Value:
    if type(raw) is float:
        return raw
    if type(raw) is int:
        return float(raw)  # OverflowError past 1.8e308 is reported by the caller
    raise ValueError(f"expected a number, got {type(raw).__name__}")


def _to_number(raw: object) -> Value:
    if type(raw) is float:
        return raw
    if type(raw) is int:
        if not INT64_MIN <= raw <= UINT64_MAX:
            raise ValueError(f"{raw} does not fit a 64-bit integer")
        return raw
    raise ValueError(f"expected a number, got {type(raw).__name__}")


def parse_objlnk(raw: object) -> Value:
    """Parse the text form "o:i" of an Object Link (LwM2M Core TS C.1)."""
    if type(raw) is not str:
        raise ValueError(f"expected an object link text 'o:i', got {type(raw).__name__}")
    o, sep, i = raw.partition(":")
    if not sep or not _is_id_text(o) or not _is_id_text(i):
        raise ValueError(f"{raw!r} is not an object link 'o:i'")
    oid, iid = int(o), int(i)
    if oid > 65535 or iid > 65535:
        raise ValueError(f"{raw!r}: object link ids are 16-bit")
    return ObjLink(oid, iid)


def _is_id_text(s: str) -> bool:
    return 0 < len(s) <= 5 and s.isascii() and s.isdigit()


def _identity(raw: object) -> Value:
    return raw  # type: ignore[return-value]


def _to_bytes(raw: object) -> Value:
    if type(raw) is not bytes:
        raise ValueError(f"expected a byte string, got {type(raw).__name__}")
    return raw


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one format spells the SenML fields.

    ``fields`` maps a payload key to a kind or structure field; ``labels``
    names each kind and field in error messages. ``data`` turns the raw
    ``vd`` value into bytes; ``extra`` adds (type, kind) conversions beyond
    the common ones (e.g. OMA JSON carries Opaque as base64 in ``sv``).
    """

    name: str
    fields: Mapping[object, int]
    labels: tuple[str, ...]
    data: Converter = _to_bytes
    extra: Mapping[tuple[ResourceType, int], Converter] | None = None
    typed: dict[int, tuple[Converter | None, ...]] | None = None
    untyped: tuple[Converter | None, ...] = ()

    def __post_init__(self) -> None:
        common: dict[tuple[ResourceType, int], Converter] = {
            (ResourceType.STRING, STR): _to_str,
            (ResourceType.CORELNK, STR): _to_str,
            (ResourceType.INTEGER, NUM): _to_int64,
            (ResourceType.TIME, NUM): _to_int64,
            (ResourceType.UNSIGNED_INTEGER, NUM): _to_uint64,
            (ResourceType.FLOAT, NUM): _to_float,
            (ResourceType.BOOLEAN, BOOL): _to_bool,
            (ResourceType.OPAQUE, DATA): self.data,
            (ResourceType.OBJLNK, OBJLNK): parse_objlnk,
            (ResourceType.TIME, TIME_TAG): _identity,
        }
        common.update(self.extra or {})
        # Keyed by id() of the enum member: Enum.__hash__ is a Python-level call.
        typed = {
            id(rt): tuple(common.get((rt, kind)) for kind in range(_KINDS)) for rt in ResourceType
        }
        untyped = (_to_number, _to_str, _to_bool, self.data, parse_objlnk, _identity)
        object.__setattr__(self, "typed", typed)
        object.__setattr__(self, "untyped", untyped)


# --- names ---------------------------------------------------------------------
_NAME_CACHE: dict[str, Path] = {}
_NAME_CACHE_SIZE = 2048


def parse_name(name: str) -> Path | None:
    """The path a resolved SenML name denotes ("/3/0/7/1"), or None when it is no path."""
    path = _NAME_CACHE.get(name)
    if path is not None:
        return path
    if len(name) < 2 or name[0] != "/":
        return None
    parts = name[1:].split("/")
    if len(parts) > 4:
        return None
    ids = []
    for part in parts:
        if not _is_id_text(part) or (part[0] == "0" and len(part) > 1):
            return None
        v = int(part)
        if v > MAX_ID:
            return None
        ids.append(v)
    path = tuple.__new__(Path, ids)
    if len(_NAME_CACHE) >= _NAME_CACHE_SIZE:
        _NAME_CACHE.clear()
    _NAME_CACHE[name] = path
    return path


def resolve(
    items: object, d: Dialect, add: Callable[[Path, int, object, int], None], bn: str = ""
) -> None:
    """Resolve every record's name and value field and hand them to ``add``.

    ``add(path, kind, raw, index)`` gets kind -1 for a record without value.
    """
    if type(items) is not list:
        raise DecodeError(f"{d.name}: expected an array of records, got {type(items).__name__}")
    fields = d.fields
    cache = _NAME_CACHE
    for idx, rec in enumerate(items):
        if type(rec) is not dict:
            raise DecodeError(f"{d.name} record {idx}: expected a map, got {type(rec).__name__}")
        n = ""
        kind = -1
        raw: object = None
        for key, x in rec.items():
            f = fields.get(key)
            if f is None:
                if type(key) is str and key[-1:] == "_":
                    raise DecodeError(f"{d.name} record {idx}: must-understand field {key!r}")
            elif f < _KINDS:
                if kind >= 0:
                    raise DecodeError(
                        f"{d.name} record {idx}: fields {d.labels[kind]} and {d.labels[f]} "
                        "both carry a value"
                    )
                kind = f
                raw = x
            elif f in (N, BN):
                if type(x) is not str:
                    raise DecodeError(f"{d.name} record {idx}: field {d.labels[f]} is not text")
                if f == N:
                    n = x
                else:
                    bn = x
            elif (type(x) is not int and type(x) is not float) or x != x:
                raise DecodeError(f"{d.name} record {idx}: field {d.labels[f]} is not a number")
        name = bn + n
        p = cache.get(name) or parse_name(name)
        if p is None:
            raise DecodeError(f"{d.name} record {idx}: name {name!r} is not an LwM2M path")
        add(p, kind, raw, idx)


# --- typing and assembly ---------------------------------------------------------
class Assembler:
    """Types leaf values by the registry and assembles the node for a request path.

    Records must lie below the request path. A resource defined as multiple
    needs resource instance ids, a single one must not have them; without a
    definition the names decide (a 4th level means multiple). For the root
    path the result is the flat :data:`Records`.
    """

    __slots__ = ("_obj", "_oid", "_path", "dialect", "insts", "level", "records", "registry")

    def __init__(self, dialect: Dialect, registry: Registry, path: Path) -> None:
        self.dialect = dialect
        self.registry = registry
        self._path = path
        self.level = len(path)
        self.records: Records = {}
        self.insts: dict[int, InstanceNode] = {}
        self._oid = -1
        self._obj: ObjectDef | None = None

    def _where(self, idx: int, p: Path) -> str:
        if idx < 0:
            return f"{self.dialect.name} value at {p}"
        return f"{self.dialect.name} record {idx} ({p})"

    def add(self, p: Path, kind: int, raw: object, idx: int = -1) -> None:
        """Type the raw value of kind ``kind`` at leaf ``p``; ``idx`` is the record index."""
        if kind < 0:
            raise DecodeError(f"{self._where(idx, p)}: no value")
        if len(p) < 3:
            raise DecodeError(f"{self._where(idx, p)}: not a resource or resource instance path")
        if p[0] != self._oid:
            self._oid = p[0]
            self._obj = self.registry.get(p[0])
        obj = self._obj
        rid = p[2]
        rdef = obj.resources.get(rid) if obj is not None else None
        d = self.dialect
        if rdef is None:
            conv = d.untyped[kind]
            multiple = None
        else:
            conv = d.typed[id(rdef.type)][kind]  # type: ignore[index]
            multiple = rdef.multiple
        try:
            if conv is None:
                assert rdef is not None
                raise ValueError(f"cannot carry a {rdef.type.value} value")
            value = conv(raw)
        except (ValueError, OverflowError) as exc:
            raise DecodeError(f"{self._where(idx, p)}, field {d.labels[kind]}: {exc}") from None
        single = len(p) == 3
        if multiple is not None and multiple == single:
            kind_text = "multiple" if multiple else "single-instance"
            raise DecodeError(f"{self._where(idx, p)}: resource {p[:3]} is {kind_text}")
        level = self.level
        if level == 0:
            self.records[p] = value
            return
        if p[:level] != self._path:
            raise DecodeError(f"{self._where(idx, p)}: outside the request path {self._path}")
        inst = self.insts.get(p[1])
        if inst is None:
            inst = self.insts[p[1]] = InstanceNode(p[1])
        resources = inst.resources
        res = resources.get(rid)
        if single:
            if res is not None and type(res) is MultiResourceNode:
                raise DecodeError(f"{self._where(idx, p)}: mixes single and multiple values")
            resources[rid] = ResourceNode(rid, value)
        else:
            if res is None:
                res = resources[rid] = MultiResourceNode(rid)
            elif type(res) is not MultiResourceNode:
                raise DecodeError(f"{self._where(idx, p)}: mixes single and multiple values")
            res.values[p[3]] = value

    def result(self) -> Node | Records:
        """The node (or records) for the request path."""
        path = self._path
        level = self.level
        if level == 0:
            return self.records
        if level == 1:
            return ObjectNode(path[0], self.insts)
        inst = self.insts.get(path[1])
        if level == 2:
            return inst if inst is not None else InstanceNode(path[1])
        res = inst.resources.get(path[2]) if inst is not None else None
        if level == 3:
            if res is not None:
                return res
            rdef = self.registry.resource(path)
            if rdef is not None and rdef.multiple:
                return MultiResourceNode(path[2])
        elif isinstance(res, MultiResourceNode):
            return ResourceNode(path[3], res.values[path[3]])
        raise DecodeError(f"{self.dialect.name}: the payload holds no value for {path}")


def decode_items(
    items: object, d: Dialect, path: Path, registry: Registry, bn: str = ""
) -> Node | Records:
    """Resolve, type and assemble a list of records for request ``path``."""
    asm = Assembler(d, registry, path)
    resolve(items, d, asm.add, bn)
    return asm.result()


def decode_path_items(items: object, d: Dialect) -> list[Path]:
    """The paths named by value-less records (Read-Composite / Observe-Composite bodies)."""
    out: list[Path] = []

    def add(p: Path, kind: int, raw: object, idx: int) -> None:
        if kind >= 0:
            raise DecodeError(f"{d.name} record {idx}: a path list carries no values")
        out.append(p)

    resolve(items, d, add)
    return out


# --- encoding ------------------------------------------------------------------
_KIND_OF: dict[type, int] = {
    str: STR,
    int: NUM,
    float: NUM,
    bool: BOOL,
    bytes: DATA,
    bytearray: DATA,
    memoryview: DATA,
    ObjLink: OBJLNK,
}
# Keyed by id() of the enum member, see Dialect.
_EXPECTED_KIND: dict[int, int] = {
    id(ResourceType.STRING): STR,
    id(ResourceType.CORELNK): STR,
    id(ResourceType.INTEGER): NUM,
    id(ResourceType.UNSIGNED_INTEGER): NUM,
    id(ResourceType.TIME): NUM,
    id(ResourceType.FLOAT): NUM,
    id(ResourceType.BOOLEAN): BOOL,
    id(ResourceType.OPAQUE): DATA,
    id(ResourceType.OBJLNK): OBJLNK,
}


def encode_value(value: Value, rdef: ResourceDef | None) -> tuple[int, Value]:
    """The kind of ``value`` and its canonical form; EncodeError when the format cannot carry it.

    With a definition the value must fit its type: ints for Integer, Unsigned
    Integer and Time, a number for Float (sent as a float), and so on. The
    error message does not name the place; callers prefix it.
    """
    kind = _KIND_OF.get(type(value), -1)
    if kind < 0:
        raise EncodeError(f"cannot encode a {type(value).__name__} value")
    if kind == NUM:
        if type(value) is int and not INT64_MIN <= value <= UINT64_MAX:
            raise EncodeError(f"{value} does not fit a 64-bit integer")
    elif kind == DATA and type(value) is not bytes:
        value = bytes(value)  # type: ignore[arg-type]
    if rdef is None:
        return kind, value
    rt = rdef.type
    if _EXPECTED_KIND.get(id(rt)) != kind:
        raise EncodeError(f"a {type(value).__name__} cannot be a {rt.value} value")
    if kind == NUM:
        if rt is ResourceType.FLOAT:
            return kind, float(value)  # type: ignore[arg-type]
        if type(value) is not int:
            raise EncodeError(f"{value!r} is not an integer ({rt.value})")
        if rt is ResourceType.UNSIGNED_INTEGER:
            if value < 0:
                raise EncodeError(f"{value} is negative ({rt.value})")
        elif value > INT64_MAX:
            raise EncodeError(f"{value} does not fit a signed 64-bit integer")
    return kind, value


Leaf = tuple[str, int, Value]
"""(name relative to the base name, value kind, value) of one record to encode."""


class _LeafError(EncodeError):
    """An encode error whose message starts with the leaf name relative to the base name."""


def _bad_id(value: object, what: str) -> EncodeError:
    return EncodeError(f"{what} id {value!r} out of range 0..{MAX_ID}")


def _resource_leaves(
    out: list[Leaf], prefix: str, res: ResourceNode | MultiResourceNode, obj: ObjectDef | None
) -> None:
    rid = res.id
    if type(rid) is not int or not 0 <= rid <= MAX_ID:
        raise _bad_id(rid, "resource")
    rdef = obj.resources.get(rid) if obj is not None else None
    name = prefix + str(rid)
    if type(res) is ResourceNode:
        if rdef is not None and rdef.multiple:
            raise _LeafError(f"{name}: resource is multiple, got a single value")
        try:
            kind, v = encode_value(res.value, rdef)
        except EncodeError as exc:
            raise _LeafError(f"{name}: {exc}") from None
        out.append((name, kind, v))
    elif type(res) is MultiResourceNode:
        _multi_leaves(out, name + "/", res, rdef)
    else:
        raise _LeafError(f"{name}: expected a resource node, got {type(res).__name__}")


def _multi_leaves(
    out: list[Leaf], prefix: str, res: MultiResourceNode, rdef: ResourceDef | None
) -> None:
    if rdef is not None and not rdef.multiple:
        raise _LeafError(f"{prefix}: resource is single, got multiple values")
    for ri, value in res.values.items():
        if type(ri) is not int or not 0 <= ri <= MAX_ID:
            raise _bad_id(ri, "resource instance")
        try:
            kind, v = encode_value(value, rdef)
        except EncodeError as exc:
            raise _LeafError(f"{prefix}{ri}: {exc}") from None
        out.append((prefix + str(ri), kind, v))


def base_name(path: Path) -> str:
    """The canonical ``bn`` for a request path: "/3/0/" for "/3/0"."""
    return "/" + "".join(f"{i}/" for i in path)


def leaves(node: Node | Records, path: Path, registry: Registry) -> tuple[str, list[Leaf]]:
    """The canonical base name and the leaves of ``node`` found at request ``path``.

    Canonical naming (all SenML-like encoders): for a request on an object,
    instance or multiple resource the base name is the request path with a
    trailing "/" and names are relative ("7/0"); for a single resource or a
    resource instance the base name is the full path and there is no name;
    composite :data:`Records` get no base name and full names ("/3/0/0").
    Leaves follow the dict order of the node. Errors name the leaf relative
    to the base name.
    """
    out: list[Leaf] = []
    level = len(path)
    if isinstance(node, dict):
        for p, value in node.items():
            if not isinstance(p, Path) or len(p) < 3 or not path.is_prefix_of(p):
                raise EncodeError(f"record {p!r} is not a resource path below {path}")
            try:
                kind, v = encode_value(value, registry.resource(p))
            except EncodeError as exc:
                raise EncodeError(f"{p}: {exc}") from None
            out.append((str(p), kind, v))
        return "", out
    bn = base_name(path)
    try:
        if isinstance(node, ObjectNode):
            if level != 1 or node.id != path[0]:
                raise EncodeError(f"an ObjectNode {node.id} does not belong at {path}")
            obj = registry.get(node.id)
            for inst in node.instances.values():
                if type(inst.id) is not int or not 0 <= inst.id <= MAX_ID:
                    raise _bad_id(inst.id, "instance")
                prefix = f"{inst.id}/"
                for res in inst.resources.values():
                    _resource_leaves(out, prefix, res, obj)
        elif isinstance(node, InstanceNode):
            if level != 2 or node.id != path[1]:
                raise EncodeError(f"an InstanceNode {node.id} does not belong at {path}")
            obj = registry.get(path[0])
            for res in node.resources.values():
                _resource_leaves(out, "", res, obj)
        elif isinstance(node, MultiResourceNode):
            if level != 3 or node.id != path[2]:
                raise EncodeError(f"a MultiResourceNode {node.id} does not belong at {path}")
            _multi_leaves(out, "", node, registry.resource(path))
        elif isinstance(node, ResourceNode):
            if level < 3 or node.id != path[-1]:
                raise EncodeError(f"a ResourceNode {node.id} does not belong at {path}")
            rdef = registry.resource(path)
            if rdef is not None and rdef.multiple and level == 3:
                raise EncodeError(f"{path}: resource is multiple, got a single value")
            try:
                out.append(("", *encode_value(node.value, rdef)))
            except EncodeError as exc:
                raise EncodeError(f"{path}: {exc}") from None
            bn = str(path)
        else:
            raise EncodeError(f"cannot encode a {type(node).__name__}")
    except _LeafError as exc:
        raise EncodeError(f"{bn}{exc}") from None
    return bn, out

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

Time fields are checked to be finite numbers (a NaN or infinite ``bt`` or
``t`` is a :class:`~lwm2m.errors.DecodeError`) and are otherwise not kept:
the node model carries no timestamps. When a name occurs twice (a Send with history)
the last record wins. Fields RFC 8428 section 4.4 calls must-understand
(labels ending in ``_``) are rejected; other unknown fields are ignored.

The formats differ only in the labels of these fields and in how data
travels (base64url text in JSON, a byte string in CBOR); each describes
itself with a :class:`Dialect`. :mod:`lwm2m.formats.lwm2m_cbor` uses the
same value typing for its nested maps.

Decoding an instance in the canonical shape (:func:`leaves`) takes
:func:`fast_instance`: one pass over the records through a per-definition
table of the relative names. It keeps the values the general path keeps as
they are and converts the others with the same converters; for anything
else it returns None and the general path (:func:`resolve`,
:func:`assemble`) decides, and raises the errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from math import isfinite

from lwm2m.errors import DecodeError, EncodeError
from lwm2m.formats._numbers import int_text, shown
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
BVER = 10  # base version (RFC 8428 section 4.4)
#: The highest SenML base version this reader understands (RFC 8428 section 4.4).
SENML_VERSION = 10

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

Converter = Callable[[object], Value]
Shape = tuple[object, object, object, int]
"""(name key, value key, base name key, value kind) of a record layout; None: key absent."""


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
        raise ValueError(f"{int_text(v)} does not fit a signed 64-bit integer")
    return v


def _to_uint64(raw: object) -> Value:
    v = _to_integral(raw)
    if not 0 <= v <= UINT64_MAX:
        raise ValueError(f"{int_text(v)} out of range for an unsigned 64-bit integer")
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
            raise ValueError(f"{int_text(raw)} does not fit a 64-bit integer")
        return raw
    raise ValueError(f"expected a number, got {type(raw).__name__}")


_OBJLNK_CACHE: dict[str, ObjLink] = {}
_OBJLNK_CACHE_SIZE = 1024


def parse_objlnk(raw: object) -> Value:
    """Parse the text form "o:i" of an Object Link (LwM2M Core TS C.1)."""
    if type(raw) is not str:
        raise ValueError(f"expected an object link text 'o:i', got {type(raw).__name__}")
    hit = _OBJLNK_CACHE.get(raw)  # ObjLink is immutable: parsed values are shared
    if hit is not None:
        return hit
    o, sep, i = raw.partition(":")
    if not sep or not _is_id_text(o) or not _is_id_text(i):
        raise ValueError(f"{shown(raw)} is not an object link 'o:i'")
    oid, iid = int(o), int(i)
    if oid > 65535 or iid > 65535:
        raise ValueError(f"{raw!r}: object link ids are 16-bit")
    link = ObjLink(oid, iid)
    if len(_OBJLNK_CACHE) >= _OBJLNK_CACHE_SIZE:
        _OBJLNK_CACHE.clear()
    _OBJLNK_CACHE[raw] = link
    return link


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
    shapes: dict[tuple[object, ...], Shape] = field(default_factory=dict, compare=False)
    keys: dict[int, object] = field(init=False, default_factory=dict, compare=False, repr=False)
    """Kind or structure field -> the payload key that carries it (the first one given)."""

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
        for key, f in self.fields.items():
            self.keys.setdefault(f, key)


# --- names ---------------------------------------------------------------------
Target = tuple[Path, int, int, int, int]
"""A path and its object, instance, resource and resource instance ids (-1 when absent)."""

_NAME_CACHE: dict[str, Target] = {}
_NAME_CACHE_SIZE = 2048


TARGETS: dict[tuple[int, ...], Target] = {}
"""Cache of :func:`target`: valid id tuples seen before."""


def target(ids: tuple[int, ...]) -> Target:
    """The :data:`Target` of a valid tuple of at most 4 ids."""
    hit = TARGETS.get(ids)
    if hit is None:
        o, i, r, ri = ids + (-1,) * (4 - len(ids))
        hit = tuple.__new__(Path, ids), o, i, r, ri
        if len(TARGETS) >= _NAME_CACHE_SIZE:
            TARGETS.clear()
        TARGETS[ids] = hit
    return hit


def parse_name(name: str) -> Target | None:
    """The path a resolved SenML name denotes ("/3/0/7/1"), or None when it is no path."""
    hit = _NAME_CACHE.get(name)
    if hit is not None:
        return hit
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
    hit = target(tuple(ids))
    if len(_NAME_CACHE) >= _NAME_CACHE_SIZE:
        _NAME_CACHE.clear()
    _NAME_CACHE[name] = hit
    return hit


# --- per-definition tables ---------------------------------------------------------
class _NoValue:
    """Stands for the Python type of an executable resource's value: nothing matches it."""


# resource type -> (Python type of the canonical value, kind, low, high); bounds only for ints
_TYPE_INFO: dict[ResourceType, tuple[type, int, int | None, int | None]] = {
    ResourceType.STRING: (str, STR, None, None),
    ResourceType.CORELNK: (str, STR, None, None),
    ResourceType.INTEGER: (int, NUM, INT64_MIN, INT64_MAX),
    ResourceType.TIME: (int, NUM, INT64_MIN, INT64_MAX),
    ResourceType.UNSIGNED_INTEGER: (int, NUM, 0, UINT64_MAX),
    ResourceType.FLOAT: (float, NUM, None, None),
    ResourceType.BOOLEAN: (bool, BOOL, None, None),
    ResourceType.OPAQUE: (bytes, DATA, None, None),
    ResourceType.OBJLNK: (ObjLink, OBJLNK, None, None),
    ResourceType.NONE: (_NoValue, -1, None, None),
}


class ResInfo:
    """One resource definition as the hot loops need it.

    A value whose type is exactly ``pytype`` (and, for integers, within
    ``lo``..``hi``) is already canonical for the definition: the encoders
    emit it as it is and the decoders keep a raw value of kind ``kind`` as
    it is. Anything else takes the general path (:func:`encode_value`, the
    dialect's converters), which converts it or raises.
    """

    __slots__ = ("children", "hi", "kind", "lo", "multiple", "name", "pytype", "rdef")

    def __init__(self, rdef: ResourceDef) -> None:
        self.rdef = rdef
        self.multiple = rdef.multiple
        self.name = str(rdef.id)
        self.pytype, self.kind, self.lo, self.hi = _TYPE_INFO[rdef.type]
        self.children: dict[int, str] = {}
        """Resource instance id -> the name "rid/ri" (filled by :func:`child_name`)."""


def child_name(info: ResInfo, ri: object) -> str | None:
    """The name "rid/ri" of a resource instance of ``info``; None for an invalid id."""
    if type(ri) is not int or not 0 <= ri <= MAX_ID:
        return None
    if len(info.children) >= _NAME_CACHE_SIZE:
        info.children.clear()
    name = info.children[ri] = f"{info.name}/{ri}"
    return name


ResTable = dict[int, ResInfo]
_NO_RESOURCES: ResTable = {}
_TABLES: dict[int, tuple[ObjectDef, ResTable]] = {}
_TABLES_SIZE = 512


def resource_table(obj: ObjectDef | None) -> ResTable:
    """Resource id -> :class:`ResInfo` of an object definition, built once per definition.

    Definitions are immutable (:mod:`lwm2m.model.definitions`), so the table
    is cached by the identity of the :class:`ObjectDef`; the cache holds a
    reference to it, so the identity cannot be reused while cached.
    """
    if obj is None:
        return _NO_RESOURCES
    hit = _TABLES.get(id(obj))
    if hit is not None and hit[0] is obj:
        return hit[1]
    table = {rid: ResInfo(rdef) for rid, rdef in obj.resources.items()}
    if len(_TABLES) >= _TABLES_SIZE:
        _TABLES.clear()
    _TABLES[id(obj)] = (obj, table)
    return table


# --- decoding ------------------------------------------------------------------------
RawLeaf = tuple[Target, int, object]
"""(resolved path, value kind or -1 for none, raw value) of one decoded record."""


def _learn_shape(keys: tuple[object, ...], d: Dialect) -> Shape | None:
    """The :data:`Shape` of records with exactly these keys, when they need no field checks.

    Only layouts of known fields without time fields and with at most one
    value qualify; :func:`resolve` takes the general path for the others.
    """
    nk = vk = bk = None
    kind = -1
    for key in keys:
        f = d.fields.get(key)
        if f is None or f in (BT, T, BVER):
            return None
        if f < _KINDS:
            if vk is not None:
                return None
            vk, kind = key, f
        elif f == N:
            nk = key
        else:
            bk = key
    shape = (nk, vk, bk, kind)
    if len(d.shapes) >= _SHAPES_SIZE:
        d.shapes.clear()
    d.shapes[keys] = shape
    return shape


_SHAPES_SIZE = 64


def _fields(
    rec: dict[object, object], d: Dialect, idx: int, bn: str
) -> tuple[str, int, object, str]:
    """(n, value kind, raw value, base name) of a record, checking every field (general path)."""
    n = ""
    kind = -1
    raw: object = None
    for key, x in rec.items():
        f = d.fields.get(key)
        if f is None:
            if type(key) is str and key[-1:] == "_":
                raise DecodeError(f"{d.name} record {idx}: must-understand field {shown(key)}")
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
        elif type(x) is not int and (type(x) is not float or not isfinite(x)):
            raise DecodeError(f"{d.name} record {idx}: field {d.labels[f]} is not a finite number")
        elif f == BVER and x > SENML_VERSION:
            # A pack of a later version MUST NOT be used (RFC 8428 section 4.4).
            raise DecodeError(f"{d.name} record {idx}: field {d.labels[f]} {x} is above 10")
    return n, kind, raw, bn


def resolve(items: object, d: Dialect, bn: str = "", *, root: bool = False) -> list[RawLeaf]:
    """Resolve every record's name and value field, in record order (one leaf per record).

    With ``root`` the name ``/`` is the root path (composite path lists, Core TS 1.1
    6.3.9 / 6.4.3); records with values never name the root.

    Records of a layout seen before (:func:`_learn_shape`) are read by key
    directly; the others field by field.
    """
    if type(items) is not list:
        raise DecodeError(f"{d.name}: expected an array of records, got {type(items).__name__}")
    shapes = d.shapes
    cache_get = _NAME_CACHE.get
    out: list[RawLeaf] = []
    append = out.append
    for idx, rec in enumerate(items):
        if type(rec) is not dict:
            raise DecodeError(f"{d.name} record {idx}: expected a map, got {type(rec).__name__}")
        keys = tuple(rec)
        shape = shapes.get(keys) or _learn_shape(keys, d)
        if shape is None:
            n, kind, raw, bn = _fields(rec, d, idx, bn)
        else:
            nk, vk, bk, kind = shape
            raw = None if vk is None else rec[vk]
            n = "" if nk is None else rec[nk]
            if bk is not None:
                bn = rec[bk]
                if type(bn) is not str:
                    raise DecodeError(f"{d.name} record {idx}: field {d.labels[BN]} is not text")
            if type(n) is not str:
                raise DecodeError(f"{d.name} record {idx}: field {d.labels[N]} is not text")
        name = bn + n
        t = cache_get(name) or parse_name(name)
        if t is None:
            if not (root and name == "/"):
                raise DecodeError(f"{d.name} record {idx}: name {shown(name)} is not an LwM2M path")
            t = target(())
        append((t, kind, raw))
    return out


def canonical(info: ResInfo, kind: int, raw: object) -> bool:
    """True when a raw value of ``kind`` is already the definition's value as it is.

    The one check every decoder makes before keeping a raw value unconverted;
    anything else goes through :func:`_convert` (the dialect's converters). The
    fast decoders make the same test inline, on the same :class:`ResInfo` fields,
    with the kind implied by the value key or CBOR type they read.
    """
    return (
        type(raw) is info.pytype
        and kind == info.kind
        and (info.lo is None or info.lo <= raw <= info.hi)  # type: ignore[operator]
    )


def _where(d: Dialect, indexed: bool, idx: int, p: Path) -> str:
    if indexed:
        return f"{d.name} record {idx} ({p})"
    return f"{d.name} value at {p}"


def _convert(d: Dialect, info: ResInfo | None, kind: int, raw: object) -> Value:
    """Type a raw value of ``kind`` (>= 0) by the dialect's converters.

    ValueError or OverflowError, with a short reason, when it cannot be a value
    of the definition (or of its own kind without one).
    """
    rdef = None if info is None else info.rdef
    conv = d.untyped[kind] if rdef is None else d.typed[id(rdef.type)][kind]  # type: ignore[index]
    if conv is None:
        assert rdef is not None
        raise ValueError(f"cannot carry a {rdef.type.value} value")
    return conv(raw)


def _typed(
    d: Dialect, info: ResInfo | None, kind: int, raw: object, indexed: bool, idx: int, p: Path
) -> Value:
    """Check a leaf and type its raw value by the dialect's converters (the general path)."""
    if kind < 0:
        raise DecodeError(f"{_where(d, indexed, idx, p)}: no value")
    if len(p) < 3:
        raise DecodeError(f"{_where(d, indexed, idx, p)}: not a resource or resource instance path")
    try:
        value = _convert(d, info, kind, raw)
    except (ValueError, OverflowError) as exc:
        raise DecodeError(f"{_where(d, indexed, idx, p)}, field {d.labels[kind]}: {exc}") from None
    if info is not None and info.multiple == (len(p) == 3):
        kind_text = "multiple" if info.multiple else "single-instance"
        raise DecodeError(f"{_where(d, indexed, idx, p)}: resource {p[:3]} is {kind_text}")
    return value


def assemble(
    leaves: list[RawLeaf], d: Dialect, path: Path, registry: Registry, indexed: bool = True
) -> Node | Records:
    """Type leaf values by the registry and build the node (or records) for request ``path``.

    Leaves must lie below the request path. A resource defined as multiple
    needs resource instance ids, a single one must not have them; without a
    definition the names decide (a 4th level means multiple). A leaf given
    twice: the last one wins. Errors name the record index when ``indexed``
    (the leaves are the payload's records in order), else the leaf path.
    """
    level = len(path)
    records: Records = {}
    insts: dict[int, InstanceNode] = {}
    resources: dict[int, ResourceNode | MultiResourceNode] = {}
    oid = iid = -1
    table = _NO_RESOURCES
    for idx, ((p, o, i, rid, ri), kind, raw) in enumerate(leaves):
        if o != oid:
            if level and o != path[0] and kind >= 0 and rid >= 0:
                raise DecodeError(f"{_where(d, indexed, idx, p)}: outside the request path {path}")
            oid = o
            iid = -1
            table = resource_table(registry.get(o))
        single = ri < 0
        info = table.get(rid)
        # A raw value already canonical for the definition (which implies a value and a
        # resource path) is kept; everything else is checked by _typed.
        if info is not None and info.multiple is not single and canonical(info, kind, raw):
            value: Value = raw  # type: ignore[assignment]
        else:
            value = _typed(d, info, kind, raw, indexed, idx, p)
        if level == 0:
            records[p] = value
            continue
        if i != iid:  # leaves come grouped by instance: look the instance up once per group
            if level > 1 and i != path[1]:
                raise DecodeError(f"{_where(d, indexed, idx, p)}: outside the request path {path}")
            iid = i
            inst = insts.get(iid)
            if inst is None:
                inst = insts[iid] = InstanceNode(iid)
            resources = inst.resources
        if level > 2 and p[:level] != path:
            raise DecodeError(f"{_where(d, indexed, idx, p)}: outside the request path {path}")
        res = resources.get(rid)
        if single:
            if res is not None and type(res) is MultiResourceNode:
                raise DecodeError(f"{_where(d, indexed, idx, p)}: mixes single and multiple values")
            resources[rid] = ResourceNode(rid, value)
        else:
            if res is None:
                res = resources[rid] = MultiResourceNode(rid)
            elif type(res) is not MultiResourceNode:
                raise DecodeError(f"{_where(d, indexed, idx, p)}: mixes single and multiple values")
            res.values[ri] = value
    return _result(d, path, registry, records, insts)


def _result(
    d: Dialect, path: Path, registry: Registry, records: Records, insts: dict[int, InstanceNode]
) -> Node | Records:
    level = len(path)
    if level == 0:
        return records
    if level == 1:
        return ObjectNode(path[0], insts)
    inst = insts.get(path[1])
    if level == 2:
        return inst if inst is not None else InstanceNode(path[1])
    res = inst.resources.get(path[2]) if inst is not None else None
    if level == 3:
        if res is not None:
            return res
        rdef = registry.resource(path)
        if rdef is not None and rdef.multiple:
            return MultiResourceNode(path[2])
    elif isinstance(res, MultiResourceNode):
        return ResourceNode(path[3], res.values[path[3]])
    raise DecodeError(f"{d.name}: the payload holds no value for {path}")


def decode_items(
    items: object, d: Dialect, path: Path, registry: Registry, bn: str = ""
) -> Node | Records:
    """Resolve, type and assemble a list of records for request ``path``.

    An instance in the canonical shape takes :func:`fast_instance`; anything
    it does not vouch for takes the general path, which also raises the errors.
    """
    if len(path) == 2:
        node = fast_instance(items, d, path, registry, bn)
        if node is not None:
            return node
    return assemble(resolve(items, d, bn), d, path, registry)


def checked_value(d: Dialect, info: ResInfo, kind: int, raw: object) -> Value | Refused:
    """The value of a leaf of a defined resource, or REFUSED when the general path must decide.

    For a raw value of ``kind`` (>= 0) that :func:`canonical` did not accept: the
    conversion of the general path (:func:`_convert`); a value it rejects is left
    to the general path, which raises the error.
    """
    if raw is REFUSED:
        return REFUSED
    try:
        return _convert(d, info, kind, raw)
    except (ValueError, OverflowError):
        return REFUSED


class Refused:
    """The type of :data:`REFUSED`."""


REFUSED = Refused()
"""Returned by the fast decoders' helpers: this payload needs the general path."""

NameEntry = tuple[int, int, object, type, int | None, int | None, ResInfo]
"""(resource id, resource instance id or -1, value key, then the definition's pytype, lo and
hi as in :class:`ResInfo`, and the definition) of a record name relative to a base name."""
InstanceNames = tuple[ObjectDef, str, dict[str, NameEntry]]
"""(definition, base name, relative name -> :data:`NameEntry`) of an instance path."""
_INSTANCE_NAMES: dict[tuple[int, Path, int], InstanceNames] = {}


def _instance_names(obj: ObjectDef, path: Path, d: Dialect) -> InstanceNames:
    """The base name of instance ``path`` and the table of the names below it.

    The table is filled by :func:`_name_entry` as names are met; cached by the
    identity of the definition like :func:`resource_table`, and of the dialect
    (its value keys).
    """
    key = (id(obj), path, id(d))
    hit = _INSTANCE_NAMES.get(key)
    if hit is not None and hit[0] is obj:
        return hit
    if len(_INSTANCE_NAMES) >= _TABLES_SIZE:
        _INSTANCE_NAMES.clear()
    hit = _INSTANCE_NAMES[key] = (obj, base_name(path), {})
    return hit


def _name_entry(names: InstanceNames, d: Dialect, path: Path, n: object) -> NameEntry | None:
    """Learn the entry of name ``n`` relative to the base name of instance ``path``.

    None for a name that is no defined resource (instance) of the instance, that
    names a single resource with an instance id or a multiple one without, or
    whose type the dialect has no value field for.
    """
    obj, bn, table = names
    if type(n) is not str:
        return None
    t = parse_name(bn + n)
    if t is None or len(t[0]) < 3 or t[0][:2] != path:
        return None
    rid, ri = t[3], t[4]
    info = resource_table(obj).get(rid)
    if info is None or info.multiple is (ri < 0) or info.kind not in d.keys:
        return None
    if len(table) >= _NAME_CACHE_SIZE:
        table.clear()
    entry = table[n] = (rid, ri, d.keys[info.kind], info.pytype, info.lo, info.hi, info)
    return entry


def fast_instance(
    items: object, d: Dialect, path: Path, registry: Registry, bn: str = ""
) -> InstanceNode | None:
    """The instance at ``path`` of records in the canonical shape; None for anything else.

    The shape :func:`leaves` writes: the first record may carry ``bn``, which
    must be the instance's base name ("/3/0/"); every record has a name relative
    to it, of a defined resource, and the one value field of that resource's
    type, nothing else. The records are read once, through a per-definition
    table of the names; values take the checks of the general path
    (:func:`canonical`, :func:`checked_value`). Any doubt (time fields, unknown
    resources, a value the checks reject, ...) returns None: the general path
    decides.
    """
    if type(items) is not list or not items:
        return None
    obj = registry.get(path[0])
    if obj is None:
        return None
    names = _instance_names(obj, path, d)
    base = names[1]
    nk = d.keys[N]
    first = items[0]
    if type(first) is not dict:
        return None
    if len(first) == 3 and BN in d.keys:
        if first.get(d.keys[BN]) != base:
            return None
        # the first record may hold three keys; its other two are read as in every record
    elif bn != base:
        return None
    else:
        first = None
    get = names[2].get
    resources: dict[int, ResourceNode | MultiResourceNode] = {}
    for rec in items:
        if type(rec) is not dict or (len(rec) != 2 and rec is not first):
            return None
        try:
            entry = get(rec.get(nk))  # type: ignore[arg-type]
        except TypeError:  # an unhashable name
            return None
        if entry is None:
            entry = _name_entry(names, d, path, rec.get(nk))
            if entry is None:
                return None
        rid, ri, vk, pytype, lo, hi, info = entry
        raw = rec.get(vk, REFUSED)
        # canonical() inline (the key vk carries the kind of the definition)
        if type(raw) is pytype and (lo is None or lo <= raw <= hi):  # type: ignore[operator]
            value: Value = raw  # type: ignore[assignment]
        else:
            checked = checked_value(d, info, info.kind, raw)
            if isinstance(checked, Refused):
                return None
            value = checked
        if ri < 0:
            resources[rid] = ResourceNode(rid, value)
        else:
            res = resources.get(rid)
            if res is None:
                res = resources[rid] = MultiResourceNode(rid, {})
            res.values[ri] = value  # type: ignore[union-attr]
    return InstanceNode(path[1], resources)


def decode_path_items(items: object, d: Dialect) -> list[Path]:
    """The paths named by value-less records (Read-Composite / Observe-Composite bodies)."""
    out: list[Path] = []
    for idx, (t, kind, _) in enumerate(resolve(items, d, root=True)):
        if kind >= 0:
            raise DecodeError(f"{d.name} record {idx}: a path list carries no values")
        out.append(t[0])
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
            raise EncodeError(f"{int_text(value)} does not fit a 64-bit integer")
    elif kind == DATA and type(value) is not bytes:
        value = bytes(value)  # type: ignore[arg-type]
    if rdef is None:
        return kind, value
    rt = rdef.type
    if _TYPE_INFO[rt][1] != kind:
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
            raise EncodeError(f"{int_text(value)} does not fit a signed 64-bit integer")
    return kind, value


Leaf = tuple[str, int, Value | dict[int, Value]]
"""(name relative to the base name, value kind, value) of one record to encode; the value
is a dict only for the resource leaves of ``leaves(..., grouped=True)``."""


class _LeafError(EncodeError):
    """An encode error whose message starts with the leaf name relative to the base name."""


def _bad_id(value: object, what: str) -> EncodeError:
    return EncodeError(f"{what} id {value!r} out of range 0..{MAX_ID}")


def _leaf(name: str, value: Value, rdef: ResourceDef | None) -> Leaf:
    """The general path: check and convert ``value`` by :func:`encode_value`."""
    try:
        kind, v = encode_value(value, rdef)
    except EncodeError as exc:
        raise _LeafError(f"{name}: {exc}") from None
    return name, kind, v


def _instances(
    out: list[Leaf], prefix: str, values: dict[int, Value], info: ResInfo | None
) -> None:
    """Leaves of a multiple resource's instances, named ``prefix`` + instance id."""
    if info is None:
        pytype: type = _NoValue
        kind = -1
        lo = hi = None
        rdef = None
    else:
        if not info.multiple:
            raise _LeafError(f"{prefix}: resource is single, got multiple values")
        pytype, kind, lo, hi, rdef = info.pytype, info.kind, info.lo, info.hi, info.rdef
    append = out.append
    for ri, value in values.items():
        if type(ri) is not int or not 0 <= ri <= MAX_ID:
            raise _bad_id(ri, "resource instance")
        if type(value) is pytype and (lo is None or lo <= value <= hi):  # type: ignore[operator]
            append((f"{prefix}{ri}", kind, value))
        else:
            append(_leaf(f"{prefix}{ri}", value, rdef))


def _resources(
    out: list[Leaf],
    prefix: str,
    resources: dict[int, ResourceNode | MultiResourceNode],
    table: ResTable,
    grouped: bool = False,
) -> None:
    """Leaves of an instance's resources, named ``prefix`` + resource id (+ "/" instance id).

    ``grouped``: see :func:`leaves`.
    """
    append = out.append
    get = table.get
    for res in resources.values():
        t = type(res)
        if t is ResourceNode:
            # The common case first: a defined single resource with a canonical value
            # (a defined id is a valid one); anything else takes the checks below.
            rid = res.id
            info = get(rid)
            if info is not None and type(rid) is int and not info.multiple:
                canonical: Value = res.value  # type: ignore[union-attr]
                if type(canonical) is info.pytype and (
                    info.lo is None or info.lo <= canonical <= info.hi  # type: ignore[operator]
                ):
                    append((prefix + info.name, info.kind, canonical))
                    continue
        elif t is MultiResourceNode:
            # The common case: a defined multiple resource whose instances all have
            # canonical values; on anything else its leaves are taken back and the
            # general path (_instances) checks them.
            rid = res.id
            info = get(rid)
            if info is not None and type(rid) is int and info.multiple:
                start = len(out)
                children = info.children
                pytype, lo, hi, kind = info.pytype, info.lo, info.hi, info.kind
                values: dict[int, Value] = res.values  # type: ignore[union-attr]
                for ri, v in values.items():
                    name = children.get(ri) or child_name(info, ri)
                    if (
                        name is None
                        or type(ri) is not int
                        or type(v) is not pytype
                        or (lo is not None and not lo <= v <= hi)  # type: ignore[operator]
                    ):
                        del out[start:]
                        break
                    if not grouped:
                        append((prefix + name, kind, v))
                else:
                    if grouped and values:
                        append((prefix + info.name, kind, values))
                    continue
        if t is not ResourceNode and t is not MultiResourceNode:
            raise _LeafError(f"{prefix}: expected a resource node, got {t.__name__}")
        rid = res.id
        if type(rid) is not int or not 0 <= rid <= MAX_ID:
            raise _bad_id(rid, "resource")
        info = get(rid)
        name = prefix + (str(rid) if info is None else info.name)
        if t is MultiResourceNode:
            _instances(out, name + "/", res.values, info)  # type: ignore[union-attr]
            continue
        value: Value = res.value  # type: ignore[union-attr]
        if info is None:
            append(_leaf(name, value, None))
            continue
        if info.multiple:
            raise _LeafError(f"{name}: resource is multiple, got a single value")
        if type(value) is info.pytype and (
            info.lo is None or info.lo <= value <= info.hi  # type: ignore[operator]
        ):
            append((name, info.kind, value))
        else:
            append(_leaf(name, value, info.rdef))


_BASE_NAMES: dict[tuple[int, ...], str] = {}


def base_name(path: Path) -> str:
    """The canonical ``bn`` for a request path: "/3/0/" for "/3/0"."""
    bn = _BASE_NAMES.get(path)
    if bn is None:
        bn = "/" + "".join(f"{i}/" for i in path)
        if len(_BASE_NAMES) >= _NAME_CACHE_SIZE:
            _BASE_NAMES.clear()
        _BASE_NAMES[tuple(path)] = bn
    return bn


def leaves(
    node: Node | Records, path: Path, registry: Registry, grouped: bool = False
) -> tuple[str, list[Leaf]]:
    """The canonical base name and the leaves of ``node`` found at request ``path``.

    Canonical naming (all SenML-like encoders): for a request on an object,
    instance or multiple resource the base name is the request path with a
    trailing "/" and names are relative ("7/0"); for a single resource or a
    resource instance the base name is the full path and there is no name;
    composite :data:`Records` get no base name and full names ("/3/0/0").
    Leaves follow the dict order of the node. Errors name the leaf relative
    to the base name.

    ``grouped`` (for an :class:`InstanceNode`): a non-empty multiple resource
    whose values all are canonical as they are becomes one leaf named by the
    resource whose value is the node's own ``{ri: value}`` dict (not to be
    changed), in place of one leaf per instance; the others stay as they are.
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
        if isinstance(node, InstanceNode):
            if level != 2 or node.id != path[1]:
                raise EncodeError(f"an InstanceNode {node.id} does not belong at {path}")
            table = resource_table(registry.get(path[0]))
            _resources(out, "", node.resources, table, grouped)
        elif isinstance(node, ObjectNode):
            if level != 1 or node.id != path[0]:
                raise EncodeError(f"an ObjectNode {node.id} does not belong at {path}")
            table = resource_table(registry.get(node.id))
            for inst in node.instances.values():
                if type(inst.id) is not int or not 0 <= inst.id <= MAX_ID:
                    raise _bad_id(inst.id, "instance")
                _resources(out, f"{inst.id}/", inst.resources, table)
        elif isinstance(node, MultiResourceNode):
            if level != 3 or node.id != path[2]:
                raise EncodeError(f"a MultiResourceNode {node.id} does not belong at {path}")
            table = resource_table(registry.get(path[0]))
            _instances(out, "", node.values, table.get(path[2]))
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

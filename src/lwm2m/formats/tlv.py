"""OMA TLV, content format 11542 (LwM2M Core TS 1.0.2 section 6.4.3, 1.1 section 7.4.3).

Each entry is ``type byte | identifier (8 or 16 bit) | length (0, 8, 16 or 24 bit) | value``.
Type bits 7-6 give the kind of entry: ``00`` Object Instance, ``01`` Resource Instance,
``10`` Multiple Resource, ``11`` Resource with value. Bit 5 selects a 16-bit identifier,
bits 4-3 the size of the length field, and bits 2-0 hold the length itself when it is
below 8 and there is no length field.

What a payload holds depends on the request path:

- ``/o``: a sequence of Object Instance TLVs (:class:`ObjectNode`);
- ``/o/i``: a sequence of Resource and Multiple Resource TLVs (:class:`InstanceNode`);
  on decode a single Object Instance TLV wrapping them is accepted as well;
- ``/o/i/r``: one Resource TLV or one Multiple Resource TLV;
- ``/o/i/r/ri``: one Resource Instance TLV.

The root path (composite operations) cannot be carried: :class:`UnsupportedFormat`.

Values (LwM2M Core TS Appendix C):

- Integer and Time: two's complement, big endian, 1, 2, 4 or 8 bytes;
- Unsigned Integer (LwM2M 1.1): unsigned big endian, 1, 2, 4 or 8 bytes, so the whole
  range 0..2**64-1 fits, including 2**63..2**64-1 in 8 bytes;
- Float: IEEE 754 binary32 (4 bytes) or binary64 (8 bytes);
- Boolean: one byte, 0 or 1; Objlnk: object id and instance id, 2 bytes each;
- String and Corelnk: UTF-8; Opaque: the raw bytes; none (executable): empty.

Resources without a definition decode as Opaque ``bytes`` (TLV does not carry the type);
whether such a resource is multiple follows the TLV type bits.

Decoding is lenient in one case peers are known to produce: a resource the definition
says is multiple, sent as one "resource with value" entry, is read as resource instance 0
of that resource (a :class:`MultiResourceNode`), and one warning per payload naming the
first such resource and how many more there are is logged.
The opposite, a single-instance resource sent as a Multiple Resource TLV, stays an error.

Canonical form (what :func:`encode` emits, so ``encode(decode(x)) == x`` for it):

- entries in the order of the node's dicts (decode keeps the payload order);
- the smallest identifier and length fields that fit (length in the type byte up to 7);
- integers in the smallest of 1, 2, 4 or 8 bytes that holds the value;
- floats in 4 bytes when binary32 represents the value exactly (NaN and infinities too),
  else in 8 bytes.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Callable
from typing import NamedTuple

from lwm2m.errors import DecodeError, EncodeError, UnsupportedFormat
from lwm2m.formats._numbers import int_text
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    Node,
    ObjectDef,
    ObjectNode,
    ObjLink,
    Path,
    Records,
    Registry,
    ResourceNode,
    ResourceType,
    Value,
)

__all__ = ["decode", "encode"]

_log = logging.getLogger(__name__)

OBJECT_INSTANCE = 0x00
RESOURCE_INSTANCE = 0x40
MULTIPLE_RESOURCE = 0x80
RESOURCE = 0xC0

_KIND_NAMES = {
    OBJECT_INSTANCE: "object instance",
    RESOURCE_INSTANCE: "resource instance",
    MULTIPLE_RESOURCE: "multiple resource",
    RESOURCE: "resource",
}

_MAX_LENGTH = 0xFFFFFF
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1

_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")
_OBJLNK = struct.Struct(">HH")
_EMPTY = b""
_TRUE = b"\x01"
_FALSE = b"\x00"


# --- headers ------------------------------------------------------------------


def _header(kind: int, ident: int, length: int) -> bytes:
    """Type byte, identifier and length field: the smallest form that fits."""
    if ident <= 0xFF and length <= 0xFF:
        return bytes((kind | length, ident)) if length < 8 else bytes((kind | 8, ident, length))
    if ident > 0xFF:
        kind |= 0x20
        id_bytes: tuple[int, ...] = (ident >> 8, ident & 0xFF)
    else:
        id_bytes = (ident,)
    if length < 8:
        return bytes((kind | length, *id_bytes))
    if length <= 0xFF:
        return bytes((kind | 0x08, *id_bytes, length))
    if length <= 0xFFFF:
        return bytes((kind | 0x10, *id_bytes, length >> 8, length & 0xFF))
    if length <= _MAX_LENGTH:
        return bytes((kind | 0x18, *id_bytes, length >> 16, (length >> 8) & 0xFF, length & 0xFF))
    raise EncodeError(f"TLV value of {length} bytes exceeds the 24-bit length field")


def _entry(kind: int, ident: int, value: bytes) -> bytes:
    n = len(value)
    if ident <= 0xFF:
        if n < 8:
            return bytes((kind | n, ident)) + value
        if n <= 0xFF:
            return bytes((kind | 0x08, ident, n)) + value
    return _header(kind, ident, n) + value


# --- value encoders -------------------------------------------------------------


def _enc_int(v: Value) -> bytes:
    if type(v) is not int:
        raise EncodeError(f"expected an int, got {type(v).__name__}")
    if -0x80 <= v <= 0x7F:
        return v.to_bytes(1, "big", signed=True)
    if -0x8000 <= v <= 0x7FFF:
        return v.to_bytes(2, "big", signed=True)
    if -0x80000000 <= v <= 0x7FFFFFFF:
        return v.to_bytes(4, "big", signed=True)
    if _INT64_MIN <= v <= _INT64_MAX:
        return v.to_bytes(8, "big", signed=True)
    raise EncodeError(f"{int_text(v)} does not fit a signed 64-bit integer")


def _enc_uint(v: Value) -> bytes:
    if type(v) is not int:
        raise EncodeError(f"expected an int, got {type(v).__name__}")
    if 0 <= v <= 0xFF:
        return v.to_bytes(1, "big")
    if 0 <= v <= 0xFFFF:
        return v.to_bytes(2, "big")
    if 0 <= v <= 0xFFFFFFFF:
        return v.to_bytes(4, "big")
    if 0 <= v <= _UINT64_MAX:
        return v.to_bytes(8, "big")
    raise EncodeError(f"{int_text(v)} is out of range for an unsigned 64-bit integer")


def _enc_float(v: Value) -> bytes:
    if type(v) is not float:
        if type(v) is not int:
            raise EncodeError(f"expected a float, got {type(v).__name__}")
        v = float(v)
    if math.isnan(v):
        return _F32.pack(v)
    try:
        short = _F32.pack(v)
    except OverflowError:
        return _F64.pack(v)
    if _F32.unpack(short)[0] == v:
        return short
    return _F64.pack(v)


def _enc_bool(v: Value) -> bytes:
    if v is True:
        return _TRUE
    if v is False:
        return _FALSE
    raise EncodeError(f"expected a bool, got {type(v).__name__}")


def _enc_str(v: Value) -> bytes:
    if type(v) is not str:
        raise EncodeError(f"expected a str, got {type(v).__name__}")
    return v.encode()


def _enc_opaque(v: Value) -> bytes:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    raise EncodeError(f"expected bytes, got {type(v).__name__}")


def _enc_objlnk(v: Value) -> bytes:
    if not isinstance(v, ObjLink):
        raise EncodeError(f"expected an ObjLink, got {type(v).__name__}")
    return _OBJLNK.pack(v.object_id, v.instance_id)


def _enc_none(v: Value) -> bytes:
    if v is not None:
        raise EncodeError("an executable resource carries no value")
    return _EMPTY


def _enc_guess(v: Value) -> bytes:
    """Values of resources without a definition: by their Python type."""
    if isinstance(v, bool):
        return _enc_bool(v)
    if isinstance(v, int):
        return _enc_int(v)
    if isinstance(v, float):
        return _enc_float(v)
    if isinstance(v, str):
        return _enc_str(v)
    if isinstance(v, ObjLink):
        return _enc_objlnk(v)
    if v is None:
        return _EMPTY
    return _enc_opaque(v)


_ENCODERS: dict[ResourceType, Callable[[Value], bytes]] = {
    ResourceType.STRING: _enc_str,
    ResourceType.CORELNK: _enc_str,
    ResourceType.INTEGER: _enc_int,
    ResourceType.TIME: _enc_int,
    ResourceType.UNSIGNED_INTEGER: _enc_uint,
    ResourceType.FLOAT: _enc_float,
    ResourceType.BOOLEAN: _enc_bool,
    ResourceType.OPAQUE: _enc_opaque,
    ResourceType.OBJLNK: _enc_objlnk,
    ResourceType.NONE: _enc_none,
}


# --- entry encoders -------------------------------------------------------------
# A whole TLV entry (header and value) in one step: the common cases of the types a
# Read returns most (strings and integers with 8-bit ids) take one C call.

_EntryEncoder = Callable[[int, int, Value], bytes]
_BB_I8 = struct.Struct(">BBb").pack
_BB_I16 = struct.Struct(">BBh").pack
_BB_I32 = struct.Struct(">BBi").pack


def _entry_int(kind: int, ident: int, v: Value) -> bytes:
    if type(v) is int and ident <= 0xFF:
        if -0x80 <= v <= 0x7F:
            return _BB_I8(kind | 1, ident, v)
        if -0x8000 <= v <= 0x7FFF:
            return _BB_I16(kind | 2, ident, v)
        if -0x80000000 <= v <= 0x7FFFFFFF:
            return _BB_I32(kind | 4, ident, v)
    return _entry(kind, ident, _enc_int(v))


def _entry_str(kind: int, ident: int, v: Value) -> bytes:
    if type(v) is str and ident <= 0xFF:
        data = v.encode()
        n = len(data)
        if n < 8:
            return bytes((kind | n, ident)) + data
        if n <= 0xFF:
            return bytes((kind | 0x08, ident, n)) + data
    return _entry(kind, ident, _enc_str(v))


def _entry_with(enc: Callable[[Value], bytes]) -> _EntryEncoder:
    def entry(kind: int, ident: int, v: Value) -> bytes:
        return _entry(kind, ident, enc(v))

    return entry


_ENTRY_ENCODERS: dict[ResourceType, _EntryEncoder] = {
    rtype: _entry_with(enc) for rtype, enc in _ENCODERS.items()
}
_ENTRY_ENCODERS.update(
    {
        ResourceType.STRING: _entry_str,
        ResourceType.CORELNK: _entry_str,
        ResourceType.INTEGER: _entry_int,
        ResourceType.TIME: _entry_int,
    }
)
_entry_guess = _entry_with(_enc_guess)

# --- value decoders -------------------------------------------------------------


_INT_UNPACK = {
    n: struct.Struct(f">{c}").unpack for n, c in ((1, "b"), (2, "h"), (4, "i"), (8, "q"))
}


def _dec_int(b: bytes) -> Value:
    try:
        return int(_INT_UNPACK[len(b)](b)[0])
    except KeyError:
        raise ValueError(f"an integer takes 1, 2, 4 or 8 bytes, not {len(b)}") from None


def _dec_uint(b: bytes) -> Value:
    if len(b) not in (1, 2, 4, 8):
        raise ValueError(f"an unsigned integer takes 1, 2, 4 or 8 bytes, not {len(b)}")
    return int.from_bytes(b, "big")


def _dec_float(b: bytes) -> Value:
    if len(b) == 4:
        return float(_F32.unpack(b)[0])
    if len(b) == 8:
        return float(_F64.unpack(b)[0])
    raise ValueError(f"a float takes 4 or 8 bytes, not {len(b)}")


def _dec_bool(b: bytes) -> Value:
    if b == _TRUE:
        return True
    if b == _FALSE:
        return False
    raise ValueError(f"a boolean is one byte 0 or 1, got {b.hex() or 'nothing'}")


def _dec_str(b: bytes) -> Value:
    return b.decode()  # UnicodeDecodeError is a ValueError


def _dec_opaque(b: bytes) -> Value:
    return b


def _dec_objlnk(b: bytes) -> Value:
    if len(b) != 4:
        raise ValueError(f"an object link takes 4 bytes, not {len(b)}")
    o, i = _OBJLNK.unpack(b)
    return ObjLink(o, i)


def _dec_none(b: bytes) -> Value:
    if b:
        raise ValueError("an executable resource carries no value")
    return None


_DECODERS: dict[ResourceType, Callable[[bytes], Value]] = {
    ResourceType.STRING: _dec_str,
    ResourceType.CORELNK: _dec_str,
    ResourceType.INTEGER: _dec_int,
    ResourceType.TIME: _dec_int,
    ResourceType.UNSIGNED_INTEGER: _dec_uint,
    ResourceType.FLOAT: _dec_float,
    ResourceType.BOOLEAN: _dec_bool,
    ResourceType.OPAQUE: _dec_opaque,
    ResourceType.OBJLNK: _dec_objlnk,
    ResourceType.NONE: _dec_none,
}


# --- per-object codec tables ---------------------------------------------------------


class _ResourceCodec(NamedTuple):
    """What the TLV codec needs of one resource definition, looked up once per object."""

    multiple: bool
    entry: _EntryEncoder
    decode: Callable[[bytes], Value]
    type_name: str


_Table = dict[int, _ResourceCodec]
_NO_TABLE: _Table = {}
_TABLES: dict[int, tuple[ObjectDef, _Table]] = {}
_MAX_TABLES = 512


def _table(registry: Registry, object_id: int) -> _Table:
    """Resource id -> codec for an object, cached per (immutable) ObjectDef."""
    odef = registry.get(object_id)
    cached = _TABLES.get(id(odef))
    if cached is not None and cached[0] is odef:
        return cached[1]
    if odef is None:
        return _NO_TABLE
    table = {
        rid: _ResourceCodec(r.multiple, _ENTRY_ENCODERS[r.type], _DECODERS[r.type], r.type.value)
        for rid, r in odef.resources.items()
    }
    if len(_TABLES) >= _MAX_TABLES:
        _TABLES.clear()
    _TABLES[id(odef)] = (odef, table)
    return table


# --- encoding -------------------------------------------------------------------


def _encode_resource(res: ResourceNode | MultiResourceNode, codec: _ResourceCodec | None) -> bytes:
    rid = res.id
    entry = codec.entry if codec is not None else _entry_guess
    try:
        if type(res) is ResourceNode:
            if codec is not None and codec.multiple:
                raise EncodeError(
                    "the resource is multiple-instance, a MultiResourceNode is needed"
                )
            return entry(RESOURCE, rid, res.value)
        if type(res) is MultiResourceNode:
            if codec is not None and not codec.multiple:
                raise EncodeError("the resource is single-instance, a ResourceNode is needed")
            inner = b"".join([entry(RESOURCE_INSTANCE, ri, v) for ri, v in res.values.items()])
            return _entry(MULTIPLE_RESOURCE, rid, inner)
    except EncodeError as exc:
        raise EncodeError(f"resource {rid}: {exc}") from None
    raise EncodeError(f"resource {rid}: expected a resource node, got {type(res).__name__}")


def _encode_instance_body(inst: InstanceNode, table: _Table) -> bytes:
    """The resource TLVs of one instance (the hot path of Read and Notify)."""
    parts: list[bytes] = []
    append = parts.append
    get = table.get
    for res in inst.resources.values():
        codec = get(res.id)
        if codec is not None and type(res) is ResourceNode and not codec.multiple:
            try:
                append(codec.entry(RESOURCE, res.id, res.value))
            except EncodeError as exc:
                raise EncodeError(f"resource {res.id}: {exc}") from None
        else:
            append(_encode_resource(res, codec))
    return b"".join(parts)


def encode(node: Node | Records, path: Path, registry: Registry) -> bytes:
    """Encode ``node`` found at request ``path`` as an OMA TLV payload."""
    level = len(path)
    if level == 0 or isinstance(node, dict):
        raise UnsupportedFormat("TLV cannot carry the root path or composite records")
    table = _table(registry, path[0])
    try:
        if level == 2:
            if type(node) is not InstanceNode:
                raise EncodeError(
                    f"an instance path takes an InstanceNode, not {type(node).__name__}"
                )
            return _encode_instance_body(node, table)
        if level == 1:
            if not isinstance(node, ObjectNode):
                raise EncodeError(f"an object path takes an ObjectNode, not {type(node).__name__}")
            return b"".join(
                [
                    _entry(OBJECT_INSTANCE, inst.id, _encode_instance_body(inst, table))
                    for inst in node.instances.values()
                ]
            )
        if not isinstance(node, ResourceNode | MultiResourceNode):
            raise EncodeError(f"a resource path takes a resource node, not {type(node).__name__}")
        codec = table.get(path[2])
        if level == 3:
            if node.id != path[2]:
                raise EncodeError(f"node id {node.id} does not match the path")
            return _encode_resource(node, codec)
        if not isinstance(node, ResourceNode):
            raise EncodeError("a resource instance path takes a ResourceNode")
        entry = codec.entry if codec is not None else _entry_guess
        return entry(RESOURCE_INSTANCE, path[3], node.value)
    except EncodeError as exc:
        raise EncodeError(f"TLV {path}: {exc}") from None


# --- decoding -------------------------------------------------------------------

_Entry = tuple[int, int, int, int]
"""(kind, identifier, value start, value end)."""
_Lenient = list[tuple[tuple[int, ...], int]]
"""(instance path, resource id) of each multiple resource read from a single value."""


def _split(buf: bytes, start: int, end: int) -> list[_Entry]:
    """Split ``buf[start:end]`` into TLV entries; raise DecodeError naming the offset.

    Used for object-level payloads and single entries; the hot loops of
    :func:`_decode_instance_body` and :func:`_decode_multi` parse headers inline.
    """
    out: list[_Entry] = []
    pos = start
    while pos < end:
        t = buf[pos]
        ident, p, vend = _header_at(buf, pos, end, t)
        if vend > end:
            raise DecodeError(
                f"TLV: value of {vend - p} bytes runs past the end of its container", pos
            )
        out.append((t & 0xC0, ident, p, vend))
        pos = vend
    return out


def _header_at(buf: bytes, pos: int, end: int, t: int) -> tuple[int, int, int]:
    """Identifier, value start and value end for any header form (the general case)."""
    p = pos + 1
    if t & 0x20:
        if p + 2 > end:
            raise DecodeError("TLV: truncated 16-bit identifier", pos)
        ident = (buf[p] << 8) | buf[p + 1]
        p += 2
    else:
        if p >= end:
            raise DecodeError("TLV: truncated identifier", pos)
        ident = buf[p]
        p += 1
    size = (t >> 3) & 0x03
    if size == 0:
        return ident, p, p + (t & 0x07)
    if p + size > end:
        raise DecodeError("TLV: truncated length field", pos)
    length = int.from_bytes(buf[p : p + size], "big")
    p += size
    return ident, p, p + length


def _where(ids: tuple[int, ...]) -> str:
    """A path for error messages, built only when an error is raised."""
    return "/" + "/".join(map(str, ids))


def _value(buf: bytes, s: int, e: int, codec: _ResourceCodec | None, where: str) -> Value:
    if codec is None:
        return buf[s:e]
    try:
        return codec.decode(buf[s:e])
    except ValueError as exc:  # includes UnicodeDecodeError and ModelError
        raise DecodeError(f"TLV {where} ({codec.type_name}): {exc}", s) from None


def _decode_multi(
    buf: bytes, rid: int, pos: int, end: int, codec: _ResourceCodec | None, where: tuple[int, ...]
) -> MultiResourceNode:
    """The Resource Instance TLVs inside the Multiple Resource TLV ``rid``.

    Hot path: the 8-bit identifier forms are parsed inline, as in
    :func:`_decode_instance_body`; :func:`_header_at` handles the others.
    """
    values: dict[int, Value] = {}
    dec = codec.decode if codec is not None else _dec_opaque
    while pos < end:
        t = buf[pos]
        form = t & 0x38
        if form == 0 and pos + 2 <= end:
            ri = buf[pos + 1]
            s = pos + 2
            e = s + (t & 0x07)
        elif form == 0x08 and pos + 3 <= end:
            ri = buf[pos + 1]
            s = pos + 3
            e = s + buf[pos + 2]
        else:
            ri, s, e = _header_at(buf, pos, end, t)
        if e > end:
            raise DecodeError(
                f"TLV: value of {e - s} bytes runs past the end of its container", pos
            )
        if t & 0xC0 != RESOURCE_INSTANCE:
            raise DecodeError(
                f"TLV {_where(where)}/{rid}: {_KIND_NAMES[t & 0xC0]} in a multiple resource", pos
            )
        if ri in values:
            raise DecodeError(f"TLV {_where(where)}/{rid}: duplicate resource instance {ri}", pos)
        try:
            values[ri] = dec(buf[s:e])
        except ValueError as exc:
            assert codec is not None  # opaque values never fail
            raise DecodeError(
                f"TLV {_where(where)}/{rid}/{ri} ({codec.type_name}): {exc}", s
            ) from None
        pos = e
    return MultiResourceNode(rid, values)


def _decode_resource(
    buf: bytes, entry: _Entry, table: _Table, where: tuple[int, ...], lenient: _Lenient
) -> ResourceNode | MultiResourceNode:
    """One Resource or Multiple Resource TLV; ``lenient`` collects the paths read leniently."""
    kind, rid, s, e = entry
    codec = table.get(rid)
    if kind == RESOURCE:
        if codec is None:
            return ResourceNode(rid, buf[s:e])
        try:
            value = codec.decode(buf[s:e])
        except ValueError as exc:
            raise DecodeError(f"TLV {_where(where)}/{rid} ({codec.type_name}): {exc}", s) from None
        if codec.multiple:
            # Lenient: a multiple-instance resource sent as one value is instance 0.
            lenient.append((where, rid))
            return MultiResourceNode(rid, {0: value})
        return ResourceNode(rid, value)
    if kind == MULTIPLE_RESOURCE:
        if codec is not None and not codec.multiple:
            raise DecodeError(
                f"TLV {_where(where)}/{rid}: single-instance resource sent as multiple", s
            )
        return _decode_multi(buf, rid, s, e, codec, where)
    raise DecodeError(f"TLV {_where(where)}: expected a resource, got a {_KIND_NAMES[kind]}", s)


def _decode_instance_body(
    buf: bytes,
    pos: int,
    end: int,
    iid: int,
    table: _Table,
    where: tuple[int, ...],
    lenient: _Lenient,
) -> InstanceNode:
    """The resources of one instance (the hot path of Write and of a client's Read).

    The common header forms (8-bit identifier, length in the type byte or in one
    byte) are parsed inline; :func:`_header_at` handles the others.
    """
    resources: dict[int, ResourceNode | MultiResourceNode] = {}
    get = table.get
    while pos < end:
        t = buf[pos]
        form = t & 0x38
        if form == 0 and pos + 2 <= end:
            rid = buf[pos + 1]
            s = pos + 2
            e = s + (t & 0x07)
        elif form == 0x08 and pos + 3 <= end:
            rid = buf[pos + 1]
            s = pos + 3
            e = s + buf[pos + 2]
        else:
            rid, s, e = _header_at(buf, pos, end, t)
        if e > end:
            raise DecodeError(
                f"TLV: value of {e - s} bytes runs past the end of its container", pos
            )
        if rid in resources:
            raise DecodeError(f"TLV {_where(where)}: duplicate resource {rid}", s)
        codec = get(rid)
        kind = t & 0xC0
        if codec is None:
            resources[rid] = _decode_resource(buf, (kind, rid, s, e), table, where, lenient)
        elif kind == RESOURCE and not codec.multiple:
            try:
                resources[rid] = ResourceNode(rid, codec.decode(buf[s:e]))
            except ValueError as exc:
                raise DecodeError(
                    f"TLV {_where(where)}/{rid} ({codec.type_name}): {exc}", s
                ) from None
        elif kind == MULTIPLE_RESOURCE and codec.multiple:
            resources[rid] = _decode_multi(buf, rid, s, e, codec, where)
        else:
            resources[rid] = _decode_resource(buf, (t & 0xC0, rid, s, e), table, where, lenient)
        pos = e
    return InstanceNode(iid, resources)


def _single(entries: list[_Entry], kind: int, ident: int, where: Path) -> _Entry:
    if len(entries) != 1:
        raise DecodeError(f"TLV {where}: expected exactly one entry, got {len(entries)}")
    entry = entries[0]
    if entry[0] != kind and not (kind == RESOURCE and entry[0] == MULTIPLE_RESOURCE):
        raise DecodeError(
            f"TLV {where}: expected a {_KIND_NAMES[kind]}, got a {_KIND_NAMES[entry[0]]}"
        )
    if entry[1] != ident:
        raise DecodeError(f"TLV {where}: entry id {entry[1]} does not match the path", entry[2])
    return entry


def decode(payload: bytes, path: Path, registry: Registry) -> Node | Records:
    """Decode an OMA TLV ``payload`` for request ``path``."""
    lenient: _Lenient = []
    node = _decode(payload, path, registry, lenient)
    if lenient:
        # one warning per payload, however many resources it names
        more = f" and {len(lenient) - 1} more" if len(lenient) > 1 else ""
        _log.warning(
            "TLV %s: multiple-instance resource %s%s sent as a single value, "
            "read as resource instance 0",
            path,
            _where((*lenient[0][0], lenient[0][1])),
            more,
        )
    return node


def _decode(payload: bytes, path: Path, registry: Registry, lenient: _Lenient) -> Node | Records:
    level = len(path)
    if level == 0:
        raise UnsupportedFormat("TLV cannot carry the root path or composite records")
    buf = payload if type(payload) is bytes else bytes(payload)
    table = _table(registry, path[0])
    if level == 2:
        iid = path[1]
        if buf and buf[0] & 0xC0 == OBJECT_INSTANCE:
            # A single wrapping Object Instance TLV is allowed (Core TS 1.1 7.4.3).
            _, _, s, e = _single(_split(buf, 0, len(buf)), OBJECT_INSTANCE, iid, path)
            return _decode_instance_body(buf, s, e, iid, table, path, lenient)
        return _decode_instance_body(buf, 0, len(buf), iid, table, path, lenient)
    entries = _split(buf, 0, len(buf))
    if level == 1:
        instances: dict[int, InstanceNode] = {}
        for kind, iid, s, e in entries:
            if kind != OBJECT_INSTANCE:
                raise DecodeError(
                    f"TLV {path}: expected object instances, got a {_KIND_NAMES[kind]}", s
                )
            if iid in instances:
                raise DecodeError(f"TLV {path}: duplicate object instance {iid}", s)
            instances[iid] = _decode_instance_body(buf, s, e, iid, table, (*path, iid), lenient)
        return ObjectNode(path[0], instances)
    if level == 3:
        entry = _single(entries, RESOURCE, path[2], path)
        return _decode_resource(buf, entry, table, path[:2], lenient)
    _, ri, s, e = _single(entries, RESOURCE_INSTANCE, path[3], path)
    return ResourceNode(ri, _value(buf, s, e, table.get(path[2]), str(path)))

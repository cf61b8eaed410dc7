"""CBOR single value, content format 60 (LwM2M Core TS 1.1 section 7.4.6, RFC 8949).

Carries exactly one value: a single-instance resource (``/o/i/r``) or one resource
instance (``/o/i/r/ri``); anything else raises :class:`UnsupportedFormat` (4.06).

CBOR types per LwM2M data type:

=================  ==========================================================
Integer            major type 0 or 1
Unsigned Integer   major type 0
Time               major type 0 or 1 (Unix seconds); on decode an epoch tag 1
                   around the integer is accepted as well
Float              major type 7, half, single or double precision; on decode an
                   integer is accepted too
Boolean            major type 7, simple values false / true
String, Corelnk    major type 3 (UTF-8 text)
Opaque             major type 2 (byte string)
Objlnk             major type 3, the text ``object:instance``
=================  ==========================================================

A resource without a definition takes the type the CBOR item shows (an integer, a
float, a text string, a byte string or a boolean). Anything else (arrays, maps, other
tags, null, trailing bytes) is a :class:`DecodeError`.

Canonical form: the shortest head for integers and lengths (definite lengths), and
floats in the shortest of half, single or double precision that keeps the exact value
(RFC 8949 section 4.2.2 preferred serialisation, ``cbor2`` canonical mode).
"""

from __future__ import annotations

import io
import math

import cbor2

from lwm2m.errors import DecodeError, EncodeError
from lwm2m.formats._numbers import int_text
from lwm2m.formats._single import single_target, single_value
from lwm2m.model import (
    Node,
    ObjLink,
    Path,
    Records,
    Registry,
    ResourceNode,
    ResourceType,
    Value,
)
from lwm2m.model.types import INT64_MAX, INT64_MIN, UINT64_MAX

__all__ = ["decode", "encode"]

_TAG_EPOCH = 0xC1  # tag 1, one-byte head
_INTEGER_TYPES = (ResourceType.INTEGER, ResourceType.TIME, ResourceType.UNSIGNED_INTEGER)
# Major types a single value may use: 0/1 integers, 2 bytes, 3 text, 7 simple/float.
_SCALAR_MAJORS = frozenset({0, 1, 2, 3, 7})


def _check_int(rtype: ResourceType | None, value: int) -> None:
    if rtype is ResourceType.UNSIGNED_INTEGER:
        if not 0 <= value <= UINT64_MAX:
            raise ValueError(f"{int_text(value)} is out of range for an unsigned 64-bit integer")
    elif not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"{int_text(value)} does not fit a signed 64-bit integer")


def _to_cbor(rtype: ResourceType | None, value: Value) -> bytes:
    if value is None or rtype is ResourceType.NONE:
        raise EncodeError("an executable resource carries no value")
    if isinstance(value, bool):
        if rtype not in (None, ResourceType.BOOLEAN):
            raise EncodeError(f"expected {rtype.value}, got a bool")
        return b"\xf5" if value else b"\xf4"
    if rtype is ResourceType.BOOLEAN:
        raise EncodeError(f"expected a bool, got {type(value).__name__}")
    if isinstance(value, int):
        if rtype is ResourceType.FLOAT:
            value = float(value)
        elif rtype is None or rtype in _INTEGER_TYPES:
            try:
                _check_int(rtype, value)
            except ValueError as exc:
                raise EncodeError(str(exc)) from None
            return cbor2.dumps(value)
        else:
            raise EncodeError(f"expected {rtype.value}, got an int")
    if isinstance(value, float):
        if rtype not in (None, ResourceType.FLOAT):
            raise EncodeError(f"expected {rtype.value}, got a float")
        return cbor2.dumps(value, canonical=True)
    if isinstance(value, ObjLink):
        if rtype not in (None, ResourceType.OBJLNK):
            raise EncodeError(f"expected {rtype.value}, got an ObjLink")
        return cbor2.dumps(f"{value.object_id}:{value.instance_id}")
    if isinstance(value, str):
        if rtype not in (None, ResourceType.STRING, ResourceType.CORELNK):
            raise EncodeError(f"expected {rtype.value}, got a str")
        return cbor2.dumps(value)
    if isinstance(value, bytes | bytearray | memoryview):
        if rtype not in (None, ResourceType.OPAQUE):
            raise EncodeError(f"expected {rtype.value}, got bytes")
        return cbor2.dumps(bytes(value))
    raise EncodeError(f"no CBOR form for {type(value).__name__}")


def _parse_objlnk(text: str) -> ObjLink:
    o, sep, i = text.partition(":")
    if not sep or not (o.isascii() and o.isdigit() and i.isascii() and i.isdigit()):
        raise ValueError(f"expected 'object:instance', got {text[:40]!r}")
    if len(o) > 5 or len(i) > 5 or int(o) > 0xFFFF or int(i) > 0xFFFF:
        raise ValueError(f"object link id out of range in {text[:40]!r}")
    return ObjLink(int(o), int(i))


def _from_item(rtype: ResourceType | None, item: object, tagged: bool) -> Value:
    """Check a decoded CBOR item against ``rtype``; raise ValueError when it does not fit."""
    if tagged:
        if type(item) is not int or rtype not in (None, ResourceType.TIME):
            raise ValueError("tag 1 (epoch time) is only allowed around an integer Time")
        _check_int(rtype, item)
        return item
    if isinstance(item, bool):
        if rtype not in (None, ResourceType.BOOLEAN):
            raise ValueError(f"expected {rtype.value}, got a boolean")
        return item
    if isinstance(item, int):
        if rtype is ResourceType.FLOAT:
            value = float(item)
            if math.isinf(value):
                raise ValueError(f"{int_text(item)} overflows a binary64 float")
            return value
        if rtype is not None and rtype not in _INTEGER_TYPES:
            raise ValueError(f"expected {rtype.value}, got an integer")
        _check_int(rtype, item)
        return item
    if isinstance(item, float):
        if rtype not in (None, ResourceType.FLOAT):
            raise ValueError(f"expected {rtype.value}, got a float")
        return item
    if isinstance(item, str):
        if rtype is ResourceType.OBJLNK:
            return _parse_objlnk(item)
        if rtype not in (None, ResourceType.STRING, ResourceType.CORELNK):
            raise ValueError(f"expected {rtype.value}, got a text string")
        return item
    if isinstance(item, bytes):
        if rtype not in (None, ResourceType.OPAQUE):
            raise ValueError(f"expected {rtype.value}, got a byte string")
        return item
    raise ValueError(f"expected a single scalar value, got {type(item).__name__}")


def _read_item(buf: bytes) -> tuple[object, bool]:
    """Decode exactly one scalar CBOR item, with an optional leading tag 1."""
    start = 0
    tagged = False
    if buf[:1] == bytes((_TAG_EPOCH,)):
        tagged = True
        start = 1
    if start >= len(buf):
        raise DecodeError("CBOR: empty payload" if not tagged else "CBOR: tag without item", start)
    major = buf[start] >> 5
    if major not in _SCALAR_MAJORS:
        raise DecodeError(f"CBOR: major type {major} is not a single scalar value", start)
    fp = io.BytesIO(buf)
    fp.seek(start)
    try:
        item = cbor2.CBORDecoder(fp, max_depth=4).decode()
    except Exception as exc:  # cbor2 raises several types on malformed input
        raise DecodeError(f"CBOR: malformed item: {exc}", start) from None
    if fp.tell() != len(buf):
        raise DecodeError("CBOR: trailing bytes after the value", fp.tell())
    return item, tagged


def encode(node: Node | Records, path: Path, registry: Registry) -> bytes:
    """Encode the single value at ``path`` as one CBOR data item."""
    rdef = single_target(path, registry, "CBOR")
    value = single_value(node, path)
    try:
        return _to_cbor(rdef.type if rdef else None, value)
    except EncodeError as exc:
        raise EncodeError(f"CBOR {path}: {exc}") from None


def decode(payload: bytes, path: Path, registry: Registry) -> Node | Records:
    """Decode one CBOR data item for the single value at ``path``."""
    rdef = single_target(path, registry, "CBOR")
    item, tagged = _read_item(bytes(payload))
    try:
        value = _from_item(rdef.type if rdef else None, item, tagged)
    except ValueError as exc:
        raise DecodeError(f"CBOR {path}: {exc}", 0) from None
    return ResourceNode(path[-1], value)

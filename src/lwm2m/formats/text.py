"""text/plain, content format 0 (LwM2M Core TS 1.1 section 7.4.1 and Appendix C).

Carries exactly one value: a single-instance resource (``/o/i/r``) or one resource
instance (``/o/i/r/ri``). Anything else raises :class:`UnsupportedFormat` (CoAP 4.06).

Text forms, UTF-8 encoded:

- Integer, Unsigned Integer, Time: decimal (``-12``, ``1367491215``);
- Float: the shortest decimal that reads back to the same binary64 (``repr``), e.g.
  ``0.1``, ``-3.0``, ``1e+20``; NaN and infinities have no text form (EncodeError);
- Boolean: ``0`` or ``1``; Objlnk: ``object:instance`` (``66:0``);
- String and Corelnk: the text itself.

Opaque values use application/octet-stream (42), never text/plain: both directions raise
:class:`UnsupportedFormat`. A resource without a definition decodes as a string.
Decoding checks the syntax the definition's type needs (``abc`` for an Integer is a
:class:`DecodeError`) and 64-bit ranges, not the definition's value range.

Parsing takes time linear in the text (the number patterns cannot backtrack), and
an integer longer than 24 characters is refused before it is converted.

Canonical form: exactly what :func:`encode` writes (no sign on positive numbers, no
leading zeros, no surrounding white space).
"""

from __future__ import annotations

import math
import re

from lwm2m.errors import DecodeError, EncodeError, UnsupportedFormat
from lwm2m.formats._numbers import int_text
from lwm2m.formats._single import single_target, single_value
from lwm2m.model import Node, ObjLink, Path, Records, Registry, ResourceNode, ResourceType, Value
from lwm2m.model.types import INT64_MAX, INT64_MIN, UINT64_MAX

__all__ = ["decode", "encode", "format_value", "is_decimal", "parse_value"]

_INT_RE = re.compile(r"[+-]?[0-9]+")
# A decimal number: sign, digits with an optional fraction (or a fraction alone), optional
# exponent. Every part is unambiguous and possessive, so a failing match never backtracks
# and takes time linear in the text (a nested or overlapping quantifier took quadratic time
# on "9" * n + "x").
_FLOAT_RE = re.compile(r"[+-]?+(?:[0-9]++(?:\.[0-9]*+)?+|\.[0-9]++)(?:[eE][+-]?+[0-9]++)?+")
_OBJLNK_RE = re.compile(r"([0-9]{1,5}):([0-9]{1,5})")


def is_decimal(text: str) -> bool:
    """True when ``text`` is a decimal number in the text/plain syntax of a Float.

    ``[+-]`` digits, an optional ``.`` and fraction digits (or ``.`` and digits alone),
    an optional exponent ``e[+-]digits``; ASCII digits only, no white space, no ``_``,
    no ``inf`` or ``nan``. Linear time whatever the text.
    """
    return _FLOAT_RE.fullmatch(text) is not None


def format_value(rtype: ResourceType | None, value: Value) -> str:
    """The text form of ``value`` for a resource of type ``rtype`` (None: by Python type)."""
    if rtype is ResourceType.OPAQUE or isinstance(value, bytes | bytearray | memoryview):
        raise UnsupportedFormat("opaque values use application/octet-stream, not text/plain")
    if rtype is ResourceType.NONE or value is None:
        raise UnsupportedFormat("an executable resource has no value to carry")
    if isinstance(value, bool):
        if rtype not in (None, ResourceType.BOOLEAN):
            raise EncodeError(f"expected {rtype.value}, got a bool")
        return "1" if value else "0"
    if rtype is ResourceType.BOOLEAN:
        raise EncodeError(f"expected a bool, got {type(value).__name__}")
    if isinstance(value, int):
        if rtype is ResourceType.FLOAT:
            value = float(value)
        elif rtype in (None, ResourceType.INTEGER, ResourceType.TIME):
            if not INT64_MIN <= value <= INT64_MAX:
                raise EncodeError(f"{int_text(value)} does not fit a signed 64-bit integer")
            return str(value)
        elif rtype is ResourceType.UNSIGNED_INTEGER:
            if not 0 <= value <= UINT64_MAX:
                raise EncodeError(
                    f"{int_text(value)} is out of range for an unsigned 64-bit integer"
                )
            return str(value)
        else:
            raise EncodeError(f"expected {rtype.value}, got an int")
    if isinstance(value, float):
        if rtype not in (None, ResourceType.FLOAT):
            raise EncodeError(f"expected {rtype.value}, got a float")
        if math.isnan(value) or math.isinf(value):
            raise EncodeError(f"{value} has no text/plain form")
        return repr(value)
    if isinstance(value, ObjLink):
        if rtype not in (None, ResourceType.OBJLNK):
            raise EncodeError(f"expected {rtype.value}, got an ObjLink")
        return f"{value.object_id}:{value.instance_id}"
    if isinstance(value, str):
        if rtype not in (None, ResourceType.STRING, ResourceType.CORELNK):
            raise EncodeError(f"expected {rtype.value}, got a str")
        return value
    raise EncodeError(f"no text/plain form for {type(value).__name__}")


def parse_value(rtype: ResourceType | None, text: str) -> Value:
    """Parse the text form of a value of type ``rtype`` (None: keep the string).

    Raise :class:`DecodeError` when the text does not have the type's syntax.
    """
    if rtype is None or rtype is ResourceType.STRING or rtype is ResourceType.CORELNK:
        return text
    if rtype is ResourceType.OPAQUE:
        raise UnsupportedFormat("opaque values use application/octet-stream, not text/plain")
    if rtype is ResourceType.NONE:
        raise UnsupportedFormat("an executable resource has no value to carry")
    if rtype is ResourceType.BOOLEAN:
        if text == "1":
            return True
        if text == "0":
            return False
        raise DecodeError(f"text/plain Boolean: expected 0 or 1, got {text[:40]!r}")
    if rtype is ResourceType.FLOAT:
        if _FLOAT_RE.fullmatch(text) is None:
            raise DecodeError(f"text/plain Float: not a decimal number: {text[:40]!r}")
        value = float(text)
        if math.isinf(value):
            raise DecodeError(f"text/plain Float: {text[:40]!r} overflows binary64")
        return value
    if rtype is ResourceType.OBJLNK:
        m = _OBJLNK_RE.fullmatch(text)
        if m is None:
            raise DecodeError(f"text/plain Objlnk: expected 'object:instance', got {text[:40]!r}")
        o, i = int(m.group(1)), int(m.group(2))
        if o > 0xFFFF or i > 0xFFFF:
            raise DecodeError(f"text/plain Objlnk: id out of range 0..65535 in {text[:40]!r}")
        return ObjLink(o, i)
    # Integer, Time, Unsigned Integer
    if len(text) > 24 or not _INT_RE.fullmatch(text):
        raise DecodeError(f"text/plain {rtype.value}: not a decimal integer: {text[:40]!r}")
    number = int(text)
    if rtype is ResourceType.UNSIGNED_INTEGER:
        if not 0 <= number <= UINT64_MAX:
            raise DecodeError(f"text/plain Unsigned Integer: {number} out of range")
    elif not INT64_MIN <= number <= INT64_MAX:
        raise DecodeError(f"text/plain {rtype.value}: {number} does not fit 64 bits")
    return number


def encode(node: Node | Records, path: Path, registry: Registry) -> bytes:
    """Encode the single value at ``path`` as text/plain."""
    rdef = single_target(path, registry, "text/plain")
    value = single_value(node, path)
    try:
        return format_value(rdef.type if rdef else None, value).encode()
    except EncodeError as exc:
        raise EncodeError(f"text/plain {path}: {exc}") from None


def decode(payload: bytes, path: Path, registry: Registry) -> Node | Records:
    """Decode a text/plain payload for the single value at ``path``."""
    rdef = single_target(path, registry, "text/plain")
    try:
        text = bytes(payload).decode()
    except UnicodeDecodeError as exc:
        raise DecodeError(f"text/plain {path}: invalid UTF-8", exc.start) from None
    return ResourceNode(path[-1], parse_value(rdef.type if rdef else None, text))

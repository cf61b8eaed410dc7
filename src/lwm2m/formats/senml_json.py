"""SenML JSON, content format 110 (RFC 8428; LwM2M Core TS 1.1 section 7.4.5).

A JSON array of records ``{"bn", "bt", "n", "t", "v" | "vs" | "vb" | "vd" |
"vlo"}``. LwM2M carries Opaque as ``vd`` in base64url without padding
(RFC 8428 section 5; padding is accepted on decode) and Objlnk as
``"vlo": "3:0"``. See :mod:`lwm2m.formats.senml` for name resolution and
value typing.

Canonical form emitted by :func:`encode` (the form of the TS examples):

- the first record carries ``bn``, the request path ("/3/0/"), and every
  record a name relative to it ("7/0"); a single resource or resource
  instance is one record with ``bn`` set to its full path and no ``n``;
  composite records (request path "/") carry full names in ``n``, no ``bn``;
- key order ``bn``, ``n``, value; no time fields; no white space;
- text as UTF-8 (no ``\\u`` escapes beyond what JSON requires); floats in
  Python's shortest round-trip form ("3.0", "1e+300"); NaN and infinities
  raise :class:`~lwm2m.errors.EncodeError` (JSON cannot carry them).

Decoding refuses what JSON or LwM2M do not allow: ``NaN`` and ``Infinity``, and
numbers that overflow binary64 (``1e999``), in values and times alike (with the
offset of the number), and nesting deeper than the recursion limit.

:func:`encode_paths` / :func:`decode_paths` handle the value-less records of
Read-Composite and Observe-Composite requests (canonical: full names, no
``bn``).
"""

from __future__ import annotations

import binascii
import json
import math
from collections.abc import Callable
from json.encoder import encode_basestring as _json_string
from typing import cast

from lwm2m.errors import DecodeError, EncodeError
from lwm2m.formats import senml
from lwm2m.model import Node, Path, Records, Registry

_B64URL_TO_STD = str.maketrans("-_", "+/")


def b64url_decode(raw: object) -> bytes:
    """Base64url text with or without padding -> bytes (RFC 4648 section 5)."""
    if type(raw) is not str:
        raise ValueError(f"expected base64url text, got {type(raw).__name__}")
    if "+" in raw or "/" in raw:
        raise ValueError("not base64url: '+' or '/' in the text")
    text = raw.rstrip("=")
    pad = -len(text) % 4
    if pad == 3 or len(raw) - len(text) > pad:
        raise ValueError("bad base64url length or padding")
    try:
        return binascii.a2b_base64(text.translate(_B64URL_TO_STD) + "=" * pad, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValueError("invalid base64url text") from None


def b64url_encode(data: bytes) -> str:
    return (
        binascii.b2a_base64(data, newline=False)
        .decode("ascii")
        .rstrip("=")
        .translate(_STD_TO_B64URL)
    )


_STD_TO_B64URL = str.maketrans("+/", "-_")

DIALECT = senml.Dialect(
    name="SenML JSON",
    fields={
        "bn": senml.BN,
        "bt": senml.BT,
        "n": senml.N,
        "t": senml.T,
        "bver": senml.BVER,
        "v": senml.NUM,
        "vs": senml.STR,
        "vb": senml.BOOL,
        "vd": senml.DATA,
        "vlo": senml.OBJLNK,
    },
    labels=("v", "vs", "vb", "vd", "vlo", "v", "bn", "bt", "n", "t", "bver"),
    data=b64url_decode,
)
_LABELS = DIALECT.labels


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


class _NotFinite(ValueError):
    """A JSON number too large for binary64 (``1e999``): ``literal`` is its text."""

    def __init__(self, literal: str) -> None:
        self.literal = literal
        super().__init__(f"number {literal[:40]} is not a finite binary64 number")


def _finite_float(literal: str) -> float:
    """A JSON number with a fraction or an exponent; one that overflows to infinity is refused.

    JSON (RFC 8259 section 6) has no infinities and LwM2M values and times are finite
    numbers, so ``1e999`` is a bad payload, not a value.
    """
    value = float(literal)
    if math.isinf(value):  # a JSON number text is never NaN
        raise _NotFinite(literal)
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def load_json(payload: bytes, what: str) -> object:
    """Parse a UTF-8 JSON payload; DecodeError on any failure.

    NaN, Infinity and numbers that overflow binary64 are refused, and so is nesting
    deeper than the interpreter's recursion limit (the error, not a RecursionError).
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"{what}: invalid UTF-8", exc.start) from None
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise DecodeError(f"{what}: {exc.msg}", exc.pos) from None
    except _NotFinite as exc:
        # the first occurrence of the number's text: its place in all but contrived payloads
        at = text.find(exc.literal)
        raise DecodeError(f"{what}: {exc}", at if at >= 0 else None) from None
    except RecursionError:
        raise DecodeError(f"{what}: values nested too deeply") from None
    except ValueError as exc:
        raise DecodeError(f"{what}: {exc}") from None


def dump_json(obj: object) -> bytes:
    try:
        return _ENCODER.encode(obj).encode("utf-8")
    except (ValueError, UnicodeEncodeError) as exc:
        raise EncodeError(f"cannot encode as JSON: {exc}") from None


def number_text(value: object) -> object:
    if type(value) is float and not math.isfinite(value):
        raise EncodeError(f"cannot encode as JSON: {value!r} is not valid JSON")
    return value  # formatted by the caller: int and float str() are the JSON forms


def quoted_text(value: object) -> str:
    """A value whose str() is JSON-safe text (an object link "3:0"), quoted."""
    return f'"{value}"'


def _quoted_b64url(value: object) -> str:
    return f'"{b64url_encode(value)}"'  # type: ignore[arg-type]


def bool_text(value: object) -> str:
    return "true" if value else "false"


string_text = cast(Callable[[object], object], _json_string)
"""The JSON text of a string: the C string encoder of the json module (what
``json.dumps(..., ensure_ascii=False)`` writes)."""

# The JSON text of a value, by kind.
_VALUE_TEXT: tuple[Callable[[object], object], ...] = (
    number_text,
    string_text,
    bool_text,
    _quoted_b64url,
    quoted_text,
)
_HEADS = tuple(f'"{label}":' for label in _LABELS)


def record_texts(
    items: list[senml.Leaf], heads: tuple[str, ...], text: tuple[Callable[[object], object], ...]
) -> list[str]:
    """The JSON text of each record ``{"n": name, label: value}`` (no ``n`` for no name).

    ``heads[kind]`` is the quoted label and colon of a kind, ``text[kind]`` formats
    a value of that kind. Written directly (names are ASCII digits and slashes):
    the same text :func:`dump_json` gives for the dicts, in a third of the time.
    """
    return [
        f'{{"n":"{name}",{heads[kind]}{text[kind](value)}}}'
        if name
        else f"{{{heads[kind]}{text[kind](value)}}}"
        for name, kind, value in items
    ]


def utf8(text: str) -> bytes:
    """The UTF-8 bytes of a JSON text written directly; EncodeError for a lone surrogate."""
    try:
        return text.encode()
    except UnicodeEncodeError as exc:
        raise EncodeError(f"cannot encode as JSON: {exc}") from None


def encode(node: Node | Records, path: Path, registry: Registry) -> bytes:
    bn, items = senml.leaves(node, path, registry)
    parts = record_texts(items, _HEADS, _VALUE_TEXT)
    if bn and parts:
        parts[0] = f'{{"bn":"{bn}",{parts[0][1:]}'
    return utf8(f"[{','.join(parts)}]")


def decode(payload: bytes, path: Path, registry: Registry) -> Node | Records:
    return senml.decode_items(load_json(payload, DIALECT.name), DIALECT, path, registry)


def encode_paths(paths: list[Path]) -> bytes:
    """The body of a Read-Composite / Observe-Composite request: ``[{"n": "/3/0/0"}, ...]``."""
    out = []
    for p in paths:
        if not isinstance(p, Path):  # the root "/" is allowed: every object
            raise EncodeError(f"{p!r} is not an LwM2M path")
        out.append({"n": str(p)})
    return dump_json(out)


def decode_paths(payload: bytes) -> list[Path]:
    return senml.decode_path_items(load_json(payload, DIALECT.name), DIALECT)

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

:func:`encode_paths` / :func:`decode_paths` handle the value-less records of
Read-Composite and Observe-Composite requests (canonical: full names, no
``bn``).
"""

from __future__ import annotations

import binascii
import json

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
        "v": senml.NUM,
        "vs": senml.STR,
        "vb": senml.BOOL,
        "vd": senml.DATA,
        "vlo": senml.OBJLNK,
    },
    labels=("v", "vs", "vb", "vd", "vlo", "v", "bn", "bt", "n", "t"),
    data=b64url_decode,
)
_LABELS = DIALECT.labels


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def load_json(payload: bytes, what: str) -> object:
    """Parse a UTF-8 JSON payload; DecodeError on any failure."""
    try:
        return _DECODER.decode(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DecodeError(f"{what}: invalid UTF-8", exc.start) from None
    except json.JSONDecodeError as exc:
        raise DecodeError(f"{what}: {exc.msg}", exc.pos) from None
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"{what}: {exc}") from None


def dump_json(obj: object) -> bytes:
    try:
        return _ENCODER.encode(obj).encode("utf-8")
    except (ValueError, UnicodeEncodeError) as exc:
        raise EncodeError(f"cannot encode as JSON: {exc}") from None


def encode(node: Node | Records, path: Path, registry: Registry) -> bytes:
    bn, items = senml.leaves(node, path, registry)
    out: list[dict[str, object]] = []
    for name, kind, value in items:
        if kind == senml.DATA:
            raw: object = b64url_encode(value)  # type: ignore[arg-type]
        elif kind == senml.OBJLNK:
            raw = str(value)
        else:
            raw = value  # NaN and infinities: the encoder raises (allow_nan=False)
        rec: dict[str, object] = {"n": name, _LABELS[kind]: raw} if name else {_LABELS[kind]: raw}
        out.append(rec)
    if bn and out:
        out[0] = {"bn": bn, **out[0]}
    return dump_json(out)


def decode(payload: bytes, path: Path, registry: Registry) -> Node | Records:
    return senml.decode_items(load_json(payload, DIALECT.name), DIALECT, path, registry)


def encode_paths(paths: list[Path]) -> bytes:
    """The body of a Read-Composite / Observe-Composite request: ``[{"n": "/3/0/0"}, ...]``."""
    out = []
    for p in paths:
        if not isinstance(p, Path) or not p:
            raise EncodeError(f"{p!r} is not a non-root LwM2M path")
        out.append({"n": str(p)})
    return dump_json(out)


def decode_paths(payload: bytes) -> list[Path]:
    return senml.decode_path_items(load_json(payload, DIALECT.name), DIALECT)

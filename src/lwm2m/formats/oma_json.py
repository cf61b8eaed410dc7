"""OMA LwM2M JSON, content format 11543 (LwM2M TS 1.0.2 section 6.4.4).

``{"bn": "/3/0/", "bt": 0, "e": [{"n": "0", "sv": "..."}, {"n": "7/0", "v": 3800}]}``:
one base name and base time for the whole payload and an entry array whose
values are ``v`` (numbers and Time), ``sv`` (strings; Opaque as base64),
``bv`` (booleans) or ``ov`` (Objlnk "o:i"). Entries resolve and type as in
:mod:`lwm2m.formats.senml`; an unknown resource's ``sv`` stays a ``str``.

Canonical form emitted by :func:`encode`: keys ``bn`` then ``e``; ``bn`` is
the request path with a trailing "/" and entry names are relative ("7/0"); a
single resource or resource instance is one entry named relative to its
instance: ``{"bn":"/3/0/","e":[{"n":"14","sv":"+02:00"}]}`` for /3/0/14,
``{"bn":"/3/0/","e":[{"n":"7/1","v":5000}]}`` for /3/0/7/1 (the form every
peer parses; some answer a ``bn`` that names the resource itself with 4.04
or 5.00). Decoding accepts that form, a ``bn`` that is the full path of the
value with an entry without ``n``, and full paths in ``n`` without ``bn``.
The pre-1.0 content format number 1543 of this format is decoded as 11543
by :mod:`lwm2m.formats`. LwM2M 1.0 has no composite operations: the root
path and :data:`~lwm2m.model.Records` raise
:class:`~lwm2m.errors.UnsupportedFormat` (both ways). Opaque is standard
base64 with padding (decoding also accepts it without padding); no time
fields; no white space; text as UTF-8; NaN and infinities raise
:class:`~lwm2m.errors.EncodeError`, and decoding refuses them (``1e999``
too) in values and in ``bt``/``t`` as :mod:`lwm2m.formats.senml_json` does.
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Callable

from lwm2m.errors import DecodeError, UnsupportedFormat
from lwm2m.formats import senml, senml_json
from lwm2m.formats.senml_json import load_json
from lwm2m.model import Node, Path, Records, Registry, ResourceNode, ResourceType


def b64_decode(raw: object) -> bytes:
    """Standard base64 text (RFC 4648 section 4), padding optional -> bytes."""
    if type(raw) is not str:
        raise ValueError(f"expected base64 text, got {type(raw).__name__}")
    text = raw.rstrip("=")
    pad = -len(text) % 4
    if pad == 3 or len(raw) - len(text) > pad:
        raise ValueError("bad base64 length or padding")
    try:
        return binascii.a2b_base64(text + "=" * pad, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValueError("invalid base64 text") from None


DIALECT = senml.Dialect(
    name="LwM2M JSON",
    fields={
        "n": senml.N,
        "t": senml.T,
        "v": senml.NUM,
        "sv": senml.STR,
        "bv": senml.BOOL,
        "ov": senml.OBJLNK,
    },
    labels=("v", "sv", "bv", "sv", "ov", "v", "bn", "bt", "n", "t"),
    extra={(ResourceType.OPAQUE, senml.STR): b64_decode},
)
_LABELS = DIALECT.labels


def _no_composite(path: Path) -> None:
    if not path:
        raise UnsupportedFormat("LwM2M JSON (11543) has no composite form for the root path")


def _quoted_b64(value: object) -> str:
    return f'"{binascii.b2a_base64(value, newline=False).decode("ascii")}"'  # type: ignore[arg-type]


# The JSON text of an entry value, by kind (Opaque as standard base64 in "sv").
_VALUE_TEXT: tuple[Callable[[object], object], ...] = (
    senml_json.number_text,
    senml_json.string_text,
    senml_json.bool_text,
    _quoted_b64,
    senml_json.quoted_text,
)
_HEADS = tuple(f'"{label}":' for label in _LABELS)


def encode(node: Node | Records, path: Path, registry: Registry) -> bytes:
    _no_composite(path)
    if isinstance(node, dict):
        raise UnsupportedFormat("LwM2M JSON (11543) cannot carry composite records")
    bn, items = senml.leaves(node, path, registry)
    if len(path) > 2 and isinstance(node, ResourceNode):
        # one value: named relative to its instance ("14", "7/1"), not by bn alone
        ((_, kind, value),) = items
        bn = senml.base_name(Path(path[0], path[1]))
        items = [("/".join(map(str, path[2:])), kind, value)]
    entries = ",".join(senml_json.record_texts(items, _HEADS, _VALUE_TEXT))
    # bn is the request path, digits and slashes: no escaping needed
    return senml_json.utf8(f'{{"bn":"{bn}","e":[{entries}]}}' if bn else f'{{"e":[{entries}]}}')


def decode(payload: bytes, path: Path, registry: Registry) -> Node | Records:
    _no_composite(path)
    doc = load_json(payload, DIALECT.name)
    if type(doc) is not dict:
        raise DecodeError(f"{DIALECT.name}: expected an object, got {type(doc).__name__}")
    bn = doc.get("bn", "")
    if type(bn) is not str:
        raise DecodeError(f"{DIALECT.name}: field bn is not text")
    bt = doc.get("bt", 0)
    if type(bt) is not int and (type(bt) is not float or not math.isfinite(bt)):
        raise DecodeError(f"{DIALECT.name}: field bt is not a finite number")
    if "e" not in doc:
        raise DecodeError(f"{DIALECT.name}: no entry array 'e'")
    return senml.decode_items(doc["e"], DIALECT, path, registry, bn)

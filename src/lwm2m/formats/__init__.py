"""LwM2M content formats: one encode/decode facade over every format module.

``encode(content_format, node, path)`` and ``decode(content_format, payload, path)``
dispatch by CoAP Content-Format number to the module of that format (see the module
docstrings for what each carries and its canonical form):

=======  ==============================  ==================
number   media type                      module
=======  ==============================  ==================
0        text/plain                      :mod:`.text`
42       application/octet-stream        :mod:`.opaque`
60       application/cbor                :mod:`.cbor`
110      application/senml+json          :mod:`.senml_json`
112      application/senml+cbor          :mod:`.senml_cbor`
11542    application/vnd.oma.lwm2m+tlv   :mod:`.tlv`
11543    application/vnd.oma.lwm2m+json  :mod:`.oma_json`
11544    application/vnd.oma.lwm2m+cbor  :mod:`.lwm2m_cbor`
=======  ==============================  ==================

The link format (40) is not node-valued; use :mod:`.link`. An unknown number, or one
whose module is not available, raises :class:`UnsupportedFormat` (CoAP 4.15 / 4.06).

:func:`decode` also reads 1543, the number OMA JSON had before LwM2M 1.0 and that
older clients still send, as OMA JSON (11543). It is never written: :func:`encode`,
:data:`ALL_FORMATS` and content negotiation know only 11543; :data:`DECODE_FORMATS`
lists every number :func:`decode` takes.
"""

from __future__ import annotations

import importlib
from typing import Protocol, cast

from lwm2m.coap.numbers import ContentFormat
from lwm2m.errors import UnsupportedFormat
from lwm2m.formats.negotiation import choose_format, supports
from lwm2m.model import Node, Path, Records, Registry, default_registry

__all__ = [
    "ALL_FORMATS",
    "DECODE_FORMATS",
    "choose_format",
    "decode",
    "encode",
    "format_name",
    "supports",
]


class _Codec(Protocol):
    def encode(self, node: Node | Records, path: Path, registry: Registry) -> bytes: ...

    def decode(self, payload: bytes, path: Path, registry: Registry) -> Node | Records: ...


_MODULES: dict[int, str] = {
    ContentFormat.TEXT_PLAIN: "text",
    ContentFormat.OCTET_STREAM: "opaque",
    ContentFormat.CBOR: "cbor",
    ContentFormat.SENML_JSON: "senml_json",
    ContentFormat.SENML_CBOR: "senml_cbor",
    ContentFormat.LWM2M_TLV: "tlv",
    ContentFormat.LWM2M_JSON: "oma_json",
    ContentFormat.LWM2M_CBOR: "lwm2m_cbor",
}

#: The node-valued content formats, by number.
ALL_FORMATS: tuple[ContentFormat, ...] = tuple(ContentFormat(cf) for cf in sorted(_MODULES))

# Numbers decoded as another format: the pre-1.0 number of OMA JSON.
_DECODE_ALIASES: dict[int, int] = {ContentFormat.LWM2M_JSON_OLD: ContentFormat.LWM2M_JSON}

#: Every content format :func:`decode` takes: :data:`ALL_FORMATS` and the old numbers.
DECODE_FORMATS: tuple[ContentFormat, ...] = tuple(
    ContentFormat(cf) for cf in sorted({*_MODULES, *_DECODE_ALIASES})
)

_NAMES: dict[int, str] = {
    ContentFormat.TEXT_PLAIN: "text/plain",
    ContentFormat.LINK_FORMAT: "application/link-format",
    ContentFormat.OCTET_STREAM: "application/octet-stream",
    ContentFormat.JSON: "application/json",
    ContentFormat.CBOR: "application/cbor",
    ContentFormat.SENML_JSON: "application/senml+json",
    ContentFormat.SENML_CBOR: "application/senml+cbor",
    ContentFormat.LWM2M_TLV: "application/vnd.oma.lwm2m+tlv",
    ContentFormat.LWM2M_JSON: "application/vnd.oma.lwm2m+json",
    ContentFormat.LWM2M_JSON_OLD: "application/vnd.oma.lwm2m+json (pre-1.0 number 1543)",
    ContentFormat.LWM2M_CBOR: "application/vnd.oma.lwm2m+cbor",
}

_loaded: dict[int, _Codec] = {}


def format_name(cf: int) -> str:
    """The media type of content format ``cf``, e.g. ``application/vnd.oma.lwm2m+tlv``."""
    return _NAMES.get(cf, f"content-format {cf}")


def _codec(cf: int) -> _Codec:
    codec = _loaded.get(cf)
    if codec is not None:
        return codec
    name = _MODULES.get(cf)
    if name is None:
        raise UnsupportedFormat(f"{format_name(cf)} is not a node-valued LwM2M format")
    module_name = f"{__name__}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise UnsupportedFormat(f"{format_name(cf)} is not available") from None
    codec = _loaded[cf] = cast(_Codec, module)
    return codec


def encode(
    content_format: int,
    node: Node | Records,
    path: str | Path,
    registry: Registry | None = None,
) -> bytes:
    """Encode ``node`` found at ``path`` in ``content_format``.

    ``registry`` types the values; None means :func:`lwm2m.model.default_registry`.
    Raise :class:`EncodeError` for a value the format cannot carry and
    :class:`UnsupportedFormat` when the format cannot carry this node or path.
    """
    codec = _loaded.get(content_format) or _codec(content_format)
    return codec.encode(
        node,
        path if type(path) is Path else Path.parse(path),
        registry if registry is not None else default_registry(),
    )


def decode(
    content_format: int,
    payload: bytes,
    path: str | Path,
    registry: Registry | None = None,
) -> Node | Records:
    """Decode ``payload`` in ``content_format`` for request ``path``.

    Raise :class:`DecodeError` for a malformed payload (CoAP 4.00) and
    :class:`UnsupportedFormat` when the format cannot carry this path (4.15).
    1543 is read as OMA JSON (11543).
    """
    codec = _loaded.get(content_format) or _codec(
        _DECODE_ALIASES.get(content_format, content_format)
    )
    return codec.decode(
        payload,
        path if type(path) is Path else Path.parse(path),
        registry if registry is not None else default_registry(),
    )

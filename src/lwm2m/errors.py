"""Exception types shared by every layer of the stack.

Decoders (CoAP messages, every LwM2M content format, link format, DDF XML)
raise exactly one type, :class:`DecodeError`, never ``IndexError`` or
``KeyError``: a caller that handles peer input needs a single ``except``.
"""

from __future__ import annotations


class Lwm2mError(Exception):
    """Base class of every error this package raises on purpose."""


class DecodeError(Lwm2mError, ValueError):
    """Input bytes or text do not parse. The message names the offset or field."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at offset {offset})")


class EncodeError(Lwm2mError, ValueError):
    """A value cannot be represented in the requested encoding."""


class UnsupportedFormat(Lwm2mError):
    """The content format cannot carry this payload, or is unknown (CoAP 4.06 / 4.15)."""


class ModelError(Lwm2mError, ValueError):
    """A path, value or definition breaks the data model's rules (ranges, types, ids)."""

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


class OperationError(Lwm2mError):
    """A device-management operation failed; ``code`` is the CoAP response code to send.

    The client engine raises these from the object store; the endpoint turns
    them into the response (LwM2M Core TS 6.x: 4.00, 4.01, 4.04, 4.05 …).
    """

    code: int = 0x80  # 4.00

    def __init__(self, message: str, code: int | None = None) -> None:
        if code is not None:
            self.code = code
        super().__init__(message)


class BadRequest(OperationError):
    code = 0x80  # 4.00


class Unauthorized(OperationError):
    code = 0x81  # 4.01


class NotFound(OperationError):
    code = 0x84  # 4.04


class MethodNotAllowed(OperationError):
    code = 0x85  # 4.05


class NotAcceptable(OperationError):
    code = 0x86  # 4.06


class UnsupportedContentFormat(OperationError):
    code = 0x8F  # 4.15

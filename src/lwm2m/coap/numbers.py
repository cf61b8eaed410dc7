"""CoAP protocol numbers: message types, codes, option numbers, content formats.

Values come from the IANA registries defined by RFC 7252 (section 12), RFC 7641
(Observe), RFC 7959 (block-wise), RFC 8132 (FETCH/PATCH/iPATCH), RFC 7967
(No-Response) and OMA LwM2M 1.1/1.2 (LwM2M content formats).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Code", "ContentFormat", "OptionNumber", "Type"]


class Type(IntEnum):
    """Message type, the 2-bit T field of the header (RFC 7252 section 3)."""

    CON = 0
    NON = 1
    ACK = 2
    RST = 3


def _code(klass: int, detail: int) -> int:
    return (klass << 5) | detail


class Code(IntEnum):
    """Request method or response code: 3-bit class, 5-bit detail (RFC 7252 section 12.1)."""

    EMPTY = 0
    # Methods (RFC 7252 12.1.1, RFC 8132 section 6)
    GET = 1
    POST = 2
    PUT = 3
    DELETE = 4
    FETCH = 5
    PATCH = 6
    IPATCH = 7
    # 2.xx success
    CREATED = _code(2, 1)
    DELETED = _code(2, 2)
    VALID = _code(2, 3)
    CHANGED = _code(2, 4)
    CONTENT = _code(2, 5)
    CONTINUE = _code(2, 31)
    # 4.xx client error
    BAD_REQUEST = _code(4, 0)
    UNAUTHORIZED = _code(4, 1)
    BAD_OPTION = _code(4, 2)
    FORBIDDEN = _code(4, 3)
    NOT_FOUND = _code(4, 4)
    METHOD_NOT_ALLOWED = _code(4, 5)
    NOT_ACCEPTABLE = _code(4, 6)
    REQUEST_ENTITY_INCOMPLETE = _code(4, 8)
    CONFLICT = _code(4, 9)
    PRECONDITION_FAILED = _code(4, 12)
    REQUEST_ENTITY_TOO_LARGE = _code(4, 13)
    UNSUPPORTED_CONTENT_FORMAT = _code(4, 15)
    UNPROCESSABLE_ENTITY = _code(4, 22)
    # 5.xx server error
    INTERNAL_SERVER_ERROR = _code(5, 0)
    NOT_IMPLEMENTED = _code(5, 1)
    BAD_GATEWAY = _code(5, 2)
    SERVICE_UNAVAILABLE = _code(5, 3)
    GATEWAY_TIMEOUT = _code(5, 4)
    PROXYING_NOT_SUPPORTED = _code(5, 5)

    @property
    def code_class(self) -> int:
        return self >> 5

    @property
    def detail(self) -> int:
        return self & 0x1F

    @property
    def is_request(self) -> bool:
        return 1 <= self <= 31

    @property
    def is_response(self) -> bool:
        return 64 <= self <= 191

    @property
    def is_success(self) -> bool:
        return self >> 5 == 2

    @property
    def is_empty(self) -> bool:
        return self == 0

    @property
    def dotted(self) -> str:
        """The code in the "c.dd" notation of RFC 7252, e.g. ``"2.05"``."""
        return dotted(self)


def dotted(code: int) -> str:
    """Format any 8-bit code (known or not) as "c.dd"."""
    return f"{code >> 5}.{code & 0x1F:02d}"


def is_request(code: int) -> bool:
    """Codes 0.01-0.31 are requests (RFC 7252 section 5.8)."""
    return 1 <= code <= 31


def is_response(code: int) -> bool:
    """Codes 2.00-5.31 are responses (RFC 7252 section 5.9)."""
    return 64 <= code <= 191


def is_success(code: int) -> bool:
    return code >> 5 == 2


class OptionNumber(IntEnum):
    """Option numbers (RFC 7252 12.2, RFC 7641, RFC 7959, RFC 7967)."""

    IF_MATCH = 1
    URI_HOST = 3
    ETAG = 4
    IF_NONE_MATCH = 5
    OBSERVE = 6
    URI_PORT = 7
    LOCATION_PATH = 8
    URI_PATH = 11
    CONTENT_FORMAT = 12
    MAX_AGE = 14
    URI_QUERY = 15
    ACCEPT = 17
    LOCATION_QUERY = 20
    BLOCK2 = 23
    BLOCK1 = 27
    SIZE2 = 28
    PROXY_URI = 35
    PROXY_SCHEME = 39
    SIZE1 = 60
    NO_RESPONSE = 258

    # RFC 7252 section 5.4.6: the low bits of the number encode the properties.
    @property
    def critical(self) -> bool:
        return option_is_critical(self)

    @property
    def unsafe(self) -> bool:
        return option_is_unsafe(self)

    @property
    def no_cache_key(self) -> bool:
        return option_is_no_cache_key(self)


def option_is_critical(number: int) -> bool:
    """Odd option numbers are critical (RFC 7252 section 5.4.6)."""
    return bool(number & 1)


def option_is_unsafe(number: int) -> bool:
    """Bit 1 set means unsafe to forward (RFC 7252 section 5.4.6)."""
    return bool(number & 2)


def option_is_no_cache_key(number: int) -> bool:
    """Bits 2-4 all set means NoCacheKey; only meaningful for safe options (5.4.6)."""
    return (number & 0x1E) == 0x1C


class ContentFormat(IntEnum):
    """CoAP Content-Formats used by LwM2M (RFC 7252 12.3, OMA LwM2M TS Core 1.1 7.1)."""

    TEXT_PLAIN = 0
    LINK_FORMAT = 40
    LWM2M_JSON_OLD = 1543  # OMA JSON under its pre-1.0 number (LwM2M 1.0 drafts)
    OCTET_STREAM = 42
    JSON = 50
    CBOR = 60
    SENML_JSON = 110
    SENML_CBOR = 112
    LWM2M_TLV = 11542
    LWM2M_JSON = 11543
    LWM2M_CBOR = 11544

"""CoAP message codec (RFC 7252 section 3) and typed option access.

A :class:`Message` keeps its options as a list of ``(number, raw value)``
pairs in the order they were added or received; :meth:`Message.encode` sorts
them stably by number, so repeated options keep their relative order
(RFC 7252 section 5.4.5). Typed accessors (``uri_path``, ``content_format``,
``block2`` ...) convert on demand, so decoding itself creates no per-option
objects besides the pair.

Wire format::

     0                   1                   2                   3
    |Ver| T |  TKL  |      Code     |          Message ID           |
    |   Token (if any, TKL bytes) ...
    |   Options (if any) ...
    |1 1 1 1 1 1 1 1|    Payload (if any) ...
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from urllib.parse import quote, unquote

from lwm2m.errors import DecodeError, EncodeError

from .numbers import Code, OptionNumber, Type

__all__ = [
    "OPTIONS",
    "BlockOption",
    "Message",
    "OptionFormat",
    "OptionSpec",
    "decode_uint",
    "encode_uint",
]

Option = tuple[int, bytes]


class OptionFormat(enum.Enum):
    """Option value formats of RFC 7252 section 3.2."""

    EMPTY = "empty"
    OPAQUE = "opaque"
    UINT = "uint"
    STRING = "string"


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """Registry entry for one option: format, length bounds, repeatability."""

    number: int
    name: str
    format: OptionFormat
    min_length: int
    max_length: int
    repeatable: bool = False

    def length_ok(self, length: int) -> bool:
        return self.min_length <= length <= self.max_length


def _spec(
    number: OptionNumber, fmt: OptionFormat, lo: int, hi: int, repeatable: bool = False
) -> OptionSpec:
    name = "-".join(part.capitalize() for part in number.name.split("_"))
    return OptionSpec(int(number), name, fmt, lo, hi, repeatable)


_O = OptionNumber
_F = OptionFormat
# RFC 7252 table 4 (section 5.10), RFC 7641 section 2, RFC 7959 section 2.1 / 4,
# RFC 7967 section 2.
OPTIONS: dict[int, OptionSpec] = {
    s.number: s
    for s in (
        _spec(_O.IF_MATCH, _F.OPAQUE, 0, 8, True),
        _spec(_O.URI_HOST, _F.STRING, 1, 255),
        _spec(_O.ETAG, _F.OPAQUE, 1, 8, True),
        _spec(_O.IF_NONE_MATCH, _F.EMPTY, 0, 0),
        _spec(_O.OBSERVE, _F.UINT, 0, 3),
        _spec(_O.URI_PORT, _F.UINT, 0, 2),
        _spec(_O.LOCATION_PATH, _F.STRING, 0, 255, True),
        _spec(_O.URI_PATH, _F.STRING, 0, 255, True),
        _spec(_O.CONTENT_FORMAT, _F.UINT, 0, 2),
        _spec(_O.MAX_AGE, _F.UINT, 0, 4),
        _spec(_O.URI_QUERY, _F.STRING, 0, 255, True),
        _spec(_O.ACCEPT, _F.UINT, 0, 2),
        _spec(_O.LOCATION_QUERY, _F.STRING, 0, 255, True),
        _spec(_O.BLOCK2, _F.UINT, 0, 3),
        _spec(_O.BLOCK1, _F.UINT, 0, 3),
        _spec(_O.SIZE2, _F.UINT, 0, 4),
        _spec(_O.PROXY_URI, _F.STRING, 1, 1034),
        _spec(_O.PROXY_SCHEME, _F.STRING, 1, 255),
        _spec(_O.SIZE1, _F.UINT, 0, 4),
        _spec(_O.NO_RESPONSE, _F.UINT, 0, 1),
    )
}

DEFAULT_MAX_AGE = 60  # RFC 7252 section 5.10.5

_TYPES = (Type.CON, Type.NON, Type.ACK, Type.RST)
_CODES: dict[int, int] = {int(c): c for c in Code}
_first = itemgetter(0)
_MAX_OPTION_LENGTH = 65535 + 269
_URI_PATH = int(OptionNumber.URI_PATH)
_URI_QUERY = int(OptionNumber.URI_QUERY)
_OBSERVE = int(OptionNumber.OBSERVE)
_CONTENT_FORMAT = int(OptionNumber.CONTENT_FORMAT)
_ACCEPT = int(OptionNumber.ACCEPT)


def encode_uint(value: int, max_length: int = 8) -> bytes:
    """Minimal big-endian unsigned integer (RFC 7252 section 3.2): 0 is empty."""
    if value < 0:
        raise EncodeError(f"uint option value {value} is negative")
    length = (value.bit_length() + 7) >> 3
    if length > max_length:
        raise EncodeError(f"uint option value {value} needs more than {max_length} bytes")
    return value.to_bytes(length, "big")


def decode_uint(raw: bytes, max_length: int = 8, name: str = "option") -> int:
    """Inverse of :func:`encode_uint`; leading zero bytes are tolerated."""
    if len(raw) > max_length:
        raise DecodeError(f"{name}: uint value is {len(raw)} bytes, at most {max_length} allowed")
    return int.from_bytes(raw, "big")


@dataclass(frozen=True, slots=True)
class BlockOption:
    """Block1/Block2 value (RFC 7959 section 2.2): block number, more flag, size exponent."""

    num: int
    more: bool
    szx: int

    def __post_init__(self) -> None:
        if not 0 <= self.num < 1 << 20:
            raise EncodeError(f"block number {self.num} out of range 0..2**20-1")
        if not 0 <= self.szx <= 6:
            raise EncodeError(f"block SZX {self.szx} out of range 0..6")

    @property
    def size(self) -> int:
        return 1 << (self.szx + 4)

    @property
    def offset(self) -> int:
        return self.num << (self.szx + 4)

    def to_int(self) -> int:
        return (self.num << 4) | (8 if self.more else 0) | self.szx

    def encode(self) -> bytes:
        return encode_uint(self.to_int())

    @classmethod
    def decode(cls, raw: bytes) -> BlockOption:
        value = decode_uint(raw, 3, "Block")
        szx = value & 7
        if szx == 7:
            # RFC 7959 section 2.2: SZX 7 is reserved.
            raise DecodeError("Block option: reserved SZX 7")
        return cls(value >> 4, bool(value & 8), szx)

    @staticmethod
    def szx_for_size(size: int) -> int:
        """SZX of a power-of-two block size between 16 and 1024."""
        if size not in (16, 32, 64, 128, 256, 512, 1024):
            raise EncodeError(f"block size {size} is not a power of two in 16..1024")
        return size.bit_length() - 5


def _uint_property(number: OptionNumber, doc: str) -> property:
    spec = OPTIONS[number]

    def getter(self: Message) -> int | None:
        raw = self.get_option(number)
        return None if raw is None else decode_uint(raw, spec.max_length, spec.name)

    def setter(self: Message, value: int | None) -> None:
        self.set_option(number, None if value is None else encode_uint(value, spec.max_length))

    return property(getter, setter, doc=doc)


def _strings_property(number: OptionNumber, doc: str) -> property:
    name = OPTIONS[number].name

    def getter(self: Message) -> tuple[str, ...]:
        try:
            return tuple([v.decode() for n, v in self.options if n == number])
        except UnicodeDecodeError:
            return tuple(_decode_str(v, name) for n, v in self.options if n == number)

    def setter(self: Message, values: Iterable[str]) -> None:
        self.set_options(number, [v.encode() for v in values])

    return property(getter, setter, doc=doc)


def _decode_str(raw: bytes, name: str) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise DecodeError(f"{name}: value is not UTF-8", exc.start) from None


def _block_property(number: OptionNumber, doc: str) -> property:
    def getter(self: Message) -> BlockOption | None:
        raw = self.get_option(number)
        return None if raw is None else BlockOption.decode(raw)

    def setter(self: Message, value: BlockOption | None) -> None:
        self.set_option(number, None if value is None else value.encode())

    return property(getter, setter, doc=doc)


def _extended_nibble(nibble: int, data: bytes, pos: int, start: int, what: str) -> tuple[int, int]:
    """Resolve an option delta or length nibble of 13-15 (RFC 7252 section 3.1).

    Returns the value and the position after its extended bytes.
    """
    if nibble == 13:
        if pos >= len(data):
            raise DecodeError(f"option {what} extension truncated", pos)
        return data[pos] + 13, pos + 1
    if nibble == 14:
        if pos + 2 > len(data):
            raise DecodeError(f"option {what} extension truncated", pos)
        return (data[pos] << 8 | data[pos + 1]) + 269, pos + 2
    raise DecodeError(f"reserved option {what} 15", start)


# Applications send to and serve a handful of paths over and over: the parsed
# forms of recent path strings are kept (bounded) instead of re-parsed each time.
_PATH_CACHE_SIZE = 1024


@functools.lru_cache(maxsize=_PATH_CACHE_SIZE)
def split_path(path: str) -> tuple[str, ...]:
    """Split ``"/3/0/1"`` into percent-decoded segments; ``""`` and ``"/"`` give ``()``."""
    path = path.strip("/")
    if not path:
        return ()
    if "%" not in path:
        return tuple(path.split("/"))
    return tuple([unquote(seg) for seg in path.split("/")])


@functools.lru_cache(maxsize=_PATH_CACHE_SIZE)
def _path_options(path: str) -> tuple[Option, ...]:
    """The Uri-Path options of a path string (see :func:`split_path`)."""
    return tuple([(_URI_PATH, seg.encode()) for seg in split_path(path)])


# Encoded small uint option values (Content-Format, Accept, Observe ...), bounded.
_cached_uint = functools.lru_cache(maxsize=256, typed=True)(encode_uint)


def split_query(query: str | Sequence[str] | None) -> list[str]:
    """``"a=1&b"`` or ``["a=1", "b"]`` as a list of Uri-Query values."""
    if query is None:
        return []
    if isinstance(query, str):
        return [unquote(q) for q in query.lstrip("?").split("&") if q]
    return list(query)


@dataclass(slots=True)
class Message:
    """One CoAP message. ``code`` holds a :class:`Code` when the value is registered."""

    type: Type = Type.CON
    code: int = Code.EMPTY
    mid: int = 0
    token: bytes = b""
    options: list[Option] = field(default_factory=list)
    payload: bytes = b""

    # ------------------------------------------------------------------ codec

    def encode(self) -> bytes:
        """Serialise; raises :class:`EncodeError` for out-of-range fields."""
        return encode_message(
            self.type, self.code, self.mid, self.token, self.options, self.payload
        )

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Message:
        """Parse one datagram; raises :class:`DecodeError` naming the offset."""
        if type(data) is not bytes:
            data = bytes(data)
        n = len(data)
        if n < 4:
            raise DecodeError(f"message is {n} bytes, shorter than the 4-byte header", 0)
        b0 = data[0]
        if b0 >> 6 != 1:
            raise DecodeError(f"unsupported CoAP version {b0 >> 6}", 0)
        tkl = b0 & 0x0F
        if tkl > 8:
            # RFC 7252 section 3: lengths 9-15 are a message format error.
            raise DecodeError(f"reserved token length {tkl}", 0)
        code = data[1]
        pos = 4 + tkl
        if pos > n:
            raise DecodeError(f"token of {tkl} bytes truncated", 4)
        if code == 0 and n > 4:
            # RFC 7252 section 4.1: an Empty message is exactly the 4-byte header.
            raise DecodeError("Empty message (code 0.00) carries bytes after the header", 4)
        options: list[Option] = []
        payload = b""
        number = 0
        while pos < n:
            start = pos
            byte = data[pos]
            if byte == 0xFF:
                if pos + 1 == n:
                    raise DecodeError("payload marker followed by an empty payload", pos)
                payload = data[pos + 1 :]
                break
            pos += 1
            delta = byte >> 4
            length = byte & 0x0F
            if delta >= 13:
                delta, pos = _extended_nibble(delta, data, pos, start, "delta")
            if length >= 13:
                length, pos = _extended_nibble(length, data, pos, start, "length")
            end = pos + length
            if end > n:
                raise DecodeError(f"option value of {length} bytes truncated", pos)
            number += delta
            options.append((number, data[pos:end]))
            pos = end
        return cls(
            _TYPES[(b0 >> 4) & 3],
            _CODES.get(code, code),
            data[2] << 8 | data[3],
            data[4 : 4 + tkl],
            options,
            payload,
        )

    # ---------------------------------------------------------- raw options

    def get_option(self, number: int) -> bytes | None:
        """The first value of option ``number``, or None."""
        for n, v in self.options:
            if n == number:
                return v
        return None

    def get_options(self, number: int) -> list[bytes]:
        return [v for n, v in self.options if n == number]

    def has_option(self, number: int) -> bool:
        return any(n == number for n, _ in self.options)

    def add_option(self, number: int, value: bytes) -> None:
        self.options.append((number, value))

    def remove_option(self, number: int) -> None:
        self.options = [o for o in self.options if o[0] != number]

    def set_option(self, number: int, value: bytes | None) -> None:
        """Replace every occurrence of ``number`` by one value (None removes it)."""
        self.set_options(number, () if value is None else (value,))

    def set_options(self, number: int, values: Iterable[bytes]) -> None:
        opts = [o for o in self.options if o[0] != number]
        opts.extend((number, v) for v in values)
        self.options = opts

    def unknown_critical_option(self) -> int | None:
        """First critical option that is unknown, has a bad length or is repeated although
        it is not repeatable (RFC 7252 5.4.1, 5.4.3, 5.4.5; received options are in order)."""
        last = -1
        for n, v in self.options:
            if n & 1:
                spec = OPTIONS.get(n)
                if spec is None or not spec.min_length <= len(v) <= spec.max_length:
                    return n
                if n == last and not spec.repeatable:
                    return n
            last = n
        return None

    def drop_bad_elective_options(self) -> None:
        """Remove known elective options with a bad length, and repetitions of
        non-repeatable ones after the first: they are treated like unrecognised
        elective options, i.e. ignored (RFC 7252 5.4.3, 5.4.5)."""
        keep: list[Option] | None = None
        last = -1
        for index, (n, v) in enumerate(self.options):
            bad = False
            if not n & 1:
                spec = OPTIONS.get(n)
                if spec is not None and (
                    not spec.min_length <= len(v) <= spec.max_length
                    or (n == last and not spec.repeatable)
                ):
                    bad = True
            if bad and keep is None:
                keep = list(self.options[:index])
            elif not bad and keep is not None:
                keep.append((n, v))
            last = n
        if keep is not None:
            self.options = keep

    # --------------------------------------------------------- typed options

    uri_path = _strings_property(OptionNumber.URI_PATH, "Uri-Path segments.")
    uri_query = _strings_property(OptionNumber.URI_QUERY, "Uri-Query values.")
    location_path = _strings_property(OptionNumber.LOCATION_PATH, "Location-Path segments.")
    location_query = _strings_property(OptionNumber.LOCATION_QUERY, "Location-Query values.")
    content_format = _uint_property(OptionNumber.CONTENT_FORMAT, "Content-Format number.")
    accept = _uint_property(OptionNumber.ACCEPT, "Accept content format.")
    observe = _uint_property(OptionNumber.OBSERVE, "Observe value (RFC 7641).")
    uri_port = _uint_property(OptionNumber.URI_PORT, "Uri-Port.")
    max_age = _uint_property(OptionNumber.MAX_AGE, "Max-Age in seconds (absent: 60).")
    size1 = _uint_property(OptionNumber.SIZE1, "Size1 (RFC 7959 section 4).")
    size2 = _uint_property(OptionNumber.SIZE2, "Size2 (RFC 7959 section 4).")
    no_response = _uint_property(OptionNumber.NO_RESPONSE, "No-Response bit mask (RFC 7967).")
    block1 = _block_property(OptionNumber.BLOCK1, "Block1 (RFC 7959).")
    block2 = _block_property(OptionNumber.BLOCK2, "Block2 (RFC 7959).")

    @property
    def uri_host(self) -> str | None:
        raw = self.get_option(OptionNumber.URI_HOST)
        return None if raw is None else _decode_str(raw, "Uri-Host")

    @uri_host.setter
    def uri_host(self, value: str | None) -> None:
        self.set_option(OptionNumber.URI_HOST, None if value is None else value.encode())

    @property
    def etag(self) -> bytes | None:
        return self.get_option(OptionNumber.ETAG)

    @etag.setter
    def etag(self, value: bytes | None) -> None:
        self.set_option(OptionNumber.ETAG, value)

    @property
    def path_string(self) -> str:
        """Uri-Path as ``"/a/b"`` with reserved characters percent-encoded."""
        return "/" + "/".join(quote(seg, safe="") for seg in self.uri_path)

    # -------------------------------------------------------- convenience

    @property
    def is_request(self) -> bool:
        return 1 <= self.code <= 31

    @property
    def is_response(self) -> bool:
        return 64 <= self.code <= 191

    @property
    def is_empty(self) -> bool:
        return self.code == 0

    @classmethod
    def request(
        cls,
        code: int,
        path: str | Sequence[str] = "",
        *,
        query: str | Sequence[str] | None = None,
        payload: bytes = b"",
        content_format: int | None = None,
        accept: int | None = None,
        observe: int | None = None,
        confirmable: bool = True,
        token: bytes = b"",
        options: Iterable[Option] = (),
    ) -> Message:
        """Build a request; ``path`` is ``"/3/0/1"`` or a sequence of segments."""
        if isinstance(path, str):
            opts = list(_path_options(path))
        else:
            opts = [(_URI_PATH, s.encode()) for s in path]
        if query is not None:
            opts.extend([(_URI_QUERY, q.encode()) for q in split_query(query)])
        if observe is not None:
            opts.append((_OBSERVE, _cached_uint(observe, 3)))
        if content_format is not None:
            opts.append((_CONTENT_FORMAT, _cached_uint(content_format, 2)))
        if accept is not None:
            opts.append((_ACCEPT, _cached_uint(accept, 2)))
        if options:
            opts.extend(options)
        return cls(
            Type.CON if confirmable else Type.NON, _CODES.get(code, code), 0, token, opts, payload
        )

    @classmethod
    def response_to(
        cls,
        request: Message,
        code: int,
        payload: bytes = b"",
        *,
        content_format: int | None = None,
        observe: int | None = None,
        options: Iterable[Option] = (),
    ) -> Message:
        """A response matching ``request``: piggybacked ACK for CON, NON for NON."""
        opts: list[Option] = []
        if observe is not None:
            opts.append((_OBSERVE, _cached_uint(observe, 3)))
        if content_format is not None:
            opts.append((_CONTENT_FORMAT, _cached_uint(content_format, 2)))
        if options:
            opts.extend(options)
        if request.type is Type.CON:
            return cls(Type.ACK, _CODES.get(code, code), request.mid, request.token, opts, payload)
        return cls(Type.NON, _CODES.get(code, code), 0, request.token, opts, payload)

    def __repr__(self) -> str:
        code = self.code
        name = code.name if isinstance(code, Code) else str(code)
        opts = ", ".join(f"{_option_name(n)}={v!r}" for n, v in self.options)
        return (
            f"<Message {self.type.name} {code >> 5}.{code & 0x1F:02d} {name} mid={self.mid} "
            f"token={self.token.hex()} [{opts}] payload={len(self.payload)}B>"
        )


def _option_name(number: int) -> str:
    spec = OPTIONS.get(number)
    return spec.name if spec else str(number)


def _ext(value: int) -> tuple[int, bytes]:
    """Nibble and extension bytes for an option delta or length (RFC 7252 3.1)."""
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes((value - 13,))
    return 14, (value - 269).to_bytes(2, "big")


def encode_message(
    msg_type: int, code: int, mid: int, token: bytes, options: list[Option], payload: bytes
) -> bytes:
    """Serialise header fields, options (sorted stably by number) and payload."""
    tkl = len(token)
    if tkl > 8:
        raise EncodeError(f"token is {tkl} bytes, at most 8 allowed")
    if not 0 <= mid <= 0xFFFF:
        raise EncodeError(f"message ID {mid} out of range")
    if not 0 <= code <= 0xFF:
        raise EncodeError(f"code {code} out of range")
    if code == 0 and (tkl or options or payload):
        # RFC 7252 section 4.1: an Empty message is the bare 4-byte header.
        raise EncodeError("an Empty message (0.00) carries no token, options or payload")
    out = bytearray((0x40 | (msg_type << 4) | tkl, code, mid >> 8, mid & 0xFF))
    out += token
    if options:
        head = len(out)
        if not _encode_options(out, options):
            # Options were not in order (rare): start over with a stable sort.
            del out[head:]
            if not _encode_options(out, sorted(options, key=_first)):
                raise EncodeError(f"negative option number in {[n for n, _ in options]}")
    if payload:
        out.append(0xFF)
        out += payload
    return bytes(out)


def _encode_options(out: bytearray, options: Sequence[Option]) -> bool:
    """Append ``options`` (RFC 7252 3.1); False, leaving ``out`` partly written, if unsorted."""
    last = 0
    for number, value in options:
        delta = number - last
        length = len(value)
        if 0 <= delta < 13 and length < 13:
            out.append(delta << 4 | length)
        else:
            if delta < 0:
                return False
            if length > _MAX_OPTION_LENGTH or delta > _MAX_OPTION_LENGTH:
                raise EncodeError(f"option {number} cannot be encoded (length {length})")
            dn, dx = _ext(delta)
            ln, lx = _ext(length)
            out.append(dn << 4 | ln)
            out += dx
            out += lx
        out += value
        last = number
    return True

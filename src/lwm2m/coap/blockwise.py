"""Sans-IO block-wise transfer (RFC 7959) for both roles.

Server role
    :func:`serve_block2` cuts one block out of a complete response, following
    the Block2 option of the request (block number and the smaller of the two
    preferred sizes, 2.4). :class:`Block1Receiver` reassembles a request body
    sent in Block1 blocks (2.3): 2.31 Continue for every non-final block,
    4.08 Request Entity Incomplete when a block does not continue the body,
    4.13 Request Entity Too Large (with Size1) beyond the configured maximum.

Client role
    :class:`Block1Sender` splits a request body and adapts to a smaller size
    announced by the server; :class:`Block2Collector` reassembles a response
    and checks that the ETag stays the same across blocks (2.4).

Blocks are tracked by byte offset, so a size change in the middle of a
transfer (SZX negotiation) needs no special case.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from lwm2m.errors import DecodeError

from .message import BlockOption, Message, encode_uint
from .numbers import Code, OptionNumber, dotted

__all__ = [
    "Block1Receiver",
    "Block1Result",
    "Block1Sender",
    "Block2Cache",
    "Block2Collector",
    "BlockwiseError",
    "request_key",
    "serve_block2",
]

_BLOCK1 = int(OptionNumber.BLOCK1)
_BLOCK2 = int(OptionNumber.BLOCK2)
_SIZE1 = int(OptionNumber.SIZE1)
_SIZE2 = int(OptionNumber.SIZE2)
_OBSERVE = int(OptionNumber.OBSERVE)
_ETAG = int(OptionNumber.ETAG)
# Options that do not identify the body being transferred (RFC 7959 2.4/2.5).
_NOT_KEY = frozenset((_BLOCK1, _BLOCK2, _SIZE1, _SIZE2, _OBSERVE))


class BlockwiseError(Exception):
    """A block-wise transfer cannot continue (peer misbehaviour or size limit)."""


def request_key(message: Message) -> tuple[object, ...]:
    """What identifies one block-wise body: method and every option except block/size ones."""
    return (message.code, tuple(o for o in message.options if o[0] not in _NOT_KEY))


def _with_options(message: Message, drop: frozenset[int], add: list[tuple[int, bytes]]) -> Message:
    options = [o for o in message.options if o[0] not in drop]
    options.extend(add)
    return Message(message.type, message.code, message.mid, message.token, options, message.payload)


def serve_block2(response: Message, request_block: BlockOption | None, szx: int) -> Message:
    """The block of ``response`` the request asks for, or ``response`` itself if it fits.

    ``szx`` is the server's preferred size exponent; a smaller one in the request
    wins. A block number beyond the end gives 4.02 Bad Option (2.2).
    """
    if request_block is not None and request_block.szx < szx:
        szx = request_block.szx
    size = 1 << (szx + 4)
    payload = response.payload
    total = len(payload)
    num = request_block.num if request_block is not None else 0
    if num == 0 and total <= size:
        if request_block is None:
            return response
        # Block2 was asked for explicitly: answer with the option even for one block.
        block = BlockOption(0, False, szx)
        return _with_options(response, frozenset((_BLOCK2,)), [(_BLOCK2, block.encode())])
    offset = num * size
    if offset >= total:
        return Message(
            response.type,
            Code.BAD_OPTION,
            0,
            response.token,
            [],
            b"block number out of range",
        )
    more = offset + size < total
    add = [(_BLOCK2, BlockOption(num, more, szx).encode())]
    if not response.has_option(_ETAG):
        # Lets the client notice a representation change between blocks (2.4).
        add.append((_ETAG, zlib.crc32(payload).to_bytes(4, "big")))
    if num == 0:
        add.append((_SIZE2, encode_uint(total)))
    drop = frozenset((_BLOCK2, _SIZE2)) if num == 0 else frozenset((_BLOCK2, _SIZE2, _OBSERVE))
    block_msg = _with_options(response, drop, add)
    block_msg.payload = payload[offset : offset + size]
    return block_msg


class Block2Cache:
    """Complete responses being served block by block, so that later blocks come
    from the same representation and non-idempotent requests (POST with a large
    response, RFC 7959 2.6) are not executed again."""

    def __init__(self, lifetime: float, limit: int = 256) -> None:
        self.lifetime = lifetime
        self.limit = limit
        self._entries: dict[tuple[object, ...], tuple[float, Message]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def store(self, remote: object, request: Message, response: Message, now: float) -> None:
        entries = self._entries
        if len(entries) >= self.limit:
            self._expire(now)
            if len(entries) >= self.limit:
                del entries[next(iter(entries))]
        entries[(remote, *request_key(request))] = (now + self.lifetime, response)

    def lookup(self, remote: object, request: Message, now: float) -> Message | None:
        key = (remote, *request_key(request))
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[key]
            return None
        return entry[1]

    def _expire(self, now: float) -> None:
        stale = [k for k, (t, _) in self._entries.items() if t <= now]
        for k in stale:
            del self._entries[k]


@dataclass(slots=True)
class Block1Result:
    """Outcome of one Block1 block: an immediate response, or the complete body."""

    response: Message | None = None
    body: bytes | None = None
    echo: BlockOption | None = None


class _Partial:
    __slots__ = ("buffer", "touched")

    def __init__(self, now: float) -> None:
        self.buffer = bytearray()
        self.touched = now


class Block1Receiver:
    """Server-side reassembly of Block1 request bodies (RFC 7959 2.3, 2.5)."""

    def __init__(self, max_body_size: int, szx: int, lifetime: float) -> None:
        self.max_body_size = max_body_size
        self.szx = szx
        self.lifetime = lifetime
        self._partial: dict[tuple[object, ...], _Partial] = {}

    def __len__(self) -> int:
        return len(self._partial)

    def _too_large(self) -> Block1Result:
        msg = Message(code=Code.REQUEST_ENTITY_TOO_LARGE, payload=b"request body too large")
        msg.options.append((_SIZE1, encode_uint(self.max_body_size)))
        return Block1Result(response=msg)

    def feed(self, remote: object, request: Message, now: float) -> Block1Result:
        """Process one request carrying Block1; ``remote`` identifies the peer."""
        try:
            block = request.block1
            size1 = request.size1
        except DecodeError as exc:
            return Block1Result(response=Message(code=Code.BAD_REQUEST, payload=str(exc).encode()))
        if block is None:
            raise ValueError("request has no Block1 option")
        self._expire(now)
        key = (remote, *request_key(request))
        if size1 is not None and size1 > self.max_body_size:
            self._partial.pop(key, None)
            return self._too_large()
        payload = request.payload
        if block.more and len(payload) != block.size:
            self._partial.pop(key, None)
            return Block1Result(
                response=Message(code=Code.BAD_REQUEST, payload=b"block payload size mismatch")
            )
        offset = block.num * block.size
        partial = self._partial.get(key)
        if offset == 0:
            partial = self._partial[key] = _Partial(now)
        elif partial is None or offset != len(partial.buffer):
            self._partial.pop(key, None)
            return Block1Result(
                response=Message(
                    code=Code.REQUEST_ENTITY_INCOMPLETE, payload=b"block does not continue body"
                )
            )
        if len(partial.buffer) + len(payload) > self.max_body_size:
            del self._partial[key]
            return self._too_large()
        partial.buffer += payload
        partial.touched = now
        if block.more:
            # 2.3: acknowledge with the (possibly smaller) size we prefer.
            echo = BlockOption(block.num, True, min(block.szx, self.szx))
            msg = Message(code=Code.CONTINUE)
            msg.options.append((_BLOCK1, echo.encode()))
            return Block1Result(response=msg)
        del self._partial[key]
        return Block1Result(
            body=bytes(partial.buffer), echo=BlockOption(block.num, False, block.szx)
        )

    def _expire(self, now: float) -> None:
        if not self._partial:
            return
        limit = now - self.lifetime
        stale = [k for k, p in self._partial.items() if p.touched <= limit]
        for k in stale:
            del self._partial[k]


class Block1Sender:
    """Client-side splitting of a request body into Block1 blocks (RFC 7959 2.3)."""

    def __init__(self, request: Message, szx: int) -> None:
        self.request = request
        self.body = request.payload
        self.szx = szx
        self.offset = 0
        self._sent_size = 0

    def next_request(self) -> Message:
        """The request carrying the block at the current offset."""
        size = 1 << (self.szx + 4)
        chunk = self.body[self.offset : self.offset + size]
        more = self.offset + size < len(self.body)
        add = [(_BLOCK1, BlockOption(self.offset // size, more, self.szx).encode())]
        if self.offset == 0:
            add.append((_SIZE1, encode_uint(len(self.body))))
        msg = _with_options(self.request, frozenset((_BLOCK1, _SIZE1)), add)
        msg.payload = chunk
        self._sent_size = len(chunk)
        return msg

    @property
    def last_block_sent(self) -> bool:
        return self.offset + self._sent_size >= len(self.body)

    def on_continue(self, response: Message) -> None:
        """Advance after a 2.31 Continue; adopt a smaller SZX from the server."""
        try:
            echo = response.block1
        except DecodeError as exc:
            raise BlockwiseError(f"bad Block1 option in 2.31 response: {exc}") from None
        if echo is None:
            raise BlockwiseError("2.31 Continue without a Block1 option")
        self.offset += self._sent_size
        self._sent_size = 0
        if echo.szx < self.szx:
            self.szx = echo.szx
            if self.offset % (1 << (self.szx + 4)):
                raise BlockwiseError("server block size does not divide the offset")


class Block2Collector:
    """Client-side reassembly of a response sent in Block2 blocks (RFC 7959 2.4)."""

    def __init__(self, first: Message, szx: int, max_body_size: int) -> None:
        block = first.block2
        if block is None or block.num != 0:
            raise BlockwiseError("first response block must be block 0")
        self.first = first
        self.etag = first.etag
        self.szx = min(szx, block.szx)
        self.max_body_size = max_body_size
        self.body = bytearray(first.payload)
        self.more = block.more
        self._check_size()

    def _check_size(self) -> None:
        if len(self.body) > self.max_body_size:
            raise BlockwiseError(f"response body exceeds {self.max_body_size} bytes")

    def next_block(self) -> BlockOption:
        """The Block2 option for the next request."""
        size = 1 << (self.szx + 4)
        if len(self.body) % size:
            raise BlockwiseError("received blocks do not align with the block size")
        return BlockOption(len(self.body) // size, False, self.szx)

    def add(self, response: Message) -> None:
        """Append a later block; raises :class:`BlockwiseError` on any mismatch."""
        if response.code >> 5 != 2:
            raise BlockwiseError(f"block request answered with {dotted(response.code)}")
        try:
            block = response.block2
        except DecodeError as exc:
            raise BlockwiseError(f"bad Block2 option: {exc}") from None
        if block is None:
            raise BlockwiseError("block response without a Block2 option")
        if response.etag != self.etag:
            raise BlockwiseError("ETag changed during the transfer")
        if block.offset != len(self.body):
            raise BlockwiseError(f"got block at offset {block.offset}, expected {len(self.body)}")
        if block.szx < self.szx:
            self.szx = block.szx
        self.body += response.payload
        self.more = block.more
        self._check_size()

    def result(self) -> Message:
        """The first response with the complete body and without Block2/Size2."""
        msg = _with_options(self.first, frozenset((_BLOCK2, _SIZE2)), [])
        msg.payload = bytes(self.body)
        return msg

    def follow_up(self, request: Message) -> Message:
        """The request for the next block: the original minus Observe/Block1, plus Block2."""
        msg = _with_options(
            request,
            frozenset((_BLOCK1, _BLOCK2, _SIZE1, _OBSERVE)),
            [(_BLOCK2, self.next_block().encode())],
        )
        if msg.code != Code.FETCH:
            msg.payload = b""
        return msg

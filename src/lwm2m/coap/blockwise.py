"""Sans-IO block-wise transfer (RFC 7959) for both roles.

Server role
    :func:`serve_block2` cuts one block out of a complete response, following
    the Block2 option of the request (block number and the smaller of the two
    preferred sizes, 2.4). :class:`Block1Receiver` reassembles a request body
    sent in Block1 blocks (2.3): 2.31 Continue for every non-final block,
    4.08 Request Entity Incomplete when a block does not continue the body,
    4.13 Request Entity Too Large (with Size1) beyond the configured maximum,
    5.03 Service Unavailable with Max-Age when a bound on transfers in
    progress is reached (:mod:`lwm2m.coap.limits`); :class:`Block1Stream`
    hands the blocks on instead. :class:`Block2Cache` keeps large responses
    for their later blocks, bounded per peer and in total. Every kind of
    partial transfer tells when its oldest entry expires (``next_expiry``),
    so that the endpoint can drop it on a timer.

Client role
    :class:`Block1Sender` splits a request body and adapts to a smaller size
    announced by the server; :class:`Block2Follower` checks that each Block2
    block continues the previous one with the same ETag (2.4) and builds the
    request for the next; :class:`Block2Collector` also reassembles the body.

Blocks are tracked by byte offset, so a size change in the middle of a
transfer (SZX negotiation) needs no special case.
"""

from __future__ import annotations

import enum
import zlib
from dataclasses import dataclass

from lwm2m.errors import DecodeError

from .limits import PeerCounts, service_unavailable
from .message import BlockOption, Message, encode_uint
from .numbers import Code, OptionNumber, dotted

__all__ = [
    "Block1Receiver",
    "Block1Result",
    "Block1Sender",
    "Block1Stream",
    "Block1StreamStep",
    "Block2Cache",
    "Block2Collector",
    "Block2Follower",
    "BlockwiseError",
    "StreamAbort",
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
    response, RFC 7959 2.6) are not executed again.

    At most ``per_peer`` entries per peer and ``limit`` in all: beyond them the
    oldest entry of the same peer, else the oldest overall, makes room (a later
    block of a dropped response runs the handler again). A response larger
    than ``max_body_size`` is not kept. Entries expire ``lifetime`` seconds
    after they were stored; :meth:`next_expiry` tells when the next one does.
    """

    __slots__ = ("_entries", "_per_peer", "lifetime", "limit", "max_body_size", "per_peer")

    def __init__(
        self,
        lifetime: float,
        limit: int = 256,
        *,
        per_peer: int | None = None,
        max_body_size: int | None = None,
    ) -> None:
        self.lifetime = lifetime
        self.limit = limit
        self.per_peer = per_peer if per_peer is not None else limit
        self.max_body_size = max_body_size
        # Insertion order is expiry order: every entry lives ``lifetime`` from its store.
        self._entries: dict[tuple[object, ...], tuple[float, Message]] = {}
        self._per_peer: dict[object, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def count(self, remote: object) -> int:
        """Entries kept for ``remote``."""
        return self._per_peer.get(remote, 0)

    def store(self, remote: object, request: Message, response: Message, now: float) -> str | None:
        """Keep ``response`` for the later blocks of ``request``.

        Returns None, or which bound was met: "too large" (not kept), "per peer"
        or "total" (kept, an older entry was dropped to make room).
        """
        max_body = self.max_body_size
        if max_body is not None and len(response.payload) > max_body:
            return "too large"
        entries = self._entries
        key = (remote, *request_key(request))
        if entries.pop(key, None) is not None:
            self._forget(remote)
        if len(entries) >= self.limit:
            self.expire(now)
        bound: str | None = None
        if self._per_peer.get(remote, 0) >= self.per_peer:
            bound = "per peer"
            oldest = next(k for k in entries if k[0] == remote)
            del entries[oldest]
            self._forget(remote)
        elif len(entries) >= self.limit:
            bound = "total"
            oldest = next(iter(entries))
            del entries[oldest]
            self._forget(oldest[0])
        entries[key] = (now + self.lifetime, response)
        self._per_peer[remote] = self._per_peer.get(remote, 0) + 1
        return bound

    def lookup(self, remote: object, request: Message, now: float) -> Message | None:
        key = (remote, *request_key(request))
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[key]
            self._forget(remote)
            return None
        return entry[1]

    def next_expiry(self) -> float | None:
        """When the oldest entry expires, if there is one."""
        for deadline, _ in self._entries.values():
            return deadline
        return None

    def expire(self, now: float) -> int:
        """Drop the entries whose lifetime is over; returns how many."""
        entries = self._entries
        dropped = 0
        while entries:
            key = next(iter(entries))
            if entries[key][0] > now:
                break
            del entries[key]
            self._forget(key[0])
            dropped += 1
        return dropped

    def _forget(self, remote: object) -> None:
        per_peer = self._per_peer
        left = per_peer.get(remote, 0) - 1
        if left > 0:
            per_peer[remote] = left
        else:
            per_peer.pop(remote, None)


@dataclass(slots=True)
class Block1Result:
    """Outcome of one Block1 block: an immediate response, or the complete body.

    ``limit`` names the bound that refused the block ("per peer", "total",
    "buffered", "too large"), when one did.
    """

    response: Message | None = None
    body: bytes | None = None
    echo: BlockOption | None = None
    limit: str | None = None


class _Partial:
    __slots__ = ("buffer", "remote", "touched")

    def __init__(self, remote: object, now: float) -> None:
        self.buffer = bytearray()
        self.remote = remote
        self.touched = now


class Block1Receiver:
    """Server-side reassembly of Block1 request bodies (RFC 7959 2.3, 2.5).

    ``budget`` bounds the transfers in progress per peer and in total (shared
    with the streamed transfers of the same endpoint); ``max_buffered`` bounds
    the bytes held by all reassemblies together. A block beyond either gets
    5.03 with Max-Age ``retry_after`` and leaves the transfers as they were.
    A transfer without a block for ``lifetime`` seconds is dropped by
    :meth:`expire`; :meth:`next_expiry` tells when that is next due.
    """

    __slots__ = (
        "_partial",
        "budget",
        "buffered",
        "lifetime",
        "max_body_size",
        "max_buffered",
        "retry_after",
        "szx",
    )

    def __init__(
        self,
        max_body_size: int,
        szx: int,
        lifetime: float,
        *,
        budget: PeerCounts | None = None,
        max_buffered: int | None = None,
        retry_after: int = 10,
    ) -> None:
        self.max_body_size = max_body_size
        self.szx = szx
        self.lifetime = lifetime
        self.budget = budget if budget is not None else PeerCounts(1 << 62, 1 << 62)
        self.max_buffered = max_buffered
        self.retry_after = retry_after
        self.buffered = 0
        """Bytes held by all reassemblies."""
        # Ordered by last activity: a block moves its transfer to the end.
        self._partial: dict[tuple[object, ...], _Partial] = {}

    def __len__(self) -> int:
        return len(self._partial)

    def _too_large(self) -> Block1Result:
        msg = Message(code=Code.REQUEST_ENTITY_TOO_LARGE, payload=b"request body too large")
        msg.options.append((_SIZE1, encode_uint(self.max_body_size)))
        return Block1Result(response=msg, limit="too large")

    def _busy(self, limit: str) -> Block1Result:
        text = "too many block-wise transfers" if limit != "buffered" else "too much data buffered"
        return Block1Result(response=service_unavailable(self.retry_after, text), limit=limit)

    def _drop(self, key: tuple[object, ...]) -> None:
        partial = self._partial.pop(key, None)
        if partial is not None:
            self.buffered -= len(partial.buffer)
            self.budget.remove(partial.remote)

    def feed(self, remote: object, request: Message, now: float) -> Block1Result:
        """Process one request carrying Block1; ``remote`` identifies the peer."""
        try:
            block = request.block1
            size1 = request.size1
        except DecodeError as exc:
            return Block1Result(response=Message(code=Code.BAD_REQUEST, payload=str(exc).encode()))
        if block is None:
            raise ValueError("request has no Block1 option")
        self.expire(now)
        key = (remote, *request_key(request))
        if size1 is not None and size1 > self.max_body_size:
            self._drop(key)
            return self._too_large()
        payload = request.payload
        if block.more and len(payload) != block.size:
            self._drop(key)
            return Block1Result(
                response=Message(code=Code.BAD_REQUEST, payload=b"block payload size mismatch")
            )
        offset = block.num * block.size
        partials = self._partial
        partial = partials.get(key)
        if offset == 0:
            if partial is not None:
                self._drop(key)  # the peer starts the body again
            if len(payload) > self.max_body_size:
                return self._too_large()
            if not block.more:
                # One block only: nothing is kept, so no bound on transfers applies.
                return Block1Result(body=payload, echo=BlockOption(block.num, False, block.szx))
            refused = self.budget.refusal(remote)
            if refused is not None:
                return self._busy(refused)
            if self._over_buffer(len(payload)):
                return self._busy("buffered")
            partial = partials[key] = _Partial(remote, now)
            self.budget.add(remote)
        elif partial is None or offset != len(partial.buffer):
            self._drop(key)
            return Block1Result(
                response=Message(
                    code=Code.REQUEST_ENTITY_INCOMPLETE, payload=b"block does not continue body"
                )
            )
        elif len(partial.buffer) + len(payload) > self.max_body_size:
            self._drop(key)
            return self._too_large()
        elif not block.more:
            self._drop(key)
            partial.buffer += payload
            body = bytes(partial.buffer)
            return Block1Result(body=body, echo=BlockOption(block.num, False, block.szx))
        elif self._over_buffer(len(payload)):
            # Not taken: the transfer stays where it was, the peer may send the block again.
            return self._busy("buffered")
        else:
            # Keep the dict in order of last activity, so the first entry expires first.
            del partials[key]
            partials[key] = partial
        partial.buffer += payload
        self.buffered += len(payload)
        partial.touched = now
        # 2.3: acknowledge with the (possibly smaller) size we prefer.
        echo = BlockOption(block.num, True, min(block.szx, self.szx))
        msg = Message(code=Code.CONTINUE)
        msg.options.append((_BLOCK1, echo.encode()))
        return Block1Result(response=msg)

    def _over_buffer(self, more: int) -> bool:
        limit = self.max_buffered
        return limit is not None and self.buffered + more > limit

    def next_expiry(self) -> float | None:
        """When the transfer idle longest runs out of time, if there is one."""
        for partial in self._partial.values():
            return partial.touched + self.lifetime
        return None

    def expire(self, now: float) -> int:
        """Drop the transfers idle for ``lifetime``; returns how many."""
        partials = self._partial
        limit = now - self.lifetime
        dropped = 0
        while partials:
            key = next(iter(partials))
            if partials[key].touched > limit:
                break
            self._drop(key)
            dropped += 1
        return dropped

    def abort_all(self) -> None:
        """Drop every transfer (the endpoint is closing)."""
        for key in list(self._partial):
            self._drop(key)


class StreamAbort(enum.Enum):
    """Why a streamed Block1 transfer ended before its last block."""

    INCOMPLETE = "a block did not continue the body"  # answered 4.08
    TOO_LARGE = "the body exceeds the size limit"  # answered 4.13
    BAD_BLOCK = "a malformed block"  # answered 4.00
    EXPIRED = "no block within the idle timeout"
    CLOSED = "the endpoint was closed"


class _Transfer:
    """One streamed Block1 transfer: where it stands and the last answer given."""

    __slots__ = (
        "busy",
        "done",
        "key",
        "last_len",
        "last_offset",
        "last_response",
        "next_offset",
        "remote",
        "touched",
    )

    def __init__(self, key: tuple[object, ...], remote: object, now: float) -> None:
        self.key = key
        self.remote = remote
        self.touched = now
        self.next_offset = 0
        self.last_offset = -1
        self.last_len = -1
        self.last_response: Message | None = None
        self.busy = False
        self.done = False


@dataclass(slots=True)
class Block1StreamStep:
    """Outcome of one request of a streamed Block1 transfer.

    With ``response`` set, answer with it at once (an error, or the repeated
    answer to a repeated block) and do not hand anything on. Otherwise hand
    ``data`` at ``offset`` on and report the answer with
    :meth:`Block1Stream.answered`; ``echo`` is the Block1 option that answer
    carries.
    """

    response: Message | None = None
    offset: int = 0
    data: bytes = b""
    last: bool = False
    echo: BlockOption | None = None
    transfer: _Transfer | None = None
    limit: str | None = None


class Block1Stream:
    """Server-side Block1 transfers handed on block by block (RFC 7959 2.3, 2.5).

    Transfers are keyed like reassembled ones (peer plus the request options
    other than block and size options). Block 0 starts, or restarts, a
    transfer. Later blocks must continue the body at the offset reached; a
    block repeating the last answered one (a retransmission under a new
    Message ID) gets that same answer again without being handed on twice;
    any other block is 4.08 and ends the transfer. ``max_size`` (None: no
    limit) is checked against Size1 and against the bytes received (4.13
    with Size1). A transfer idle for ``idle_timeout`` is dropped. Transfers
    that end before their last block are reported by :meth:`take_aborted`.

    ``budget`` bounds the transfers kept per peer and in total (shared with
    the reassembled transfers of the same endpoint): a block 0 that would
    start one more gets 5.03 with Max-Age ``retry_after``.
    """

    __slots__ = (
        "_aborted",
        "_transfers",
        "budget",
        "idle_timeout",
        "max_size",
        "retry_after",
        "szx",
    )

    def __init__(
        self,
        max_size: int | None,
        szx: int,
        idle_timeout: float,
        *,
        budget: PeerCounts | None = None,
        retry_after: int = 10,
    ) -> None:
        self.max_size = max_size
        self.szx = szx
        self.idle_timeout = idle_timeout
        self.budget = budget if budget is not None else PeerCounts(1 << 62, 1 << 62)
        self.retry_after = retry_after
        self._transfers: dict[tuple[object, ...], _Transfer] = {}
        self._aborted: list[tuple[object, StreamAbort]] = []

    def __len__(self) -> int:
        return len(self._transfers)

    def take_aborted(self) -> list[tuple[object, StreamAbort]]:
        """Transfers ended early since the last call: (peer, reason)."""
        out = self._aborted
        if out:
            self._aborted = []
        return out

    def _drop(self, transfer: _Transfer | None, reason: StreamAbort | None) -> None:
        if transfer is None:
            return
        if self._transfers.get(transfer.key) is transfer:
            del self._transfers[transfer.key]
            self.budget.remove(transfer.remote)
        if reason is not None and not transfer.done:
            self._aborted.append((transfer.remote, reason))

    def _refuse(
        self, transfer: _Transfer | None, reason: StreamAbort, code: Code, text: bytes
    ) -> Block1StreamStep:
        self._drop(transfer, reason)
        msg = Message(code=code, payload=text)
        if code == Code.REQUEST_ENTITY_TOO_LARGE and self.max_size is not None:
            msg.options.append((_SIZE1, encode_uint(self.max_size)))
        return Block1StreamStep(response=msg)

    def feed(self, remote: object, request: Message, now: float) -> Block1StreamStep:
        """Process one request carrying Block1; ``remote`` identifies the peer."""
        self.expire(now)
        key = (remote, *request_key(request))
        transfer = self._transfers.get(key)
        try:
            block = request.block1
            size1 = request.size1
        except DecodeError as exc:
            return self._refuse(
                transfer, StreamAbort.BAD_BLOCK, Code.BAD_REQUEST, str(exc).encode()
            )
        if block is None:
            raise ValueError("request has no Block1 option")
        if transfer is not None and transfer.busy:
            # A new request while the previous block is still being handled.
            return Block1StreamStep(
                response=Message(code=Code.SERVICE_UNAVAILABLE, payload=b"previous block pending")
            )
        limit = self.max_size
        if size1 is not None and limit is not None and size1 > limit:
            return self._refuse(
                transfer, StreamAbort.TOO_LARGE, Code.REQUEST_ENTITY_TOO_LARGE, b"body too large"
            )
        payload = request.payload
        if block.more and len(payload) != block.size:
            return self._refuse(
                transfer, StreamAbort.BAD_BLOCK, Code.BAD_REQUEST, b"block payload size mismatch"
            )
        offset = block.offset
        if offset == 0:
            if transfer is None:
                refused = self.budget.refusal(remote)
                if refused is not None:
                    busy = service_unavailable(self.retry_after, "too many block-wise transfers")
                    return Block1StreamStep(response=busy, limit=refused)
            else:
                self._drop(transfer, None)  # the peer starts the body again
            transfer = self._transfers[key] = _Transfer(key, remote, now)
            self.budget.add(remote)
        elif transfer is None or transfer.done or offset != transfer.next_offset:
            if (
                transfer is not None
                and offset == transfer.last_offset
                and len(payload) == transfer.last_len
                and transfer.last_response is not None
            ):
                transfer.touched = now
                return Block1StreamStep(response=transfer.last_response)
            return self._refuse(
                transfer,
                StreamAbort.INCOMPLETE,
                Code.REQUEST_ENTITY_INCOMPLETE,
                b"block does not continue body",
            )
        if limit is not None and offset + len(payload) > limit:
            return self._refuse(
                transfer, StreamAbort.TOO_LARGE, Code.REQUEST_ENTITY_TOO_LARGE, b"body too large"
            )
        transfer.busy = True
        transfer.touched = now
        if block.more:
            # 2.3: acknowledge with the (possibly smaller) size we prefer.
            echo = BlockOption(block.num, True, min(block.szx, self.szx))
        else:
            echo = BlockOption(block.num, False, block.szx)
        return Block1StreamStep(
            offset=offset, data=payload, last=not block.more, echo=echo, transfer=transfer
        )

    def answered(self, step: Block1StreamStep, response: Message, now: float) -> None:
        """Record the answer sent for a block handed on by :meth:`feed`.

        A 2.31 Continue to a non-final block keeps the transfer going; the
        answer to the final block completes it; any other answer ends it.
        """
        transfer = step.transfer
        if transfer is None or self._transfers.get(transfer.key) is not transfer:
            return
        transfer.busy = False
        transfer.touched = now
        transfer.last_offset = step.offset
        transfer.last_len = len(step.data)
        transfer.last_response = response
        if step.last:
            transfer.done = True  # kept a while to answer a repeated final block
        elif response.code == Code.CONTINUE:
            transfer.next_offset = step.offset + len(step.data)
        else:
            self._drop(transfer, None)

    def next_expiry(self) -> float | None:
        """When the oldest transfer runs out of time, if there is one."""
        if not self._transfers:
            return None
        return min(t.touched for t in self._transfers.values()) + self.idle_timeout

    def expire(self, now: float) -> None:
        """Drop transfers idle for ``idle_timeout`` (not while a block is being handled)."""
        if not self._transfers:
            return
        limit = now - self.idle_timeout
        for transfer in [t for t in self._transfers.values() if t.touched <= limit and not t.busy]:
            self._drop(transfer, StreamAbort.EXPIRED)

    def abort_all(self) -> None:
        """Drop every transfer (the endpoint is closing)."""
        for transfer in list(self._transfers.values()):
            self._drop(transfer, StreamAbort.CLOSED)


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


class Block2Follower:
    """Client-side tracking of a response sent in Block2 blocks (RFC 7959 2.4).

    Checks that every later block continues at the expected offset with the
    same ETag, and builds the request for the next block; the body itself is
    left to the caller (streamed or collected).
    """

    def __init__(self, first: Message, szx: int) -> None:
        block = first.block2
        if block is None or block.num != 0:
            raise BlockwiseError("first response block must be block 0")
        self.first = first
        self.etag = first.etag
        self.szx = min(szx, block.szx)
        self.received = len(first.payload)
        self.more = block.more

    def next_block(self) -> BlockOption:
        """The Block2 option for the next request."""
        size = 1 << (self.szx + 4)
        if self.received % size:
            raise BlockwiseError("received blocks do not align with the block size")
        return BlockOption(self.received // size, False, self.szx)

    def add(self, response: Message) -> None:
        """Account for a later block; raises :class:`BlockwiseError` on any mismatch."""
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
        if block.offset != self.received:
            raise BlockwiseError(f"got block at offset {block.offset}, expected {self.received}")
        if block.szx < self.szx:
            self.szx = block.szx
        self.received += len(response.payload)
        self.more = block.more

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


class Block2Collector(Block2Follower):
    """Client-side reassembly of a response sent in Block2 blocks (RFC 7959 2.4)."""

    def __init__(self, first: Message, szx: int, max_body_size: int) -> None:
        super().__init__(first, szx)
        self.max_body_size = max_body_size
        self.body = bytearray(first.payload)
        self._check_size()

    def _check_size(self) -> None:
        if len(self.body) > self.max_body_size:
            raise BlockwiseError(f"response body exceeds {self.max_body_size} bytes")

    def add(self, response: Message) -> None:
        """Append a later block; raises :class:`BlockwiseError` on any mismatch."""
        super().add(response)
        self.body += response.payload
        self._check_size()

    def result(self) -> Message:
        """The first response with the complete body and without Block2/Size2."""
        msg = _with_options(self.first, frozenset((_BLOCK2, _SIZE2)), [])
        msg.payload = bytes(self.body)
        return msg

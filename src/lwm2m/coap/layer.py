"""Sans-IO CoAP message layer (RFC 7252 sections 4 and 5.3).

Theory of operation
-------------------
:class:`MessageLayer` owns everything RFC 7252 says about messages and
exchanges, and nothing about sockets or the event loop. The shell (the
:class:`~lwm2m.coap.endpoint.Endpoint`) feeds it

* received datagrams: :meth:`MessageLayer.receive`,
* the passing of time: :meth:`MessageLayer.handle_timeout` at (or after)
  :meth:`MessageLayer.next_deadline`,
* what the application wants sent: :meth:`MessageLayer.send_request`,
  :meth:`MessageLayer.respond`, :meth:`MessageLayer.send_message`,

always with the current time ``now`` (seconds, any monotonic origin). After
each call it drains :meth:`MessageLayer.take_datagrams` (to the transport) and
:meth:`MessageLayer.take_events` (to the application).

Outgoing side. Every request is an :class:`Exchange`. Confirmable messages
are retransmitted with exponential back-off: the first timeout is random in
``[ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR]`` and doubles after each of
at most MAX_RETRANSMIT retransmissions (4.2, 4.8). A piggybacked response in
the ACK completes the exchange; an empty ACK means a separate response will
follow (5.2.2); RST fails it. Responses are matched to requests by token and
peer (5.3.2). At most NSTART exchanges per peer are outstanding (4.7); more
wait in a FIFO queue and get their Message ID when they leave it.

Incoming side. Every CON and NON message is remembered for EXCHANGE_LIFETIME
keyed by (peer, Message ID) (4.5): a duplicate CON gets the identical cached
bytes (ACK, piggybacked response or RST), a duplicate NON is ignored. A
request becomes a :class:`RequestReceived` event; if the application has not
answered after ``empty_ack_delay`` an empty ACK goes out and the answer will
be a separate CON response. Unknown critical options: in a CON request -> 4.02
Bad Option; in a NON request or a CON/NON response -> RST (5.4.1). This stack
evaluates no conditional request (If-Match, If-None-Match: treated as unknown,
5.10.8) and is no proxy (Proxy-Uri, Proxy-Scheme: 5.05, 5.7.2). A CON that does not parse
is answered with RST when its header is readable, anything else malformed is
dropped silently (4.2, 4.3). A response nobody waits for is answered with RST
(5.3.2, RFC 7641 3.6).

NON messages sent outside a request exchange (notifications) keep their
(peer, Message ID) entry for EXCHANGE_LIFETIME, so that an RST answering one
fails it however late it comes (RFC 7641 3.6, 4.5); at most
``non_tracking_limit`` such entries are kept, the oldest go first.

Separate CON responses are counted per peer until they are acknowledged or
fail (:meth:`MessageLayer.separate_responses`): a peer that keeps sending
requests whose answers it does not acknowledge makes them pile up in the
NSTART queue, and the shell refuses its requests beyond a bound.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lwm2m.errors import DecodeError
from lwm2m.transport.base import Address

from .errors import BadResponse, RequestError, RequestTimeout, ResetReceived
from .message import Message, encode_message
from .numbers import Code, OptionNumber, Type

#: Message ids, tokens and retransmission jitter of every layer that was not given
#: its own generator: seeded from the OS once, and about 3 KB less per endpoint
#: than a generator each (a fleet holds thousands of endpoints in one process).
_SHARED_RNG = random.Random()

__all__ = [
    "DEFAULT_NON_TRACKING_LIMIT",
    "Event",
    "Exchange",
    "ExchangeFailed",
    "Incoming",
    "MessageAcknowledged",
    "MessageLayer",
    "RequestReceived",
    "ResponseReceived",
    "TransmissionParams",
]


#: Per-peer Message ID counters kept at most (a bound against address floods).
_MAX_PEER_COUNTERS = 1 << 16
#: Sent NON notifications whose Message ID is remembered for a late RST, at most.
DEFAULT_NON_TRACKING_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class TransmissionParams:
    """RFC 7252 section 4.8 transmission parameters; derived values in 4.8.2.

    ``exchange_lifetime_override`` / ``non_lifetime_override`` replace the
    derived EXCHANGE_LIFETIME / NON_LIFETIME. ``empty_ack_delay`` is how long a
    request handler may take before an empty ACK is sent (separate response).
    """

    ack_timeout: float = 2.0
    ack_random_factor: float = 1.5
    max_retransmit: int = 4
    nstart: int = 1
    default_leisure: float = 5.0
    probing_rate: float = 1.0
    max_latency: float = 100.0
    processing_delay: float = 2.0
    empty_ack_delay: float = 1.0
    exchange_lifetime_override: float | None = None
    non_lifetime_override: float | None = None
    max_transmit_span: float = field(init=False)
    max_transmit_wait: float = field(init=False)
    exchange_lifetime: float = field(init=False)
    non_lifetime: float = field(init=False)

    def __post_init__(self) -> None:
        if self.ack_timeout <= 0 or self.ack_random_factor < 1:
            raise ValueError("ack_timeout must be > 0 and ack_random_factor >= 1")
        if self.max_retransmit < 0 or self.nstart < 1:
            raise ValueError("max_retransmit must be >= 0 and nstart >= 1")
        span = self.ack_timeout * ((1 << self.max_retransmit) - 1) * self.ack_random_factor
        wait = self.ack_timeout * ((1 << (self.max_retransmit + 1)) - 1) * self.ack_random_factor
        lifetime = self.exchange_lifetime_override
        if lifetime is None:
            lifetime = span + 2 * self.max_latency + self.processing_delay
        non_lifetime = self.non_lifetime_override
        if non_lifetime is None:
            non_lifetime = span + self.max_latency
        object.__setattr__(self, "max_transmit_span", span)
        object.__setattr__(self, "max_transmit_wait", wait)
        object.__setattr__(self, "exchange_lifetime", lifetime)
        object.__setattr__(self, "non_lifetime", non_lifetime)


# Exchange states
QUEUED = 0  # waiting for an NSTART slot
SENT = 1  # transmitted, waiting for ACK / RST (CON) or the response (NON)
ACKED = 2  # empty ACK received, waiting for the separate response
DONE = 3

# Incoming states
PENDING = 0  # request handed to the application, no answer yet
EMPTY_ACKED = 1  # empty ACK sent, the answer goes out as a separate response
ANSWERED = 2


class Exchange:
    """One outgoing request, or one tracked CON/NON message (e.g. a notification).

    ``context`` is free for the application (the endpoint keeps its future there).
    """

    __slots__ = (
        "confirmable",
        "context",
        "counted",
        "data",
        "deadline",
        "is_request",
        "keep",
        "message",
        "mid",
        "remote",
        "retransmits",
        "state",
        "timeout",
        "token",
    )

    def __init__(
        self, message: Message, remote: Address, is_request: bool, keep: bool, context: Any
    ) -> None:
        self.message = message
        self.remote = remote
        self.token = message.token
        self.confirmable = message.type is Type.CON
        self.is_request = is_request
        self.keep = keep
        self.context = context
        self.state = QUEUED
        self.counted = False
        self.mid = -1
        self.data = b""  # the encoded CON message while it may be retransmitted
        self.retransmits = 0
        self.timeout = 0.0
        self.deadline = -1.0

    def __repr__(self) -> str:
        return (
            f"<Exchange {'CON' if self.confirmable else 'NON'} to {self.remote} mid={self.mid} "
            f"token={self.token.hex()} state={self.state}>"
        )


class Incoming:
    """A received CON/NON message: deduplication entry and response state."""

    __slots__ = ("cached", "confirmable", "deadline", "mid", "remote", "state", "token")

    def __init__(self, remote: Address, mid: int, token: bytes, confirmable: bool) -> None:
        self.remote = remote
        self.mid = mid
        self.token = token
        self.confirmable = confirmable
        self.state = PENDING
        self.cached: bytes | None = None
        self.deadline = -1.0


@dataclass(slots=True)
class RequestReceived:
    """A new request; answer it with :meth:`MessageLayer.respond` (``incoming``)."""

    request: Message
    remote: Address
    incoming: Incoming


@dataclass(slots=True)
class ResponseReceived:
    """A response (or notification) matched to ``exchange`` by token and peer."""

    exchange: Exchange
    response: Message


@dataclass(slots=True)
class ExchangeFailed:
    """``exchange`` ended without a response: timeout, RST, bad response."""

    exchange: Exchange
    error: RequestError


@dataclass(slots=True)
class MessageAcknowledged:
    """A tracked CON message that is not a request (e.g. a notification) was ACKed."""

    exchange: Exchange


Event = RequestReceived | ResponseReceived | ExchangeFailed | MessageAcknowledged

_EMPTY: list[tuple[int, bytes]] = []
_INFINITY = float("inf")
#: The parameters of every layer not given its own (frozen, so one object serves all).
_DEFAULT_PARAMS = TransmissionParams()
#: Tie-breaker of equal deadlines in the timer heaps (FIFO). One counter for all
#: layers: the values only need to increase within each heap.
_TIMER_SEQ = itertools.count()
#: The context of a separate CON response (counted until it is ACKed or fails).
_SEPARATE = object()


def _release_table(table: dict[Any, Any]) -> None:
    """Free the hash table of ``table`` if it is empty.

    CPython keeps a dict's table after deletions; ``clear()`` frees it. An endpoint
    between exchanges then holds empty dicts (64 bytes) instead of tables (160+).
    """
    if not table:
        table.clear()


def _empty(msg_type: Type, mid: int) -> bytes:
    return bytes((0x40 | (msg_type << 4), 0, mid >> 8, mid & 0xFF))


_CONDITIONAL = frozenset((int(OptionNumber.IF_MATCH), int(OptionNumber.IF_NONE_MATCH)))
_PROXY = frozenset((int(OptionNumber.PROXY_URI), int(OptionNumber.PROXY_SCHEME)))


def _refusal(request: Message) -> Message | None:
    """The answer to a request no application may see, or None (5.4.1, 5.7.2, 5.10.8)."""
    bad = request.unknown_critical_option()
    if bad is None:
        for number, _ in request.options:
            if number in _CONDITIONAL:
                # 5.10.8: no resource here can evaluate the condition, and the method
                # must not run regardless of it: the option counts as unrecognised.
                bad = number
                break
            if number in _PROXY:
                # 5.7.2: this endpoint is no proxy.
                return Message(code=Code.PROXYING_NOT_SUPPORTED)
        else:
            return None
    return Message(code=Code.BAD_OPTION, payload=b"unknown critical option %d" % bad)


class MessageLayer:
    """RFC 7252 message layer state for one endpoint (all peers)."""

    # A fleet process holds thousands of layers: slots instead of a __dict__, and the
    # containers that stay empty on most endpoints are created on first use.
    __slots__ = (
        "_by_mid",
        "_by_token",
        "_datagrams",
        "_dedup",
        "_dedup_limit",
        "_dedup_order",
        "_earliest_push",
        "_events",
        "_fresh",
        "_mid_next",
        "_mid_peer",
        "_next_mid",
        "_non_limit",
        "_non_sent",
        "_outstanding",
        "_peer_mids",
        "_queues",
        "_rng",
        "_separate",
        "_timers",
        "params",
        "separate_total",
    )

    def __init__(
        self,
        params: TransmissionParams | None = None,
        *,
        rng: random.Random | None = None,
        dedup_limit: int = 200_000,
        non_tracking_limit: int = DEFAULT_NON_TRACKING_LIMIT,
    ) -> None:
        self.params = params if params is not None else _DEFAULT_PARAMS
        self._rng = rng if rng is not None else _SHARED_RNG
        self._next_mid = self._rng.randrange(0x10000)
        # The first peer's Message ID counter in two slots (a client has no other
        # peer), those of any further peers in a dict made for the second one.
        self._mid_peer: Address | None = None
        self._mid_next = 0
        self._peer_mids: dict[Address, int] | None = None
        self._dedup_limit = dedup_limit
        self._dedup: dict[tuple[Address, int], Incoming] = {}
        # Expiry order of _dedup; None while nothing is remembered (4.5).
        self._dedup_order: deque[tuple[float, tuple[Address, int]]] | None = None
        self._by_mid: dict[tuple[Address, int], Exchange] = {}
        self._by_token: dict[bytes, Exchange] = {}
        # Sent NON notifications in sending order (all share one lifetime, so this
        # is also expiry order); bounds how many stay in _by_mid for a late RST.
        # None while there are none.
        self._non_limit = max(1, non_tracking_limit)
        self._non_sent: deque[Exchange] | None = None
        self._outstanding: dict[Address, int] = {}
        # Exchanges waiting for an NSTART slot, per peer (None: none waits).
        self._queues: dict[Address, deque[Exchange]] | None = None
        # Separate CON responses not yet acknowledged, per peer (None: none) and in all.
        self._separate: dict[Address, int] | None = None
        self.separate_total = 0
        self._timers: list[tuple[float, int, Exchange | Incoming]] = []
        self._datagrams: list[tuple[bytes, Address]] = []
        self._events: list[Event] = []
        # Earliest deadline pushed since the last arm_deadline(): lets the shell
        # skip looking at the heap when its armed timer is early enough anyway.
        self._earliest_push = _INFINITY
        # Timers set since the heap was last looked at. Most belong to exchanges that
        # end long before they are due (a response arrives, a request is answered at
        # once), so they enter the heap only if still live when it is next consulted.
        self._fresh: list[tuple[float, Exchange | Incoming]] = []

    # ----------------------------------------------------------- outputs

    def take_datagrams(self) -> list[tuple[bytes, Address]]:
        out = self._datagrams
        if out:
            self._datagrams = []
        return out

    def take_events(self) -> list[Event]:
        out = self._events
        if out:
            self._events = []
        return out

    def drain(
        self,
        send: Callable[[bytes, Address], object],
        dispatch: Callable[[Event], object],
    ) -> None:
        """Hand every pending datagram to ``send`` and event to ``dispatch``, until none is left.

        Equivalent to calling :meth:`take_datagrams` and :meth:`take_events` in turn
        until both come back empty; whatever ``send`` or ``dispatch`` cause the
        layer to produce is drained as well.
        """
        while True:
            datagrams = self._datagrams
            if datagrams:
                self._datagrams = []
                for data, remote in datagrams:
                    send(data, remote)
            events = self._events
            if events:
                self._events = []
                for event in events:
                    dispatch(event)
            elif not datagrams:
                return

    def needs_rearm(self, armed_at: float) -> bool:
        """Whether a timer armed at ``armed_at`` must move: False when it is no later
        than every deadline added since the last :meth:`arm_deadline` call."""
        return self._earliest_push < armed_at

    def _settle_fresh(self) -> None:
        """Move the timers set since the last look into the heap, if still live."""
        fresh = self._fresh
        self._fresh = []
        timers = self._timers
        seq = _TIMER_SEQ
        for deadline, obj in fresh:
            if obj.deadline == deadline:
                heapq.heappush(timers, (deadline, next(seq), obj))

    def arm_deadline(self) -> float | None:
        """:meth:`next_deadline`, for the one shell that arms its timer with it.

        Resets what :meth:`needs_rearm` compares against.
        """
        self._earliest_push = _INFINITY
        return self.next_deadline()

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` should run next (may be early, never late)."""
        if self._fresh:
            self._settle_fresh()
        timers = self._timers
        # Drop stale entries of exchanges that finished or moved on, so the shell
        # does not wake up for timers nobody needs any more.
        while timers and timers[0][2].deadline != timers[0][0]:
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    # ------------------------------------------------------------ helpers

    def new_mid(self, remote: Address | None = None) -> int:
        """The next Message ID for ``remote``.

        Message IDs must not repeat towards one peer within EXCHANGE_LIFETIME
        (RFC 7252 4.4), so each peer has its own counter, started at a random
        value; a server sending to thousands of clients would otherwise wrap one
        shared 16-bit counter within seconds.
        """
        if remote is None:
            mid = self._next_mid
            self._next_mid = (mid + 1) & 0xFFFF
            return mid
        first = self._mid_peer
        if first is None or first == remote:
            mid = self._mid_next if first is not None else self._rng.randrange(0x10000)
            self._mid_peer = remote
            self._mid_next = (mid + 1) & 0xFFFF
            return mid
        mids = self._peer_mids
        if mids is None:
            mids = self._peer_mids = {}
        known = mids.get(remote)
        if known is None:
            if len(mids) >= _MAX_PEER_COUNTERS:
                mids.clear()
            known = self._rng.randrange(0x10000)
        mids[remote] = (known + 1) & 0xFFFF
        return known

    def new_token(self) -> bytes:
        """A random 4-byte token not used by any pending exchange (RFC 7252 5.3.1)."""
        while True:
            token = self._rng.getrandbits(32).to_bytes(4, "big")
            if token not in self._by_token:
                return token

    def token_in_use(self, token: bytes) -> bool:
        return token in self._by_token

    @property
    def pending_exchanges(self) -> int:
        return len(self._by_token)

    def separate_responses(self, remote: Address) -> int:
        """Separate CON responses to ``remote`` not yet acknowledged (or failed)."""
        counts = self._separate
        return counts.get(remote, 0) if counts is not None else 0

    def _push_timer(self, deadline: float, obj: Exchange | Incoming) -> None:
        obj.deadline = deadline
        self._fresh.append((deadline, obj))
        if deadline < self._earliest_push:
            self._earliest_push = deadline

    # ----------------------------------------------------------- sending

    def send_request(
        self,
        message: Message,
        remote: Address,
        now: float,
        *,
        keep: bool = False,
        context: Any = None,
        token: bytes | None = None,
    ) -> Exchange:
        """Send a CON or NON request; ``message.token`` must be set by the caller,
        unless ``token`` is given: then that token goes out instead (the message is
        left as it is).

        ``keep=True`` keeps the token registered after the first response
        (observations): every later response with it is reported too, until
        :meth:`forget`.
        """
        ex = Exchange(message, remote, True, keep, context)
        if token is not None:
            ex.token = token
        if ex.token in self._by_token:
            raise ValueError(f"token {ex.token.hex()} is already in use")
        self._by_token[ex.token] = ex
        self._start(ex, now)
        return ex

    def adopt(self, message: Message, remote: Address, *, context: Any = None) -> Exchange:
        """Follow a kept request that was sent earlier, e.g. by a previous process.

        Nothing is sent: the exchange starts as if ``message`` had been sent with
        ``keep=True`` and acknowledged, so every response carrying its token from
        ``remote`` is reported, until :meth:`forget`. No timer runs for it.
        """
        ex = Exchange(message, remote, True, True, context)
        if ex.token in self._by_token:
            raise ValueError(f"token {ex.token.hex()} is already in use")
        ex.state = ACKED
        self._by_token[ex.token] = ex
        return ex

    def move(self, token: bytes, remote: Address) -> bool:
        """Expect the responses of kept exchange ``token`` from ``remote`` from now on.

        For an observation whose peer changed address (a NAT rebinding announced by
        an LwM2M Update): its notifications keep their token but come from
        elsewhere. False when no kept exchange has that token.
        """
        ex = self._by_token.get(token)
        if ex is None or not ex.keep:
            return False
        ex.remote = remote
        return True

    def send_message(
        self, message: Message, remote: Address, now: float, *, context: Any = None
    ) -> Exchange:
        """Send a response outside a request exchange (notification, separate response).

        A CON message is retransmitted until ACKed (:class:`MessageAcknowledged`) or
        it fails (:class:`ExchangeFailed`); an RST answering a NON message within
        EXCHANGE_LIFETIME is reported as :class:`ExchangeFailed` (RFC 7641 3.6, 4.5).
        """
        ex = Exchange(message, remote, False, False, context)
        if ex.confirmable:
            self._start(ex, now)
        else:
            self._transmit_first(ex, now)
        return ex

    def _start(self, ex: Exchange, now: float) -> None:
        remote = ex.remote
        count = self._outstanding.get(remote, 0)
        if count >= self.params.nstart:
            queues = self._queues
            if queues is None:
                queues = self._queues = {}
            queue = queues.get(remote)
            if queue is None:
                queue = queues[remote] = deque()
            queue.append(ex)
            return
        self._outstanding[remote] = count + 1
        ex.counted = True
        self._transmit_first(ex, now)

    def _transmit_first(self, ex: Exchange, now: float) -> None:
        msg = ex.message
        ex.mid = mid = self.new_mid(ex.remote)
        data = encode_message(msg.type, msg.code, mid, ex.token, msg.options, msg.payload)
        if ex.confirmable:
            # Kept for retransmission (4.2); a NON message, tracked for up to
            # EXCHANGE_LIFETIME, is never sent again and keeps no copy.
            ex.data = data
        ex.state = SENT
        self._by_mid[(ex.remote, mid)] = ex
        params = self.params
        if ex.confirmable:
            ex.timeout = params.ack_timeout * (
                1.0 + self._rng.random() * (params.ack_random_factor - 1.0)
            )
            self._push_timer(now + ex.timeout, ex)
        elif ex.is_request:
            self._push_timer(now + params.non_lifetime, ex)
        else:
            # RFC 7641 4.5: an RST may answer a NON notification at any time; keep
            # its Message ID as long as the peer may use it (EXCHANGE_LIFETIME, 4.8.2).
            self._push_timer(now + params.exchange_lifetime, ex)
            self._track_non(ex, now)
        self._datagrams.append((data, ex.remote))

    def _track_non(self, ex: Exchange, now: float) -> None:
        sent = self._prune_non_sent()
        if sent is None:
            sent = self._non_sent = deque()
        sent.append(ex)
        while len(sent) > self._non_limit:
            oldest = sent.popleft()
            if oldest.state != DONE:
                self._finish(oldest, now)

    def _prune_non_sent(self) -> deque[Exchange] | None:
        """Drop the finished NON messages at the front of ``_non_sent``; None once it is empty.

        The queue goes away with its last entry, so an endpoint that sent a
        notification long ago holds neither the queue nor that message.
        """
        sent = self._non_sent
        if sent is None:
            return None
        while sent and sent[0].state == DONE:
            sent.popleft()
        if not sent:
            self._non_sent = sent = None
        return sent

    def _release(self, ex: Exchange, now: float) -> None:
        """Free the NSTART slot of ``ex`` and start the next queued exchange."""
        if not ex.counted:
            return
        ex.counted = False
        remote = ex.remote
        queue = self._queue_of(remote)
        if queue:
            nxt = queue.popleft()
            if not queue:
                self._drop_queue(remote)
            nxt.counted = True
            self._transmit_first(nxt, now)
            return
        outstanding = self._outstanding
        count = outstanding[remote] - 1
        if count:
            outstanding[remote] = count
        else:
            del outstanding[remote]
            _release_table(outstanding)

    def _queue_of(self, remote: Address) -> deque[Exchange] | None:
        queues = self._queues
        return queues.get(remote) if queues is not None else None

    def _drop_queue(self, remote: Address) -> None:
        queues = self._queues
        if queues is not None:
            del queues[remote]
            if not queues:
                self._queues = None

    def _finish(self, ex: Exchange, now: float) -> None:
        """Remove every trace of ``ex`` (maps, queue, NSTART slot)."""
        if ex.context is _SEPARATE and ex.state != DONE:
            self._uncount_separate(ex.remote)
        if ex.state == QUEUED:
            queue = self._queue_of(ex.remote)
            if queue is not None and ex in queue:
                queue.remove(ex)
                if not queue:
                    self._drop_queue(ex.remote)
        ex.state = DONE
        ex.deadline = -1.0
        ex.data = b""  # never sent again; a stale timer entry may keep ``ex`` a while
        by_mid = self._by_mid
        key = (ex.remote, ex.mid)
        if by_mid.get(key) is ex:
            del by_mid[key]
        _release_table(by_mid)
        by_token = self._by_token
        if ex.is_request and by_token.get(ex.token) is ex:
            del by_token[ex.token]
            _release_table(by_token)
        self._release(ex, now)

    def _fail(self, ex: Exchange, error: RequestError, now: float) -> None:
        self._finish(ex, now)
        self._events.append(ExchangeFailed(ex, error))

    def cancel(self, ex: Exchange, now: float) -> None:
        """Stop an exchange (no event); for a kept exchange, stop accepting responses."""
        if ex.state != DONE or self._by_token.get(ex.token) is ex:
            self._finish(ex, now)

    forget = cancel

    def fail_remote(self, remote: Address, error: RequestError, now: float) -> None:
        """Fail every exchange with ``remote`` (e.g. the transport reported it unreachable)."""
        victims = [ex for ex in self._by_token.values() if ex.remote == remote]
        victims += [ex for ex in self._by_mid.values() if ex.remote == remote and not ex.is_request]
        victims += [ex for ex in self._queue_of(remote) or () if not ex.is_request]
        for ex in victims:
            if ex.state != DONE:
                self._fail(ex, error, now)

    def abort_all(self, error: RequestError, now: float) -> None:
        """Fail every exchange (shutdown); pending incoming requests stay unanswered."""
        victims = list(self._by_token.values())
        victims += [ex for ex in self._by_mid.values() if not ex.is_request]
        for queue in (self._queues or {}).values():
            victims += [ex for ex in queue if not ex.is_request]
        for ex in victims:
            if ex.state != DONE:
                self._fail(ex, error, now)
        self._timers.clear()
        self._fresh.clear()
        self._non_sent = None

    # --------------------------------------------------------- responding

    def respond(self, incoming: Incoming, response: Message, now: float) -> None:
        """Answer a :class:`RequestReceived`: piggybacked, separate or NON (5.2).

        Only ``code``, ``options`` and ``payload`` of ``response`` are used; type,
        Message ID and token are filled in here. A second answer is ignored.
        """
        state = incoming.state
        if state == ANSWERED:
            return
        incoming.state = ANSWERED
        incoming.deadline = -1.0
        if incoming.confirmable and state == PENDING:
            data = encode_message(
                Type.ACK,
                response.code,
                incoming.mid,
                incoming.token,
                response.options,
                response.payload,
            )
            incoming.cached = data
            self._datagrams.append((data, incoming.remote))
            return
        remote = incoming.remote
        if not incoming.confirmable:
            separate = Message(
                Type.NON, response.code, 0, incoming.token, response.options, response.payload
            )
            self.send_message(separate, remote, now)
            return
        separate = Message(
            Type.CON, response.code, 0, incoming.token, response.options, response.payload
        )
        counts = self._separate
        if counts is None:
            counts = self._separate = {}
        counts[remote] = counts.get(remote, 0) + 1
        self.separate_total += 1
        self.send_message(separate, remote, now, context=_SEPARATE)

    def _uncount_separate(self, remote: Address) -> None:
        counts = self._separate
        left = self.separate_responses(remote) - 1
        if counts is not None:
            if left > 0:
                counts[remote] = left
            else:
                counts.pop(remote, None)
                if not counts:
                    self._separate = None
        self.separate_total -= 1

    # ---------------------------------------------------------- receiving

    def receive(self, data: bytes, remote: Address, now: float) -> None:
        """Process one datagram from ``remote``."""
        try:
            msg = Message.decode(data)
        except DecodeError:
            # 4.2: a CON with a format error is rejected with RST (if the header
            # can be read); any other malformed message is silently dropped.
            if len(data) >= 4 and data[0] >> 4 == 0x4:
                self._datagrams.append((_empty(Type.RST, data[2] << 8 | data[3]), remote))
            return
        msg_type = msg.type
        if msg_type is Type.ACK or msg_type is Type.RST:
            self._on_ack_or_reset(msg, remote, now)
            return
        dedup = self._dedup
        order = self._dedup_order
        if order and order[0][0] <= now:
            order = self._expire_dedup(now)
        mid = msg.mid
        key = (remote, mid)
        seen = dedup.get(key)
        if seen is not None:
            self._on_duplicate(seen, now)
            return
        confirmable = msg_type is Type.CON
        inc = Incoming(remote, mid, msg.token, confirmable)
        dedup[key] = inc
        if order is None:
            order = self._dedup_order = deque()
        order.append((now + self.params.exchange_lifetime, key))
        if len(dedup) > self._dedup_limit:
            del dedup[order.popleft()[1]]
        code = msg.code
        if 1 <= code <= 31:
            reply = _refusal(msg)
            if reply is not None:
                if reply.code is Code.BAD_OPTION and not confirmable:
                    # 5.4.1: a NON message with an unrecognised critical option is
                    # rejected (4.3), not answered.
                    self._reply_empty(inc, Type.RST)
                else:
                    self.respond(inc, reply, now)
                return
            if confirmable:
                self._push_timer(now + self.params.empty_ack_delay, inc)
            msg.drop_bad_elective_options()
            self._events.append(RequestReceived(msg, remote, inc))
        elif 64 <= code <= 191:
            self._on_response(msg, remote, inc, now)
        elif confirmable:
            # Empty CON ("CoAP ping") or a reserved code class: reject (4.2, 4.3).
            self._reply_empty(inc, Type.RST)
        else:
            inc.state = ANSWERED

    def _reply_empty(self, inc: Incoming, msg_type: Type) -> None:
        inc.state = ANSWERED
        inc.cached = data = _empty(msg_type, inc.mid)
        self._datagrams.append((data, inc.remote))

    def _on_duplicate(self, inc: Incoming, now: float) -> None:
        if not inc.confirmable:
            return
        if inc.state == PENDING:
            # Still working on it: acknowledge now, answer separately (5.2.2).
            inc.deadline = -1.0
            self._send_empty_ack(inc)
        elif inc.cached is not None:
            self._datagrams.append((inc.cached, inc.remote))

    def _send_empty_ack(self, inc: Incoming) -> None:
        inc.state = EMPTY_ACKED
        inc.cached = data = _empty(Type.ACK, inc.mid)
        self._datagrams.append((data, inc.remote))

    def _on_response(self, msg: Message, remote: Address, inc: Incoming, now: float) -> None:
        """A CON/NON response: a separate response or a notification (5.2.2, RFC 7641)."""
        ex = self._by_token.get(msg.token)
        if ex is None or ex.remote != remote or ex.state == QUEUED:
            self._reply_empty(inc, Type.RST)
            return
        if msg.unknown_critical_option() is not None:
            self._reply_empty(inc, Type.RST)
            self._fail(ex, BadResponse("response with an unknown critical option"), now)
            return
        if inc.confirmable:
            self._reply_empty(inc, Type.ACK)
        else:
            inc.state = ANSWERED
        self._deliver(ex, msg, now)

    def _deliver(self, ex: Exchange, msg: Message, now: float) -> None:
        msg.drop_bad_elective_options()
        if ex.state == SENT:
            self._by_mid.pop((ex.remote, ex.mid), None)
            ex.deadline = -1.0
            self._release(ex, now)
        if ex.keep:
            ex.state = ACKED
            ex.deadline = -1.0
        else:
            self._finish(ex, now)
        self._events.append(ResponseReceived(ex, msg))

    def _on_ack_or_reset(self, msg: Message, remote: Address, now: float) -> None:
        ex = self._by_mid.get((remote, msg.mid))
        if ex is None or ex.state != SENT:
            return
        code = msg.code
        if msg.type is Type.RST:
            if code == 0:
                self._fail(ex, ResetReceived("peer answered with RST"), now)
            return
        if not ex.confirmable:
            return  # an ACK never answers a NON message
        if code == 0:
            del self._by_mid[(remote, msg.mid)]
            if ex.is_request:
                # 5.2.2: the separate response follows; the exchange stops being
                # outstanding for NSTART (4.7).
                ex.state = ACKED
                self._release(ex, now)
                self._push_timer(now + self.params.exchange_lifetime, ex)
            else:
                self._finish(ex, now)
                self._events.append(MessageAcknowledged(ex))
            return
        if not 64 <= code <= 191:
            return
        if not ex.is_request:
            self._finish(ex, now)
            self._events.append(MessageAcknowledged(ex))
            return
        if msg.token != ex.token:
            return  # 5.3.2: not the response to this request
        if msg.unknown_critical_option() is not None:
            self._fail(ex, BadResponse("response with an unknown critical option"), now)
            return
        self._deliver(ex, msg, now)

    # ------------------------------------------------------------- timers

    def handle_timeout(self, now: float) -> None:
        """Run every timer due at ``now``: retransmissions, empty ACKs, give-ups."""
        if self._fresh:
            self._settle_fresh()
        timers = self._timers
        params = self.params
        while timers and timers[0][0] <= now:
            deadline, _, obj = heapq.heappop(timers)
            if obj.deadline != deadline:
                continue  # stale entry: the exchange moved on
            obj.deadline = -1.0
            if isinstance(obj, Incoming):
                if obj.state == PENDING:
                    self._send_empty_ack(obj)
                continue
            ex = obj
            if ex.state == SENT and ex.confirmable:
                if ex.retransmits < params.max_retransmit:
                    ex.retransmits += 1
                    ex.timeout *= 2
                    self._push_timer(now + ex.timeout, ex)
                    self._datagrams.append((ex.data, ex.remote))
                else:
                    self._fail(ex, RequestTimeout("no acknowledgement from the peer"), now)
            elif ex.state == SENT and not ex.is_request:
                self._finish(ex, now)  # EXCHANGE_LIFETIME of a NON message is over
                self._prune_non_sent()
            elif ex.state == SENT or ex.state == ACKED:
                # A live timer means nothing arrived (delivery disarms it).
                self._fail(ex, RequestTimeout("no response from the peer"), now)

    def _expire_dedup(self, now: float) -> deque[tuple[float, tuple[Address, int]]] | None:
        """Forget the messages older than EXCHANGE_LIFETIME (4.5); the remaining order, if any."""
        order = self._dedup_order
        dedup = self._dedup
        while order and order[0][0] <= now:
            del dedup[order.popleft()[1]]
        if not order:
            # Nothing remembered any more: give the table and the queue back, so an
            # endpoint idle between exchanges holds neither.
            dedup.clear()
            self._dedup_order = order = None
        return order

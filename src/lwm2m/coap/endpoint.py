"""CoAP endpoint: one socket acting as client and server at once.

LwM2M needs both roles on one socket: a client registers from some address
and the server then sends requests back to that very address. An
:class:`Endpoint` is the thin asyncio shell around the sans-IO
:class:`~lwm2m.coap.layer.MessageLayer`; block-wise transfers (RFC 7959) and
Observe (RFC 7641) are handled here for both roles, transparently.

Creating and closing::

    ep = await Endpoint.create_udp(host="127.0.0.1", port=0,
                                   params=TransmissionParams(), clock=None)
    ep = Endpoint(transport)          # any DatagramTransport (e.g. DTLS)
    ep.local_address                  # ("127.0.0.1", 56830)
    await ep.close()                  # pending requests fail with EndpointClosed

Server role. A handler is ``async def handler(request: Message, remote:
Address) -> Message``; only ``code``, ``options`` and ``payload`` of the
returned message are used (build it with ``Message.response_to(request, code,
payload, ...)`` or ``Message(code=...)``), the endpoint fills in type, Message
ID and token. Plain functions returning a ``Message`` work as well. The
handler registered for the longest matching path prefix is called; without a
match the fallback handler, else 4.04. A handler that raises gets the peer a
5.00 (4.00 for :class:`~lwm2m.errors.DecodeError`) and a log line::

    ep.add_resource("/3/0", handler)
    ep.set_fallback_handler(handler)
    ep.remove_resource("/3/0")

Streamed Block1 bodies. A request body sent in Block1 blocks is normally
reassembled (up to ``max_body_size``) before the handler runs. Under a path
prefix given to ``add_block1_stream`` the blocks are handed on one by one
instead, so the body is never held whole::

    async def on_block(request, remote, offset, data, last) -> Message | None:
        ...                               # None: 2.31 Continue for a non-final block
    ep.add_block1_stream("/5/0/0", on_block, max_size=None, idle_timeout=None,
                         on_abort=lambda remote, reason: ...)

The handler sees the blocks in order (offset 0 again means the peer started
over). Returning a response for a non-final block ends the transfer with
it; the answer to the final block (None: 2.04 Changed) is the response to
the whole request. Out-of-order blocks get 4.08, bodies over ``max_size``
4.13 with Size1; a block repeated under a new Message ID gets the previous
answer again. ``on_abort(remote, StreamAbort)`` tells about transfers that
end before their last block (4.08, 4.13, 4.00, idle, endpoint closed).
Requests without Block1 go to the ordinary handlers.

Client role::

    resp = await ep.request(Code.GET, "/3/0/1", remote=("127.0.0.1", 5683))
    resp = await ep.request(message, remote=addr, timeout=5.0)   # a built Message
    resp = await ep.get("/3/0", remote=addr, accept=ContentFormat.LWM2M_TLV)
    resp = await ep.post(path, payload, remote=addr); ep.put(...); ep.delete(...)

``request`` returns the response whatever its code; it raises
:class:`~lwm2m.coap.errors.RequestTimeout`, ``ResetReceived``,
``TransportError``, ``BadResponse`` or ``EndpointClosed`` (all
:class:`~lwm2m.coap.errors.RequestError`) when there is no response.
``confirmable=False`` sends NON. Bodies larger than the block size go out in
Block1 blocks; Block2 responses are reassembled (ETag checked) before
``request`` returns. ``request_blocks`` takes the same arguments and yields
the response block by block instead (first the first response, whatever its
code, then every further Block2 block), for bodies too large to hold::

    async with contextlib.aclosing(ep.request_blocks(Code.GET, "/fw", remote=addr)) as it:
        async for block in it:
            sink(block.payload)

Block-wise. ``block_size`` (default 1024) is the preferred size in both
roles: the server never sends larger blocks and honours a smaller one asked
for by the client; the client splits with it. ``max_body_size`` (default
``limits.max_body_size``) bounds reassembled bodies (4.13 with Size1 for
requests, ``BadResponse`` for responses).

Observe, server role. A handler accepts an observation by returning a 2.xx
response that carries the Observe option (any value, e.g.
``Message.response_to(req, Code.CONTENT, data, observe=0)``); the endpoint
replaces the value by its sequence number. ``ep.notify("/3/0")`` runs the
handler again, with the registration request, for every observation whose
path is equal to, above or below the given path and sends the result as a
notification; ``ep.push_notification(observation, response)`` sends a given
response. Notifications are NON except every ``notify_con_every``-th and at
least once per ``notify_con_interval`` seconds (or as asked with
``confirmable=``). A non-2.xx notification ends the observation. Observers
are dropped on RST, on a CON notification that is never acknowledged and on
GET with Observe=1. ``ep.observations()`` lists them;
``ep.add_observation_listener(cb)`` reports ``cb(observation, active)``.

Observe, client role::

    obs = await ep.observe("/3/0/13", remote=addr)
    async for notification in obs:      # the first response comes first
        ...
    await obs.cancel()                  # GET with Observe=1
    obs.forget()                        # next notification is answered with RST
    obs = ep.adopt_observation(request, remote=addr)  # registered earlier with request's
                                        # token (e.g. before a restart): nothing is sent

Limits. ``limits=Limits(...)`` (:mod:`lwm2m.coap.limits`) bounds what peers
can make the endpoint hold, per peer and in total: Block1 transfers (reassembled
and streamed together) and their buffered bytes, Block2 responses kept for their
later blocks, requests whose handler is still running plus separate responses
not yet acknowledged, and observations. A request beyond a bound gets 5.03 with
Max-Age (4.13 with Size1 for a body over ``max_body_size``; a GET with Observe
is answered as a plain GET) and the log gets one warning per kind of bound and
interval. ``ep.held()`` tells what is held now::

    ep = Endpoint(transport, limits=Limits(block1_per_peer=4, transfer_timeout=60))
    ep.held()       # {"block1": 0, "block1_bytes": 0, "block2": 0, "pending": 0, ...}

Instrumentation. ``ep.hooks = hooks`` (an :class:`EndpointHooks`; one object can
serve any number of endpoints, every call names the endpoint) is told about every
call of ``request`` (and ``get``/``post``/``put``/``delete``), every
``push_notification`` and every observer added or removed::

    ep.hooks = probe                # probe.request_started(ep, message) -> state, ...

Memory: a process may hold thousands of endpoints (a simulated fleet), so an
endpoint has slots and makes its block-wise, Observe and bookkeeping
containers when they are first needed.

Timers: all protocol timers live in the message layer; the endpoint keeps a
single event-loop timer armed for the earliest deadline, and one more for the
earliest expiry of a partial block-wise transfer (reassembly or kept Block2
response), so abandoned transfers are dropped without further traffic.
``clock`` (default: the event loop's monotonic clock) is what the layer sees as
"now".
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
import time
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Sequence,
)
from types import CoroutineType
from typing import Any, TypeVar, cast

from lwm2m.errors import DecodeError
from lwm2m.tasks import TaskSet
from lwm2m.transport.base import Address, DatagramTransport
from lwm2m.transport.udp import UdpTransport

from .blockwise import (
    Block1Receiver,
    Block1Sender,
    Block1Stream,
    Block1StreamStep,
    Block2Cache,
    Block2Collector,
    Block2Follower,
    BlockwiseError,
    StreamAbort,
    serve_block2,
)
from .errors import BadResponse, EndpointClosed, RequestError, RequestTimeout, TransportError
from .layer import (
    ExchangeFailed,
    Incoming,
    MessageAcknowledged,
    MessageLayer,
    RequestReceived,
    ResponseReceived,
    TransmissionParams,
)
from .limits import Limits, PeerCounts, WarningGate, service_unavailable
from .message import BlockOption, Message, encode_uint, split_path
from .numbers import Code, OptionNumber, Type, dotted
from .observe import Observation, ObservationRegistry, ServerObservation

__all__ = [
    "Block1StreamHandler",
    "Endpoint",
    "EndpointHooks",
    "Handler",
    "StreamAbort",
    "StreamAbortListener",
]

logger = logging.getLogger("lwm2m.coap")

Handler = Callable[[Message, Address], Awaitable[Message] | Message]
ObservationListener = Callable[[ServerObservation, bool], None]
Block1StreamHandler = Callable[[Message, Address, int, bytes, bool], Awaitable[Message | None]]
StreamAbortListener = Callable[[Address, StreamAbort], None]
ErrorListener = Callable[[OSError, Address | None], None]

_OBSERVE = int(OptionNumber.OBSERVE)
_BLOCK1 = int(OptionNumber.BLOCK1)
_BLOCK2 = int(OptionNumber.BLOCK2)
_OBSERVABLE = (Code.GET, Code.FETCH)
_SPECIAL = frozenset((_OBSERVE, _BLOCK1, _BLOCK2))
_Future = asyncio.Future
_INFINITY = float("inf")
_T = TypeVar("_T")
#: The bounds of every endpoint not given its own (frozen, so one object serves all).
_DEFAULT_LIMITS = Limits()


class _Resumed:
    """Continue, inside a Task, a coroutine whose first step already ran.

    Handlers are started eagerly in the datagram callback; most finish in that
    first step and need no Task at all. The few that suspend are handed to a
    Task here, forwarding what the coroutine yielded, sent values and thrown
    exceptions exactly like ``await`` would.
    """

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Any, first: Any) -> None:
        self._coro = coro
        self._first = first

    def abandon_if_cancelled(self, task: asyncio.Task[Any]) -> None:
        """A Task cancelled before its first step never reached the coroutine: tell it now."""
        coro = self._coro
        if not task.cancelled() or coro.cr_frame is None:
            return
        try:
            coro.throw(asyncio.CancelledError())
        except BaseException:
            return
        coro.close()

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self._coro
        to_yield = self._first
        while True:
            try:
                sent = yield to_yield
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    to_yield = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    to_yield = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


class _ServerCtx:
    """What the endpoint must remember about a request while its handler runs."""

    __slots__ = ("block1_echo", "block2", "handler", "incoming", "observe", "remote", "request")

    def __init__(self, request: Message, remote: Address, incoming: Incoming) -> None:
        self.request = request
        self.remote = remote
        self.incoming = incoming
        self.handler: Handler | None = None
        self.block1_echo: BlockOption | None = None
        self.block2: BlockOption | None = None
        self.observe: int | None = None


class _StreamRoute:
    """A path prefix whose Block1 bodies are streamed to ``handler``."""

    __slots__ = ("handler", "on_abort", "stream", "timer")

    def __init__(
        self,
        handler: Block1StreamHandler,
        on_abort: StreamAbortListener | None,
        stream: Block1Stream,
    ) -> None:
        self.handler = handler
        self.on_abort = on_abort
        self.stream = stream
        self.timer: asyncio.TimerHandle | None = None


class EndpointHooks:
    """Instrumentation of endpoints from outside, e.g. timing for a load generator.

    Set one object as ``endpoint.hooks`` of any number of endpoints: every call
    names the endpoint, so nothing needs to be made per endpoint. The methods
    here do nothing; override those of interest.
    """

    __slots__ = ()

    def request_started(self, endpoint: Endpoint, request: Message) -> object:
        """:meth:`Endpoint.request` (also ``get``/``post``/...) is about to send ``request``.

        What this returns is handed to :meth:`request_ended`; None means not
        interested (:meth:`request_ended` is not called then).
        """
        return None

    def request_ended(
        self,
        endpoint: Endpoint,
        state: object,
        response: Message | None,
        error: BaseException | None,
    ) -> None:
        """The request ended with ``response``, or raised ``error`` (cancellation included)."""

    def notification_pushed(
        self, endpoint: Endpoint, observation: ServerObservation, response: Message
    ) -> None:
        """:meth:`Endpoint.push_notification` was called (before anything is sent)."""

    def observation_changed(
        self, endpoint: Endpoint, observation: ServerObservation, active: bool
    ) -> None:
        """An observer was added (``active``) or removed, after the observation listeners."""


def _loop_clock(loop: asyncio.AbstractEventLoop) -> Callable[[], float]:
    """``loop.time``, or the function behind it when that is the stock one (no Python frame)."""
    if getattr(loop.time, "__func__", None) is asyncio.BaseEventLoop.time:
        return time.monotonic  # what BaseEventLoop.time returns
    return loop.time


def _error_response(code: Code, text: str) -> Message:
    return Message(code=code, payload=text.encode())


class Endpoint:
    """A CoAP endpoint bound to one datagram transport (see the module docstring)."""

    # A fleet process holds thousands of endpoints: slots instead of a __dict__
    # (more than 30 attributes make that a 1.5 KB dict of its own).
    __slots__ = (
        "_addr_cache",
        "_block1",
        "_block1_budget",
        "_block2_cache",
        "_block_size",
        "_clock",
        "_closed",
        "_completing",
        "_error_listeners",
        "_fallback",
        "_flushing",
        "_ipv6",
        "_layer",
        "_limits",
        "_loop",
        "_max_body",
        "_notify_con_every",
        "_notify_con_interval",
        "_observation_listeners",
        "_pending",
        "_registry",
        "_resolved_from",
        "_resolved_to",
        "_resources",
        "_streams",
        "_szx",
        "_tasks",
        "_timer",
        "_timer_at",
        "_transfer_timeout",
        "_transfer_timer",
        "_transfer_timer_at",
        "_transport",
        "_warning_gate",
        "hooks",
    )

    def __init__(
        self,
        transport: DatagramTransport,
        *,
        params: TransmissionParams | None = None,
        clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
        block_size: int = 1024,
        max_body_size: int | None = None,
        notify_con_every: int = 20,
        notify_con_interval: float = 86400.0,
        dedup_limit: int | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport = transport
        limits = limits if limits is not None else _DEFAULT_LIMITS
        dedup = dedup_limit if dedup_limit is not None else limits.dedup_total
        self._layer = MessageLayer(params, rng=rng, dedup_limit=dedup)
        self._clock: Callable[[], float] = clock if clock is not None else _loop_clock(self._loop)
        self._szx = BlockOption.szx_for_size(block_size)
        self._block_size = block_size
        self._limits = limits
        if max_body_size is None:
            max_body_size = limits.max_body_size
        self._max_body = max_body_size
        self._transfer_timeout = (
            limits.transfer_timeout
            if limits.transfer_timeout is not None
            else self._layer.params.exchange_lifetime
        )
        self._notify_con_every = notify_con_every
        self._notify_con_interval = notify_con_interval
        self._block1_budget = PeerCounts(limits.block1_per_peer, limits.block1_total)
        # Made on first use (most endpoints never see a block-wise transfer, an
        # observer or a refusal): see _receiver(), _block2_store(), _observers(), _warn().
        self._block1: Block1Receiver | None = None
        self._block2_cache: Block2Cache | None = None
        self._registry: ObservationRegistry | None = None
        self._warning_gate: WarningGate | None = None
        # Requests whose handler is still running (it suspended), per peer and in all.
        self._pending = PeerCounts(limits.pending_per_peer, limits.pending_total)
        self._transfer_timer: asyncio.TimerHandle | None = None
        self._transfer_timer_at = _INFINITY
        # Client role: observations whose large notification is being fetched, and
        # the newest first block that arrived meanwhile (None: none yet).
        self._completing: dict[Observation, Message | None] | None = None
        self._observation_listeners: tuple[ObservationListener, ...] = ()
        self._resources: dict[tuple[str, ...], Handler] | None = None
        self._streams: dict[tuple[str, ...], _StreamRoute] | None = None
        self._fallback: Handler | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        # Tasks of suspended handlers and notification fetches (None: none running).
        self._tasks = TaskSet()
        self._flushing = False
        self._closed = False
        # Resolved peer addresses: the first one in two slots (a client talks to one
        # server), any further ones in a dict made when the second one comes.
        self._resolved_from: Address | None = None
        self._resolved_to: Address | None = None
        self._addr_cache: dict[Any, Address] | None = None
        self._error_listeners: tuple[ErrorListener, ...] = ()
        self.hooks: EndpointHooks | None = None
        """Instrumentation (see :class:`EndpointHooks`); None: none."""
        local_host = transport.local_address[0]
        self._ipv6 = ":" in local_host
        transport.set_callbacks(self._on_datagram, self._on_transport_error)

    @classmethod
    async def create_udp(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        params: TransmissionParams | None = None,
        clock: Callable[[], float] | None = None,
        **kwargs: Any,
    ) -> Endpoint:
        """Bind a UDP socket (IPv4 or IPv6 by ``host``) and wrap it in an endpoint."""
        transport = await UdpTransport.create(host, port)
        return cls(transport, params=params, clock=clock, **kwargs)

    # ---------------------------------------------------------------- basics

    @property
    def local_address(self) -> Address:
        return self._transport.local_address

    @property
    def layer(self) -> MessageLayer:
        """The sans-IO message layer (for inspection and tests)."""
        return self._layer

    @property
    def params(self) -> TransmissionParams:
        return self._layer.params

    @property
    def limits(self) -> Limits:
        return self._limits

    def held(self) -> dict[str, int]:
        """What peers make this endpoint hold now, by kind (for monitoring and tests)."""
        block1, block2, registry = self._block1, self._block2_cache, self._registry
        return {
            "block1": len(self._block1_budget),
            "block1_bytes": block1.buffered if block1 is not None else 0,
            "block2": len(block2) if block2 is not None else 0,
            "pending": len(self._pending),
            "separate": self._layer.separate_total,
            "observations": len(registry) if registry is not None else 0,
        }

    @property
    def closed(self) -> bool:
        return self._closed

    def add_error_listener(self, listener: ErrorListener) -> None:
        """Be told about transport errors (ICMP unreachable, failed sends)."""
        self._error_listeners = (*self._error_listeners, listener)

    async def close(self) -> None:
        """Fail pending requests with :class:`EndpointClosed`, stop tasks, close the socket."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transfer_timer is not None:
            self._transfer_timer.cancel()
            self._transfer_timer = None
        if self._block1 is not None:
            self._block1.abort_all()
        self._layer.abort_all(EndpointClosed("endpoint closed"), self._clock())
        self._flush()
        for route in (self._streams or {}).values():
            if route.timer is not None:
                route.timer.cancel()
            route.stream.abort_all()
            self._report_aborts(route)
        await self._tasks.cancel()
        self._transport.close()

    async def __aenter__(self) -> Endpoint:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------- made on first use

    def _receiver(self) -> Block1Receiver:
        """The reassembly of Block1 bodies (RFC 7959 2.3), made for the first one."""
        block1 = self._block1
        if block1 is None:
            limits = self._limits
            block1 = self._block1 = Block1Receiver(
                self._max_body,
                self._szx,
                self._transfer_timeout,
                budget=self._block1_budget,
                max_buffered=limits.block1_buffered_total,
                retry_after=limits.retry_after,
            )
        return block1

    def _warn(self, key: str, message: str, *args: object) -> None:
        """Log a warning, at most one per ``key`` and ``Limits.warning_interval``."""
        gate = self._warning_gate
        if gate is None:
            gate = self._warning_gate = WarningGate(logger, self._limits.warning_interval)
        gate(key, message, *args)

    # ------------------------------------------------------------- resources

    def add_resource(self, path_prefix: str | Sequence[str], handler: Handler) -> None:
        """Serve every request whose Uri-Path starts with ``path_prefix``."""
        if self._resources is None:
            self._resources = {}
        self._resources[self._path(path_prefix)] = handler

    def remove_resource(self, path_prefix: str | Sequence[str]) -> None:
        if self._resources is not None:
            self._resources.pop(self._path(path_prefix), None)

    def add_block1_stream(
        self,
        path_prefix: str | Sequence[str],
        handler: Block1StreamHandler,
        *,
        max_size: int | None = None,
        idle_timeout: float | None = None,
        on_abort: StreamAbortListener | None = None,
    ) -> None:
        """Hand Block1 bodies under ``path_prefix`` to ``handler`` block by block.

        ``max_size`` bounds the body (None: no limit); ``idle_timeout``
        (default: the transfer timeout of the endpoint's limits,
        EXCHANGE_LIFETIME unless set) drops a transfer whose next block does
        not come. The transfers count against the endpoint's Block1 bounds.
        See the module docstring.
        """
        key = self._path(path_prefix)
        self.remove_block1_stream(key)
        lifetime = idle_timeout if idle_timeout is not None else self._transfer_timeout
        stream = Block1Stream(
            max_size,
            self._szx,
            lifetime,
            budget=self._block1_budget,
            retry_after=self._limits.retry_after,
        )
        if self._streams is None:
            self._streams = {}
        self._streams[key] = _StreamRoute(handler, on_abort, stream)

    def remove_block1_stream(self, path_prefix: str | Sequence[str]) -> None:
        """Stop streaming under ``path_prefix``; transfers under way are dropped silently."""
        if self._streams is None:
            return
        route = self._streams.pop(self._path(path_prefix), None)
        if route is not None:
            if route.timer is not None:
                route.timer.cancel()
            route.stream.abort_all()
            route.stream.take_aborted()

    def set_fallback_handler(self, handler: Handler | None) -> None:
        """Handler for requests no resource prefix matches (default: 4.04)."""
        self._fallback = handler

    @staticmethod
    def _path(path: str | Sequence[str]) -> tuple[str, ...]:
        return split_path(path) if isinstance(path, str) else tuple(path)

    def _find_handler(self, path: tuple[str, ...]) -> Handler | None:
        resources = self._resources
        if resources:
            handler = resources.get(path)
            if handler is not None:
                return handler
            for i in range(len(path) - 1, -1, -1):
                handler = resources.get(path[:i])
                if handler is not None:
                    return handler
        return self._fallback

    def _find_stream(self, path: tuple[str, ...]) -> _StreamRoute | None:
        streams = self._streams
        if not streams:
            return None
        for i in range(len(path), -1, -1):
            route = streams.get(path[:i])
            if route is not None:
                return route
        return None

    # ------------------------------------------------------- event plumbing

    def _on_datagram(self, data: bytes, remote: Address) -> None:
        try:
            self._layer.receive(data, remote, self._clock())
            self._flush()
        except Exception:  # a bug must not take the socket down
            logger.exception("error while processing a datagram from %s", remote)

    def _on_transport_error(self, exc: OSError, remote: Address | None) -> None:
        logger.debug("transport error %r (peer %s)", exc, remote)
        for listener in self._error_listeners:
            try:
                listener(exc, remote)
            except Exception:
                logger.exception("transport error listener failed")
        if remote is not None and not self._closed:
            self._layer.fail_remote(remote, TransportError(str(exc)), self._clock())
            self._flush()

    def _flush(self) -> None:
        """Send what the layer produced and act on its events, until both are empty."""
        if self._flushing:
            return
        self._flushing = True
        try:
            self._layer.drain(self._send, self._dispatch)
        finally:
            self._flushing = False
        # Only deadlines added since the timer was armed can make it late (none
        # armed: any deadline added at all).
        if not self._closed and self._layer.needs_rearm(
            self._timer_at if self._timer is not None else _INFINITY
        ):
            self._arm_timer()

    def _send(self, data: bytes, remote: Address) -> None:
        if not self._closed:
            self._transport.send(data, remote)

    def _dispatch(self, event: Any) -> None:
        kind = type(event)
        if kind is ResponseReceived:
            ctx = event.exchange.context
            if isinstance(ctx, _Future):
                if not ctx.done():
                    ctx.set_result(event.response)
            elif isinstance(ctx, Observation):
                self._on_notification(ctx, event.response)
        elif kind is RequestReceived:
            self._on_request(event.request, event.remote, event.incoming)
        elif kind is ExchangeFailed:
            ctx = event.exchange.context
            if isinstance(ctx, _Future):
                if not ctx.done():
                    ctx.set_exception(event.error)
            elif isinstance(ctx, Observation):
                ctx.fail(event.error)
            elif isinstance(ctx, ServerObservation):
                # RFC 7641 3.6 / 4.5: RST or an unacknowledged CON ends the observation.
                self._drop_observation(ctx)
        elif kind is MessageAcknowledged:
            ctx = event.exchange.context
            if isinstance(ctx, ServerObservation):
                self._on_notification_acked(ctx)

    def _arm_timer(self) -> None:
        deadline = self._layer.arm_deadline()
        if deadline is None:
            return
        timer = self._timer
        if timer is not None:
            if self._timer_at <= deadline:
                return
            timer.cancel()
        self._timer_at = deadline
        delay = deadline - self._clock()
        self._timer = self._loop.call_later(delay if delay > 0 else 0, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        try:
            self._layer.handle_timeout(self._clock())
            self._flush()
        except Exception:
            logger.exception("error in CoAP timer processing")
        if self._timer is None:
            self._arm_timer()

    # ---------------------------------------------------------- server role

    def _on_request(self, request: Message, remote: Address, incoming: Incoming) -> None:
        if self._pending.total or self._layer.separate_total:
            refused = self._busy(remote)
            if refused is not None:
                self._warn(
                    "pending",
                    "CoAP request from %s refused with 5.03: %s bound on requests in "
                    "progress reached (%d handlers running, %d separate responses unacknowledged)",
                    remote,
                    refused,
                    self._pending.total,
                    self._layer.separate_total,
                )
                busy = service_unavailable(
                    self._limits.retry_after, "too many requests in progress"
                )
                self._layer.respond(incoming, busy, self._clock())
                return
        ctx: _ServerCtx | None = None
        try:
            for number, _ in request.options:
                if number in _SPECIAL:
                    ctx = _ServerCtx(request, remote, incoming)
                    if not self._prepare_special(ctx):
                        return
                    request = ctx.request
                    break
            handler = self._find_handler(request.uri_path)
        except DecodeError as exc:
            self._layer.respond(
                incoming, _error_response(Code.BAD_REQUEST, str(exc)), self._clock()
            )
            return
        if handler is None:
            self._layer.respond(incoming, Message(code=Code.NOT_FOUND), self._clock())
            return
        if ctx is None:
            # No Observe, Block1 or Block2: no per-request context object needed.
            self._invoke(
                handler,
                request,
                remote,
                self._on_plain_done,
                (request, remote, incoming),
                counted=True,
            )
            return
        ctx.handler = handler
        self._invoke(handler, request, remote, self._on_handler_done, ctx, counted=True)

    def _busy(self, remote: Address) -> str | None:
        """Which bound on requests in progress a new request of ``remote`` would pass."""
        layer = self._layer
        return self._pending.refusal(remote, layer.separate_responses(remote), layer.separate_total)

    def _on_plain_done(self, response: Message, state: tuple[Message, Address, Incoming]) -> None:
        """Answer a request that came without Observe, Block1 or Block2."""
        if len(response.payload) > self._block_size:
            self._on_handler_done(response, _ServerCtx(*state))
        else:
            self._layer.respond(state[2], response, self._clock())

    def _prepare_special(self, ctx: _ServerCtx) -> bool:
        """Block1 reassembly and Observe bookkeeping; False if already answered."""
        request = ctx.request
        ctx.block2 = request.block2
        observe = request.observe if request.code in _OBSERVABLE else None
        ctx.observe = observe
        if observe == 1 and self._registry is not None:
            removed = self._registry.remove_key(ctx.remote, request.token)
            if removed is not None:
                self._notify_listeners(removed, False)
        block2 = ctx.block2
        if block2 is not None and block2.num > 0 and self._block2_cache is not None:
            cached = self._block2_cache.lookup(ctx.remote, request, self._clock())
            if cached is not None:
                response = serve_block2(cached, block2, self._szx)
                self._layer.respond(ctx.incoming, response, self._clock())
                return False
        if request.has_option(_BLOCK1):
            route = self._find_stream(request.uri_path) if self._streams else None
            if route is not None:
                self._feed_stream(route, ctx)
                return False
            result = self._receiver().feed(ctx.remote, request, self._clock())
            if result.response is not None:
                if result.limit is not None:
                    self._block1_refused(ctx.remote, result.limit, result.response)
                elif result.response.code == Code.CONTINUE:
                    self._arm_transfer_timer()
                self._layer.respond(ctx.incoming, result.response, self._clock())
                return False
            ctx.block1_echo = result.echo
            assembled = Message(
                request.type,
                request.code,
                request.mid,
                request.token,
                [o for o in request.options if o[0] != _BLOCK1 and o[0] != OptionNumber.SIZE1],
                result.body or b"",
            )
            ctx.request = assembled
        return True

    # -------------------------------------------------------- streamed Block1

    def _feed_stream(self, route: _StreamRoute, ctx: _ServerCtx) -> None:
        """Hand one Block1 block to the stream handler, or answer it at once."""
        step = route.stream.feed(ctx.remote, ctx.request, self._clock())
        self._report_aborts(route)
        if step.response is not None:
            if step.limit is not None:
                self._block1_refused(ctx.remote, step.limit, step.response)
            self._layer.respond(ctx.incoming, step.response, self._clock())
            return
        self._arm_stream_timer(route)
        handler = route.handler
        offset, data, last = step.offset, step.data, step.last

        async def run(request: Message, remote: Address) -> Message:
            answer = await handler(request, remote, offset, data, last)
            if answer is None:
                return Message(code=Code.CHANGED if last else Code.CONTINUE)
            return answer

        self._invoke(
            run, ctx.request, ctx.remote, self._on_stream_done, (route, step, ctx), counted=True
        )

    def _block1_refused(self, remote: Address, limit: str, response: Message) -> None:
        if limit == "too large":
            self._warn(
                "block1-size",
                "Block1 body from %s refused with 4.13: larger than %d bytes",
                remote,
                self._max_body,
            )
            return
        if limit == "buffered":
            block1 = self._receiver()
            what = f"{block1.buffered} bytes buffered, at most {block1.max_buffered}"
        else:
            budget = self._block1_budget
            what = (
                f"{budget.of(remote)} of this peer (at most {budget.per_peer}), "
                f"{budget.total} in all (at most {budget.total_limit})"
            )
        self._warn(
            "block1",
            "Block1 transfer from %s refused with 5.03 (Max-Age %d): %s bound reached (%s)",
            remote,
            self._limits.retry_after,
            limit,
            what,
        )

    # ------------------------------------------------------- transfer expiry

    def _arm_transfer_timer(self) -> None:
        """Arm one timer for the earliest expiry of a reassembly or a kept Block2 response."""
        if self._closed:
            return
        block1, block2 = self._block1, self._block2_cache
        deadlines = [
            d
            for d in (
                block1.next_expiry() if block1 is not None else None,
                block2.next_expiry() if block2 is not None else None,
            )
            if d is not None
        ]
        if not deadlines:
            return
        deadline = min(deadlines)
        timer = self._transfer_timer
        if timer is not None:
            if self._transfer_timer_at <= deadline:
                return
            timer.cancel()
        self._transfer_timer_at = deadline
        delay = max(deadline - self._clock(), 0.0) + 0.001
        self._transfer_timer = self._loop.call_later(delay, self._on_transfer_timer)

    def _on_transfer_timer(self) -> None:
        self._transfer_timer = None
        self._transfer_timer_at = _INFINITY
        if self._closed:
            return
        now = self._clock()
        block1, block2 = self._block1, self._block2_cache
        if block1 is not None:
            dropped = block1.expire(now)
            if dropped:
                logger.debug("%d idle Block1 transfer(s) dropped", dropped)
            if not len(block1):
                self._block1 = None  # holds nothing any more: made again when needed
        if block2 is not None:
            block2.expire(now)
            if not len(block2):
                self._block2_cache = None
        self._arm_transfer_timer()

    def _on_stream_done(
        self, response: Message, state: tuple[_StreamRoute, Block1StreamStep, _ServerCtx]
    ) -> None:
        route, step, ctx = state
        echo = step.echo
        if step.last:
            route.stream.answered(step, response, self._clock())
            ctx.block1_echo = echo
            self._on_handler_done(response, ctx)
            return
        if echo is not None and response.code == Code.CONTINUE:
            response = Message(
                response.type,
                response.code,
                0,
                b"",
                [o for o in response.options if o[0] != _BLOCK1] + [(_BLOCK1, echo.encode())],
                response.payload,
            )
        route.stream.answered(step, response, self._clock())
        self._layer.respond(ctx.incoming, response, self._clock())

    def _report_aborts(self, route: _StreamRoute) -> None:
        aborted = route.stream.take_aborted()
        if not aborted or route.on_abort is None:
            return
        for remote, reason in aborted:
            logger.debug("streamed Block1 transfer from %s ended: %s", remote, reason.value)
            try:
                route.on_abort(cast(Address, remote), reason)
            except Exception:
                logger.exception("Block1 stream abort listener failed")

    def _arm_stream_timer(self, route: _StreamRoute) -> None:
        if route.timer is not None or self._closed:
            return
        deadline = route.stream.next_expiry()
        if deadline is None:
            return
        delay = max(deadline - self._clock(), 0.0) + 0.001
        route.timer = self._loop.call_later(delay, self._on_stream_timer, route)

    def _on_stream_timer(self, route: _StreamRoute) -> None:
        route.timer = None
        route.stream.expire(self._clock())
        self._report_aborts(route)
        self._arm_stream_timer(route)

    def _invoke(
        self,
        handler: Handler,
        request: Message,
        remote: Address,
        done: Callable[[Message, Any], None],
        ctx: Any,
        *,
        counted: bool = False,
    ) -> None:
        """Run ``handler`` eagerly; continue in a Task only if it suspends.

        ``counted``: a peer's request, counted against the bounds on requests in
        progress while its handler is suspended.
        """
        try:
            result = handler(request, remote)
            if isinstance(result, Message):
                done(result, ctx)
                return
            peer = remote if counted else None
            if type(result) is CoroutineType:
                try:
                    first = result.send(None)
                except StopIteration as stop:
                    done(self._checked(stop.value, request), ctx)
                    return
                resumed = _Resumed(result, first)
                task = self._loop.create_task(
                    self._finish_handler(resumed, request, done, ctx, peer)
                )
                task.add_done_callback(resumed.abandon_if_cancelled)
            else:
                task = self._loop.create_task(
                    self._finish_handler(result, request, done, ctx, peer)
                )
            if peer is not None:
                self._pending.add(peer)
            self._tasks.keep(task)
        except (Exception, asyncio.CancelledError) as exc:
            done(self._handler_failed(exc, request), ctx)

    async def _finish_handler(
        self,
        awaitable: Awaitable[Any],
        request: Message,
        done: Callable[[Message, Any], None],
        ctx: Any,
        peer: Address | None = None,
    ) -> None:
        try:
            try:
                response = self._checked(await awaitable, request)
            except asyncio.CancelledError:
                if self._closed:
                    raise
                response = self._handler_failed(asyncio.CancelledError(), request)
            except Exception as exc:
                response = self._handler_failed(exc, request)
        finally:
            if peer is not None:
                self._pending.remove(peer)
        if self._closed:
            return
        done(response, ctx)
        self._flush()

    def _checked(self, value: Any, request: Message) -> Message:
        if isinstance(value, Message):
            return value
        return self._handler_failed(
            TypeError(f"handler returned {type(value).__name__}, not Message"), request
        )

    def _handler_failed(self, exc: BaseException, request: Message) -> Message:
        if isinstance(exc, DecodeError):
            return _error_response(Code.BAD_REQUEST, str(exc))
        try:
            path = request.path_string
        except DecodeError:
            path = "(undecodable path)"
        logger.error("handler for %s %s failed", dotted(request.code), path, exc_info=exc)
        return Message(code=Code.INTERNAL_SERVER_ERROR)

    def _on_handler_done(self, response: Message, ctx: _ServerCtx) -> None:
        if ctx.observe is not None:
            response = self._observe_response(response, ctx)
        if ctx.block2 is not None or len(response.payload) > self._block_size:
            full = response
            response = serve_block2(full, ctx.block2, self._szx)
            if len(full.payload) > len(response.payload):
                self._keep_block2(ctx.remote, ctx.request, full, self._clock())
        if ctx.block1_echo is not None:
            response = Message(
                response.type,
                response.code,
                0,
                b"",
                [*response.options, (_BLOCK1, ctx.block1_echo.encode())],
                response.payload,
            )
        self._layer.respond(ctx.incoming, response, self._clock())

    def _keep_block2(self, remote: Address, request: Message, full: Message, now: float) -> None:
        """Keep a large response for its later blocks; warn when a bound is met."""
        cache = self._block2_cache
        if cache is None:
            limits = self._limits
            cache = self._block2_cache = Block2Cache(
                self._transfer_timeout,
                limits.block2_total,
                per_peer=limits.block2_per_peer,
                max_body_size=self._max_body,
            )
        bound = cache.store(remote, request, full, now)
        if bound is not None:
            if bound == "too large":
                self._warn(
                    "block2-size",
                    "Block2 response of %d bytes to %s not kept for its later blocks "
                    "(larger than %d bytes)",
                    len(full.payload),
                    remote,
                    self._max_body,
                )
            else:
                self._warn(
                    "block2",
                    "Block2 responses: %s bound reached (%d of %s, %d in all); the oldest "
                    "one was dropped",
                    bound,
                    cache.count(remote),
                    remote,
                    len(cache),
                )
        self._arm_transfer_timer()

    # -------------------------------------------------------- observe: server

    def _observe_response(self, response: Message, ctx: _ServerCtx) -> Message:
        """Register or drop the observer of a GET/FETCH with Observe (RFC 7641 4.1).

        Beyond the bounds on observations the GET is answered without the Observe
        option, as a plain GET (4.1), and the observer is not added.
        """
        request = ctx.request
        accepted = (
            ctx.observe == 0
            and response.code >> 5 == 2
            and (ctx.block2 is None or ctx.block2.num == 0)
            and response.has_option(_OBSERVE)
        )
        options = [o for o in response.options if o[0] != _OBSERVE]
        registry = self._registry
        if accepted:
            if registry is None:
                limits = self._limits
                registry = self._registry = ObservationRegistry(
                    self._notify_con_every,
                    self._notify_con_interval,
                    per_peer=limits.observations_per_peer,
                    total=limits.observations_total,
                )
            refused = registry.refusal(ctx.remote, request.token)
            if refused is not None:
                self._warn(
                    "observe",
                    "observation from %s not added: %s bound reached (%d of this peer, "
                    "%d in all); answered as a plain GET",
                    ctx.remote,
                    refused,
                    registry.count(ctx.remote),
                    len(registry),
                )
                return Message(response.type, response.code, 0, b"", options, response.payload)
            obs = registry.add(ctx.remote, request, ctx.handler, self._clock())
            options.append((_OBSERVE, encode_uint(registry.next_sequence())))
            self._notify_listeners(obs, True)
        elif ctx.observe == 0 and registry is not None:
            old = registry.remove_key(ctx.remote, request.token)
            if old is not None:
                self._notify_listeners(old, False)
        return Message(response.type, response.code, 0, b"", options, response.payload)

    def _notify_listeners(self, obs: ServerObservation, active: bool) -> None:
        for listener in self._observation_listeners:
            try:
                listener(obs, active)
            except Exception:
                logger.exception("observation listener failed")
        hooks = self.hooks
        if hooks is not None:
            try:
                hooks.observation_changed(self, obs, active)
            except Exception:
                logger.exception("endpoint hooks failed")

    def add_observation_listener(self, listener: ObservationListener) -> None:
        """``listener(observation, active)`` on every registration and removal."""
        self._observation_listeners = (*self._observation_listeners, listener)

    def observations(self, path: str | Sequence[str] | None = None) -> list[ServerObservation]:
        """Current observers, optionally only those overlapping ``path``."""
        registry = self._registry
        if registry is None:
            return []
        if path is None:
            return list(registry)
        return registry.matching(self._path(path))

    def remove_observation(self, observation: ServerObservation) -> None:
        """Forget an observer without telling it."""
        self._drop_observation(observation)

    def _drop_observation(self, obs: ServerObservation) -> None:
        if self._registry is not None and self._registry.remove(obs):
            self._notify_listeners(obs, False)

    def _is_observing(self, obs: ServerObservation) -> bool:
        return self._registry is not None and self._registry.is_registered(obs)

    def notify(self, path: str | Sequence[str], *, confirmable: bool | None = None) -> int:
        """Re-run the handler of every observation overlapping ``path``; returns their number."""
        targets = self.observations(path)
        for obs in targets:
            self._invoke(
                obs.handler,
                obs.request,
                obs.remote,
                self._on_notification_ready,
                (obs, confirmable),
            )
        self._flush()
        return len(targets)

    def push_notification(
        self,
        observation: ServerObservation,
        response: Message,
        *,
        confirmable: bool | None = None,
    ) -> None:
        """Send ``response`` (code, options, payload) as a notification of ``observation``."""
        hooks = self.hooks
        if hooks is not None:
            hooks.notification_pushed(self, observation, response)
        self._send_notification(observation, response, confirmable)
        self._flush()

    def _on_notification_ready(
        self, response: Message, ctx: tuple[ServerObservation, bool | None]
    ) -> None:
        self._send_notification(ctx[0], response, ctx[1])

    def _send_notification(
        self, obs: ServerObservation, response: Message, confirmable: bool | None
    ) -> None:
        registry = self._registry
        if self._closed or registry is None or not registry.is_registered(obs):
            return
        now = self._clock()
        options = [o for o in response.options if o[0] != _OBSERVE]
        final = response.code >> 5 != 2
        if final:
            # RFC 7641 3.2: a non-2.xx notification ends the observation.
            self._drop_observation(obs)
        else:
            options.append((_OBSERVE, encode_uint(registry.next_sequence())))
        msg_type = registry.notification_type(obs, now, confirmable)
        msg = Message(msg_type, response.code, 0, obs.token, options, response.payload)
        if len(msg.payload) > self._block_size:
            self._keep_block2(obs.remote, obs.request, msg, now)
            msg = serve_block2(msg, None, self._szx)
        if obs.in_flight is not None and not final:
            # RFC 7641 4.5.2: wait for the ACK, then send only the newest state.
            obs.pending = msg
            return
        exchange = self._layer.send_message(msg, obs.remote, now, context=obs)
        if msg_type is Type.CON and not final:
            obs.in_flight = exchange

    def _on_notification_acked(self, obs: ServerObservation) -> None:
        obs.in_flight = None
        pending = obs.pending
        if pending is not None and self._is_observing(obs):
            obs.pending = None
            exchange = self._layer.send_message(pending, obs.remote, self._clock(), context=obs)
            if pending.type is Type.CON:
                obs.in_flight = exchange

    # ---------------------------------------------------------- client role

    def _resolved(self, remote: Address) -> Address | None:
        """``remote`` as resolved before, if it was."""
        if self._resolved_from == remote:
            return self._resolved_to
        cache = self._addr_cache
        return cache.get(remote) if cache is not None else None

    async def _resolve(self, remote: Address) -> Address:
        cached = self._resolved(remote)
        if cached is not None:
            return cached
        host, port = remote[0], int(remote[1])
        try:
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(host)
        except ValueError:
            family = socket.AF_INET6 if self._ipv6 else socket.AF_INET
            infos = await self._loop.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM)
            if not infos:
                raise TransportError(f"cannot resolve {host!r}") from None
            ip = ipaddress.ip_address(str(infos[0][4][0]))
        text = f"::ffff:{ip}" if self._ipv6 and ip.version == 4 else str(ip)
        result = (text, port)
        if result == remote:
            result = remote  # already in its resolved form: no second copy kept
        if self._resolved_from is None:
            self._resolved_from, self._resolved_to = remote, result
            return result
        cache = self._addr_cache
        if cache is None:
            cache = self._addr_cache = {}
        elif len(cache) > 4096:
            cache.clear()
        cache[remote] = result
        return result

    def _build(
        self,
        message: Message | int,
        path: str | Sequence[str],
        query: str | Sequence[str] | None,
        payload: bytes,
        content_format: int | None,
        accept: int | None,
        options: Iterable[tuple[int, bytes]],
        confirmable: bool,
    ) -> Message:
        if isinstance(message, Message):
            return message
        return Message.request(
            message,
            path,
            query=query,
            payload=payload,
            content_format=content_format,
            accept=accept,
            confirmable=confirmable,
            options=options,
        )

    async def request(
        self,
        message: Message | int,
        path: str | Sequence[str] = "",
        *,
        remote: Address,
        query: str | Sequence[str] | None = None,
        payload: bytes = b"",
        content_format: int | None = None,
        accept: int | None = None,
        options: Iterable[tuple[int, bytes]] = (),
        confirmable: bool = True,
        timeout: float | None = None,
    ) -> Message:
        """Send a request (a :class:`Message`, or a method code plus path) and await the response.

        ``timeout`` bounds the whole operation, block-wise transfers included.
        """
        msg = self._build(
            message, path, query, payload, content_format, accept, options, confirmable
        )
        hooks = self.hooks
        if hooks is not None:
            state = hooks.request_started(self, msg)
            if state is not None:
                return await self._hooked_request(hooks, state, msg, remote, timeout)
        return await self._request_within(msg, remote, timeout)

    def _request_within(
        self, msg: Message, remote: Address, timeout: float | None
    ) -> Awaitable[Message]:
        if timeout is None:
            return self._request(msg, remote)
        return self._bounded(self._request(msg, remote), timeout)

    async def _hooked_request(
        self,
        hooks: EndpointHooks,
        state: object,
        msg: Message,
        remote: Address,
        timeout: float | None,
    ) -> Message:
        """:meth:`request` telling ``hooks`` how it ended."""
        try:
            response = await self._request_within(msg, remote, timeout)
        except BaseException as exc:
            hooks.request_ended(self, state, None, exc)
            raise
        hooks.request_ended(self, state, response, None)
        return response

    async def get(
        self, path: str | Sequence[str] = "", *, remote: Address, **kwargs: Any
    ) -> Message:
        return await self.request(Code.GET, path, remote=remote, **kwargs)

    async def post(
        self,
        path: str | Sequence[str] = "",
        payload: bytes = b"",
        *,
        remote: Address,
        **kwargs: Any,
    ) -> Message:
        return await self.request(Code.POST, path, remote=remote, payload=payload, **kwargs)

    async def put(
        self,
        path: str | Sequence[str] = "",
        payload: bytes = b"",
        *,
        remote: Address,
        **kwargs: Any,
    ) -> Message:
        return await self.request(Code.PUT, path, remote=remote, payload=payload, **kwargs)

    async def delete(
        self, path: str | Sequence[str] = "", *, remote: Address, **kwargs: Any
    ) -> Message:
        return await self.request(Code.DELETE, path, remote=remote, **kwargs)

    async def request_blocks(
        self,
        message: Message | int,
        path: str | Sequence[str] = "",
        *,
        remote: Address,
        query: str | Sequence[str] | None = None,
        payload: bytes = b"",
        content_format: int | None = None,
        accept: int | None = None,
        options: Iterable[tuple[int, bytes]] = (),
        confirmable: bool = True,
        timeout: float | None = None,
    ) -> AsyncGenerator[Message, None]:
        """Like :meth:`request`, but yield the response block by block (RFC 7959 2.4).

        The first item is the first response, whatever its code; when it
        carries Block2 with more to come, every further block follows as its
        own response message (ETag and offsets checked, ``BadResponse`` on a
        mismatch). Nothing is reassembled. ``timeout`` bounds each exchange.
        """
        msg = self._build(
            message, path, query, payload, content_format, accept, options, confirmable
        )
        if self._closed:
            raise EndpointClosed("endpoint closed")
        peer = await self._bounded(self._resolve(remote), timeout)
        first = await self._bounded(self._first_response(msg, peer), timeout)
        yield first
        try:
            block = first.block2
            if block is None or not block.more:
                return
            follower = Block2Follower(first, self._szx)
        except (BlockwiseError, DecodeError) as exc:
            raise BadResponse(str(exc)) from None
        while follower.more:
            follow = follower.follow_up(msg)
            follow.token = b""
            response = await self._bounded(self._exchange(follow, peer), timeout)
            try:
                follower.add(response)
            except BlockwiseError as exc:
                raise BadResponse(str(exc)) from None
            yield response

    @staticmethod
    async def _bounded(awaitable: Awaitable[_T], timeout: float | None) -> _T:
        """Await ``awaitable``, raising :class:`RequestTimeout` after ``timeout`` seconds."""
        if timeout is None:
            return await awaitable
        try:
            async with asyncio.timeout(timeout):
                return await awaitable
        except TimeoutError:
            raise RequestTimeout(f"no response within {timeout} s") from None

    async def _request(self, msg: Message, remote: Address) -> Message:
        if self._closed:
            raise EndpointClosed("endpoint closed")
        peer = self._resolved(remote)
        if peer is None:
            peer = await self._resolve(remote)
        response = await self._first_response(msg, peer)
        for number, _ in response.options:
            if number == _BLOCK2:
                return await self._collect_block2(msg, peer, response)
        return response

    def _first_response(self, msg: Message, peer: Address) -> Awaitable[Message]:
        """Send ``msg`` (in Block1 blocks if large); the first response, Block2 not followed.

        A plain function returning the awaitable, so the common case costs no extra frame.
        """
        if self._szx < 6 and msg.code in _OBSERVABLE and not msg.has_option(_BLOCK2):
            # RFC 7959 2.4: ask for our smaller block size from the start.
            early = BlockOption(0, False, self._szx).encode()
            msg = Message(
                msg.type, msg.code, 0, msg.token, [*msg.options, (_BLOCK2, early)], msg.payload
            )
        if len(msg.payload) > self._block_size:
            return self._send_block1(msg, peer)
        return self._exchange(msg, peer)

    async def _exchange(self, msg: Message, remote: Address, keep: Any = None) -> Message:
        """One request/response exchange through the message layer."""
        if self._closed:
            raise EndpointClosed("endpoint closed")
        layer = self._layer
        future: asyncio.Future[Message] = self._loop.create_future()
        exchange = layer.send_request(
            msg, remote, self._clock(), context=future, token=msg.token or layer.new_token()
        )
        self._flush()
        try:
            return await future
        except asyncio.CancelledError:
            layer.cancel(exchange, self._clock())
            raise

    async def _send_block1(self, msg: Message, remote: Address) -> Message:
        """Send a large body in Block1 blocks (RFC 7959 2.3)."""
        sender = Block1Sender(msg, self._szx)
        while True:
            block_req = sender.next_request()
            block_req.token = b""
            response = await self._exchange(block_req, remote)
            if sender.last_block_sent or response.code != Code.CONTINUE:
                return response
            try:
                sender.on_continue(response)
            except BlockwiseError as exc:
                raise BadResponse(str(exc)) from None

    async def _collect_block2(self, request: Message, remote: Address, first: Message) -> Message:
        """Fetch the remaining Block2 blocks and return the reassembled response (2.4)."""
        restarts = 0
        while True:
            try:
                block = first.block2
                if block is None or not block.more:
                    return first
                collector = Block2Collector(first, self._szx, self._max_body)
                while collector.more:
                    follow = collector.follow_up(request)
                    follow.token = b""
                    collector.add(await self._exchange(follow, remote))
                return collector.result()
            except (BlockwiseError, DecodeError) as exc:
                if restarts >= 2 or not isinstance(exc, BlockwiseError) or "ETag" not in str(exc):
                    raise BadResponse(str(exc)) from None
                restarts += 1
                restart = Message(
                    request.type,
                    request.code,
                    0,
                    b"",
                    [o for o in request.options if o[0] != _OBSERVE],
                    request.payload,
                )
                first = await self._exchange(restart, remote)

    # -------------------------------------------------------- observe: client

    async def observe(
        self,
        path: str | Sequence[str] | Message = "",
        *,
        remote: Address,
        query: str | Sequence[str] | None = None,
        accept: int | None = None,
        options: Iterable[tuple[int, bytes]] = (),
        confirmable: bool = True,
        timeout: float | None = None,
    ) -> Observation:
        """Register an observation (GET with Observe=0) and await the first response.

        Raises like :meth:`request` if there is no first response.
        """
        if self._closed:
            raise EndpointClosed("endpoint closed")
        if isinstance(path, Message):
            req = path
            if not req.has_option(_OBSERVE):
                req.observe = 0
        else:
            req = Message.request(
                Code.GET,
                path,
                query=query,
                accept=accept,
                observe=0,
                confirmable=confirmable,
                options=options,
            )
        peer = await self._resolve(remote)
        req = Message(
            req.type, req.code, 0, req.token or self._layer.new_token(), req.options, req.payload
        )
        obs = Observation(
            req, peer, self._clock, self._cancel_observation, self._forget_observation
        )
        obs.exchange = self._layer.send_request(req, peer, self._clock(), keep=True, context=obs)
        self._flush()
        try:
            await self._bounded(obs.wait_first(), timeout)
        except BaseException:
            obs.forget()
            raise
        return obs

    def adopt_observation(self, request: Message, *, remote: Address) -> Observation:
        """Take over an observation that ``request`` registered earlier (by a previous
        process, say): nothing is sent, and the notifications carrying its token from
        ``remote`` (the peer address as the transport reports it) are delivered to the
        returned :class:`Observation` as for :meth:`observe`, without a first response.
        ``cancel()`` sends GET with Observe=1 and ``request``'s token.
        """
        if self._closed:
            raise EndpointClosed("endpoint closed")
        if not request.token:
            raise ValueError("an observation to adopt needs its token")
        obs = Observation(
            request, remote, self._clock, self._cancel_observation, self._forget_observation
        )
        obs.exchange = self._layer.adopt(request, remote, context=obs)
        return obs

    def move_observation(self, obs: Observation, remote: Address) -> bool:
        """Follow ``obs`` to its peer's new address ``remote`` (same token, same state).

        False when the observation is no longer followed.
        """
        if not self._layer.move(obs.token, remote):
            return False
        obs.remote = remote
        return True

    def _on_notification(self, obs: Observation, response: Message) -> None:
        if not obs.accept(response):
            return
        if response.has_option(_BLOCK2):
            completing = self._completing
            if completing is None:
                completing = self._completing = {}
            if obs in completing:
                # One fetch per observation at a time; the newest notification waits.
                completing[obs] = response
                return
            completing[obs] = None
            self._start_completion(obs, response)
        else:
            obs.deliver(response)

    def _start_completion(self, obs: Observation, first: Message) -> None:
        self._tasks.keep(self._loop.create_task(self._complete_notification(obs, first)))

    async def _complete_notification(self, obs: Observation, first: Message) -> None:
        """RFC 7959 3.4 / RFC 7641: fetch the rest of a large notification, then deliver it.

        A peer sending large notifications faster than they can be fetched does not
        make tasks pile up: the newest one that came meanwhile is fetched next.
        """
        try:
            try:
                full = await self._collect_block2(obs.request, obs.remote, first)
            except RequestError as exc:
                logger.debug("could not complete a block-wise notification: %s", exc)
                return
            observe = first.get_option(_OBSERVE)
            if observe is not None and not full.has_option(_OBSERVE):
                full.options.append((_OBSERVE, observe))
            obs.deliver(full)
        finally:
            completing = self._completing
            if completing is not None:
                newest = completing.pop(obs, None)
                if newest is not None and not self._closed and obs.active:
                    completing[obs] = None
                    self._start_completion(obs, newest)

    def _forget_observation(self, obs: Observation) -> None:
        if obs.exchange is not None:
            self._layer.forget(obs.exchange, self._clock())

    async def _cancel_observation(self, obs: Observation) -> Message | None:
        req = obs.request
        options = [o for o in req.options if o[0] != _OBSERVE]
        options.append((_OBSERVE, b"\x01"))
        cancel = Message(req.type, req.code, 0, req.token, options, req.payload)
        return await self._request(cancel, obs.remote)

"""The asyncio LwM2M server: registration interface, device management, Send, queue mode.

Theory of operation
-------------------
A :class:`Server` is one CoAP :class:`~lwm2m.coap.endpoint.Endpoint` (UDP, or any
datagram transport such as DTLS) plus the sans-IO parts it drives:

* the :class:`~lwm2m.server.registration.RegistrationTable` answers
  ``POST /rd`` (Register, 2.01 + Location ``/rd/<id>``), ``POST /rd/<id>`` (Update,
  2.04) and ``DELETE /rd/<id>`` (De-register, 2.02); its errors become the 4.xx
  answer. A timer armed for the earliest expiry removes registrations whose
  lifetime (plus ``expiry_grace``) ran out;
* :mod:`lwm2m.server.dm` builds the device-management requests and decodes the
  answers; they go to the registration's address, the source address:port of the
  client's last Register/Update (Core TS 1.1 section 6.2: "the server MUST use
  that address");
* :class:`~lwm2m.server.queue.RequestQueue` holds requests for queue-mode clients
  that are asleep: a request is sent at once while the client is known to be
  awake (``queue_awake_time`` after its last message), else it waits, in order,
  until the client's next Register/Update/Send, or fails with
  :class:`~lwm2m.server.dm.RequestExpired` after ``queue_expiry`` seconds.

``POST /dp`` (Send, 1.1) from a registered client is answered 2.04 and published
as :class:`~lwm2m.server.events.SendReceived`. Every event (the table's
``Registered``/``Updated``/``Deregistered``/``Expired``, :class:`Notification`,
:class:`SendReceived`) goes to the ``on_event`` callbacks and ``events()`` streams.

Observations are written to the store (token, registration, paths, format). When
the server starts with a persistent store that holds observations (a restart),
the endpoint adopts each one by token and registration address, so the client's
next notification is accepted and published at once, without a request to the
client. Such a restored handle (:attr:`ObservationHandle.restored`) has no
initial value. An adopted observation that brought no notification by the
client's next Update, or whose client moved to another address, is observed
again with its stored token at that Update: the client may have dropped it
while the server was away (a confirmable notification that was never
acknowledged ends it, RFC 7641 4.5).

Errors of the device-management calls:

* :class:`~lwm2m.server.dm.ClientNotRegistered` -- no such registration (or it
  ended while the request waited);
* :class:`~lwm2m.server.dm.DmError` -- the client answered 4.xx/5.xx (``code``,
  ``code_name``, ``message``);
* :class:`~lwm2m.coap.errors.RequestTimeout` -- no answer in time (the CoAP
  retransmissions ran out, or ``timeout`` passed); its subclass
  :class:`~lwm2m.server.dm.RequestExpired` for a queued request never sent;
  other :class:`~lwm2m.coap.errors.RequestError` subclasses for RST, ICMP errors
  and answers that do not decode (``BadResponse``);
* :class:`~lwm2m.errors.ModelError` -- a bad path or value, before anything is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from lwm2m import formats
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.errors import BadResponse, EndpointClosed, RequestError
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.limits import Limits
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.coap.observe import Observation as CoapObservation
from lwm2m.errors import DecodeError, ModelError, OperationError, UnsupportedFormat
from lwm2m.events import Callback, EventHub, HubClosed, Subscription
from lwm2m.formats.link import DiscoverEntry
from lwm2m.model import InstanceNode, Node, Path, Records, Registry, default_registry
from lwm2m.server import dm
from lwm2m.server.dm import UNSET, ClientNotRegistered
from lwm2m.server.events import Awake, Notification, SendReceived, ServerEvent, Sleeping
from lwm2m.server.queue import DEFAULT_AWAKE_TIME, RequestQueue
from lwm2m.server.registration import (
    Registered,
    Registration,
    RegistrationEvent,
    RegistrationTable,
    Updated,
)
from lwm2m.server.store import MemoryStore, Observation, ServerStore, StoreError
from lwm2m.tasks import TaskSet
from lwm2m.transport.base import Address, DatagramTransport
from lwm2m.transport.tracing import TracingTransport
from lwm2m.transport.udp import UdpTransport

if TYPE_CHECKING:
    from lwm2m.server.cluster.node import ClusterNode

__all__ = ["EventStream", "ObservationHandle", "Server"]

log = logging.getLogger(__name__)

R = TypeVar("R")
Target = str | Registration
EventCallback = Callback[ServerEvent]
EventStream = Subscription[ServerEvent]
"""``async for event in server.events()``: every event from its creation on."""
_SEND_FORMATS = (ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR, ContentFormat.LWM2M_CBOR)


def _error(code: int, text: str) -> Message:
    return Message(code=code, payload=text.encode("utf-8", "replace")[:200])


class ObservationHandle:
    """One observation the server started: ``async for notification in handle``.

    ``initial`` is the content of the first answer (the current value); it is empty
    (``{}``) for an observation :attr:`restored` from the store when the server
    started. Iteration
    yields each later :class:`~lwm2m.server.events.Notification` and ends when the
    observation ends: :meth:`cancel`, :meth:`forget`, an error code from the client,
    or the end of the registration. Unread notifications are kept up to
    :attr:`BACKLOG`, the oldest dropped first (every one is also an event).
    """

    BACKLOG = 256

    def __init__(
        self,
        server: Server,
        registration: Registration,
        coap: CoapObservation,
        paths: tuple[Path, ...],
        composite: bool,
        content_format: int | None,
        initial: Node | Records,
    ) -> None:
        self._server = server
        self.registration = registration
        self.paths = paths
        self.composite = composite
        self.content_format = content_format
        self.initial = initial
        self._coap = coap
        self._queue: asyncio.Queue[Notification | None] = asyncio.Queue(self.BACKLOG)
        self._ended = False
        #: Taken over from the store when the server started, not started by this process.
        self.restored = False
        self._heard = False  # a notification arrived
        self._first: Message | None = None  # the first answer as received (cluster)

    @property
    def token(self) -> bytes:
        return self._coap.token

    @property
    def endpoint(self) -> str:
        return self.registration.endpoint

    @property
    def active(self) -> bool:
        return not self._ended

    def __aiter__(self) -> ObservationHandle:
        return self

    async def __anext__(self) -> Notification:
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)  # every later call ends too
            raise StopAsyncIteration
        return item

    async def cancel(self) -> None:
        """Cancel actively: GET with Observe=1 (Core TS 1.1 6.4.3, RFC 7641 3.6)."""
        self._server._drop_observation(self)
        with contextlib.suppress(RequestError, TimeoutError):
            async with asyncio.timeout(self._server.default_timeout):
                await self._coap.cancel()

    def forget(self) -> None:
        """Cancel passively: the client's next notification is answered with RST."""
        self._server._drop_observation(self)
        self._coap.forget()

    def _push(self, notification: Notification) -> None:
        if self._ended:
            return
        if self._queue.full():  # nobody reads: keep the newest ones
            self._queue.get_nowait()
        self._queue.put_nowait(notification)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            if self._queue.full():
                self._queue.get_nowait()
            self._queue.put_nowait(None)


@dataclass(slots=True)
class _Queued:
    """A request waiting for a queue-mode client to wake up."""

    operation: Callable[[Registration], Awaitable[Any]]
    future: asyncio.Future[Any]


class Server:
    """An LwM2M server on one CoAP endpoint (see the module docstring).

    ``transport`` replaces the UDP socket that ``host``/``coap_port`` would open (a
    DTLS transport, for instance); ``identity_of(remote)`` names the DTLS identity of
    a peer, passed to the registration table with every request. ``authorize``
    (endpoint, identity) -> bool refuses a registration with 4.03.
    ``default_timeout`` bounds every device-management request (seconds). A given
    ``transport`` is closed by :meth:`stop`, so it serves one start/stop cycle.
    ``expiry_grace`` is added to every lifetime before a registration expires;
    ``queue_awake_time`` and ``queue_expiry`` tune queue mode (module docstring).
    ``limits`` bounds what clients can make the CoAP endpoint hold
    (:class:`~lwm2m.coap.limits.Limits`; its DTLS part goes to the DTLS transport,
    ``DtlsServerTransport.create(..., **limits.dtls_options())``).
    The server never closes the ``store`` it was given.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        coap_port: int = 5683,
        *,
        store: ServerStore | None = None,
        registry: Registry | None = None,
        default_timeout: float = 60.0,
        transmission: TransmissionParams | None = None,
        transport: DatagramTransport | None = None,
        identity_of: Callable[[Address], str | None] | None = None,
        authorize: Callable[[str, str | None], bool] | None = None,
        expiry_grace: float = 30.0,
        queue_awake_time: float = DEFAULT_AWAKE_TIME,
        queue_expiry: float = 3600.0,
        limits: Limits | None = None,
    ) -> None:
        self.host = host
        self.limits = limits
        self.coap_port = coap_port
        self.store: ServerStore = store if store is not None else MemoryStore()
        self.registry = registry if registry is not None else default_registry()
        self.default_timeout = default_timeout
        self.transmission = transmission
        self._transport = transport
        self._identity_of = identity_of
        self.table = RegistrationTable(store=self.store, grace=expiry_grace, authorize=authorize)
        self._queue: RequestQueue[_Queued] = RequestQueue(queue_awake_time, queue_expiry)
        self._endpoint: Endpoint | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: EventHub[ServerEvent] = EventHub(self._spawn, logger=log)
        self._observing: dict[bytes, ObservationHandle] = {}
        # the same handles by registration id, so ending a registration is not a scan
        self._observing_by_reg: dict[str, dict[bytes, ObservationHandle]] = {}
        self._restoring: set[bytes] = set()
        self._tasks = TaskSet(lambda exc: log.error("server task failed", exc_info=exc))
        self._draining: set[str] = set()
        self._expiry_timer: asyncio.TimerHandle | None = None
        self._expiry_deadline: float | None = None  # what _expiry_timer is armed for
        self._queue_timer: asyncio.TimerHandle | None = None
        # queue-mode clients that are awake: endpoint -> the timer that puts them to sleep
        self._sleep_timers: dict[str, asyncio.TimerHandle] = {}
        self._tracing: TracingTransport | None = None
        self._tracers: dict[str, list[Callable[[Message, bool], None]]] = {}
        self._stopping = False
        # cluster: set by lwm2m.server.cluster.node.ClusterNode for a shared store
        self._cluster: ClusterNode | None = None

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Open the endpoint and serve the registration and Send interfaces."""
        if self._endpoint is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        inner = self._transport
        if inner is None:
            inner = await UdpTransport.create(self.host, self.coap_port)
        self._tracing = TracingTransport(inner)
        endpoint = Endpoint(self._tracing, params=self.transmission, limits=self.limits)
        endpoint.add_resource("/rd", self._on_rd)
        endpoint.add_resource("/dp", self._on_send)
        self._endpoint = endpoint
        if self._cluster is None and getattr(self.store, "shared", False):
            from lwm2m.server.cluster.node import ClusterNode

            ClusterNode(self)  # a store shared by server nodes: join their cluster
        if self._cluster is not None:
            await self._cluster.start()
        self._on_expiry_timer()  # registrations restored from the store may be over
        self._adopt_observations()

    async def stop(self) -> None:
        """Close the endpoint. Registrations and observations stay in the store."""
        endpoint = self._endpoint
        if endpoint is None:
            return
        self._stopping = True
        if self._cluster is not None:
            await self._cluster.stop()
        for timer in (self._expiry_timer, self._queue_timer, *self._sleep_timers.values()):
            if timer is not None:
                timer.cancel()
        self._expiry_timer = self._queue_timer = None
        self._sleep_timers.clear()
        for handle in list(self._observing.values()):
            handle._coap.forget()
            handle._end()
        self._observing.clear()
        self._observing_by_reg.clear()
        closed = EndpointClosed("server stopped")
        for reg in self.table:
            for item in self._queue.forget(reg.endpoint):
                if not item.future.done():
                    item.future.set_exception(closed)
        await self._tasks.cancel()
        await endpoint.close()
        self._endpoint = None
        self._events.close()

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def coap_address(self) -> Address:
        """The bound (host, port) of the CoAP endpoint."""
        return self._require_endpoint().local_address

    @property
    def endpoint(self) -> Endpoint:
        """The CoAP endpoint (for inspection and tests)."""
        return self._require_endpoint()

    @property
    def cluster(self) -> ClusterNode | None:
        """This server's node of a cluster (a shared store, lwm2m.server.cluster), if any."""
        return self._cluster

    def _require_endpoint(self) -> Endpoint:
        if self._endpoint is None:
            raise RuntimeError("the server is not started")
        return self._endpoint

    def listeners(self) -> list[tuple[str, Address]]:
        """Every CoAP listener as (URI scheme, bound address); empty before :meth:`start`."""
        if self._endpoint is None:
            return []
        listeners = getattr(self._transport, "listeners", None)
        if callable(listeners):
            return list(listeners())
        # a transport that holds DTLS sessions (it can close them) is coaps
        secure = callable(getattr(self._transport, "close_sessions_of", None))
        return [("coaps" if secure else "coap", self._endpoint.local_address)]

    def close_secure_sessions(self, identity: bytes | str) -> int:
        """Close the DTLS sessions of the peers that proved ``identity``; how many.

        ``identity`` is a PSK identity (bytes) or a certificate subject or its CN
        (text). A removed credential must not keep its sessions open; the peer's
        next message needs a new handshake. 0 on a transport without sessions.
        """
        close = getattr(self._transport, "close_sessions_of", None)
        return int(close(identity)) if callable(close) else 0

    def _now_mono(self) -> float:
        return (self._loop or asyncio.get_running_loop()).time()

    # ---------------------------------------------------------------- events
    def on_event(self, callback: EventCallback) -> EventCallback:
        """Call ``callback(event)`` (sync or async) for every event; usable as a decorator."""
        return self._events.add_callback(callback)

    def remove_event_callback(self, callback: EventCallback) -> None:
        self._events.remove_callback(callback)

    def events(self) -> EventStream:
        """An async iterator over events from now on (``close()`` it when done)."""
        return self._events.subscribe()

    async def wait_for(
        self,
        kind: type[Any] | tuple[type[Any], ...],
        *,
        endpoint: str | None = None,
        timeout: float = 10.0,
    ) -> ServerEvent:
        """The next event of ``kind`` (about ``endpoint`` if given); a test and script helper."""

        def wanted(event: ServerEvent) -> bool:
            return isinstance(event, kind) and (
                endpoint is None or event.registration.endpoint == endpoint
            )

        try:
            return await self._events.wait_for(wanted, timeout)
        except HubClosed:
            raise EndpointClosed("server stopped") from None

    def _spawn(self, coro: Awaitable[Any]) -> None:
        self._tasks.spawn(coro)

    # ---------------------------------------------------------- registrations
    def registrations(self) -> list[Registration]:
        return self.table.all()

    def get_registration(self, endpoint: str) -> Registration | None:
        return self.table.get_by_endpoint(endpoint)

    def _registration(self, target: Target) -> Registration:
        name = target.endpoint if isinstance(target, Registration) else target
        reg = self.table.get_by_endpoint(name)
        if reg is None:
            raise ClientNotRegistered(f"no registration for endpoint {name!r}")
        return reg

    def _identity(self, remote: Address) -> str | None:
        return None if self._identity_of is None else self._identity_of(remote)

    def _on_rd(self, request: Message, remote: Address) -> Message:
        """Register, Update and De-register (Core TS 1.1 section 6.2)."""
        try:
            segments = request.uri_path
            query = request.uri_query
            content_format = request.content_format
        except DecodeError as exc:
            return _error(Code.BAD_REQUEST, str(exc))
        code = request.code
        now = time.time()
        try:
            if len(segments) == 1:
                if code != Code.POST:
                    return _error(Code.METHOD_NOT_ALLOWED, "Register is POST /rd")
                registered = self.table.register(
                    query, request.payload, content_format, remote, now, self._identity(remote)
                )
                response = Message(code=Code.CREATED)
                response.location_path = registered.registration.location
                self._on_registration_event(registered)
                return response
            if len(segments) != 2:
                return _error(Code.NOT_FOUND, "no such registration resource")
            if code == Code.POST:
                updated = self.table.update(
                    segments[1],
                    query,
                    request.payload,
                    content_format,
                    remote,
                    now,
                    self._identity(remote),
                )
                self._on_registration_event(updated)
                return Message(code=Code.CHANGED)
            if code == Code.DELETE:
                gone = self.table.deregister(segments[1], self._identity(remote))
                self._on_registration_event(gone)
                return Message(code=Code.DELETED)
            return _error(Code.METHOD_NOT_ALLOWED, "Update is POST, De-register is DELETE")
        except OperationError as exc:
            log.info("registration request from %s refused: %s", remote, exc)
            return _error(exc.code, str(exc))

    def _on_registration_event(self, event: RegistrationEvent) -> None:
        reg = event.registration
        if isinstance(event, Registered):
            if event.replaced is not None:
                self._end_observations(event.replaced.id)
            self._client_seen(reg, announce=False)
        elif isinstance(event, Updated):
            self._client_seen(reg)
            self._restore_observations(reg)
        else:
            self._end_observations(reg.id)
            timer = self._sleep_timers.pop(reg.endpoint, None)
            if timer is not None:
                timer.cancel()
            gone = ClientNotRegistered(f"endpoint {reg.endpoint!r} is no longer registered")
            for item in self._queue.forget(reg.endpoint):
                if not item.future.done():
                    item.future.set_exception(gone)
        self._arm_expiry()
        if self._tracers:
            self._retrace()  # the client may have moved
        self._events.publish(event)

    def _arm_expiry(self) -> None:
        if self._stopping or self._loop is None:
            return
        deadline = self.table.next_expiry()
        if self._expiry_timer is not None:
            if deadline == self._expiry_deadline:
                return  # armed for it already (the usual case: a later expiry was added)
            self._expiry_timer.cancel()
            self._expiry_timer = None
        self._expiry_deadline = deadline
        if deadline is not None:
            delay = max(0.0, deadline - time.time())
            self._expiry_timer = self._loop.call_later(delay, self._on_expiry_timer)

    def _on_expiry_timer(self) -> None:
        self._expiry_timer = None
        if self._cluster is not None:
            self._cluster.expire(time.time())  # claimed in the shared store, once
        else:
            for event in self.table.expire(time.time()):
                self._on_registration_event(event)
        self._arm_expiry()

    # ------------------------------------------------------------------ Send
    def _registration_at(self, remote: Address) -> Registration | None:
        candidates = self.table.at_address(remote)
        if not candidates:
            return None
        identity = self._identity(remote)
        for reg in candidates:
            if reg.identity is None or reg.identity == identity:
                return reg
        return None

    def _on_send(self, request: Message, remote: Address) -> Message:
        """Send (Core TS 1.1 section 6.4.6): POST /dp with SenML or LwM2M CBOR records."""
        try:
            if len(request.uri_path) != 1:
                return _error(Code.NOT_FOUND, "Send is POST /dp")
            content_format = request.content_format
        except DecodeError as exc:
            return _error(Code.BAD_REQUEST, str(exc))
        if request.code != Code.POST:
            return _error(Code.METHOD_NOT_ALLOWED, "Send is POST /dp")
        reg = self._registration_at(remote)
        if reg is None:
            return _error(Code.NOT_FOUND, "Send from a client that is not registered")
        if content_format not in _SEND_FORMATS:
            return _error(Code.UNSUPPORTED_CONTENT_FORMAT, "Send takes SenML or LwM2M CBOR")
        try:
            records = formats.decode(content_format, request.payload, Path(), self.registry)
        except (DecodeError, ModelError, UnsupportedFormat) as exc:
            return _error(Code.BAD_REQUEST, str(exc))
        if not isinstance(records, dict) or not records:
            return _error(Code.BAD_REQUEST, "Send carries no records")
        dm.note_unmodelled(reg.endpoint, Path(), records, self.registry)
        self._client_seen(reg)
        self._events.publish(SendReceived(reg, records, content_format))
        if self._cluster is not None:
            self._cluster.sent(reg, request)
        return Message(code=Code.CHANGED)

    # ------------------------------------------------------------ queue mode
    def _client_seen(self, reg: Registration, *, announce: bool = True) -> None:
        """The client sent a message: it is awake, so send what waits for it."""
        self._presence(reg, announce=announce)
        self._start_drain(reg.endpoint)

    def _presence(self, reg: Registration, *, announce: bool = True) -> None:
        """The client was heard from: awake for ``queue_awake_time`` from now.

        A queue-mode client that was asleep is announced with :class:`Awake` (not on
        its Register: the registration event says it); when the time runs out without
        news it is announced with :class:`Sleeping`.
        """
        name = reg.endpoint
        now = self._now_mono()
        was_awake = self._queue.awake(name, now)
        self._queue.seen(name, now)
        if not reg.queue_mode or self._loop is None or self._stopping:
            return
        timer = self._sleep_timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        self._sleep_timers[name] = self._loop.call_later(
            self._queue.awake_time, self._fall_asleep, name
        )
        if announce and not was_awake:
            self._events.publish(Awake(reg))

    def _fall_asleep(self, endpoint: str) -> None:
        self._sleep_timers.pop(endpoint, None)
        reg = self.table.get_by_endpoint(endpoint)
        if reg is not None and reg.queue_mode and not self._queue.awake(endpoint, self._now_mono()):
            self._events.publish(Sleeping(reg))

    def is_sleeping(self, target: Target) -> bool:
        """True for a queue-mode client that is not known to be awake (Core TS 1.1 6.5)."""
        reg = self._registration(target)
        if self._cluster is not None and not self._cluster.owns(reg):
            return self._cluster.sleeping(reg)
        return reg.queue_mode and not self._queue.awake(reg.endpoint, self._now_mono())

    # ------------------------------------------------------------ CoAP trace
    def trace(self, endpoint: str, callback: Callable[[Message, bool], None]) -> Callable[[], None]:
        """Show every CoAP message to and from ``endpoint`` to ``callback(message, incoming)``.

        The messages are those exchanged with the registration's current address
        (followed across Updates). Returns the function that stops the trace.
        """
        self._tracers.setdefault(endpoint, []).append(callback)
        self._retrace()

        def stop() -> None:
            callbacks = self._tracers.get(endpoint)
            if callbacks is not None and callback in callbacks:
                callbacks.remove(callback)
                if not callbacks:
                    del self._tracers[endpoint]
            self._retrace()

        return stop

    def _retrace(self) -> None:
        """Point the transport's watch list at the traced endpoints' addresses."""
        tracing = self._tracing
        if tracing is None:
            return
        tracing.unwatch_all()
        for name in self._tracers:
            reg = self.table.get_by_endpoint(name)
            if reg is not None:
                tracing.watch(reg.address, self._traced)

    def _traced(self, data: bytes, remote: Address, incoming: bool) -> None:
        try:
            message = Message.decode(data)
        except DecodeError:
            return
        for reg in self.table.at_address(remote):
            for callback in list(self._tracers.get(reg.endpoint, ())):
                callback(message, incoming)

    def _start_drain(self, endpoint: str) -> None:
        if self._queue.pending(endpoint) and endpoint not in self._draining:
            self._draining.add(endpoint)
            self._spawn(self._drain(endpoint))

    def pending_requests(self, endpoint: str) -> int:
        """How many requests wait for the queue-mode client ``endpoint`` to wake up."""
        return self._queue.pending(endpoint)

    async def _drain(self, endpoint: str) -> None:
        """Send the waiting requests of a client that woke up, in order."""
        try:
            while True:
                item = self._queue.pop(endpoint)
                if item is None:
                    return
                if item.future.done():  # the caller gave up
                    continue
                reg = self.table.get_by_endpoint(endpoint)
                if reg is None:
                    item.future.set_exception(ClientNotRegistered(endpoint))
                    continue
                try:
                    result = await item.operation(reg)
                except Exception as exc:
                    if not item.future.done():
                        item.future.set_exception(exc)
                else:
                    if not item.future.done():
                        item.future.set_result(result)
        finally:
            self._draining.discard(endpoint)

    def _arm_queue_timer(self) -> None:
        if self._loop is None or self._stopping:
            return
        if self._queue_timer is not None:
            self._queue_timer.cancel()
            self._queue_timer = None
        deadline = self._queue.next_deadline()
        if deadline is not None:
            self._queue_timer = self._loop.call_at(deadline, self._on_queue_timer)

    def _on_queue_timer(self) -> None:
        self._queue_timer = None
        for item in self._queue.expired(self._now_mono()):
            if not item.future.done():
                item.future.set_exception(
                    dm.RequestExpired("the client did not wake up before the request expired")
                )
        self._arm_queue_timer()

    async def _run(self, target: Target, operation: Callable[[Registration], Awaitable[R]]) -> R:
        """Run ``operation`` now, or queue it while a queue-mode client sleeps."""
        self._require_endpoint()
        reg = self._registration(target)
        if self._cluster is not None and not self._cluster.owns(reg):
            return await operation(reg)  # its node queues it if the device sleeps
        name = reg.endpoint
        now = self._now_mono()
        if not reg.queue_mode or (
            self._queue.awake(name, now)
            and not self._queue.pending(name)
            and name not in self._draining
        ):
            return await operation(reg)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.push(name, _Queued(operation, future), now)
        self._arm_queue_timer()
        if self._queue.awake(name, now):
            self._start_drain(name)  # awake, but behind earlier requests
        return await future

    async def _request(self, reg: Registration, message: Message, timeout: float | None) -> Message:
        endpoint = self._require_endpoint()
        limit = self.default_timeout if timeout is None else timeout
        if self._cluster is not None and not self._cluster.owns(reg):
            return await self._cluster.request(reg, message, limit)  # on the device's node
        response = await endpoint.request(message, remote=reg.address, timeout=limit)
        self._presence(reg)
        return response

    # ------------------------------------------------------ device management
    async def read(
        self,
        target: Target,
        path: str | Path,
        *,
        format: int | None = None,
        timeout: float | None = None,
    ) -> Node:
        """Read (Core TS 1.1 6.3.1): the node at an object, instance or resource path."""
        p = self._non_root(path, "Read")

        async def operation(reg: Registration) -> Node:
            cf = format if format is not None else dm.default_format(reg, p, self.registry)
            response = await self._request(reg, dm.build_read(p, cf), timeout)
            content = dm.decode_content(
                dm.check(response, Code.CONTENT), p, self.registry, endpoint=reg.endpoint
            )
            if isinstance(content, dict):
                raise BadResponse(f"the answer for {p} holds composite records")
            return content

        return await self._run(target, operation)

    async def write(
        self,
        target: Target,
        path: str | Path,
        value: object,
        *,
        replace: bool = True,
        format: int | None = None,
        timeout: float | None = None,
    ) -> None:
        """Write (6.3.3): PUT replaces, ``replace=False`` POSTs a partial update.

        ``value`` is a node or a plain value (see :func:`lwm2m.server.dm.to_node`).
        """
        p = self._non_root(path, "Write")
        node = dm.to_node(p, value, self.registry)

        async def operation(reg: Registration) -> None:
            cf = format if format is not None else dm.default_format(reg, p, self.registry, node)
            msg = dm.build_write(p, node, cf, self.registry, replace=replace)
            dm.check(await self._request(reg, msg, timeout), Code.CHANGED)

        await self._run(target, operation)

    async def execute(
        self, target: Target, path: str | Path, args: str = "", *, timeout: float | None = None
    ) -> None:
        """Execute (6.3.5) a resource, with optional arguments (``0='v',1``)."""
        p = dm.parse_path(path)
        if len(p) != 3:
            raise ModelError(f"Execute needs a resource path, not {p}")
        message = Message.request(Code.POST, p.segments(), payload=args.encode("utf-8"))

        async def operation(reg: Registration) -> None:
            dm.check(await self._request(reg, message, timeout), Code.CHANGED)

        await self._run(target, operation)

    async def create(
        self,
        target: Target,
        object_path: str | Path,
        instance: InstanceNode | Mapping[int, object] | None = None,
        *,
        instance_id: int | None = None,
        format: int | None = None,
        timeout: float | None = None,
    ) -> Path:
        """Create (6.3.6) an object instance; returns its path.

        ``instance`` is an :class:`InstanceNode` (its ``id`` is the new instance
        id), a ``{resource id: value}`` dict with ``instance_id``, or None for an
        empty Create where the client picks the id. A dict without
        ``instance_id`` lets the client pick the id too: the resources go as
        bare OMA TLV resources (Core TS 1.0.2 5.4.6), so ``format`` must be TLV.
        """
        p = dm.parse_path(object_path)
        if len(p) != 1:
            raise ModelError(f"Create needs an object path, not {p}")
        node: InstanceNode | None
        bare: InstanceNode | None = None
        if instance is None or isinstance(instance, InstanceNode):
            node = instance
        elif instance_id is None:
            if format not in (None, ContentFormat.LWM2M_TLV):
                raise ModelError("Create without an instance id carries bare TLV resources")
            built = dm.to_node(p.child(0), instance, self.registry)
            assert isinstance(built, InstanceNode)
            node, bare = None, built
        else:
            built = dm.to_node(p.child(instance_id), instance, self.registry)
            assert isinstance(built, InstanceNode)
            node = built

        async def operation(reg: Registration) -> Path:
            if bare is not None:
                message = dm.build_create_bare(p[0], bare, self.registry)
            elif node is None:
                message = Message.request(Code.POST, p.segments())
            else:
                cf = (
                    format if format is not None else dm.default_format(reg, p, self.registry, node)
                )
                message = dm.build_create(p[0], node, cf, self.registry)
            response = dm.check(await self._request(reg, message, timeout), Code.CREATED)
            return dm.created_path(response, p[0], node)

        return await self._run(target, operation)

    async def delete(
        self, target: Target, path: str | Path, *, timeout: float | None = None
    ) -> None:
        """Delete (6.3.7) an object instance."""
        p = self._non_root(path, "Delete")
        message = Message.request(Code.DELETE, p.segments())

        async def operation(reg: Registration) -> None:
            dm.check(await self._request(reg, message, timeout), Code.DELETED)

        await self._run(target, operation)

    async def discover(
        self, target: Target, path: str | Path, *, timeout: float | None = None
    ) -> list[DiscoverEntry]:
        """Discover (6.3.2): the paths below ``path`` with their attributes."""
        p = self._non_root(path, "Discover")
        message = Message.request(Code.GET, p.segments(), accept=ContentFormat.LINK_FORMAT)

        async def operation(reg: Registration) -> list[DiscoverEntry]:
            response = dm.check(await self._request(reg, message, timeout), Code.CONTENT)
            return dm.decode_discover(response)

        return await self._run(target, operation)

    async def write_attributes(
        self,
        target: Target,
        path: str | Path,
        *,
        pmin: dm.AttributeArg = UNSET,
        pmax: dm.AttributeArg = UNSET,
        gt: dm.AttributeArg = UNSET,
        lt: dm.AttributeArg = UNSET,
        st: dm.AttributeArg = UNSET,
        epmin: dm.AttributeArg = UNSET,
        epmax: dm.AttributeArg = UNSET,
        timeout: float | None = None,
    ) -> None:
        """Write-Attributes (6.3.4); an attribute given as None is removed."""
        p = self._non_root(path, "Write-Attributes")
        query = dm.attribute_query(
            {"pmin": pmin, "pmax": pmax, "gt": gt, "lt": lt, "st": st}
            | {"epmin": epmin, "epmax": epmax}
        )
        message = Message.request(Code.PUT, p.segments(), query=query)

        async def operation(reg: Registration) -> None:
            dm.check(await self._request(reg, message, timeout), Code.CHANGED)

        await self._run(target, operation)

    async def read_composite(
        self,
        target: Target,
        paths: Iterable[str | Path],
        *,
        format: int | None = None,
        timeout: float | None = None,
    ) -> Records:
        """Read-Composite (6.3.8): the values below several paths, as flat records."""
        plist = [dm.parse_path(x) for x in paths]
        self._require_composite(target, "Read-Composite")

        async def operation(reg: Registration) -> Records:
            cf = self._composite_format(reg, format)
            message = dm.build_composite_paths(plist, cf)
            response = dm.check(await self._request(reg, message, timeout), Code.CONTENT)
            return dm.decode_composite(response, self.registry, endpoint=reg.endpoint)

        return await self._run(target, operation)

    async def write_composite(
        self,
        target: Target,
        values: dm.PathValues,
        *,
        format: int | None = None,
        timeout: float | None = None,
    ) -> None:
        """Write-Composite (6.3.9): ``{"/3/0/14": "+02:00", "/1/0/2": 5}``."""
        records = dm.to_records(values, self.registry)
        self._require_composite(target, "Write-Composite")

        async def operation(reg: Registration) -> None:
            cf = self._composite_format(reg, format)
            message = dm.build_write_composite(records, cf, self.registry)
            dm.check(await self._request(reg, message, timeout), Code.CHANGED)

        await self._run(target, operation)

    def _require_composite(self, target: Target, what: str) -> None:
        """Composite operations exist from LwM2M 1.1 on (Core TS 1.1 section 6.3.8).

        A 1.0 client would answer the FETCH/iPATCH with an error or a reset, so the
        request is refused before anything is sent.
        """
        reg = self._registration(target)
        if reg.version == "1.0":
            raise dm.VersionMismatch(
                f"{what} needs LwM2M 1.1 or later; {reg.endpoint!r} registered with "
                f"LwM2M {reg.version}"
            )

    def _composite_format(self, reg: Registration, format: int | None) -> int:
        """Composite operations exist from 1.1 on; SenML CBOR is the fallback."""
        if format is not None:
            return format
        if reg.version == "1.0":
            return ContentFormat.SENML_CBOR
        return dm.default_format(reg, Path(), self.registry)

    @staticmethod
    def _non_root(path: str | Path, what: str) -> Path:
        p = dm.parse_path(path)
        if not p:
            raise ModelError(f"{what} needs an object, instance or resource path")
        return p

    # --------------------------------------------------------------- observe
    async def observe(
        self,
        target: Target,
        path: str | Path,
        *,
        format: int | None = None,
        timeout: float | None = None,
    ) -> ObservationHandle:
        """Observe (6.4.1): the current value in ``handle.initial``, then notifications."""
        p = self._non_root(path, "Observe")

        async def operation(reg: Registration) -> ObservationHandle:
            cf = format if format is not None else dm.default_format(reg, p, self.registry)
            message = dm.build_read(p, cf, observe=True)
            return await self._start_observation(reg, message, (p,), False, timeout)

        return await self._run(target, operation)

    async def observe_composite(
        self,
        target: Target,
        paths: Iterable[str | Path],
        *,
        format: int | None = None,
        timeout: float | None = None,
    ) -> ObservationHandle:
        """Observe-Composite (6.4.4 / 6.4.1): notifications carry flat records."""
        plist = tuple(dm.parse_path(x) for x in paths)
        self._require_composite(target, "Observe-Composite")

        async def operation(reg: Registration) -> ObservationHandle:
            cf = self._composite_format(reg, format)
            message = dm.build_composite_paths(plist, cf, observe=True)
            return await self._start_observation(reg, message, plist, True, timeout)

        return await self._run(target, operation)

    async def _start_observation(
        self,
        reg: Registration,
        message: Message,
        paths: tuple[Path, ...],
        composite: bool,
        timeout: float | None,
        *,
        stored: Observation | None = None,
    ) -> ObservationHandle:
        endpoint = self._require_endpoint()
        limit = self.default_timeout if timeout is None else timeout
        remote = self._cluster is not None and not self._cluster.owns(reg)
        if self._cluster is not None and remote:  # observed by the device's node
            coap = await self._cluster.observe(reg, message, paths, composite, limit)
        else:
            coap = await endpoint.observe(message, remote=reg.address, timeout=limit)
        self._presence(reg)
        try:
            first = await anext(coap)
            dm.check(first, Code.CONTENT)
            initial = self._decode_notification(first, paths, composite, reg.endpoint)
        except BaseException:
            coap.forget()
            raise
        try:
            cf = first.content_format
        except DecodeError:
            cf = None
        handle = ObservationHandle(self, reg, coap, paths, composite, cf, initial)
        handle._first = first
        if first.observe is None or not coap.active:
            handle._end()  # the client answered without accepting the observation
            return handle
        self._follow(handle)
        record = stored or Observation(
            token=coap.token,
            registration_id=reg.id,
            endpoint=reg.endpoint,
            paths=paths,
            content_format=cf,
            composite=composite,
            created_at=time.time(),
        )
        try:
            if not remote:  # the device's node stores it
                self.store.put_observation(record)
        except StoreError as exc:
            log.warning("observation of %s not stored: %s", reg.endpoint, exc)
        self._spawn(self._pump(handle))
        return handle

    def _decode_notification(
        self, message: Message, paths: tuple[Path, ...], composite: bool, endpoint: str
    ) -> Node | Records:
        if composite:
            return dm.decode_composite(message, self.registry, endpoint=endpoint)
        return dm.decode_content(message, paths[0], self.registry, endpoint=endpoint)

    async def _pump(self, handle: ObservationHandle) -> None:
        """Decode, publish and hand over every notification of one observation."""
        try:
            async for message in handle._coap:
                if message.code >> 5 != 2:
                    log.info("observation of %s ended with %s", handle.endpoint, message.code)
                    break
                try:
                    content = self._decode_notification(
                        message, handle.paths, handle.composite, handle.endpoint
                    )
                    cf = message.content_format
                except (BadResponse, DecodeError) as exc:
                    log.info("undecodable notification from %s: %s", handle.endpoint, exc)
                    continue
                reg = self.table.get(handle.registration.id) or handle.registration
                self._presence(reg)
                notification = Notification(
                    reg,
                    handle.token,
                    handle.paths,
                    content,
                    cf,
                    message.observe,
                    handle.composite,
                )
                handle._heard = True
                self._events.publish(notification)
                handle._push(notification)
                if self._cluster is not None:
                    self._cluster.notified(handle, message)
        except RequestError as exc:
            log.info("observation of %s failed: %s", handle.endpoint, exc)
        finally:
            if not self._stopping:
                self._drop_observation(handle)
            handle._end()

    def _follow(self, handle: ObservationHandle) -> None:
        previous = self._observing.get(handle.token)
        if previous is not None:
            self._unfollow(previous)
        self._observing[handle.token] = handle
        self._observing_by_reg.setdefault(handle.registration.id, {})[handle.token] = handle

    def _unfollow(self, handle: ObservationHandle) -> None:
        del self._observing[handle.token]
        same_reg = self._observing_by_reg.get(handle.registration.id)
        if same_reg is not None:
            same_reg.pop(handle.token, None)
            if not same_reg:
                del self._observing_by_reg[handle.registration.id]

    def _drop_observation(self, handle: ObservationHandle) -> None:
        if self._observing.get(handle.token) is handle:
            self._unfollow(handle)
            # in a cluster only the device's node removes the stored record
            if self._cluster is None or self._cluster.holds(handle.registration):
                self.store.delete_observation(handle.token)
        handle._end()

    def _end_observations(self, registration_id: str) -> None:
        for handle in list(self._observing_by_reg.get(registration_id, {}).values()):
            self._drop_observation(handle)
            handle._coap.forget()

    def observations(self, target: Target | None = None) -> list[Observation]:
        """The stored observations (of one endpoint's current registration, if given)."""
        if target is None:
            return self.store.list_observations()
        return self.store.list_observations(self._registration(target).id)

    def observation(self, token: bytes) -> ObservationHandle | None:
        """The live handle of an observation by token (in a cluster, one that reaches
        it on the device's node)."""
        handle = self._observing.get(token)
        if handle is None and self._cluster is not None:
            return self._cluster.observation(token)
        return handle

    async def cancel_observations(self, target: Target, path: str | Path | None = None) -> int:
        """Cancel (actively) the observations of ``target``, or those of one path."""
        reg = self._registration(target)
        p = None if path is None else dm.parse_path(path)
        handles = [
            h
            for h in self._observing_by_reg.get(reg.id, {}).values()
            if p is None or (not h.composite and h.paths[0] == p)
        ]
        for handle in handles:
            await handle.cancel()
        return len(handles)

    def _adopt_observations(self) -> None:
        """Follow the stored observations of the stored registrations (after a restart).

        The client keeps notifying with the stored tokens; the endpoint accepts those
        notifications from the registration's address without asking the client.
        """
        endpoint = self._require_endpoint()
        for stored in self.store.list_observations():
            reg = self.table.get(stored.registration_id)
            if reg is None or stored.token in self._observing:
                continue
            if self._cluster is not None and not self._cluster.owns(reg):
                continue  # another node's device
            try:
                request = self._stored_request(reg, stored)
                coap = endpoint.adopt_observation(request, remote=reg.address)
            except (ModelError, ValueError) as exc:
                log.info("stored observation of %s not adopted: %s", reg.endpoint, exc)
                continue
            handle = ObservationHandle(
                self, reg, coap, stored.paths, stored.composite, stored.content_format, {}
            )
            handle.restored = True
            self._follow(handle)
            self._spawn(self._pump(handle))

    def _restore_observations(self, reg: Registration) -> None:
        """Re-establish stored observations this process does not follow (after a restart).

        Adopted ones that brought nothing yet, or whose client moved, are established
        again too: the client may have dropped them, or now sends from elsewhere.
        """
        endpoint = self._endpoint
        for live in list(self._observing_by_reg.get(reg.id, {}).values()):
            # a client that moved (NAT rebinding) notifies from its new address
            if not live.restored and live._coap.remote != reg.address and endpoint:
                endpoint.move_observation(live._coap, reg.address)
        for stored in self.store.list_observations(reg.id):
            token = stored.token
            if token in self._restoring:
                continue
            handle = self._observing.get(token)
            if handle is not None:
                # cluster: a proxy of another node's observation, and the device is here now
                proxy = self._cluster is not None and self._cluster.is_proxy(handle)
                heard_here = handle._heard and handle._coap.remote == reg.address
                if not proxy and (not handle.restored or heard_here):
                    continue
                self._unfollow(handle)  # the store keeps the record for _reobserve
                handle._coap.forget()
                handle._end()
            self._restoring.add(token)
            self._spawn(self._reobserve(reg, stored))

    def _stored_request(self, reg: Registration, stored: Observation) -> Message:
        """The Observe request of a stored observation, with its token."""
        paths = stored.paths
        cf = stored.content_format
        if stored.composite:
            message = dm.build_composite_paths(
                paths, cf if cf is not None else ContentFormat.SENML_CBOR, observe=True
            )
        else:
            accept = cf if cf is not None else dm.default_format(reg, paths[0], self.registry)
            message = dm.build_read(paths[0], accept, observe=True)
        message.token = stored.token
        return message

    async def _reobserve(self, reg: Registration, stored: Observation) -> None:
        try:
            message = self._stored_request(reg, stored)
            await self._start_observation(
                reg, message, stored.paths, stored.composite, None, stored=stored
            )
        except (RequestError, dm.DmError, ModelError) as exc:
            log.info("stored observation of %s not restored: %s", reg.endpoint, exc)
            self.store.delete_observation(stored.token)
        finally:
            self._restoring.discard(stored.token)

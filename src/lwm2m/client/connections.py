"""The client's connections to its servers: one CoAP endpoint per Security instance.

Each server account (and the bootstrap server, key ``None``) gets a
:class:`Connection` when something is first sent to it: the Security
instance's URI is resolved, a UDP socket connected to the server is opened
(or a DTLS session for ``coaps://``, keyed by the security mode's material),
and a CoAP :class:`~lwm2m.coap.endpoint.Endpoint` runs on it. Between the
socket (or the DTLS session) and the endpoint sit the queue-mode
:class:`ReceiveGate` and the traffic counter, so the counts are of CoAP
datagrams. The server's requests and observations arriving on an endpoint go
to the hooks the client gives; transport errors fail the requests in flight
at once. Closing happens in the background; :meth:`Connections.wait_closed`
waits for it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from lwm2m.client.accounts import SEC_URI
from lwm2m.client.engine import ServerContext
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.errors import TransportError
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.observe import ServerObservation
from lwm2m.transport.base import Address, DatagramTransport, TransportWrapper
from lwm2m.transport.counting import CountingTransport, TrafficCounters
from lwm2m.transport.udp import UdpTransport

__all__ = ["Connection", "ConnectionOptions", "Connections", "ReceiveGate"]

log = logging.getLogger(__name__)

#: Why a coaps:// server cannot be reached without python-mbedtls.
DTLS_EXTRA = "coaps:// needs the 'dtls' extra: pip install 'lwm2m[dtls]'"

#: Called as ``setup(endpoint, short_server_id)`` for every new connection endpoint.
EndpointSetup = Callable[[Endpoint, int | None], None]


class ConnectionOptions(Protocol):
    """The client's settings that apply to every connection (read when one opens)."""

    #: Datagrams and bytes of every connection, kept across reconnects.
    traffic: TrafficCounters
    transmission: TransmissionParams | None
    #: Local address to bind; None: chosen per server (:func:`local_host_for`).
    local_host: str | None
    #: Hooks run on each new endpoint before anything is sent on it.
    endpoint_setup: list[EndpointSetup]


class ConnectionHooks(Protocol):
    """What the client answers for its connections (one object per client, not a
    bound method per callback and connection)."""

    def security(self, key: int | None) -> dict[int, Any] | None:
        """The values of the Security instance of server ``key`` (None if none)."""

    def asleep(self, key: int | None) -> bool:
        """Whether that server's receiver is off (queue mode)."""

    def on_request(self, conn: Connection, msg: Message, remote: Address) -> Awaitable[Message]:
        """A request of the server, to answer."""

    def on_observation(self, conn: Connection, obs: ServerObservation, active: bool) -> None:
        """An observation of the server started (True) or ended (False)."""


@dataclass(slots=True)
class Connection:
    """One open connection: the endpoint to one server, and its requests in flight."""

    key: int | None  # short server id, None for the bootstrap server
    uri: str
    endpoint: Endpoint
    remote: Address
    context: ServerContext
    hooks: ConnectionHooks
    #: Requests in flight, and the transport error that ended one of them early;
    #: None while there are none (most of a connection's life: no empty containers).
    requests: set[asyncio.Task[Message]] | None = None
    errors: dict[asyncio.Task[Message], OSError] | None = None

    async def request(self, msg: Message, timeout: float | None = None) -> Message:
        """One request to the server; a transport error raises TransportError."""
        task = asyncio.ensure_future(
            self.endpoint.request(msg, remote=self.remote, timeout=timeout)
        )
        requests = self.requests
        if requests is None:
            requests = self.requests = set()
        requests.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            error = None if self.errors is None else self.errors.get(task)
            current = asyncio.current_task()
            if error is None or (current is not None and current.cancelling()):
                raise
            raise TransportError(f"{error}") from None
        finally:
            requests.discard(task)
            if not requests and self.requests is requests:
                self.requests = None
            if self.errors is not None:
                self.errors.pop(task, None)
                if not self.errors:
                    self.errors = None

    def transport_error(self, exc: OSError, remote: Address | None) -> None:
        """ICMP unreachable, a failed send, a DTLS failure: the requests in flight fail now
        (as a network error) instead of waiting for their retransmissions to run out."""
        log.info("server %s: transport error %s", self.key, exc)
        for task in list(self.requests or ()):
            if not task.done():
                if self.errors is None:
                    self.errors = {}
                self.errors[task] = exc
                task.cancel()

    def on_request(self, msg: Message, remote: Address) -> Awaitable[Message]:
        """The endpoint's fallback handler: the server's requests."""
        return self.hooks.on_request(self, msg, remote)

    def on_observation(self, obs: ServerObservation, active: bool) -> None:
        """The endpoint's observation listener."""
        self.hooks.on_observation(self, obs, active)


class ReceiveGate(TransportWrapper[DatagramTransport]):
    """A server connection's transport whose receiver can be switched off.

    Queue mode (Core TS 1.1 6.5): once the receive window closes the client is
    offline; what the server sends meanwhile is not received, so it is neither
    acknowledged nor answered. ``asleep()`` is asked for every datagram.
    """

    __slots__ = ("_hooks", "_key")

    def __init__(self, inner: DatagramTransport, hooks: ConnectionHooks, key: int | None) -> None:
        self._hooks = hooks
        self._key = key
        super().__init__(inner)

    def _received(self, data: bytes, remote: Address) -> None:
        if self._hooks.asleep(self._key):
            log.debug("receiver off (queue mode): %d bytes from %s dropped", len(data), remote)
            return
        super()._received(data, remote)


class Connections:
    """The open connections of one client, by Short Server ID (None: bootstrap server).

    The client supplies its settings (``options``) and its :class:`ConnectionHooks`.
    """

    def __init__(self, options: ConnectionOptions, hooks: ConnectionHooks) -> None:
        self._options = options
        self._hooks = hooks
        #: The connections opened and not closed since (an endpoint may have closed itself).
        self.open: dict[int | None, Connection] = {}
        #: Each server's context (its attributes); kept across reconnects.
        self.contexts: dict[int, ServerContext] = {}
        #: Called with every new server context (the client watches its attributes).
        self.on_new_context: Callable[[ServerContext], None] | None = None
        #: A lock per server while its connection is being opened, with how many
        #: callers hold or wait for it (dropped at zero: nothing kept per server).
        self._opening: dict[int | None, tuple[asyncio.Lock, int]] | None = None
        self._closing: set[asyncio.Task[None]] | None = None

    def context(self, key: int) -> ServerContext:
        """The context of server ``key`` (its attributes), created on first use."""
        context = self.contexts.get(key)
        if context is None:
            context = self.contexts[key] = ServerContext(short_id=key)
            if self.on_new_context is not None:
                self.on_new_context(context)
        return context

    def get(self, key: int | None) -> Connection | None:
        """The connection to server ``key`` if one is open (never opens one)."""
        return self.open.get(key)

    async def connect(self, key: int | None) -> Connection:
        """The open connection to server ``key``; opened (once, whoever asks) when needed."""
        conn = self.open.get(key)
        if conn is not None and not conn.endpoint.closed:
            return conn
        if self._opening is None:
            self._opening = {}
        lock, users = self._opening.get(key) or (asyncio.Lock(), 0)
        self._opening[key] = (lock, users + 1)
        try:
            async with lock:
                conn = self.open.get(key)
                if conn is not None and not conn.endpoint.closed:
                    return conn
                conn = await self._open(key)
                self.open[key] = conn
                return conn
        finally:
            lock, users = self._opening[key]
            if users > 1:
                self._opening[key] = (lock, users - 1)
            elif len(self._opening) > 1:
                del self._opening[key]
            else:
                self._opening = None  # a dict keeps its table once grown

    def close(self, key: int | None) -> Connection | None:
        """Forget the connection to server ``key`` and close it in the background."""
        conn = self.open.pop(key, None)
        if conn is not None:
            self._close_endpoint(conn.endpoint)
        return conn

    def close_all(self, *, keep_bootstrap: bool = False) -> None:
        for key in list(self.open):
            if key is not None or not keep_bootstrap:
                self.close(key)

    async def wait_closed(self) -> None:
        """Wait until the endpoints closed so far have released their sockets."""
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def local_addresses(self) -> list[str]:
        """The local IP addresses the open connections send from (each once)."""
        found: list[str] = []
        for conn in self.open.values():
            if conn.endpoint.closed:
                continue
            host = conn.endpoint.local_address[0]
            if host not in found and host not in ("", "0.0.0.0", "::"):
                found.append(host)
        return found

    def _close_endpoint(self, endpoint: Endpoint) -> None:
        # Not a task that the client's stop cancels, or the socket would stay open.
        task = asyncio.ensure_future(endpoint.close())
        if self._closing is None:
            self._closing = set()
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _open(self, key: int | None) -> Connection:
        security = self._hooks.security(key)
        if security is None:
            raise OSError(f"no Security instance for server {key}")
        uri = str(security.get(SEC_URI, ""))
        parts = urlsplit(uri)
        if parts.scheme not in ("coap", "coaps") or not parts.hostname:
            raise OSError(f"unsupported server URI {uri!r}")
        port = parts.port or (5684 if parts.scheme == "coaps" else 5683)
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(parts.hostname, port, type=socket.SOCK_DGRAM)
        family, _, _, _, sockaddr = infos[0]
        remote: Address = (str(sockaddr[0]), int(sockaddr[1]))
        options = self._options
        local = options.local_host or local_host_for(remote[0], family)
        if parts.scheme == "coaps":
            endpoint = await self._open_dtls(local, remote, security, key)
        else:
            udp = await open_udp(local, remote)
            endpoint = Endpoint(self._wrap(udp, key), params=options.transmission)
        bootstrap = ServerContext(short_id=0, is_bootstrap=True)
        context = bootstrap if key is None else self.context(key)
        conn = Connection(key, uri, endpoint, remote, context, self._hooks)
        endpoint.set_fallback_handler(conn.on_request)
        endpoint.add_observation_listener(conn.on_observation)
        endpoint.add_error_listener(conn.transport_error)
        for setup in options.endpoint_setup:
            try:
                setup(endpoint, key)
            except Exception:
                log.exception("endpoint setup hook failed")
        log.debug("server %s: connected from %s to %s", key, endpoint.local_address, remote)
        return conn

    def _wrap(self, transport: DatagramTransport, key: int | None) -> CountingTransport:
        """The queue-mode receive gate, then the traffic counter."""
        gate = ReceiveGate(transport, self._hooks, key)
        return CountingTransport(gate, self._options.traffic)

    async def _open_dtls(
        self, local: str, remote: Address, security: dict[int, Any], key: int | None
    ) -> Endpoint:
        try:
            from lwm2m.client.dtls import open_dtls_endpoint
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] != "mbedtls":
                raise
            raise OSError(DTLS_EXTRA) from None

        # The gate and the counter sit between the DTLS session and the Endpoint:
        # the counts are of CoAP datagrams, without DTLS overhead.
        endpoint: Endpoint = await open_dtls_endpoint(
            local,
            remote,
            security,
            params=self._options.transmission,
            wrap=lambda t: self._wrap(t, key),
        )
        return endpoint


async def open_udp(local_host: str, remote: Address) -> UdpTransport:
    """A UDP socket for one server, connected to it.

    Linux reports ICMP errors (port unreachable: nothing listens there) only on
    connected UDP sockets (udp(7)); connected, the socket also takes datagrams
    from that server only. The server's requests come from the address the
    client registered to (Core TS 1.1 6.2), so nothing is lost.
    """
    return await UdpTransport.create(local_host, 0, connect=remote)


def local_host_for(remote_host: str, family: int) -> str:
    """Bind loopback for a loopback server, any address otherwise, in the server's family."""
    try:
        addr = ipaddress.ip_address(remote_host.split("%")[0])
    except ValueError:
        return "0.0.0.0"
    if addr.is_loopback:
        return "::1" if addr.version == 6 else "127.0.0.1"
    return "::" if family == socket.AF_INET6 else "0.0.0.0"

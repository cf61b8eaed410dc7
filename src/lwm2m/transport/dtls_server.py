"""DTLS 1.2 server transport: one UDP socket, one association per peer address.

``await DtlsServerTransport.create(host, port, psk_store={b"id": b"key"})``
binds a socket and accepts handshakes from many clients at once. Received
application data reaches the receive callback with the peer address;
:meth:`DtlsServerTransport.peer_identity` tells the layer above who the
handshake authenticated (PSK identity or certificate subject) so that it can
bind it to an LwM2M endpoint name.

Theory of operation:

* An address without an association only gets an answer to an epoch-0
  ClientHello (anything else, random bytes or plaintext CoAP, is dropped
  without allocating anything). The ClientHello runs on a throw-away Mbed TLS
  buffer: without a valid cookie Mbed TLS answers HelloVerifyRequest and the
  buffer is discarded, so nothing is kept for unverified addresses and the
  answer is not larger than the request (RFC 6347 4.2.1). Only a ClientHello
  with a valid cookie creates an entry in the session table.
* A new ClientHello from an address that has an association (the client
  rebooted or lost its state) goes through the same cookie exchange; once the
  cookie verifies the new handshake replaces the old association
  (RFC 6347 4.2.8). A byte-identical copy of the ClientHello that started the
  current association is a retransmission and goes to that association.
* Handshakes are retransmitted on RFC 6347 4.2.4 timers; a handshake that
  does not finish within ``handshake_timeout`` and an association idle for
  ``idle_timeout`` are removed by a periodic sweep, without waiting for
  traffic.
* Bounds: ``max_sessions`` entries in the table (handshakes and sessions),
  ``max_sessions_per_address`` of them per host (IP address, whatever the
  port), ``max_handshakes`` handshakes in progress and
  ``max_handshakes_per_address`` of them per host. A half-open handshake
  costs tens of kilobytes (Mbed TLS record buffers and handshake state), and
  one host can open one per source port. A ClientHello that would pass a
  bound is dropped before Mbed TLS sees it (counted in
  :attr:`DtlsServerTransport.refused_handshakes`), with one warning per kind
  of bound and ``warning_interval``; the client sends it again on its own
  timer. ``lwm2m.coap.limits.Limits.dtls_options()`` gives all these
  arguments at once.
* The C allocator keeps freed handshake buffers for the process; after a
  sweep or a failure wave freed many entries, the heap is trimmed (glibc
  ``malloc_trim``, where available) so that the memory of a flood of
  half-open handshakes goes back to the system.
* A peer's failure (bad record, failed handshake, alert) only ever affects
  that peer's entry.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Callable, Iterable
from typing import Any

from mbedtls import tls as mtls

from .base import Address, DatagramTransport
from .dtls_common import (
    CertificateCredentials,
    DtlsError,
    DtlsHandshakeError,
    DtlsPeerInfo,
    DtlsSessionClosed,
    PskStore,
    PskStoreAdapter,
    peer_certificate,
    server_configuration,
)
from .dtls_session import MAX_DATAGRAM, DtlsSession, is_initial_client_hello
from .udp import UdpTransport

__all__ = ["DtlsServerTransport", "SessionCallback"]

_log = logging.getLogger(__name__)

SessionCallback = Callable[[Address, DtlsPeerInfo | None], None]
"""Called with the peer info when a session is established, ``None`` when it ends."""

_TIMER_SLACK = 0.01
_TIMER_REPOLL = 0.02
_RECORD_HEADER = 13
#: Entries freed before the heap is trimmed at the next sweep.
_TRIM_AFTER = 64

_malloc_trim: Any = None
_malloc_trim_loaded = False


def _trim_heap() -> None:
    """Give freed heap pages back to the system (glibc ``malloc_trim``); else nothing."""
    global _malloc_trim, _malloc_trim_loaded
    if not _malloc_trim_loaded:
        _malloc_trim_loaded = True
        try:
            _malloc_trim = ctypes.CDLL(None).malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = None
    if _malloc_trim is not None:
        _malloc_trim(0)


def _ignore_session(remote: Address, info: DtlsPeerInfo | None) -> None:
    return None


def _common_name(subject: str) -> str | None:
    """The CN of a subject as Mbed TLS writes it (``C=FR, O=Acme, CN=dev1``)."""
    names = [part[3:] for part in subject.split(", ") if part.startswith("CN=")]
    return names[-1] if names else None


class _Peer:
    __slots__ = ("address", "hello", "info", "last_seen", "psk_identity", "session", "timer")

    def __init__(self, address: Address, session: DtlsSession, hello: bytes, now: float) -> None:
        self.address = address
        self.session = session
        self.hello = hello
        self.last_seen = now
        self.info: DtlsPeerInfo | None = None
        self.psk_identity: bytes | None = None
        self.timer: asyncio.TimerHandle | None = None


class DtlsServerTransport(DatagramTransport):
    """A DTLS server on one UDP socket, demultiplexing peers by address."""

    def __init__(
        self,
        context: mtls.ServerContext,
        psk_adapter: PskStoreAdapter | None,
        *,
        pinned: tuple[bytes, ...] | None,
        max_sessions: int,
        idle_timeout: float,
        handshake_timeout: float,
        retransmit_initial: float,
        retransmit_max: float,
        max_sessions_per_address: int | None = None,
        max_handshakes: int | None = None,
        max_handshakes_per_address: int | None = None,
        warning_interval: float = 60.0,
    ) -> None:
        super().__init__()
        self._context = context
        self._psk = psk_adapter
        self._pinned = pinned
        self._max_sessions = max_sessions
        self._max_per_host = (
            max_sessions_per_address if max_sessions_per_address is not None else max_sessions
        )
        self._max_handshakes = max_handshakes if max_handshakes is not None else max_sessions
        self._max_handshakes_per_host = (
            max_handshakes_per_address
            if max_handshakes_per_address is not None
            else self._max_handshakes
        )
        self._warning_interval = warning_interval
        self._warn_next: dict[str, float] = {}
        self._warn_held: dict[str, int] = {}
        # Table entries and handshakes in progress, per host and (handshakes) in all.
        self._entries_by_host: dict[str, int] = {}
        self._handshakes_by_host: dict[str, int] = {}
        self._handshake_total = 0
        self._freed = 0
        self._idle_timeout = idle_timeout
        self._handshake_timeout = handshake_timeout
        self._retransmit_initial = retransmit_initial
        self._retransmit_max = retransmit_max
        self._loop = asyncio.get_running_loop()
        self._udp: UdpTransport | None = None
        self._peers: dict[Address, _Peer] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._on_session: SessionCallback = _ignore_session
        self._closed = False
        self.dropped = 0
        """Datagrams dropped before reaching Mbed TLS (no association, not a ClientHello)."""
        self.failed_handshakes = 0
        self.refused_handshakes = 0
        """ClientHellos dropped because a bound on handshakes or sessions was reached."""

    @classmethod
    async def create(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        psk_store: PskStore | None = None,
        certificate: CertificateCredentials | None = None,
        ciphers: Iterable[str] | None = None,
        cookie: bool = True,
        max_sessions: int = 10_000,
        idle_timeout: float = 600.0,
        handshake_timeout: float = 30.0,
        retransmit_initial: float = 1.0,
        retransmit_max: float = 60.0,
        max_sessions_per_address: int = 1000,
        max_handshakes: int = 256,
        max_handshakes_per_address: int = 32,
        warning_interval: float = 60.0,
    ) -> DtlsServerTransport:
        """Bind ``host``/``port`` and accept DTLS clients.

        ``psk_store`` maps a PSK identity to its key (a mapping or a callable
        returning ``None`` for unknown identities); ``certificate`` gives the
        server's certificate and the CAs client certificates must chain to.
        The ``max_*`` bounds are described in the module docstring.
        """
        if not cookie:
            raise ValueError(
                "the cookie exchange cannot be turned off: it keeps the listener from "
                "being an amplifier, and python-mbedtls always enables it"
            )
        if max_sessions < 1 or idle_timeout <= 0 or handshake_timeout <= 0:
            raise ValueError("max_sessions, idle_timeout and handshake_timeout must be positive")
        if min(max_sessions_per_address, max_handshakes, max_handshakes_per_address) < 1:
            raise ValueError("the bounds on sessions and handshakes must be positive")
        if warning_interval <= 0:
            raise ValueError("warning_interval must be positive")
        adapter = PskStoreAdapter(psk_store) if psk_store is not None else None
        config = server_configuration(
            adapter, certificate, ciphers, retransmit_initial, retransmit_max
        )
        pinned = certificate.trusted if certificate is not None and certificate.pin_peer else None
        self = cls(
            mtls.ServerContext(config),
            adapter,
            pinned=pinned,
            max_sessions=max_sessions,
            idle_timeout=idle_timeout,
            handshake_timeout=handshake_timeout,
            retransmit_initial=retransmit_initial,
            retransmit_max=retransmit_max,
            max_sessions_per_address=max_sessions_per_address,
            max_handshakes=max_handshakes,
            max_handshakes_per_address=max_handshakes_per_address,
            warning_interval=warning_interval,
        )
        udp = await UdpTransport.create(host, port)
        udp.set_callbacks(self._datagram, self._socket_error)
        self._udp = udp
        self._schedule_sweep()
        return self

    # -- public API --------------------------------------------------------

    @property
    def local_address(self) -> Address:
        return self._udp.local_address if self._udp is not None else ("", 0)

    @property
    def is_closed(self) -> bool:
        return self._closed or self._udp is None or self._udp.is_closed

    @property
    def session_count(self) -> int:
        """Entries in the session table (established and handshaking)."""
        return len(self._peers)

    @property
    def handshake_count(self) -> int:
        """Handshakes in progress (past the cookie exchange, not yet established)."""
        return self._handshake_total

    def sessions(self) -> list[Address]:
        """Addresses with an established session."""
        return [a for a, p in self._peers.items() if p.info is not None]

    def set_session_callback(self, callback: SessionCallback) -> None:
        self._on_session = callback

    def peer_info(self, remote: Address) -> DtlsPeerInfo | None:
        peer = self._peers.get(remote)
        return peer.info if peer is not None else None

    def peer_identity(self, remote: Address) -> bytes | str | None:
        """The PSK identity (bytes) or certificate subject (str) ``remote`` proved."""
        peer = self._peers.get(remote)
        if peer is None or peer.info is None:
            return None
        return peer.info.identity

    def close_session(self, remote: Address) -> None:
        """Send close_notify to ``remote`` and forget its session."""
        peer = self._peers.get(remote)
        if peer is not None:
            self._close_peer(peer)

    def close_sessions_of(self, identity: bytes | str) -> int:
        """Close every session (and handshake) of a peer that proved ``identity``.

        ``bytes`` is a PSK identity: it also ends handshakes that already looked
        the key up. ``str`` is a certificate's subject as :meth:`peer_identity`
        gives it, or just its common name (the LwM2M endpoint name). Each peer gets
        a close_notify. Returns how many peers were closed.
        """
        if isinstance(identity, bytes):
            matching = [p for p in self._peers.values() if p.psk_identity == identity]
        else:
            matching = [
                p
                for p in self._peers.values()
                if p.info is not None
                and p.info.subject is not None
                and (p.info.subject == identity or _common_name(p.info.subject) == identity)
            ]
        for peer in matching:
            self._close_peer(peer)
        return len(matching)

    def send(self, data: bytes, remote: Address) -> None:
        peer = self._peers.get(remote)
        udp = self._udp
        if peer is None or peer.info is None or udp is None:
            self._on_error(DtlsError(f"no DTLS session with {remote}"), remote)
            return
        try:
            record = peer.session.encrypt(data)
        except DtlsSessionClosed as exc:
            self._remove(peer)
            self._on_error(exc, remote)
            return
        peer.last_seen = self._loop.time()
        udp.send(record, remote)

    def close(self) -> None:
        if self._closed:
            return
        for peer in list(self._peers.values()):
            self._close_peer(peer)
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._udp is not None:
            self._udp.close()

    # -- receive path ------------------------------------------------------

    def _datagram(self, data: bytes, remote: Address) -> None:
        try:
            plain = self._receive(data, remote)
        except Exception:  # never into the event loop; only this peer is affected
            _log.exception("DTLS server: datagram from %s dropped", remote)
            peer = self._peers.get(remote)
            if peer is not None:
                self._remove(peer)
            return
        if plain:
            on_datagram = self._on_datagram
            for payload in plain:
                try:
                    on_datagram(payload, remote)
                except Exception:
                    _log.exception("DTLS server: receive callback failed for %s", remote)

    def _receive(self, data: bytes, remote: Address) -> list[bytes] | None:
        """Process one datagram; returns the application data it carried."""
        if len(data) > MAX_DATAGRAM:
            self.dropped += 1
            return None
        peer = self._peers.get(remote)
        if peer is None:
            if is_initial_client_hello(data):
                self._hello(data, remote, None)
            else:
                self.dropped += 1
            return None
        if is_initial_client_hello(data) and data[_RECORD_HEADER:] != peer.hello:
            self._hello(data, remote, peer)
            return None
        session = peer.session
        session.feed(data)
        if peer.info is None:
            self._advance(peer, timer=False)
            return None
        out: list[bytes] = []
        try:
            plain = session.decrypt(out)
        except DtlsSessionClosed as exc:
            _log.info("DTLS session with %s ended: %s", remote, exc)
            self._remove(peer)
            return None
        peer.last_seen = self._loop.time()
        if out:
            self._send_raw(out, remote)
        return plain

    def _refusal(self, remote: Address, existing: _Peer | None) -> str | None:
        """Which bound a handshake from ``remote`` would pass, or None.

        A handshake replacing the entry of the same address adds no entry, and
        one replacing a handshake adds no handshake either.
        """
        host = remote[0]
        if existing is None or existing.info is not None:
            if self._handshakes_by_host.get(host, 0) >= self._max_handshakes_per_host:
                return f"handshakes per address ({self._max_handshakes_per_host})"
            if self._handshake_total >= self._max_handshakes:
                return f"handshakes in progress ({self._max_handshakes})"
        if existing is None:
            if self._entries_by_host.get(host, 0) >= self._max_per_host:
                return f"sessions per address ({self._max_per_host})"
            if len(self._peers) >= self._max_sessions:
                return f"sessions ({self._max_sessions})"
        return None

    def _warn(self, key: str, message: str, *args: object) -> None:
        """A warning, at most one per ``key`` and ``warning_interval``."""
        now = self._loop.time()
        if now < self._warn_next.get(key, -1.0):
            self._warn_held[key] = self._warn_held.get(key, 0) + 1
            return
        self._warn_next[key] = now + self._warning_interval
        held = self._warn_held.pop(key, 0)
        if held:
            message += " (%d more since the last such warning)"
            args = (*args, held)
        _log.warning(message, *args)

    def _hello(self, data: bytes, remote: Address, existing: _Peer | None) -> None:
        """A ClientHello that starts a handshake; stateless until its cookie verifies."""
        refused = self._refusal(remote, existing)
        if refused is not None:
            self.dropped += 1
            self.refused_handshakes += 1
            self._warn(
                refused.split(" (")[0],
                "DTLS ClientHello from %s dropped: bound on %s reached",
                remote,
                refused,
            )
            return
        buffer = self._context.wrap_buffers()
        buffer.setcookieparam(f"{remote[0]}|{remote[1]}".encode())
        session = DtlsSession(
            buffer,
            retransmit_initial=self._retransmit_initial,
            retransmit_max=self._retransmit_max,
        )
        session.feed(data)
        try:
            out, verify_requested = session.handshake()
        except DtlsHandshakeError as exc:
            self.failed_handshakes += 1
            _log.info("DTLS ClientHello from %s rejected: %s", remote, exc)
            self._send_raw(session.unsent, remote)
            return
        if out:
            self._send_raw(out, remote)
        if verify_requested or not session.past_hello:
            return
        if existing is not None:
            _log.info("DTLS client %s starts a new session; the old one is dropped", remote)
            self._remove(existing)
        peer = _Peer(remote, session, data[_RECORD_HEADER:], self._loop.time())
        self._peers[remote] = peer
        host = remote[0]
        self._entries_by_host[host] = self._entries_by_host.get(host, 0) + 1
        self._handshakes_by_host[host] = self._handshakes_by_host.get(host, 0) + 1
        self._handshake_total += 1
        self._schedule_retransmit(peer, session.retransmit_delay + _TIMER_SLACK)

    def _advance(self, peer: _Peer, *, timer: bool) -> None:
        session = peer.session
        adapter = self._psk
        if adapter is not None:
            adapter.looked_up = None
        try:
            out, _ = session.handshake(timer=timer)
        except DtlsHandshakeError as exc:
            self.failed_handshakes += 1
            _log.info("DTLS handshake with %s failed: %s", peer.address, exc)
            self._send_raw(session.unsent, peer.address)
            self._remove(peer)
            return
        if adapter is not None and adapter.looked_up is not None:
            peer.psk_identity = adapter.looked_up
        if out:
            self._send_raw(out, peer.address)
        if session.established:
            self._established(peer)
        elif out or timer:
            delay = session.retransmit_delay + _TIMER_SLACK if out else _TIMER_REPOLL
            self._schedule_retransmit(peer, delay)

    def _established(self, peer: _Peer) -> None:
        if peer.timer is not None:
            peer.timer.cancel()
            peer.timer = None
        session = peer.session
        certificate, subject = peer_certificate(session.buffer)
        pinned = self._pinned
        if pinned is not None and peer.psk_identity is None and certificate not in pinned:
            _log.info("DTLS client %s: certificate does not match a pinned one", peer.address)
            self.failed_handshakes += 1
            self._close_peer(peer)
            return
        peer.info = DtlsPeerInfo(session.cipher_suite, peer.psk_identity, certificate, subject)
        self._handshake_over(peer.address[0])
        peer.last_seen = self._loop.time()
        _log.debug("DTLS session with %s established (%s)", peer.address, peer.info.cipher_suite)
        self._on_session(peer.address, peer.info)

    # -- timers ------------------------------------------------------------

    def _schedule_retransmit(self, peer: _Peer, delay: float) -> None:
        if peer.timer is not None:
            peer.timer.cancel()
        peer.timer = self._loop.call_later(delay, self._retransmit, peer)

    def _retransmit(self, peer: _Peer) -> None:
        peer.timer = None
        if self._peers.get(peer.address) is not peer:
            return
        try:
            self._advance(peer, timer=True)
        except Exception:
            _log.exception("DTLS server: retransmission to %s failed", peer.address)
            self._remove(peer)

    def _schedule_sweep(self) -> None:
        interval = min(self._idle_timeout, self._handshake_timeout) / 4
        self._sweeper = self._loop.call_later(min(max(interval, 0.05), 5.0), self._sweep)

    def _sweep(self) -> None:
        """Expire handshakes past ``handshake_timeout`` and sessions idle past ``idle_timeout``."""
        self._sweeper = None
        if self._closed:
            return
        now = self._loop.time()
        handshake_limit = now - self._handshake_timeout
        idle_limit = now - self._idle_timeout
        expired = [
            p
            for p in self._peers.values()
            if p.last_seen < (idle_limit if p.info is not None else handshake_limit)
        ]
        for peer in expired:
            _log.info(
                "DTLS %s with %s expired",
                "session" if peer.info is not None else "handshake",
                peer.address,
            )
            self._close_peer(peer)
        if self._freed >= _TRIM_AFTER:
            self._freed = 0
            _trim_heap()
        self._schedule_sweep()

    # -- helpers -----------------------------------------------------------

    def _close_peer(self, peer: _Peer) -> None:
        alert = peer.session.close_notify()
        if alert:
            self._send_raw([alert], peer.address)
        self._remove(peer)

    def _remove(self, peer: _Peer) -> None:
        if peer.timer is not None:
            peer.timer.cancel()
            peer.timer = None
        if self._peers.get(peer.address) is peer:
            del self._peers[peer.address]
            self._freed += 1
            host = peer.address[0]
            left = self._entries_by_host.get(host, 0) - 1
            if left > 0:
                self._entries_by_host[host] = left
            else:
                self._entries_by_host.pop(host, None)
            if peer.info is not None:
                self._on_session(peer.address, None)
            else:
                self._handshake_over(host)

    def _handshake_over(self, host: str) -> None:
        """One handshake of ``host`` ended (established, failed or expired)."""
        self._handshake_total -= 1
        left = self._handshakes_by_host.get(host, 0) - 1
        if left > 0:
            self._handshakes_by_host[host] = left
        else:
            self._handshakes_by_host.pop(host, None)

    def _send_raw(self, datagrams: list[bytes], remote: Address) -> None:
        udp = self._udp
        if udp is None:
            return
        for datagram in datagrams:
            udp.send(datagram, remote)

    def _socket_error(self, exc: OSError, remote: Address | None) -> None:
        if remote is not None:
            peer = self._peers.get(remote)
            if peer is not None and peer.info is None:
                self._remove(peer)  # ICMP unreachable for a peer still handshaking
                return
        self._on_error(exc, remote)

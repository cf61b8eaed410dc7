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
  ``idle_timeout`` are removed by a periodic sweep. ``max_sessions`` bounds
  the table.
* A peer's failure (bad record, failed handshake, alert) only ever affects
  that peer's entry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

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


def _ignore_session(remote: Address, info: DtlsPeerInfo | None) -> None:
    return None


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
    ) -> None:
        super().__init__()
        self._context = context
        self._psk = psk_adapter
        self._pinned = pinned
        self._max_sessions = max_sessions
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
    ) -> DtlsServerTransport:
        """Bind ``host``/``port`` and accept DTLS clients.

        ``psk_store`` maps a PSK identity to its key (a mapping or a callable
        returning ``None`` for unknown identities); ``certificate`` gives the
        server's certificate and the CAs client certificates must chain to.
        """
        if not cookie:
            raise ValueError(
                "the cookie exchange cannot be turned off: it keeps the listener from "
                "being an amplifier, and python-mbedtls always enables it"
            )
        if max_sessions < 1 or idle_timeout <= 0 or handshake_timeout <= 0:
            raise ValueError("max_sessions, idle_timeout and handshake_timeout must be positive")
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

    def _hello(self, data: bytes, remote: Address, existing: _Peer | None) -> None:
        """A ClientHello that starts a handshake; stateless until its cookie verifies."""
        if existing is None and len(self._peers) >= self._max_sessions:
            self.dropped += 1
            _log.warning("DTLS session table full (%d); ClientHello dropped", self._max_sessions)
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
            if peer.info is not None:
                self._on_session(peer.address, None)

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

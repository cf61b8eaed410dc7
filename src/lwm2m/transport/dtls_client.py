"""DTLS 1.2 client transport: one association with one server.

``await DtlsClientTransport.connect(remote, psk=(identity, key))`` opens a
connected UDP socket and completes the handshake, or raises
:class:`DtlsHandshakeError`. Nothing is ever sent in plaintext: datagrams the
layer above sends while no session is established wait in a short queue and
leave encrypted once the (re-)handshake completes.

A new handshake (RFC 6347 4.2.8 lets a client start over) runs when the
layer above calls :meth:`DtlsClientTransport.rehandshake` (no answer after
an address change: the server lost the session), and on the first send
after the server ended the session (close_notify or a fatal alert) or after
a failed handshake. Such a background handshake reports failure to the
error callback.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable

from mbedtls import tls as mtls

from .base import Address, DatagramTransport
from .dtls_common import (
    CertificateCredentials,
    DtlsError,
    DtlsHandshakeError,
    DtlsPeerInfo,
    DtlsSessionClosed,
    PskCredentials,
    client_configuration,
    peer_certificate,
)
from .dtls_session import MAX_DATAGRAM, DtlsSession
from .udp import UdpTransport

__all__ = ["DtlsClientTransport"]

_log = logging.getLogger(__name__)

_MAX_QUEUED = 64
_TIMER_SLACK = 0.01
_TIMER_REPOLL = 0.02


def _psk(value: PskCredentials | tuple[bytes, bytes] | None) -> PskCredentials | None:
    if value is None or isinstance(value, PskCredentials):
        return value
    identity, key = value
    return PskCredentials(identity, key)


def _cert(
    value: CertificateCredentials | tuple[bytes, bytes, bytes] | None,
) -> CertificateCredentials | None:
    if value is None or isinstance(value, CertificateCredentials):
        return value
    certificate, private_key, server_certificate = value
    return CertificateCredentials(certificate, private_key, (server_certificate,))


class DtlsClientTransport(DatagramTransport):
    """A DTLS client session with one server over a connected UDP socket."""

    def __init__(
        self,
        context: mtls.ClientContext,
        *,
        server_hostname: str | None,
        pinned: tuple[bytes, ...] | None,
        handshake_timeout: float | None,
        retransmit_initial: float,
        retransmit_max: float,
    ) -> None:
        super().__init__()
        self._context = context
        self._server_hostname = server_hostname
        self._pinned = pinned
        self._handshake_timeout = handshake_timeout
        self._retransmit_initial = retransmit_initial
        self._retransmit_max = retransmit_max
        self._loop = asyncio.get_running_loop()
        self._transport: UdpTransport | None = None
        self._remote: Address = ("", 0)
        self._local: Address = ("", 0)
        self._session: DtlsSession | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._queue: deque[bytes] = deque()
        self._peer: DtlsPeerInfo | None = None
        self._closed = False
        self._background = False
        self.handshakes = 0

    @classmethod
    async def connect(
        cls,
        remote: Address,
        *,
        psk: PskCredentials | tuple[bytes, bytes] | None = None,
        certificate: CertificateCredentials | tuple[bytes, bytes, bytes] | None = None,
        ciphers: Iterable[str] | None = None,
        handshake_timeout: float | None = None,
        retransmit_initial: float = 1.0,
        retransmit_max: float = 60.0,
        local_addr: Address | None = None,
        server_hostname: str | None = None,
    ) -> DtlsClientTransport:
        """Open a socket to ``remote`` and complete a handshake.

        ``psk`` is ``(identity, key)``; ``certificate`` is
        :class:`CertificateCredentials` or ``(own_cert, private_key,
        server_cert_or_ca)``, all DER. Retransmissions follow RFC 6347
        4.2.4.1 (``retransmit_initial`` doubling up to ``retransmit_max``;
        Mbed TLS gives up after the maximum expired once);
        ``handshake_timeout`` bounds the whole handshake. Raises
        :class:`DtlsHandshakeError`.
        """
        psk_cred, cert_cred = _psk(psk), _cert(certificate)
        config = client_configuration(
            psk_cred, cert_cred, ciphers, retransmit_initial, retransmit_max
        )
        pinned = cert_cred.trusted if cert_cred is not None and cert_cred.pin_peer else None
        self = cls(
            mtls.ClientContext(config),
            server_hostname=server_hostname,
            pinned=pinned,
            handshake_timeout=handshake_timeout,
            retransmit_initial=retransmit_initial,
            retransmit_max=retransmit_max,
        )
        if local_addr is None:  # any address of the server's family; connect() picks
            local_addr = ("::" if ":" in remote[0] else "0.0.0.0", 0)
        # The same UDP socket transport as plain CoAP, connected to the server (so
        # ICMP errors are reported), carrying DTLS records instead of CoAP messages.
        udp = await UdpTransport.create(local_addr[0], local_addr[1], connect=remote)
        udp.set_callbacks(self._udp_datagram, self._udp_error)
        self._transport = udp
        self._remote = udp.peer_address or (remote[0], remote[1])
        self._local = udp.local_address
        try:
            await self._handshake()
        except BaseException:
            self.close()
            raise
        return self

    # -- public API --------------------------------------------------------

    @property
    def remote_address(self) -> Address:
        return self._remote

    @property
    def local_address(self) -> Address:
        return self._local

    @property
    def is_closed(self) -> bool:
        transport = self._transport
        return self._closed or (transport is not None and transport.is_closed)

    @property
    def is_established(self) -> bool:
        session = self._session
        return session is not None and session.established

    @property
    def cipher_suite(self) -> str:
        """The negotiated suite (IANA name), empty when no session is up."""
        return self._peer.cipher_suite if self._peer is not None else ""

    @property
    def peer_info(self) -> DtlsPeerInfo | None:
        return self._peer

    def peer_identity(self, remote: Address) -> bytes | str | None:
        """The server's certificate subject (certificate mode), else ``None``."""
        if remote != self._remote or self._peer is None:
            return None
        return self._peer.subject

    def send(self, data: bytes, remote: Address) -> None:
        if self._closed or self._transport is None:
            self._on_error(OSError("transport is closed"), remote)
            return
        if remote != self._remote:
            self._on_error(OSError(f"DTLS session is with {self._remote}, not {remote}"), remote)
            return
        session = self._session
        if session is None or not session.established:
            if len(self._queue) >= _MAX_QUEUED:
                self._on_error(DtlsError("send queue full while handshaking"), remote)
                return
            self._queue.append(data)
            if self._waiter is None:
                self._start_handshake(background=True)
            return
        try:
            record = session.encrypt(data)
        except DtlsSessionClosed as exc:
            self._on_error(exc, remote)
            return
        self._sendto(record)

    async def rehandshake(self) -> None:
        """Drop the current session and handshake again (raises DtlsHandshakeError)."""
        if self._closed:
            raise DtlsError("transport is closed")
        self._reset_session()
        await self._handshake()

    def close(self) -> None:
        if self._closed and self._transport is None:
            return
        session = self._session
        if session is not None and session.established and self._transport is not None:
            alert = session.close_notify()
            if alert:
                self._sendto(alert)
        self._fail(DtlsError("transport closed"), report=False)
        self._closed = True
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    # -- handshake ---------------------------------------------------------

    async def _handshake(self) -> None:
        waiter = self._waiter
        if waiter is None:
            waiter = self._start_handshake(background=False)
        await asyncio.shield(waiter)

    def _start_handshake(self, *, background: bool) -> asyncio.Future[None]:
        """Begin a handshake; a background one reports failure to the error callback."""
        self._session = DtlsSession(
            self._context.wrap_buffers(self._server_hostname),
            retransmit_initial=self._retransmit_initial,
            retransmit_max=self._retransmit_max,
        )
        self._peer = None
        waiter: asyncio.Future[None] = self._loop.create_future()
        # A background handshake nobody awaits must not log "never retrieved".
        waiter.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._waiter = waiter
        self._background = background
        self.handshakes += 1
        if self._handshake_timeout is not None:
            self._deadline = self._loop.call_later(self._handshake_timeout, self._expired)
        self._advance(timer=False)
        return waiter

    def _advance(self, *, timer: bool) -> None:
        session = self._session
        if session is None:
            return
        try:
            out, _ = session.handshake(timer=timer)
        except DtlsHandshakeError as exc:
            for datagram in session.unsent:
                self._sendto(datagram)
            self._fail(exc)
            return
        for datagram in out:
            self._sendto(datagram)
        if session.established:
            self._established(session)
        elif out or timer:
            if self._timer is not None:
                self._timer.cancel()
            delay = session.retransmit_delay + _TIMER_SLACK if out else _TIMER_REPOLL
            self._timer = self._loop.call_later(delay, self._advance_on_timer)

    def _advance_on_timer(self) -> None:
        self._timer = None
        try:
            self._advance(timer=True)
        except Exception:
            _log.exception("DTLS client: retransmission failed")

    def _expired(self) -> None:
        self._deadline = None
        self._fail(DtlsHandshakeError(f"handshake timed out after {self._handshake_timeout} s"))

    def _established(self, session: DtlsSession) -> None:
        self._cancel_timers()
        certificate, subject = peer_certificate(session.buffer)
        if self._pinned is not None and certificate not in self._pinned:
            alert = session.close_notify()
            if alert:
                self._sendto(alert)
            self._fail(DtlsHandshakeError("server certificate does not match the pinned one"))
            return
        self._peer = DtlsPeerInfo(session.cipher_suite, None, certificate, subject)
        _log.debug("DTLS session with %s established (%s)", self._remote, self._peer.cipher_suite)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        queue = self._queue
        while queue and session.established:
            self._sendto(session.encrypt(queue.popleft()))

    def _fail(self, exc: DtlsError, *, report: bool = True) -> None:
        """End the current handshake or session attempt with ``exc``."""
        self._cancel_timers()
        waiter, self._waiter = self._waiter, None
        self._session = None
        self._peer = None
        self._queue.clear()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if report and not self._closed:
            _log.info("DTLS handshake with %s failed: %s", self._remote, exc)
            if self._background:
                self._on_error(exc, self._remote)

    def _reset_session(self) -> None:
        if self._waiter is not None:
            return  # a handshake is already running; callers wait for it
        self._cancel_timers()
        self._session = None
        self._peer = None

    def _cancel_timers(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    # -- I/O ---------------------------------------------------------------

    def _sendto(self, datagram: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        transport.send(datagram, self._remote)  # a failure reaches _udp_error

    def _udp_datagram(self, data: bytes, remote: Address) -> None:
        try:
            self._datagram(data)
        except Exception:  # never into the event loop
            _log.exception("DTLS client: datagram dropped")

    def _udp_error(self, exc: OSError, remote: Address | None) -> None:
        self._socket_error(exc)

    def _datagram(self, data: bytes) -> None:
        session = self._session
        if session is None or len(data) > MAX_DATAGRAM:
            return
        session.feed(data)
        if not session.established:
            self._advance(timer=False)
            return
        out: list[bytes] = []
        try:
            plain = session.decrypt(out)
        except DtlsSessionClosed as exc:
            # The next send handshakes again; doing it now would undo a server's idle expiry.
            _log.info("DTLS session with %s ended: %s", self._remote, exc)
            self._session = None
            self._peer = None
            return
        for datagram in out:
            self._sendto(datagram)
        on_datagram = self._on_datagram
        remote = self._remote
        for payload in plain:
            try:
                on_datagram(payload, remote)
            except Exception:
                _log.exception("DTLS client: receive callback failed")

    def _socket_error(self, exc: OSError) -> None:
        if self._waiter is not None:
            # ICMP unreachable while handshaking: the server is not there.
            self._fail(DtlsHandshakeError(f"server unreachable: {exc}"))
            return
        self._on_error(exc, self._remote)

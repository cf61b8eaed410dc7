"""DTLS connections of the client, configured from a Security object instance.

``coaps://`` in /0/x/0 selects DTLS; Security Mode /0/x/2 picks the
credentials (Core TS 1.1 E.1):

* 0 PSK: identity /0/x/3, key /0/x/5;
* 2 certificate: own certificate /0/x/3, server certificate /0/x/4, private
  key /0/x/5, all DER. Certificate Usage /0/x/15 (default 3) says how /0/x/4
  is used: 1 and 3 pin the server's end-entity certificate to it byte for
  byte, 0 and 2 make it the trust anchor its chain must lead to. SNI /0/x/14
  is sent and, with a trust anchor, checked against the certificate;
* DTLS/TLS Ciphersuite /0/x/16 (IANA values), when present, restricts the
  offered suites to the listed ones this stack knows; else the LwM2M
  mandatory suites of the mode are offered;
* 3 NoSec, 1 raw public key and 4 EST are refused with the reason
  (:class:`DtlsSecurityError`, see
  :func:`~lwm2m.transport.dtls.credentials_for_security_mode`).

Every failure to open the session is an ``OSError``
(:class:`~lwm2m.transport.dtls.DtlsError`), so the client reports it as a
network error and backs off.

Session loss. A server that restarts forgets its sessions and silently drops
the client's records; RFC 6347 4.2.8 lets the client start a new handshake.
:class:`SessionKeeper` wraps the client transport: when ``silent_limit``
confirmable CoAP messages in a row left without any datagram coming back, it
handshakes again, and the message that tripped it leaves in the new session.
A server that ended the session with an alert is handled by the transport
itself (the next send handshakes again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.transport.base import Address, DatagramTransport, TransportWrapper
from lwm2m.transport.dtls import (
    DtlsClientTransport,
    DtlsError,
    DtlsHandshakeError,
    credentials_for_security_mode,
)
from lwm2m.transport.dtls_common import CertificateCredentials, PskCredentials

__all__ = [
    "CIPHER_SUITE_NAMES",
    "DtlsSecurityError",
    "SessionKeeper",
    "dtls_cipher_suites",
    "dtls_credentials",
    "open_dtls_endpoint",
]

log = logging.getLogger(__name__)

SEC_MODE, SEC_IDENTITY, SEC_SERVER_KEY, SEC_SECRET = 2, 3, 4, 5
SEC_SNI, SEC_CERT_USAGE, SEC_CIPHERSUITES = 14, 15, 16

#: IANA TLS cipher suite values (RFC 5289, 5487, 6655, 7251) of the suites offered.
CIPHER_SUITE_NAMES: dict[int, str] = {
    0xC0A8: "TLS_PSK_WITH_AES_128_CCM_8",
    0xC0A4: "TLS_PSK_WITH_AES_128_CCM",
    0x00AE: "TLS_PSK_WITH_AES_128_CBC_SHA256",
    0x00A8: "TLS_PSK_WITH_AES_128_GCM_SHA256",
    0xC0AE: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
    0xC0AC: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
}

#: Certificate Usage /0/x/15 (RFC 6698 2.1.1 values); 3 when the resource is missing.
_USAGE_PINNED = frozenset({1, 3})  # service certificate / domain-issued certificate
_USAGE_ANCHOR = frozenset({0, 2})  # CA constraint / trust anchor assertion
_DEFAULT_USAGE = 3

#: RFC 6347 4.2.4.1 recommends 1 s for the first handshake retransmission.
_FIRST_RETRANSMIT = 1.0
_MIN_HANDSHAKE_TIME = 2.0


class DtlsSecurityError(DtlsError):
    """The Security instance cannot give DTLS credentials (mode, key material)."""


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    return b""


def _certificate_usage(security: dict[int, Any]) -> int:
    usage = security.get(SEC_CERT_USAGE, _DEFAULT_USAGE)
    if not isinstance(usage, int) or usage not in _USAGE_PINNED | _USAGE_ANCHOR:
        raise DtlsSecurityError(f"Certificate Usage /0/x/15 {usage!r} is not 0..3")
    return usage


def dtls_credentials(security: dict[int, Any]) -> PskCredentials | CertificateCredentials:
    """The credentials of a ``coaps://`` Security instance (resource id -> value).

    Raises :class:`DtlsSecurityError` naming the reason when there are none.
    """
    mode = security.get(SEC_MODE)
    if not isinstance(mode, int):
        raise DtlsSecurityError("Security Mode /0/x/2 is missing")
    try:
        creds = credentials_for_security_mode(
            mode,
            _bytes(security.get(SEC_IDENTITY)),
            _bytes(security.get(SEC_SERVER_KEY)),
            _bytes(security.get(SEC_SECRET)),
        )
    except (NotImplementedError, ValueError) as exc:
        raise DtlsSecurityError(str(exc)) from None
    if creds is None:
        raise DtlsSecurityError(
            "a coaps:// server needs Security Mode 0 (PSK) or 2 (certificate), not 3 (NoSec)"
        )
    if isinstance(creds, PskCredentials):
        return creds
    if not creds.trusted:
        raise DtlsSecurityError("certificate mode needs the server certificate in /0/x/4")
    pin = _certificate_usage(security) in _USAGE_PINNED
    return CertificateCredentials(creds.certificate, creds.private_key, creds.trusted, (), pin)


def dtls_cipher_suites(
    security: dict[int, Any], creds: PskCredentials | CertificateCredentials
) -> list[str] | None:
    """The suites /0/x/16 asks for that suit the credentials; None: the mode's defaults."""
    listed = security.get(SEC_CIPHERSUITES)
    if listed is None:
        return None
    codes: list[Any] = list(listed.values()) if isinstance(listed, dict) else [listed]
    if not codes:
        return None
    kind = "TLS_PSK_" if isinstance(creds, PskCredentials) else "TLS_ECDHE_ECDSA_"
    names = [
        name
        for code in codes
        if (name := CIPHER_SUITE_NAMES.get(code)) is not None and name.startswith(kind)
    ]
    if not names:
        shown = ", ".join(f"0x{c:04X}" if isinstance(c, int) else repr(c) for c in codes)
        raise DtlsSecurityError(
            f"none of the cipher suites in /0/x/16 ({shown}) is supported for this security mode"
        )
    return names


def _handshake_timing(params: TransmissionParams | None) -> tuple[float, float]:
    """First retransmission delay and bound of the whole handshake.

    A handshake is bounded like one CoAP request (MAX_TRANSMIT_WAIT, RFC 7252
    4.8.2) so that a silent server fails in the time a request would.
    """
    p = params if params is not None else TransmissionParams()
    initial = min(_FIRST_RETRANSMIT, p.ack_timeout)
    return initial, max(_MIN_HANDSHAKE_TIME, p.max_transmit_wait)


async def open_dtls_endpoint(
    local_host: str,
    remote: Address,
    security: dict[int, Any],
    *,
    params: TransmissionParams | None = None,
    handshake_timeout: float | None = None,
    silent_limit: int = 3,
    wrap: Callable[[DatagramTransport], DatagramTransport] | None = None,
) -> Endpoint:
    """Handshake with ``remote`` using the credentials of ``security``; wrap it in an Endpoint.

    ``wrap`` puts a layer between the session and the Endpoint (the client's
    queue-mode receive gate, for instance).

    Raises :class:`~lwm2m.transport.dtls.DtlsHandshakeError` when the
    handshake fails and :class:`DtlsSecurityError` for an unusable Security
    instance; both are ``OSError``.
    """
    creds = dtls_credentials(security)
    psk = creds if isinstance(creds, PskCredentials) else None
    cert = creds if isinstance(creds, CertificateCredentials) else None
    ciphers = dtls_cipher_suites(security, creds)
    sni = security.get(SEC_SNI)
    initial, bound = _handshake_timing(params)
    try:
        transport = await DtlsClientTransport.connect(
            remote,
            psk=psk,
            certificate=cert,
            ciphers=ciphers,
            handshake_timeout=bound if handshake_timeout is None else handshake_timeout,
            retransmit_initial=initial,
            local_addr=(local_host, 0),
            server_hostname=sni if isinstance(sni, str) and sni else None,
        )
    except ValueError as exc:  # key material Mbed TLS cannot parse
        raise DtlsSecurityError(str(exc)) from None
    log.info("DTLS session with %s: %s", remote, transport.cipher_suite)
    keeper: DatagramTransport = SessionKeeper(transport, silent_limit=silent_limit)
    return Endpoint(keeper if wrap is None else wrap(keeper), params=params)


def _is_confirmable(datagram: bytes) -> bool:
    # RFC 7252 3: version 1 in the two top bits, type CON (0) in the next two.
    return len(datagram) >= 4 and datagram[0] >> 4 == 0b0100


class SessionKeeper(TransportWrapper[DtlsClientTransport]):
    """A client DTLS transport that handshakes again when the server stops answering.

    ``silent_limit`` confirmable messages sent in a row with nothing received
    meanwhile (a retransmission counts) mean the server lost the session; a
    failed new handshake goes to the error callback, which fails the
    requests in flight.
    """

    def __init__(self, inner: DtlsClientTransport, *, silent_limit: int = 3) -> None:
        if silent_limit < 1:
            raise ValueError("silent_limit must be at least 1")
        super().__init__(inner)
        self._limit = silent_limit
        self._unanswered = 0
        self._task: asyncio.Task[None] | None = None
        self.rehandshakes = 0
        """New handshakes started because the server stopped answering."""

    @property
    def cipher_suite(self) -> str:
        return self._inner.cipher_suite

    def _received(self, data: bytes, remote: Address) -> None:
        self._unanswered = 0
        self._on_datagram(data, remote)

    def send(self, data: bytes, remote: Address) -> None:
        if _is_confirmable(data) and not self._inner.is_closed:
            self._unanswered += 1
            if self._unanswered >= self._limit and self._task is None:
                self._rehandshake(remote)
                # The task's first step (it drops the old session and starts the
                # handshake) runs before this callback, so the datagram waits in
                # the transport's queue and leaves in the new session.
                asyncio.get_running_loop().call_soon(self._inner.send, data, remote)
                return
        self._inner.send(data, remote)

    def _rehandshake(self, remote: Address) -> None:
        log.info(
            "DTLS: %d confirmable messages to %s unanswered; handshaking again",
            self._unanswered,
            remote,
        )
        self.rehandshakes += 1
        self._task = asyncio.ensure_future(self._run_rehandshake(remote))

    async def _run_rehandshake(self, remote: Address) -> None:
        try:
            await self._inner.rehandshake()
        except DtlsHandshakeError as exc:
            self._on_error(exc, remote)
        except DtlsError as exc:
            if not self._inner.is_closed:
                self._on_error(exc, remote)
        else:
            log.info("DTLS session with %s renewed (%s)", remote, self._inner.cipher_suite)
        finally:
            self._unanswered = 0
            self._task = None

    def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        self._inner.close()  # sends close_notify when a session is up

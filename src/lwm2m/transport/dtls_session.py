"""One DTLS association over Mbed TLS memory buffers, without I/O.

A :class:`DtlsSession` takes received datagrams and returns the datagrams to
send; the asyncio transports move them. Mbed TLS keeps the RFC 6347 4.2.4
retransmission timer itself (its clock, the configured initial and maximum
timeout) and resends a flight when :meth:`DtlsSession.handshake` is called
after it expired; :attr:`DtlsSession.retransmit_delay` mirrors that timer so
the caller knows when to call again.

Mbed TLS reads one whole datagram per receive, so exactly one datagram is
fed at a time and fully processed before the next.
"""

from __future__ import annotations

import logging
from typing import Any

from mbedtls import tls as mtls
from mbedtls.exceptions import TLSError

from .dtls_common import DtlsHandshakeError, DtlsSessionClosed, negotiated_suite

__all__ = ["MAX_DATAGRAM", "DtlsSession", "is_initial_client_hello"]

_log = logging.getLogger(__name__)

# RFC 6347 4.1: 13-byte record header; 2^14 plaintext plus 2048 expansion.
_RECORD_HEADER = 13
MAX_DATAGRAM = 2**14 + 2048 + _RECORD_HEADER
_CONTENT_HANDSHAKE = 22
_HANDSHAKE_CLIENT_HELLO = 1
_MAX_STEPS = 64
_READ_SIZE = 2**14 + 1
# One read buffer for every association: decrypt() copies what it read out before
# it returns and never awaits in between, so sessions cannot see each other's
# data; a buffer per session cost 16 KiB each (160 MiB for 10,000 sessions).
_READ_VIEW = memoryview(bytearray(_READ_SIZE))

# The stubs type the members as int; at run time they are HandshakeStep members.
_OVER: Any = mtls.HandshakeStep.HANDSHAKE_OVER
_HELLO_STATES: frozenset[Any] = frozenset(
    {mtls.HandshakeStep.HELLO_REQUEST, mtls.HandshakeStep.CLIENT_HELLO}
)

# Mbed TLS error codes (negated) that mean the association is gone.
_PEER_CLOSE_NOTIFY = 0x7880
_TIMEOUT = 0x6800


def is_initial_client_hello(data: bytes) -> bool:
    """True for a record that starts a handshake: epoch 0 ClientHello (RFC 6347 4.2.8).

    A server answers nothing else from an unknown address, which keeps random
    datagrams and plaintext CoAP from allocating any state.
    """
    return (
        len(data) > _RECORD_HEADER + 12
        and data[0] == _CONTENT_HANDSHAKE
        and data[1] == 0xFE  # DTLS major version byte (1's complement of 1)
        and data[3] == 0
        and data[4] == 0  # epoch 0
        and data[_RECORD_HEADER] == _HANDSHAKE_CLIENT_HELLO
    )


_CONTENT_ALERT = 21
_FATAL_ALERT_RECEIVED = 0x7780
#: Alert descriptions (RFC 5246 7.2, RFC 4279 2 for unknown_psk_identity).
_ALERTS: dict[int, str] = {
    10: "unexpected_message",
    20: "bad_record_mac",
    40: "handshake_failure",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    115: "unknown_psk_identity",
}
#: What an alert during a PSK or certificate handshake usually means.
_ALERT_HINTS: dict[int, str] = {
    51: "wrong key?",
    20: "wrong key?",
    115: "identity unknown to the peer",
    42: "certificate refused",
    46: "certificate refused",
    48: "certificate from a CA the peer does not trust",
}


def plaintext_alert(datagram: bytes) -> int | None:
    """The description of an unencrypted (epoch 0) alert record in ``datagram``.

    During a handshake a peer's fatal alert is in the clear (RFC 6347 4.1);
    Mbed TLS only reports that one arrived, this tells which.
    """
    offset = 0
    while offset + _RECORD_HEADER <= len(datagram):
        length = int.from_bytes(datagram[offset + 11 : offset + 13], "big")
        body = offset + _RECORD_HEADER
        if (
            datagram[offset] == _CONTENT_ALERT
            and datagram[offset + 3 : offset + 5] == b"\0\0"  # epoch 0
            and length == 2
            and body + 2 <= len(datagram)
        ):
            return datagram[body + 1]  # level, then description
        offset = body + length
    return None


def _alert_text(description: int) -> str:
    name = _ALERTS.get(description, "alert")
    hint = _ALERT_HINTS.get(description)
    return f"peer sent fatal alert {name} ({description})" + (f": {hint}" if hint else "")


def _tls_error_text(exc: TLSError) -> str:
    err = getattr(exc, "err", None)
    msg = getattr(exc, "msg", "") or type(exc).__name__
    return f"{msg} (-0x{err:04X})" if isinstance(err, int) else str(msg)


class DtlsSession:
    """A client or server association on one Mbed TLS buffer pair."""

    __slots__ = (
        "_buffer",
        "_retransmit_initial",
        "_retransmit_max",
        "established",
        "peer_alert",
        "retransmissions",
        "retransmit_delay",
        "unsent",
    )

    def __init__(
        self,
        buffer: mtls.TLSWrappedBuffer,
        *,
        retransmit_initial: float,
        retransmit_max: float,
    ) -> None:
        self._buffer = buffer
        self._retransmit_initial = retransmit_initial
        self._retransmit_max = retransmit_max
        self.established = False
        self.peer_alert: int | None = None
        """Description of the last unencrypted alert the peer sent while handshaking."""
        self.retransmissions = 0
        self.retransmit_delay = retransmit_initial
        self.unsent: list[bytes] = []
        """Output of a failed handshake step (the fatal alert) still to be sent."""

    @property
    def buffer(self) -> mtls.TLSWrappedBuffer:
        return self._buffer

    @property
    def cipher_suite(self) -> str:
        return negotiated_suite(self._buffer) if self.established else ""

    @property
    def past_hello(self) -> bool:
        """A server session that accepted a ClientHello with a valid cookie."""
        return self._buffer._handshake_state not in _HELLO_STATES

    def feed(self, datagram: bytes) -> None:
        """Hand one received datagram to Mbed TLS."""
        ring: Any = self._buffer._input_buffer
        if not ring.empty():
            ring.clear()  # leftovers of an earlier datagram Mbed TLS rejected
        self._buffer.receive_from_network(datagram)
        if not self.established:
            alert = plaintext_alert(datagram)
            if alert is not None:
                self.peer_alert = alert

    def _drain(self, out: list[bytes]) -> None:
        buffer = self._buffer
        pending = len(buffer._output_buffer)
        if pending:
            out.append(buffer.peek_outgoing(pending))
            buffer.consume_outgoing(pending)

    def handshake(self, *, timer: bool = False) -> tuple[list[bytes], bool]:
        """Advance the handshake as far as the fed data allows.

        Returns the datagrams to send and whether a HelloVerifyRequest was
        sent (server: the buffer is spent, the next ClientHello needs a new
        session). ``timer`` says the call comes from the retransmission timer,
        so output is a retransmission and the next delay doubles. Raises
        :class:`DtlsHandshakeError` when the handshake failed.
        """
        buffer = self._buffer
        out: list[bytes] = []
        try:
            for _ in range(_MAX_STEPS):
                if buffer._handshake_state is _OVER:
                    break
                try:
                    buffer.do_handshake()
                except mtls.WantWriteError:
                    self._drain(out)
                except mtls.WantReadError:
                    break
                except mtls.HelloVerifyRequest:
                    self._drain(out)
                    return out, True
        except TLSError as exc:
            self._drain(out)  # the fatal alert for the peer, when Mbed TLS wrote one
            self.unsent = out
            if getattr(exc, "err", None) == _TIMEOUT:
                raise DtlsHandshakeError(
                    f"handshake timed out after {self.retransmissions} retransmissions"
                ) from None
            err = getattr(exc, "err", None)
            if err == _FATAL_ALERT_RECEIVED and self.peer_alert is not None:
                raise DtlsHandshakeError(
                    f"handshake failed: {_alert_text(self.peer_alert)}"
                ) from None
            raise DtlsHandshakeError(f"handshake failed: {_tls_error_text(exc)}") from None
        self._drain(out)
        if buffer._handshake_state is _OVER:
            self.established = True
        elif out:
            if timer:
                self.retransmissions += 1
                self.retransmit_delay = min(self.retransmit_delay * 2, self._retransmit_max)
            else:
                self.retransmit_delay = self._retransmit_initial
        return out, False

    def encrypt(self, plaintext: bytes) -> bytes:
        """One application data record (one datagram) for ``plaintext``."""
        buffer = self._buffer
        try:
            pending = buffer.write(plaintext)
        except TLSError as exc:
            raise DtlsSessionClosed(f"cannot encrypt: {_tls_error_text(exc)}") from None
        record = buffer.peek_outgoing(pending)
        buffer.consume_outgoing(pending)
        return record

    def decrypt(self, out: list[bytes]) -> list[bytes]:
        """Application data of the fed datagram; protocol output goes to ``out``.

        Records that do not authenticate are dropped silently by Mbed TLS
        (RFC 6347 4.1.2.1). Raises :class:`DtlsSessionClosed` when the peer
        sent close_notify or a fatal alert.
        """
        buffer = self._buffer
        view = _READ_VIEW
        plain: list[bytes] = []
        for _ in range(_MAX_STEPS):
            try:
                n = buffer.readinto(view, _READ_SIZE)  # type: ignore[arg-type]
            except mtls.WantReadError:
                break
            except mtls.WantWriteError:
                # A handshake flight to resend (the peer retransmitted its last one).
                self._drain(out)
                continue
            except mtls.RaggedEOF:
                self.established = False
                raise DtlsSessionClosed("peer closed the session") from None
            except TLSError as exc:
                self.established = False
                if getattr(exc, "err", None) == _PEER_CLOSE_NOTIFY:
                    raise DtlsSessionClosed("peer sent close_notify") from None
                raise DtlsSessionClosed(f"session ended: {_tls_error_text(exc)}") from None
            plain.append(view[:n].tobytes())
        self._drain(out)
        return plain

    def close_notify(self) -> bytes:
        """The close_notify alert to send (RFC 5246 7.2.1); the session ends."""
        if not self.established:
            return b""
        self.established = False
        out: list[bytes] = []
        try:
            self._buffer.shutdown()
        except TLSError:
            return b""
        self._drain(out)
        return b"".join(out)

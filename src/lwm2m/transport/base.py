"""The datagram transport interface every CoAP endpoint runs on.

A transport moves whole datagrams between this host and peers identified by
an :data:`Address`. Plain UDP (:mod:`lwm2m.transport.udp`) and DTLS implement
it; the CoAP layers above never see which one they use.

Contract:

* :meth:`DatagramTransport.send` never blocks and never raises for network
  conditions: failures are reported through the error callback.
* Received datagrams are delivered to the receive callback installed with
  :meth:`DatagramTransport.set_callbacks`, with the peer address normalised to
  ``(host, port)`` (IPv6 scope, when present, is part of ``host`` as ``%scope``).
* Errors reported by the operating system (ICMP port/host unreachable and the
  like) go to the error callback with the peer address when it is known, else
  ``None``. They never propagate as exceptions into the event loop.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

__all__ = ["Address", "DatagramTransport", "ErrorCallback", "ReceiveCallback"]

Address = tuple[str, int]
"""A peer as ``(host, port)``; ``host`` is a numeric IPv4 or IPv6 address."""

ReceiveCallback = Callable[[bytes, Address], None]
ErrorCallback = Callable[[OSError, Address | None], None]


def _ignore_datagram(data: bytes, remote: Address) -> None:
    return None


def _ignore_error(exc: OSError, remote: Address | None) -> None:
    return None


class DatagramTransport(abc.ABC):
    """Abstract datagram transport (UDP, DTLS)."""

    def __init__(self) -> None:
        self._on_datagram: ReceiveCallback = _ignore_datagram
        self._on_error: ErrorCallback = _ignore_error

    def set_callbacks(self, on_datagram: ReceiveCallback, on_error: ErrorCallback) -> None:
        """Install the receive and error callbacks (replacing earlier ones)."""
        self._on_datagram = on_datagram
        self._on_error = on_error

    @abc.abstractmethod
    def send(self, data: bytes, remote: Address) -> None:
        """Queue one datagram for ``remote``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop receiving and release the socket; idempotent."""

    @property
    @abc.abstractmethod
    def local_address(self) -> Address:
        """The bound ``(host, port)``."""

    def peer_identity(self, remote: Address) -> bytes | str | None:
        """The authenticated identity of ``remote`` (DTLS PSK identity or certificate
        subject); None for transports without authentication."""
        return None

    @property
    @abc.abstractmethod
    def is_closed(self) -> bool:
        """True once :meth:`close` was called or the socket was lost."""

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
from typing import Generic, TypeVar

__all__ = [
    "Address",
    "DatagramTransport",
    "ErrorCallback",
    "ReceiveCallback",
    "TransportWrapper",
]

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

    # Slots all the way down: a fleet holds a few transports per simulated device
    # and a __dict__ per instance would be most of their size.
    __slots__ = ("_on_datagram", "_on_error")

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


_Inner = TypeVar("_Inner", bound=DatagramTransport)


class TransportWrapper(DatagramTransport, Generic[_Inner]):
    """A transport that adds behaviour around another one, :attr:`inner`.

    Everything a subclass does not override goes through unchanged: datagrams
    and errors from ``inner`` reach this transport's callbacks (through
    :meth:`_received` and :meth:`_error`, which a subclass may extend), sends,
    closing, the local address, peer identities and the closed state are
    those of ``inner``.
    """

    __slots__ = ("_inner",)

    def __init__(self, inner: _Inner) -> None:
        super().__init__()
        self._inner = inner
        self._attach()

    def set_callbacks(self, on_datagram: ReceiveCallback, on_error: ErrorCallback) -> None:
        super().set_callbacks(on_datagram, on_error)
        self._attach()

    def _attach(self) -> None:
        # A hook the subclass does not extend is skipped: ``inner`` calls the
        # callback above directly, which saves a bound method per wrapper (a
        # fleet has two wrappers per device) and a call per datagram or error.
        cls = type(self)
        self._inner.set_callbacks(
            self._on_datagram if cls._received is TransportWrapper._received else self._received,
            self._on_error if cls._error is TransportWrapper._error else self._error,
        )

    @property
    def inner(self) -> _Inner:
        return self._inner

    def _received(self, data: bytes, remote: Address) -> None:
        self._on_datagram(data, remote)

    def _error(self, exc: OSError, remote: Address | None) -> None:
        self._on_error(exc, remote)

    def send(self, data: bytes, remote: Address) -> None:
        self._inner.send(data, remote)

    def close(self) -> None:
        self._inner.close()

    @property
    def local_address(self) -> Address:
        return self._inner.local_address

    def peer_identity(self, remote: Address) -> bytes | str | None:
        return self._inner.peer_identity(remote)

    @property
    def is_closed(self) -> bool:
        return self._inner.is_closed

"""TransportWrapper: hooks a subclass does not extend are skipped, the others run."""

from __future__ import annotations

from lwm2m.transport.base import Address, DatagramTransport, TransportWrapper
from lwm2m.transport.udp import UdpTransport

PEER: Address = ("127.0.0.1", 5683)


class Plain(TransportWrapper[DatagramTransport]):
    pass


class Extending(TransportWrapper[DatagramTransport]):
    __slots__ = ("log",)

    def __init__(self, inner: DatagramTransport) -> None:
        self.log: list[str] = []
        super().__init__(inner)

    def _received(self, data: bytes, remote: Address) -> None:
        self.log.append("received")
        super()._received(data, remote)

    def _error(self, exc: OSError, remote: Address | None) -> None:
        self.log.append("error")
        super()._error(exc, remote)


class Sink:
    def __init__(self) -> None:
        self.datagrams: list[tuple[bytes, Address]] = []
        self.errors: list[Address | None] = []

    def datagram(self, data: bytes, remote: Address) -> None:
        self.datagrams.append((data, remote))

    def error(self, exc: OSError, remote: Address | None) -> None:
        self.errors.append(remote)


def test_a_plain_wrapper_hands_the_callbacks_down() -> None:
    inner = UdpTransport()  # never bound: its callbacks play the network
    wrapper = Plain(inner)
    sink = Sink()
    wrapper.set_callbacks(sink.datagram, sink.error)
    assert inner._on_datagram == sink.datagram and inner._on_error == sink.error
    inner._on_datagram(b"in", PEER)
    inner._on_error(ConnectionRefusedError(), PEER)
    assert sink.datagrams == [(b"in", PEER)] and sink.errors == [PEER]


def test_extended_hooks_see_everything_and_later_callbacks_replace_earlier() -> None:
    inner = UdpTransport()
    wrapper = Extending(Plain(inner))
    inner._on_datagram(b"before any callback", PEER)  # dropped, as without a wrapper
    first, second = Sink(), Sink()
    wrapper.set_callbacks(first.datagram, first.error)
    inner._on_datagram(b"one", PEER)
    wrapper.set_callbacks(second.datagram, second.error)
    inner._on_datagram(b"two", PEER)
    inner._on_error(OSError("x"), None)
    assert wrapper.log == ["received", "received", "received", "error"]
    assert first.datagrams == [(b"one", PEER)] and first.errors == []
    assert second.datagrams == [(b"two", PEER)] and second.errors == [None]

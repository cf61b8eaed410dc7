"""CountingTransport: counts datagrams and bytes both ways and forwards everything."""

from __future__ import annotations

import asyncio

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.transport.base import Address, DatagramTransport
from lwm2m.transport.counting import CountingTransport, TrafficCounters
from lwm2m.transport.udp import UdpTransport

PEER: Address = ("127.0.0.1", 5683)


class FakeTransport(DatagramTransport):
    """Records what is sent; ``deliver``/``fail`` play the network."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[bytes, Address]] = []
        self.closed = False
        self.close_calls = 0

    def send(self, data: bytes, remote: Address) -> None:
        if self.closed:
            self._on_error(OSError("transport is closed"), remote)
            return
        self.sent.append((data, remote))

    def close(self) -> None:
        self.close_calls += 1
        self.closed = True

    @property
    def local_address(self) -> Address:
        return ("127.0.0.1", 40000)

    def peer_identity(self, remote: Address) -> bytes | str | None:
        return b"identity-" + remote[0].encode()

    @property
    def is_closed(self) -> bool:
        return self.closed

    def deliver(self, data: bytes, remote: Address = PEER) -> None:
        self._on_datagram(data, remote)

    def fail(self, exc: OSError, remote: Address | None = PEER) -> None:
        self._on_error(exc, remote)


class Sink:
    def __init__(self) -> None:
        self.datagrams: list[tuple[bytes, Address]] = []
        self.errors: list[tuple[OSError, Address | None]] = []

    def datagram(self, data: bytes, remote: Address) -> None:
        self.datagrams.append((data, remote))

    def error(self, exc: OSError, remote: Address | None) -> None:
        self.errors.append((exc, remote))


def _wrapped() -> tuple[FakeTransport, CountingTransport, TrafficCounters, Sink]:
    inner = FakeTransport()
    counters = TrafficCounters()
    counting = CountingTransport(inner, counters)
    sink = Sink()
    counting.set_callbacks(sink.datagram, sink.error)
    return inner, counting, counters, sink


def test_sent_datagrams_are_forwarded_and_counted() -> None:
    inner, counting, counters, _ = _wrapped()
    counting.send(b"x" * 30, PEER)
    counting.send(b"y" * 70, ("::1", 5684))
    assert inner.sent == [(b"x" * 30, PEER), (b"y" * 70, ("::1", 5684))]
    assert (counters.tx_messages, counters.tx_bytes) == (2, 100)
    assert (counters.rx_messages, counters.rx_bytes) == (0, 0)
    assert counters.max_message_size == 70
    assert counters.average_message_size == 50


def test_received_datagrams_are_forwarded_and_counted() -> None:
    inner, _, counters, sink = _wrapped()
    inner.deliver(b"a" * 10)
    inner.deliver(b"b" * 500, ("127.0.0.2", 9))
    assert sink.datagrams == [(b"a" * 10, PEER), (b"b" * 500, ("127.0.0.2", 9))]
    assert (counters.rx_messages, counters.rx_bytes) == (2, 510)
    assert counters.tx_messages == 0
    assert counters.max_message_size == 500
    assert counters.average_message_size == 255


def test_errors_are_forwarded_and_not_counted() -> None:
    inner, _, counters, sink = _wrapped()
    exc = ConnectionRefusedError(111, "port unreachable")
    inner.fail(exc)
    inner.fail(OSError("lost"), None)
    assert sink.errors[0] == (exc, PEER)
    assert sink.errors[1][1] is None
    assert counters.messages == 0 and counters.tx_bytes == counters.rx_bytes == 0


def test_send_on_a_closed_transport_reports_the_error_and_counts_nothing() -> None:
    inner, counting, counters, sink = _wrapped()
    counting.close()
    assert inner.close_calls == 1 and counting.is_closed
    counting.send(b"late", PEER)
    assert inner.sent == []
    assert [str(e) for e, _ in sink.errors] == ["transport is closed"]
    assert counters.tx_messages == 0 and counters.tx_bytes == 0


def test_address_identity_and_close_are_forwarded() -> None:
    inner, counting, _, _ = _wrapped()
    assert counting.local_address == ("127.0.0.1", 40000)
    assert counting.peer_identity(PEER) == b"identity-127.0.0.1"
    assert counting.inner is inner
    assert not counting.is_closed
    counting.close()
    counting.close()
    assert inner.close_calls == 2  # idempotence is the inner transport's business
    assert counting.is_closed


def test_disabled_counters_count_nothing_but_traffic_still_flows() -> None:
    inner, counting, counters, sink = _wrapped()
    counters.enabled = False
    counting.send(b"out", PEER)
    inner.deliver(b"in")
    assert inner.sent == [(b"out", PEER)] and sink.datagrams == [(b"in", PEER)]
    assert counters.messages == 0 and counters.max_message_size == 0
    counters.enabled = True
    counting.send(b"out", PEER)
    assert counters.tx_bytes == 3


def test_counters_are_shared_by_successive_transports() -> None:
    counters = TrafficCounters()
    first = CountingTransport(FakeTransport(), counters)
    first.send(b"1234", PEER)
    first.close()
    second = CountingTransport(FakeTransport(), counters)  # a reconnect
    second.send(b"56", PEER)
    assert (counters.tx_messages, counters.tx_bytes) == (2, 6)
    counters.reset()
    assert counters.messages == 0 and counters.tx_bytes == counters.max_message_size == 0


async def test_coap_exchange_over_udp_loopback_is_counted_both_ways() -> None:
    server = Endpoint(await UdpTransport.create("127.0.0.1", 0))
    server.add_resource("/big", lambda req, remote: Message(code=Code.CONTENT, payload=b"z" * 300))
    counters = TrafficCounters()
    client = Endpoint(CountingTransport(await UdpTransport.create("127.0.0.1", 0), counters))
    try:
        async with asyncio.timeout(5):
            answer = await client.get("/big", remote=server.local_address)
        assert answer.payload == b"z" * 300
        assert counters.tx_messages == 1 and counters.rx_messages == 1
        # The request carries at least its 4-byte header, token and "big" option;
        # the response its header and the 300-byte payload after the 0xFF marker.
        assert 4 + 4 <= counters.tx_bytes < 40
        assert 4 + 1 + 300 <= counters.rx_bytes < 340
        assert counters.max_message_size == counters.rx_bytes
    finally:
        await client.close()
        await server.close()

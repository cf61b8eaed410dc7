"""UDP transport: IPv4/IPv6 loopback, address normalisation, errors as callbacks."""

from __future__ import annotations

import asyncio

import pytest

from lwm2m.transport.base import Address, DatagramTransport
from lwm2m.transport.udp import UdpTransport


class Sink:
    def __init__(self) -> None:
        self.datagrams: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()
        self.errors: list[tuple[OSError, Address | None]] = []

    def on_datagram(self, data: bytes, remote: Address) -> None:
        self.datagrams.put_nowait((data, remote))

    def on_error(self, exc: OSError, remote: Address | None) -> None:
        self.errors.append((exc, remote))


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_send_and_receive(host: str) -> None:
    a = await UdpTransport.create(host, 0)
    b = await UdpTransport.create(host, 0)
    sink_a, sink_b = Sink(), Sink()
    a.set_callbacks(sink_a.on_datagram, sink_a.on_error)
    b.set_callbacks(sink_b.on_datagram, sink_b.on_error)
    try:
        assert isinstance(a, DatagramTransport)
        a.send(b"ping", b.local_address)
        data, remote = await asyncio.wait_for(sink_b.datagrams.get(), 2)
        assert data == b"ping"
        assert remote == a.local_address  # (host, port), no flowinfo/scope for IPv6
        assert len(remote) == 2
        b.send(b"pong", remote)
        data, remote = await asyncio.wait_for(sink_a.datagrams.get(), 2)
        assert (data, remote) == (b"pong", b.local_address)
    finally:
        a.close()
        b.close()
    assert a.is_closed and b.is_closed
    a.close()  # idempotent


async def test_errors_go_to_the_callback_not_the_loop() -> None:
    t = await UdpTransport.create("127.0.0.1", 0)
    sink = Sink()
    t.set_callbacks(sink.on_datagram, sink.on_error)
    try:
        t.send(b"x", ("::1", 5683))  # wrong family: fails synchronously
        assert sink.errors and sink.errors[0][1] == ("::1", 5683)
        t.send(b"x", ("not an address", -1))  # bad address
        assert len(sink.errors) == 2
    finally:
        t.close()
    t.send(b"x", ("127.0.0.1", 9))
    assert "closed" in str(sink.errors[-1][0])


async def test_dual_stack_socket() -> None:
    t = await UdpTransport.create("::", 0)
    v4 = await UdpTransport.create("127.0.0.1", 0)
    sink = Sink()
    t.set_callbacks(sink.on_datagram, sink.on_error)
    try:
        v4.send(b"hi", ("127.0.0.1", t.local_address[1]))
        data, remote = await asyncio.wait_for(sink.datagrams.get(), 2)
        assert data == b"hi"
        assert remote == ("::ffff:127.0.0.1", v4.local_address[1])
    finally:
        t.close()
        v4.close()

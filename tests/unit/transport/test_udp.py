"""UDP transport on a bare non-blocking socket: errors, backpressure, close, footprint.

The basic send/receive and address normalisation tests are in
tests/unit/coap/test_transport.py; these cover the paths the socket-level
implementation handles itself (what asyncio's datagram transport used to).
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import pytest

from lwm2m.transport.base import Address, DatagramTransport, TransportWrapper
from lwm2m.transport.counting import CountingTransport, TrafficCounters
from lwm2m.transport.tracing import TracingTransport
from lwm2m.transport.udp import MAX_DATAGRAM, UdpTransport

HOSTS = ["127.0.0.1", "::1"]


class Sink:
    def __init__(self) -> None:
        self.datagrams: list[tuple[bytes, Address]] = []
        self.errors: list[tuple[OSError, Address | None]] = []
        self.changed = asyncio.Event()

    def on_datagram(self, data: bytes, remote: Address) -> None:
        self.datagrams.append((data, remote))
        self.changed.set()

    def on_error(self, exc: OSError, remote: Address | None) -> None:
        self.errors.append((exc, remote))
        self.changed.set()

    async def until(self, done: Any, timeout: float = 2.0) -> None:
        async def wait() -> None:
            while not done():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)


async def _transport(host: str, **kwargs: Any) -> tuple[UdpTransport, Sink]:
    t = await UdpTransport.create(host, 0, **kwargs)
    sink = Sink()
    t.set_callbacks(sink.on_datagram, sink.on_error)
    return t, sink


def _raw(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.settimeout(2)
    return sock


def _free_port(host: str) -> int:
    """A port nothing listens on (bound, then released)."""
    with _raw(host) as sock:
        return int(sock.getsockname()[1])


class _FullSocket:
    """The transport's socket with a kernel send buffer that is full while ``full``
    is set (loopback UDP practically never returns EAGAIN by itself)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.full = True
        self.attempts = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def recvfrom(self, size: int) -> tuple[bytes, Any]:
        return self.sock.recvfrom(size)

    def _attempt(self) -> None:
        self.attempts += 1
        if self.full:
            raise BlockingIOError(11, "Resource temporarily unavailable")

    def sendto(self, data: bytes, remote: Address) -> int:
        self._attempt()
        return self.sock.sendto(data, remote)

    def send(self, data: bytes) -> int:
        self._attempt()
        return self.sock.send(data)

    def close(self) -> None:
        self.sock.close()


def _fill(t: UdpTransport) -> _FullSocket:
    real = t._sock
    assert real is not None
    stub = _FullSocket(real)
    t._sock = stub  # type: ignore[assignment]
    return stub


# -- footprint ---------------------------------------------------------------


async def test_per_socket_objects_have_no_instance_dict() -> None:
    t = await UdpTransport.create("127.0.0.1", 0)
    try:
        wrapped = TracingTransport(CountingTransport(t, TrafficCounters()))
        for obj in (t, wrapped, wrapped.inner):
            assert not hasattr(obj, "__dict__"), type(obj)
        assert t._queue is None  # no send queue until the kernel buffer fills
    finally:
        t.close()


async def test_subclasses_without_slots_still_work() -> None:
    class Tagged(UdpTransport):
        def __init__(self) -> None:
            super().__init__()
            self.tag = "x"

    class Passthrough(TransportWrapper[DatagramTransport]):
        pass

    t = await Tagged.create("127.0.0.1", 0)
    peer, sink = await _transport("127.0.0.1")
    try:
        assert isinstance(t, Tagged) and t.tag == "x"
        Passthrough(t).send(b"hi", peer.local_address)
        await sink.until(lambda: sink.datagrams)
        assert sink.datagrams == [(b"hi", t.local_address)]
    finally:
        t.close()
        peer.close()


# -- receiving ---------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
async def test_garbage_and_largest_datagrams_arrive_whole(host: str) -> None:
    t, sink = await _transport(host)
    raw = _raw(host)
    try:
        largest = 65507 if host == "127.0.0.1" else 65527  # 64 KiB minus the IP/UDP headers
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 18)
        junk = [b"\x00", b"\xff" * 40, os.urandom(1500), os.urandom(largest)]
        for data in junk:
            raw.sendto(data, t.local_address)
        await sink.until(lambda: len(sink.datagrams) == len(junk))
        assert [d for d, _ in sink.datagrams] == junk
        assert {r for _, r in sink.datagrams} == {raw.getsockname()[:2]}
        assert largest < MAX_DATAGRAM
        assert sink.errors == [] and not t.is_closed
    finally:
        raw.close()
        t.close()


@pytest.mark.parametrize("host", HOSTS)
async def test_oversized_send_is_an_error_not_an_exception(host: str) -> None:
    t, sink = await _transport(host)
    peer, peer_sink = await _transport(host)
    try:
        t.send(b"x" * 70000, peer.local_address)
        assert len(sink.errors) == 1
        exc, remote = sink.errors[0]
        assert isinstance(exc, OSError) and remote == peer.local_address
        t.send(b"after", peer.local_address)  # the socket still works
        await peer_sink.until(lambda: peer_sink.datagrams)
        assert peer_sink.datagrams == [(b"after", t.local_address)]
    finally:
        t.close()
        peer.close()


async def test_bad_ports_are_errors_and_leave_the_socket_open() -> None:
    t, sink = await _transport("127.0.0.1")
    try:
        t.send(b"x", ("127.0.0.1", 70000))  # OverflowError inside sendto
        t.send(b"x", ("127.0.0.1", "port"))  # type: ignore[arg-type]  # TypeError
        assert [r for _, r in sink.errors] == [("127.0.0.1", 70000), ("127.0.0.1", "port")]
        assert all(isinstance(e, OSError) for e, _ in sink.errors)
        assert not t.is_closed
    finally:
        t.close()


async def test_empty_datagrams_are_not_sent() -> None:
    t, _ = await _transport("127.0.0.1")
    peer, sink = await _transport("127.0.0.1")
    try:
        t.send(b"", peer.local_address)
        t.send(b"next", peer.local_address)
        await sink.until(lambda: sink.datagrams)
        await asyncio.sleep(0.02)
        assert sink.datagrams == [(b"next", t.local_address)]
    finally:
        t.close()
        peer.close()


async def test_an_unexpected_read_failure_goes_to_the_loop_and_closes() -> None:
    t, sink = await _transport("127.0.0.1")
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    real = t._sock
    assert real is not None

    class Broken(_FullSocket):
        def recvfrom(self, size: int) -> tuple[bytes, Any]:
            raise RuntimeError("boom")

    t._sock = Broken(real)  # type: ignore[assignment]
    try:
        with _raw("127.0.0.1") as raw:
            raw.sendto(b"x", t.local_address)
            for _ in range(100):
                if t.is_closed:
                    break
                await asyncio.sleep(0.01)
        assert t.is_closed and real.fileno() == -1
        assert [str(c["exception"]) for c in seen] == ["boom"]
        assert sink.datagrams == [] and sink.errors == []
    finally:
        loop.set_exception_handler(None)
        t.close()


# -- ICMP errors -------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
async def test_port_unreachable_reaches_the_error_callback(host: str) -> None:
    nobody = (host, _free_port(host))
    t, sink = await _transport(host, connect=nobody)
    try:
        t.send(b"anyone?", nobody)
        # The ICMP report surfaces on the socket, outside send(): no peer attached.
        await sink.until(lambda: sink.errors)
        exc, remote = sink.errors[0]
        assert isinstance(exc, ConnectionRefusedError) and remote is None
        assert not t.is_closed
        # Once a listener is there, the same socket carries on.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as back:
            back.bind(nobody)
            back.settimeout(2)
            t.send(b"again", nobody)
            data, addr = back.recvfrom(100)
            assert data == b"again" and addr[:2] == t.local_address
            back.sendto(b"reply", t.local_address)
            await sink.until(lambda: sink.datagrams)
        assert sink.datagrams == [(b"reply", nobody)]
    finally:
        t.close()


async def test_pending_icmp_error_surfacing_in_send_names_the_peer() -> None:
    nobody = ("127.0.0.1", _free_port("127.0.0.1"))
    t, sink = await _transport("127.0.0.1", connect=nobody)
    try:
        loop = asyncio.get_running_loop()
        assert t._sock is not None
        loop.remove_reader(t._sock.fileno())  # keep the error on the socket for send()
        t.send(b"one", nobody)
        await asyncio.sleep(0.05)
        t.send(b"two", nobody)
        assert len(sink.errors) == 1
        exc, remote = sink.errors[0]
        assert isinstance(exc, ConnectionRefusedError) and remote == nobody
    finally:
        t.close()


# -- connected sockets, IPv6 -------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
async def test_connected_socket_talks_to_its_peer_only(host: str) -> None:
    peer, peer_sink = await _transport(host)
    t, sink = await _transport(host, connect=peer.local_address)
    stranger = _raw(host)
    try:
        assert len(t.local_address) == 2 and t.local_address[0] == host
        t.send(b"hello", peer.local_address)
        await peer_sink.until(lambda: peer_sink.datagrams)
        assert peer_sink.datagrams == [(b"hello", t.local_address)]
        stranger.sendto(b"not for you", t.local_address)  # the kernel filters it
        peer.send(b"answer", t.local_address)
        await sink.until(lambda: sink.datagrams)
        await asyncio.sleep(0.02)
        assert sink.datagrams == [(b"answer", peer.local_address)]
    finally:
        stranger.close()
        t.close()
        peer.close()


# -- backpressure ------------------------------------------------------------


@pytest.mark.parametrize("connect", [False, True])
async def test_full_kernel_buffer_queues_in_order_until_writable(connect: bool) -> None:
    peer, peer_sink = await _transport("127.0.0.1")
    t, sink = await _transport("127.0.0.1", connect=peer.local_address if connect else None)
    stub = _fill(t)
    try:
        t.send(b"1", peer.local_address)  # EAGAIN: the queue appears
        assert t._queue is not None and len(t._queue) == 1
        t.send(b"2", peer.local_address)  # behind the first, without trying the kernel
        assert stub.attempts == 1
        await asyncio.sleep(0.02)  # writable, still full: nothing lost, nothing reordered
        assert stub.attempts > 1 and len(t._queue) == 2
        stub.full = False
        t.send(b"3", peer.local_address)
        await peer_sink.until(lambda: len(peer_sink.datagrams) == 3)
        assert [d for d, _ in peer_sink.datagrams] == [b"1", b"2", b"3"]
        assert t._queue is None  # drained: back to the idle footprint, writer removed
        attempts = stub.attempts
        await asyncio.sleep(0.02)
        assert stub.attempts == attempts
        assert sink.errors == []
    finally:
        t.close()
        peer.close()


async def test_errors_while_draining_have_no_peer_and_the_rest_still_goes() -> None:
    peer, peer_sink = await _transport("127.0.0.1")
    t, sink = await _transport("127.0.0.1")
    _fill(t)
    try:
        t.send(b"1", peer.local_address)
        t.send(b"x" * 70000, peer.local_address)  # EMSGSIZE once the kernel takes it
        t.send(b"3", ("127.0.0.1", 70000))  # OverflowError once tried
        t.send(b"4", peer.local_address)
        assert sink.errors == []
        t._sock.full = False  # type: ignore[union-attr]
        await peer_sink.until(lambda: len(peer_sink.datagrams) == 2)
        assert [d for d, _ in peer_sink.datagrams] == [b"1", b"4"]
        assert [r for _, r in sink.errors] == [None, None]
        assert all(isinstance(e, OSError) for e, _ in sink.errors)
        assert t._queue is None and not t.is_closed
    finally:
        t.close()
        peer.close()


async def test_close_sends_what_is_queued_then_closes_the_socket() -> None:
    peer, peer_sink = await _transport("127.0.0.1")
    t, sink = await _transport("127.0.0.1")
    stub = _fill(t)
    try:
        t.send(b"1", peer.local_address)
        t.send(b"2", peer.local_address)
        t.close()
        assert t.is_closed and stub.sock.fileno() != -1  # waiting to drain
        t.send(b"late", peer.local_address)
        assert "closed" in str(sink.errors[-1][0])
        peer.send(b"to a closing socket", t.local_address)  # no reader any more
        await asyncio.sleep(0.02)
        stub.full = False
        await peer_sink.until(lambda: len(peer_sink.datagrams) == 2)
        assert [d for d, _ in peer_sink.datagrams] == [b"1", b"2"]
        for _ in range(100):
            if stub.sock.fileno() == -1:
                break
            await asyncio.sleep(0.01)
        assert stub.sock.fileno() == -1 and t._sock is None
        assert sink.datagrams == []
        t.close()  # still harmless
    finally:
        t.close()
        peer.close()


# -- closing -----------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
async def test_close_twice_and_after_close(host: str) -> None:
    t, sink = await _transport(host)
    peer, _ = await _transport(host)
    sock = t._sock
    assert sock is not None
    try:
        peer.send(b"in flight", t.local_address)
        await asyncio.sleep(0)
        t.close()
        assert t.is_closed and sock.fileno() == -1  # closed at once, nothing queued
        t.close()
        assert t.is_closed
        t._read_ready()  # a wake-up queued before close(): ignored
        await asyncio.sleep(0.02)
        assert sink.datagrams == []
        t.send(b"x", peer.local_address)
        assert len(sink.errors) == 1 and "closed" in str(sink.errors[0][0])
        assert sink.errors[0][1] == peer.local_address
        assert t.local_address[1] != 0  # still known after close
    finally:
        peer.close()


async def test_a_closed_port_can_be_bound_again_at_once() -> None:
    t = await UdpTransport.create("127.0.0.1", 0)
    port = t.local_address[1]
    t.close()
    again = await UdpTransport.create("127.0.0.1", port)
    again.close()


async def test_unused_instance_is_closed_harmlessly() -> None:
    t = UdpTransport()
    sink = Sink()
    t.set_callbacks(sink.on_datagram, sink.on_error)
    t.close()
    t.send(b"x", ("127.0.0.1", 9))
    assert "closed" in str(sink.errors[0][0])

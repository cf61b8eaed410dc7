"""Fixtures for the CoAP endpoint tests: wrapped transports, raw UDP peers, polling."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.transport.base import Address, TransportWrapper
from lwm2m.transport.udp import UdpTransport

FAST = TransmissionParams(ack_timeout=0.05, ack_random_factor=1.5, empty_ack_delay=0.02)


class WrappedTransport(TransportWrapper[UdpTransport]):
    """Wraps a real UDP transport to record, drop or duplicate datagrams."""

    def __init__(self, inner: UdpTransport, seed: int = 0) -> None:
        super().__init__(inner)
        self.rng = random.Random(seed)
        self.drop_out = 0.0
        self.drop_in = 0.0
        self.dup_out = 0.0
        self.sent: list[tuple[Message, Address]] = []
        self.received: list[tuple[Message, Address]] = []
        self.dropped = 0
        self.record = True

    @classmethod
    async def create(cls, host: str = "127.0.0.1", seed: int = 0) -> WrappedTransport:
        return cls(await UdpTransport.create(host, 0), seed)

    def _received(self, data: bytes, remote: Address) -> None:
        if self.drop_in and self.rng.random() < self.drop_in:
            self.dropped += 1
            return
        if self.record:
            self.received.append((Message.decode(data), remote))
        self._on_datagram(data, remote)

    def send(self, data: bytes, remote: Address) -> None:
        if self.record:
            self.sent.append((Message.decode(data), remote))
        if self.drop_out and self.rng.random() < self.drop_out:
            self.dropped += 1
            return
        self.inner.send(data, remote)
        if self.dup_out and self.rng.random() < self.dup_out:
            self.inner.send(data, remote)


async def wrapped_endpoint(
    host: str = "127.0.0.1", seed: int = 0, **kwargs: object
) -> tuple[Endpoint, WrappedTransport]:
    transport = await WrappedTransport.create(host, seed)
    kwargs.setdefault("params", FAST)
    return Endpoint(transport, **kwargs), transport  # type: ignore[arg-type]


async def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    """Poll until ``predicate()`` holds (bounded)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


class RawPeer(asyncio.DatagramProtocol):
    """A bare UDP socket for hand-made datagrams; replies via ``reply`` if set."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.queue: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()
        self.reply: Callable[[bytes], bytes | None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        remote = (str(addr[0]), int(addr[1]))
        if self.reply is not None:
            answer = self.reply(data)
            if answer is not None and self.transport is not None:
                self.transport.sendto(answer, remote)
        self.queue.put_nowait((data, remote))

    def send(self, data: bytes, remote: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, remote)

    @property
    def address(self) -> Address:
        assert self.transport is not None
        sockname = self.transport.get_extra_info("sockname")
        return (sockname[0], sockname[1])

    async def next(self, timeout: float = 2.0) -> tuple[bytes, Address]:
        return await asyncio.wait_for(self.queue.get(), timeout)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def raw_peer(host: str = "127.0.0.1") -> RawPeer:
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(RawPeer, local_addr=(host, 0))
    return peer


WrappedFactory = Callable[..., Awaitable[tuple[Endpoint, WrappedTransport]]]
RawPeerFactory = Callable[..., Awaitable[RawPeer]]


@pytest.fixture
def fast_params() -> TransmissionParams:
    return FAST


@pytest.fixture
async def make_wrapped() -> AsyncIterator[WrappedFactory]:
    """``await make_wrapped(seed=..., **endpoint_kwargs)``; closed at teardown."""
    made: list[Endpoint] = []

    async def factory(
        host: str = "127.0.0.1", seed: int = 0, **kwargs: object
    ) -> tuple[Endpoint, WrappedTransport]:
        ep, transport = await wrapped_endpoint(host, seed, **kwargs)
        made.append(ep)
        return ep, transport

    yield factory
    for ep in made:
        await ep.close()


@pytest.fixture
async def make_endpoint() -> AsyncIterator[Callable[..., Awaitable[Endpoint]]]:
    """``await make_endpoint(host="127.0.0.1", **endpoint_kwargs)``; closed at teardown."""
    made: list[Endpoint] = []

    async def factory(host: str = "127.0.0.1", **kwargs: object) -> Endpoint:
        kwargs.setdefault("params", FAST)
        ep = await Endpoint.create_udp(host, 0, **kwargs)  # type: ignore[arg-type]
        made.append(ep)
        return ep

    yield factory
    for ep in made:
        await ep.close()


@pytest.fixture
async def make_raw_peer() -> AsyncIterator[RawPeerFactory]:
    """``await make_raw_peer()``: a bare UDP socket, closed at teardown."""
    made: list[RawPeer] = []

    async def factory(host: str = "127.0.0.1") -> RawPeer:
        peer = await raw_peer(host)
        made.append(peer)
        return peer

    yield factory
    for peer in made:
        peer.close()


@pytest.fixture
def poll() -> Callable[..., Awaitable[None]]:
    """``await poll(predicate, timeout=3.0)``."""
    return wait_for

"""A server flooded with parallel Block1 transfers holds no more than its limits.

One plain-UDP peer opens many Block1 Register transfers at once (each with
its own query, so each is a separate body) and then goes silent. The server
keeps at most the per-peer bound, answers the rest 5.03 with Max-Age, and
drops what it holds when the transfer timeout passes, with no further
traffic. The figures (held, refused, RSS) are printed for ``pytest -s``.
"""

from __future__ import annotations

import asyncio
import os
import resource
from collections.abc import AsyncIterator

import pytest

from lwm2m.coap.limits import Limits
from lwm2m.coap.message import BlockOption, Message
from lwm2m.coap.numbers import Code
from lwm2m.server import Server
from lwm2m.transport.base import Address

HOST = "127.0.0.1"
SZX = 6  # 1024-byte blocks


def rss_mb() -> float:
    """Resident set size now (Linux), else the peak."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


class Peer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: asyncio.Queue[Message] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.answers.put_nowait(Message.decode(data))


async def open_peer(server: Address) -> Peer:
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(Peer, remote_addr=server)
    return peer


def register_block(i: int, num: int, mid: int) -> bytes:
    msg = Message.request(
        Code.POST,
        "/rd",
        query=[f"ep=flood-{i}", "lt=300"],
        payload=bytes([i & 0xFF]) * 1024,
        token=mid.to_bytes(3, "big"),
    )
    msg.mid = mid & 0xFFFF
    msg.block1 = BlockOption(num, True, SZX)
    return msg.encode()


@pytest.fixture
async def flooded() -> AsyncIterator[Server]:
    server = Server(HOST, 0, limits=Limits(transfer_timeout=1.0))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_300_parallel_block1_transfers_from_one_peer(flooded: Server) -> None:
    server = flooded
    endpoint = server.endpoint
    per_peer = endpoint.limits.block1_per_peer
    peer = await open_peer(server.coap_address)
    assert peer.transport is not None
    before = rss_mb()
    most = 0
    got: list[Message] = []
    try:
        for i in range(300):
            peer.transport.sendto(register_block(i, 0, i))
            await asyncio.sleep(0)
            most = max(most, endpoint.held()["block1"])
        async with asyncio.timeout(5):
            while len(got) < 300:
                got.append(await peer.answers.get())
                most = max(most, endpoint.held()["block1"])
        during = rss_mb()
        held = endpoint.held()
        continued = [m for m in got if m.code is Code.CONTINUE]
        refused = [m for m in got if m.code is Code.SERVICE_UNAVAILABLE]
        assert len(continued) == per_peer and len(refused) == 300 - per_peer
        assert all(m.max_age == endpoint.limits.retry_after for m in refused)
        assert most <= per_peer and held["block1"] == per_peer
        # The peer goes silent; the timer alone clears what it opened.
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with asyncio.timeout(4):
            while endpoint.held()["block1"]:
                await asyncio.sleep(0.05)
        gone_after = loop.time() - start
        assert endpoint.held()["block1_bytes"] == 0
        assert peer.answers.empty()  # nothing was sent to make it happen
        print(
            f"\n300 parallel Block1 transfers from one peer: at most {most} held "
            f"(bound {per_peer}), {len(refused)} refused with 5.03 Max-Age "
            f"{endpoint.limits.retry_after}; all dropped {gone_after:.2f} s after the flood "
            f"with no traffic; RSS {before:.1f} MB before, {during:.1f} MB during, "
            f"{rss_mb():.1f} MB after"
        )
    finally:
        if peer.transport is not None:
            peer.transport.close()


@pytest.mark.slow
async def test_many_peers_with_large_bodies_stay_within_the_total_bounds() -> None:
    limits = Limits(transfer_timeout=2.0)
    server = Server(HOST, 0, limits=limits)
    await server.start()
    peers = [await open_peer(server.coap_address) for _ in range(40)]
    endpoint = server.endpoint
    before = rss_mb()
    most = 0
    codes: dict[Code, int] = {}
    try:
        # 40 peers x 10 transfers x up to 160 blocks of 1 KiB: 64 MB if all were kept.
        for num in range(160):
            for p, peer in enumerate(peers):
                assert peer.transport is not None
                for t in range(10):
                    i = p * 10 + t
                    peer.transport.sendto(register_block(i, num, (num << 12) | i))
                await asyncio.sleep(0)
            await asyncio.sleep(0.01)
            most = max(most, endpoint.held()["block1"])
            for peer in peers:
                while not peer.answers.empty():
                    code = peer.answers.get_nowait().code
                    codes[code] = codes.get(code, 0) + 1
        held = endpoint.held()
        during = rss_mb()
        assert most <= limits.block1_total
        assert held["block1_bytes"] <= limits.block1_buffered_total
        async with asyncio.timeout(8):
            while endpoint.held()["block1"]:
                await asyncio.sleep(0.1)
        print(
            f"\n400 transfers from 40 peers, 160 blocks each: at most {most} held "
            f"(bound {limits.block1_total}), {held['block1_bytes'] / 1e6:.1f} MB buffered "
            f"(bound {limits.block1_buffered_total / 1e6:.1f}); answers "
            f"{ {str(k): v for k, v in codes.items()} }; RSS {before:.1f} MB before, "
            f"{during:.1f} MB during, {rss_mb():.1f} MB after expiry"
        )
    finally:
        for peer in peers:
            if peer.transport is not None:
                peer.transport.close()
        await server.stop()

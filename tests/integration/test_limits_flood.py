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
        token=i.to_bytes(2, "big"),
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


async def upload(peer: Peer, first: int, count: int, blocks: int, codes: dict[str, int]) -> None:
    """``count`` transfers of ``blocks`` blocks each, every block sent after the 2.31 of
    the previous one (resent when its answer is lost); a transfer stops at its first
    other answer."""
    transport = peer.transport
    assert transport is not None
    progress = {first + t: 0 for t in range(count)}
    sent: dict[int, tuple[int, bytes]] = {}
    mid = first << 6
    for i in progress:
        mid += 1
        sent[i] = (mid & 0xFFFF, register_block(i, 0, mid))
        transport.sendto(sent[i][1])
    while sent:
        try:
            answer = await asyncio.wait_for(peer.answers.get(), 0.5)
        except TimeoutError:
            for _, data in sent.values():
                transport.sendto(data)  # same Message ID: the server answers it again
            continue
        i = int.from_bytes(answer.token, "big")
        if i not in sent or sent[i][0] != answer.mid:
            continue  # a repeated answer
        name = str(answer.code)
        codes[name] = codes.get(name, 0) + 1
        if answer.code is not Code.CONTINUE or progress[i] + 1 >= blocks:
            del sent[i]
            continue
        progress[i] += 1
        mid += 1
        sent[i] = (mid & 0xFFFF, register_block(i, progress[i], mid))
        transport.sendto(sent[i][1])


@pytest.mark.slow
async def test_many_peers_with_large_bodies_stay_within_the_total_bounds() -> None:
    limits = Limits(transfer_timeout=2.0, block1_total=128, block1_buffered_total=8 << 20)
    server = Server(HOST, 0, limits=limits)
    await server.start()
    peers = [await open_peer(server.coap_address) for _ in range(40)]
    endpoint = server.endpoint
    before = rss_mb()
    most = {"block1": 0, "block1_bytes": 0}
    codes: dict[str, int] = {}

    async def watch() -> None:
        while True:
            held = endpoint.held()
            for key in most:
                most[key] = max(most[key], held[key])
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        # 40 peers x 10 transfers x 160 blocks of 1 KiB: 64 MB if everything were kept.
        async with asyncio.timeout(60):
            await asyncio.gather(*(upload(p, n * 10, 10, 160, codes) for n, p in enumerate(peers)))
        during = rss_mb()
        assert most["block1"] <= limits.block1_total
        assert most["block1_bytes"] <= limits.block1_buffered_total
        assert codes.get(str(Code.SERVICE_UNAVAILABLE), 0) > 0
        async with asyncio.timeout(8):
            while endpoint.held()["block1"]:
                await asyncio.sleep(0.1)
        print(
            f"\n400 transfers of 160 KiB from 40 peers: at most {most['block1']} held "
            f"(bound {limits.block1_total}), at most {most['block1_bytes'] / 1e6:.1f} MB "
            f"buffered (bound {limits.block1_buffered_total / 1e6:.1f}); answers {codes}; "
            f"RSS {before:.1f} MB before, {during:.1f} MB at the end of the flood, "
            f"{rss_mb():.1f} MB after expiry"
        )
    finally:
        watcher.cancel()
        for peer in peers:
            if peer.transport is not None:
                peer.transport.close()
        await server.stop()

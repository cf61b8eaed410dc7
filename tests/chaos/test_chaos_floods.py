"""Floods: parallel Block1 transfers, garbage datagrams, DTLS ClientHellos.

The server runs in this process with its default :class:`Limits`; its resident
set size is read before (after a warm-up registration) and after each flood.
The growth must stay bounded, and the server must go on serving a well-behaved
client during or right after the flood. Each test prints its figures.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from pathlib import Path as FsPath

import pytest
from chaos_support import (
    HOST,
    captured_client_hello,
    hello_verify_cookie,
    hello_with_cookie,
    open_flooder,
    rss_mb,
)

sys.path.insert(0, str(FsPath(__file__).parents[1] / "integration"))
from dtls_lwm2m_support import (
    BINDING,
    OTHER_IDENTITY,
    OTHER_KEY,
    PSK_STORE,
    EventLog,
    coaps_uri,
    dtls_device,
)

from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.limits import Limits
from lwm2m.coap.message import BlockOption, Message
from lwm2m.coap.numbers import Code, Type, dotted
from lwm2m.model import ResourceNode
from lwm2m.objects import Device
from lwm2m.server import Server
from lwm2m.transport.dtls import DtlsServerTransport
from lwm2m.transport.mixed import identity_text

pytestmark = pytest.mark.timeout(60)

GROWTH_BOUND_MB = 30.0
FAST = TransmissionParams(ack_timeout=0.2, ack_random_factor=1.0, max_retransmit=2)
ACME = ResourceNode(0, "Acme")


def device(name: str, server: Server) -> Client:
    client = Client(name, transmission=FAST)
    host, port = server.coap_address
    client.add_server(f"coap://{host}:{port}", short_server_id=101, lifetime=300)
    Device(client.store, manufacturer="Acme", model="M1", serial="SN-1", firmware_version="1.0")
    return client


async def serves(server: Server, name: str) -> float:
    """A new client registers and is read; how long that took (seconds)."""
    started = time.monotonic()
    client = device(name, server)
    try:
        await client.start()
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=10)
        assert await server.read(name, "/3/0/0", timeout=5) == ACME
    finally:
        await client.stop()
    return time.monotonic() - started


def block1_register(i: int, num: int, mid: int) -> bytes:
    """Block ``num`` (more to come) of a Register body of its own (one query per transfer)."""
    msg = Message.request(
        Code.POST,
        "/rd",
        query=[f"ep=flood-{i}", "lt=300"],
        payload=bytes([i & 0xFF]) * 1024,
        token=i.to_bytes(2, "big"),
    )
    msg.mid = mid & 0xFFFF
    msg.block1 = BlockOption(num, True, 6)
    return msg.encode()


async def collect(queue: asyncio.Queue[bytes], count: int, timeout: float) -> list[Message]:
    out: list[Message] = []
    try:
        async with asyncio.timeout(timeout):
            while len(out) < count:
                out.append(Message.decode(await queue.get()))
    except TimeoutError:
        pass
    return out


async def test_block1_flood_from_one_peer() -> None:
    limits = Limits()
    server = Server(HOST, 0, limits=limits, transmission=FAST)
    await server.start()
    flooder = await open_flooder(server.coap_address)
    try:
        await serves(server, "warm-up")
        before = rss_mb()
        for i in range(300):
            flooder.send(block1_register(i, 0, i))
            await asyncio.sleep(0)  # the server reads one datagram per loop turn
        first = await collect(flooder.answers, 300, 10)
        accepted = [int.from_bytes(m.token, "big") for m in first if m.code is Code.CONTINUE]
        for n, i in enumerate(accepted):
            flooder.send(block1_register(i, 1, 1000 + n))
        second = await collect(flooder.answers, len(accepted), 10)
        held = server.endpoint.held()
        during = rss_mb()
        took = await serves(server, "after-block1")
        codes: dict[str, int] = {}
        for m in first + second:
            codes[dotted(m.code)] = codes.get(dotted(m.code), 0) + 1
        growth = during - before
        figures = (
            f"300 parallel Block1 transfers from one peer: answers {codes}; held "
            f"{held['block1']} transfers / {held['block1_bytes']} bytes (bound "
            f"{limits.block1_per_peer} per peer); RSS {before:.1f} -> {during:.1f} MB "
            f"(+{growth:.1f} MB, bound {GROWTH_BOUND_MB:.0f}); a new client registered and "
            f"was read {took:.2f} s after"
        )
        print("\n" + figures)
        assert len(first) == 300, figures
        assert len(accepted) <= limits.block1_per_peer, figures
        assert codes.get("5.03", 0) >= 300 - limits.block1_per_peer, figures
        assert held["block1"] <= limits.block1_per_peer, figures
        assert growth < GROWTH_BOUND_MB, figures
    finally:
        flooder.close()
        await server.stop()


def garbage(rng: random.Random, count: int) -> list[bytes]:
    """Random bytes, CoAP-looking headers with random rest, broken and odd requests."""
    out: list[bytes] = []
    valid = Message.request(Code.GET, "/3/0/0", token=b"ab").encode()
    for n in range(count):
        kind = n % 5
        if kind == 0:
            out.append(rng.randbytes(rng.randrange(0, 1200)))
        elif kind == 1:  # version 1, any type and token length, any code, junk options
            first = 0x40 | rng.randrange(0x40)
            head = bytes([first, rng.randrange(256)]) + rng.randbytes(2)
            out.append(head + rng.randbytes(rng.randrange(0, 300)))
        elif kind == 2:
            out.append(valid[: rng.randrange(0, len(valid))])
        elif kind == 3:  # requests to odd paths with odd queries
            path = "/" + "/".join(rng.choice(["rd", "dp", "x", "3", "..", "%00"]) for _ in "ab")
            msg = Message.request(
                rng.choice([Code.GET, Code.POST, Code.PUT, Code.DELETE, Code.FETCH]),
                path,
                query=[rng.randbytes(rng.randrange(0, 20)).hex()],
                payload=rng.randbytes(rng.randrange(0, 200)),
                token=rng.randbytes(rng.randrange(0, 9)),
            )
            msg.mid = rng.randrange(0x10000)
            out.append(msg.encode())
        else:  # empty messages, resets and acknowledgements nobody asked for
            msg = Message(rng.choice(list(Type)), Code.EMPTY, rng.randrange(0x10000), b"")
            out.append(msg.encode())
    return out


async def test_garbage_datagrams(caplog: pytest.LogCaptureFixture) -> None:
    server = Server(HOST, 0, transmission=FAST)
    await server.start()
    flooders = [await open_flooder(server.coap_address) for _ in range(10)]
    try:
        await serves(server, "warm-up")
        before = rss_mb()
        with caplog.at_level(logging.WARNING, logger="lwm2m"):
            for n, data in enumerate(garbage(random.Random(1000), 1000)):
                flooders[n % 10].send(data)
                await asyncio.sleep(0)
            await asyncio.sleep(0.5)
            took = await serves(server, "after-garbage")
        during = rss_mb()
        answers = [flooder.answers.qsize() for flooder in flooders]
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        growth = during - before
        figures = (
            f"1000 garbage datagrams from 10 sockets: {sum(answers)} answers (RST, 4.xx); "
            f"{len(errors)} errors logged; RSS {before:.1f} -> {during:.1f} MB "
            f"(+{growth:.1f} MB, bound {GROWTH_BOUND_MB:.0f}); a new client registered and "
            f"was read {took:.2f} s after"
        )
        print("\n" + figures)
        assert errors == [], figures
        assert sum(answers) > 0, figures
        assert growth < GROWTH_BOUND_MB, figures
    finally:
        for flooder in flooders:
            flooder.close()
        await server.stop()


async def test_dtls_client_hello_flood() -> None:
    limits = Limits()
    transport = await DtlsServerTransport.create(
        HOST, 0, psk_store=PSK_STORE, **limits.dtls_options()
    )
    server = Server(
        HOST,
        0,
        transport=transport,
        identity_of=lambda remote: identity_text(transport.peer_identity(remote)),
        authorize=BINDING,
        transmission=FAST,
        limits=limits,
    )
    await server.start()
    uri = coaps_uri(transport.local_address)
    # The flood comes from another loopback address, as another host would.
    attacker = "127.0.0.2"
    hellos = [await open_flooder(transport.local_address, attacker) for _ in range(50)]
    halfopen = [await open_flooder(transport.local_address, attacker) for _ in range(300)]
    first = dtls_device(uri)
    second = dtls_device(uri, "dev2", identity=OTHER_IDENTITY, secret=OTHER_KEY)
    try:
        first_log = EventLog(first)
        await first.start()
        await first_log.wait(RdEvent.REGISTRATION_COMPLETE, timeout=10)
        assert await server.read("dev1", "/3/0/0", timeout=5) == ACME
        hello = await captured_client_hello()
        before = rss_mb()
        started = time.monotonic()
        # 1000 first ClientHellos: each gets a stateless HelloVerifyRequest
        for n in range(1000):
            hellos[n % 50].send(hello)
            await asyncio.sleep(0)
        await asyncio.sleep(0.3)
        verify_requests = sum(f.answers.qsize() for f in hellos)
        # 300 handshakes taken past the cookie exchange, then abandoned (half-open)
        for flooder in halfopen:
            flooder.send(hello)
            await asyncio.sleep(0)
        await asyncio.sleep(0.3)
        completed_cookie = 0
        for flooder in halfopen:
            cookie = None
            while not flooder.answers.empty() and cookie is None:
                cookie = hello_verify_cookie(flooder.answers.get_nowait())
            if cookie is not None:
                flooder.send(hello_with_cookie(hello, cookie))
                completed_cookie += 1
                await asyncio.sleep(0)
        await asyncio.sleep(0.3)
        half_open = transport.handshake_count
        flood_time = time.monotonic() - started
        # a legitimate client from another address handshakes and registers meanwhile
        log = EventLog(second)
        await second.start()
        await log.wait(RdEvent.REGISTRATION_COMPLETE, timeout=10)
        assert await server.read("dev2", "/3/0/0", timeout=5) == ACME
        during = rss_mb()
        growth = during - before
        figures = (
            f"DTLS ClientHello flood from {attacker}: 1000 first hellos from 50 ports -> "
            f"{verify_requests} HelloVerifyRequests (stateless); 300 ports echoed "
            f"{completed_cookie} cookies -> {half_open} half-open handshakes "
            f"held (bound {limits.dtls_handshakes_per_address} per address), "
            f"{transport.refused_handshakes} hellos refused; flood took {flood_time:.2f} s; "
            f"another client registered during it; RSS {before:.1f} -> {during:.1f} MB "
            f"(+{growth:.1f} MB, bound {GROWTH_BOUND_MB:.0f})"
        )
        print("\n" + figures)
        assert verify_requests >= 900, figures  # stateless answers, a few lost in the kernel
        assert half_open <= limits.dtls_handshakes_per_address, figures
        assert transport.refused_handshakes > 0, figures
        assert growth < GROWTH_BOUND_MB, figures
    finally:
        for flooder in hellos + halfopen:
            flooder.close()
        await second.stop(deregister=False)
        await first.stop(deregister=False)
        await server.stop()

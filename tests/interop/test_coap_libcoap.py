"""Interoperability with libcoap 4.3 (Debian ``libcoap3-bin``) in both roles.

``coap-client-notls`` against our Endpoint (the demo server of ``interop_support``):
GET, NON GET, PUT/POST/DELETE, Block2 and Block1 transfers of 4 KiB with several block
sizes (RFC 7959), Observe for a few notifications (RFC 7641). Then our Endpoint as a
client of ``coap-server-notls`` and its built-in resources (``/.well-known/core``,
``/``, ``/time``, ``/example_data``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the shared interop_support module
from interop_support import (
    BIG,
    HOST,
    TEXT,
    ClientFactory,
    DemoServer,
    at_least,
    free_udp_port,
    run_tool,
    stop_process,
    wait_until,
)

from lwm2m.coap import (
    BlockOption,
    Code,
    ContentFormat,
    Endpoint,
    Message,
    OptionNumber,
    RequestError,
    Type,
)
from lwm2m.transport.base import Address

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(60),
    pytest.mark.usefixtures("no_stack_errors"),
]

TIMEOUT = 10.0
# -B: libcoap gives up after this many seconds of waiting (the default is 90).
WAIT = "5"


def _assert_block_run(blocks: list[BlockOption], size: int, total: int) -> None:
    """A complete, in-order run of ``size``-byte blocks covering ``total`` bytes."""
    count = total // size
    assert [b.num for b in blocks] == list(range(count)), blocks
    assert {b.size for b in blocks} == {size}, blocks
    assert [b.more for b in blocks] == [True] * (count - 1) + [False], blocks


# ============================================== coap-client-notls -> our server


async def test_libcoap_get(demo_server: DemoServer, coap_client_bin: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = await run_tool(
        [coap_client_bin, "-B", WAIT, "-v", "6", "-o", str(out), demo_server.uri + "/text"]
    )
    assert run.returncode == 0, run.describe()
    assert out.read_bytes() == TEXT
    # libcoap's dump of what it received: piggybacked 2.05 with our Content-Format.
    assert b"t:ACK c:2.05" in run.stdout, run.describe()
    assert b"Content-Format:text/plain" in run.stdout, run.describe()


async def test_libcoap_non_get(demo_server: DemoServer, coap_client_bin: str) -> None:
    run = await run_tool([coap_client_bin, "-B", WAIT, "-N", "-v", "6", demo_server.uri + "/text"])
    assert run.returncode == 0, run.describe()
    assert b"t:NON c:2.05" in run.stdout, run.describe()  # RFC 7252 5.2.3
    assert TEXT in run.stdout


async def test_libcoap_token_is_echoed(demo_server: DemoServer, coap_client_bin: str) -> None:
    run = await run_tool([coap_client_bin, "-B", WAIT, "-T", "cafe", demo_server.uri + "/text"])
    assert run.returncode == 0, run.describe()
    request = demo_server.transport.messages(outgoing=False)[0]
    response = demo_server.transport.messages(outgoing=True)[0]
    # -T is libcoap's starting point: it sends a token derived from it.
    assert request.token.startswith(b"caf")
    assert response.token == request.token and response.payload == TEXT


async def test_libcoap_put_post_get_delete(demo_server: DemoServer, coap_client_bin: str) -> None:
    uri = demo_server.uri + "/store"
    run = await run_tool(
        [coap_client_bin, "-B", WAIT, "-m", "put", "-e", "put-body", "-t", "0", uri]
    )
    assert run.returncode == 0, run.describe()
    assert demo_server.store.payload == b"put-body"
    assert demo_server.store.content_format == ContentFormat.TEXT_PLAIN
    assert demo_server.transport.messages(outgoing=True)[-1].code is Code.CHANGED

    run = await run_tool(
        [coap_client_bin, "-B", WAIT, "-m", "post", "-e", "post-body", "-t", "42", "-v", "6", uri]
    )
    assert run.returncode == 0, run.describe()
    assert demo_server.store.payload == b"post-body"
    assert demo_server.store.content_format == ContentFormat.OCTET_STREAM
    assert b"c:2.01" in run.stdout and b"Location-Path:store, Location-Path:1" in run.stdout

    run = await run_tool([coap_client_bin, "-B", WAIT, "-o", "-", uri])
    assert run.returncode == 0, run.describe()
    assert run.stdout == b"post-body"

    run = await run_tool([coap_client_bin, "-B", WAIT, "-m", "delete", "-v", "6", uri])
    assert run.returncode == 0, run.describe()
    assert b"c:2.02" in run.stdout
    assert demo_server.store.payload == b""


@pytest.mark.parametrize("block", [None, 64])
async def test_libcoap_block2_4k(
    demo_server: DemoServer, coap_client_bin: str, block: int | None, tmp_path: Path
) -> None:
    out = tmp_path / "big"
    args = [coap_client_bin, "-B", WAIT, "-o", str(out)]
    if block is not None:
        args += ["-b", str(block)]
    run = await run_tool([*args, demo_server.uri + "/big"])
    assert run.returncode == 0, run.describe()
    assert out.read_bytes() == BIG
    sent = demo_server.transport.blocks(OptionNumber.BLOCK2, outgoing=True)
    # Our preferred size unless libcoap asks for a smaller one (RFC 7959 2.4).
    _assert_block_run(sent, block or 1024, len(BIG))


@pytest.mark.parametrize("sized_demo_server", [256], indirect=True)
async def test_libcoap_block2_follows_smaller_server_blocks(
    sized_demo_server: DemoServer, coap_client_bin: str, tmp_path: Path
) -> None:
    out = tmp_path / "big"
    run = await run_tool(
        [coap_client_bin, "-B", WAIT, "-b", "1024", "-o", str(out), sized_demo_server.uri + "/big"]
    )
    assert run.returncode == 0, run.describe()
    assert out.read_bytes() == BIG
    sent = sized_demo_server.transport.blocks(OptionNumber.BLOCK2, outgoing=True)
    _assert_block_run(sent, 256, len(BIG))


@pytest.mark.parametrize("block", [256, 1024])
async def test_libcoap_block1_4k(
    demo_server: DemoServer, coap_client_bin: str, block: int, tmp_path: Path
) -> None:
    body = tmp_path / "body"
    body.write_bytes(BIG)
    run = await run_tool(
        [coap_client_bin, "-B", WAIT, "-m", "put", "-t", "42", "-b", str(block), "-f", str(body),
         demo_server.uri + "/store"]
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    assert demo_server.store.payload == BIG
    assert demo_server.store.content_format == ContentFormat.OCTET_STREAM
    assert len(demo_server.store.requests) == 1
    wire = demo_server.transport
    _assert_block_run(wire.blocks(OptionNumber.BLOCK1, outgoing=False), block, len(BIG))
    final = wire.messages(outgoing=True)[-1]
    assert final.code is Code.CHANGED
    assert final.block1 is not None and not final.block1.more  # RFC 7959 2.3


@pytest.mark.parametrize("sized_demo_server", [256], indirect=True)
async def test_libcoap_block1_follows_smaller_server_blocks(
    sized_demo_server: DemoServer, coap_client_bin: str, tmp_path: Path
) -> None:
    body = tmp_path / "body"
    body.write_bytes(BIG)
    server = sized_demo_server
    run = await run_tool(
        [coap_client_bin, "-B", WAIT, "-m", "post", "-b", "1024", "-f", str(body),
         server.uri + "/store"]
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    assert server.store.payload == BIG
    received = server.transport.blocks(OptionNumber.BLOCK1, outgoing=False)
    assert received[0].size == 1024 and received[0].num == 0
    assert {b.size for b in received[1:]} == {256}  # RFC 7959 2.3, late negotiation
    assert sum(b.size for b in received) == len(BIG)


async def test_libcoap_observe_notifications(demo_server: DemoServer, coap_client_bin: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        coap_client_bin, "-B", WAIT, "-s", "3", "-w", "-o", "-", demo_server.uri + "/obs",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        endpoint = demo_server.endpoint
        await wait_until(lambda: len(endpoint.observations("/obs")) == 1, what="registration")
        wire = demo_server.transport

        def sent_payload(body: bytes) -> Callable[[], bool]:
            return lambda: any(m.payload == body for m in wire.messages(outgoing=True))

        for n in range(1, 4):
            assert demo_server.bump() == 1
            # libcoap acknowledges nothing for NON; give each notification its own moment.
            await wait_until(sent_payload(str(n).encode()), what=f"notification {n} sent")
            await asyncio.sleep(0.05)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    finally:
        await stop_process(proc)
    assert proc.returncode == 0, stderr
    assert stdout.split(b"\n")[:4] == [b"0", b"1", b"2", b"3"], stdout
    # At the end of -s libcoap deregisters (RFC 7641 3.6).
    await wait_until(lambda: not demo_server.endpoint.observations(), what="deregistration")


# ============================================== our client -> coap-server-notls


async def _start_libcoap_server(binary: str) -> tuple[asyncio.subprocess.Process, Address]:
    probe = await Endpoint.create_udp(HOST, 0)
    try:
        for _ in range(5):  # the free port may be taken in between; try another
            port = free_udp_port()
            proc = await asyncio.create_subprocess_exec(
                binary, "-A", HOST, "-p", str(port),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            for _ in range(50):
                if proc.returncode is not None:
                    break
                try:
                    await probe.get("/.well-known/core", remote=(HOST, port), timeout=0.2)
                    return proc, (HOST, port)
                except RequestError:
                    await asyncio.sleep(0.05)
            await stop_process(proc)
    finally:
        await probe.close()
    pytest.fail(f"{binary} did not start answering on {HOST}")


@pytest.fixture
async def libcoap_server(coap_server_bin: str) -> AsyncIterator[Address]:
    proc, address = await _start_libcoap_server(coap_server_bin)
    try:
        yield address
    finally:
        await stop_process(proc)


async def test_well_known_core_of_libcoap(
    libcoap_server: Address, make_client: ClientFactory
) -> None:
    client, _ = await make_client()
    resp = await client.get("/.well-known/core", remote=libcoap_server, timeout=TIMEOUT)
    assert resp.code is Code.CONTENT
    assert resp.content_format == ContentFormat.LINK_FORMAT
    links = resp.payload.split(b",")
    assert any(link.startswith(b"</time>") and b"obs" in link for link in links), resp.payload
    assert any(link.startswith(b"</example_data>") for link in links), resp.payload

    resp = await client.get("/", remote=libcoap_server, timeout=TIMEOUT)
    assert resp.code is Code.CONTENT
    assert b"libcoap" in resp.payload

    resp = await client.get("/no/such/thing", remote=libcoap_server, timeout=TIMEOUT)
    assert resp.code is Code.NOT_FOUND


@pytest.mark.parametrize("block_size", [1024, 256])
async def test_block1_and_block2_4k_with_libcoap(
    libcoap_server: Address, make_client: ClientFactory, block_size: int
) -> None:
    client, wire = await make_client(block_size=block_size)
    resp = await client.put(
        "/example_data", BIG, remote=libcoap_server, content_format=42, timeout=TIMEOUT
    )
    assert resp.code in (Code.CREATED, Code.CHANGED), resp
    _assert_block_run(wire.blocks(OptionNumber.BLOCK1, outgoing=True), block_size, len(BIG))

    resp = await client.get("/example_data", remote=libcoap_server, timeout=TIMEOUT)
    assert resp.code is Code.CONTENT
    assert resp.payload == BIG
    assert resp.content_format == ContentFormat.OCTET_STREAM
    received = wire.blocks(OptionNumber.BLOCK2, outgoing=False)
    _assert_block_run(received, block_size, len(BIG))

    resp = await client.put("/example_data", b"small", remote=libcoap_server, timeout=TIMEOUT)
    assert resp.code is Code.CHANGED
    resp = await client.get("/example_data", remote=libcoap_server, timeout=TIMEOUT)
    assert resp.payload == b"small"


async def test_observe_libcoap_time(libcoap_server: Address, make_client: ClientFactory) -> None:
    """``/time`` changes once a second; two notifications after the first response."""
    client, _ = await make_client()
    obs = await client.observe("/time", remote=libcoap_server, timeout=TIMEOUT)
    got: list[Message] = []
    try:
        async with asyncio.timeout(TIMEOUT):
            async for notification in obs:
                got.append(notification)
                if len(got) == 3:
                    break
    finally:
        final = await asyncio.wait_for(obs.cancel(), TIMEOUT)
    assert all(m.code is Code.CONTENT and m.payload for m in got)
    sequence = [m.observe for m in got]
    assert None not in sequence and sequence == sorted(sequence) and len(set(sequence)) == 3
    assert len({m.payload for m in got[1:]}) == 2  # a new time each tick
    assert final is not None and final.code is Code.CONTENT and final.observe is None


async def test_observe_libcoap_example_data(
    libcoap_server: Address, make_client: ClientFactory
) -> None:
    """Three PUTs from a second endpoint give three notifications, in order."""
    observer, wire = await make_client()
    writer, _ = await make_client()
    resp = await writer.put("/example_data", b"v0", remote=libcoap_server, timeout=TIMEOUT)
    assert resp.code in (Code.CREATED, Code.CHANGED)
    obs = await observer.observe("/example_data", remote=libcoap_server, timeout=TIMEOUT)
    got: list[Message] = []

    async def collect() -> None:
        async for notification in obs:
            got.append(notification)
            if len(got) == 4:
                return

    collector = asyncio.create_task(collect())
    try:
        await wait_until(at_least(got, 1), what="first response")
        for n in range(1, 4):
            body = f"v{n}".encode()
            resp = await writer.put("/example_data", body, remote=libcoap_server, timeout=TIMEOUT)
            assert resp.code is Code.CHANGED
            await wait_until(at_least(got, n + 1), what=f"notification {n}")
        await asyncio.wait_for(collector, TIMEOUT)
    finally:
        collector.cancel()
        await asyncio.wait_for(obs.cancel(), TIMEOUT)
    assert [m.payload for m in got] == [b"v0", b"v1", b"v2", b"v3"]
    sequence = [m.observe for m in got]
    assert None not in sequence and sequence == sorted(sequence) and len(set(sequence)) == 4
    # libcoap sends CON notifications; each was acknowledged by our endpoint.
    notes = [m for m in wire.messages(outgoing=False) if m.type is Type.CON and m.code >> 5 == 2]
    acks = {m.mid for m in wire.messages(outgoing=True) if m.type is Type.ACK}
    assert {m.mid for m in notes} <= acks

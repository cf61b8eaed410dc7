"""Interoperability with aiocoap (an independent CoAP implementation) in both roles.

aiocoap as the client against our Endpoint (the demo server of ``interop_support``),
then our Endpoint as the client against an aiocoap ``resource.Site``: GET, PUT, POST,
DELETE, NON requests, Observe with three notifications (RFC 7641), Block2 and Block1
transfers of 4 KiB (RFC 7959), with both sides' preferred block sizes.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiocoap
import aiocoap.resource
import pytest
from aiocoap import Code as ACode
from aiocoap import Message as AMessage

sys.path.insert(0, str(Path(__file__).parent))  # the shared interop_support module
from interop_support import (
    BIG,
    HOST,
    LOCATION,
    TEXT,
    ClientFactory,
    DemoServer,
    at_least,
    big_state,
    free_udp_port,
    wait_until,
)

from lwm2m.coap import BlockOption, Code, ContentFormat, Message, OptionNumber, Type
from lwm2m.coap.observe import Observation

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(60),
    pytest.mark.usefixtures("no_stack_errors"),
]

TIMEOUT = 10.0
OCTET_STREAM = int(ContentFormat.OCTET_STREAM)


async def _request(context: Any, message: Any) -> Any:
    """One aiocoap request, bounded in time."""
    return await asyncio.wait_for(context.request(message).response, TIMEOUT)


def _cf(message: Any) -> int | None:
    value = message.opt.content_format
    return None if value is None else int(value)


def _assert_block_run(blocks: list[BlockOption], size: int, total: int) -> None:
    """A complete, in-order run of ``size``-byte blocks covering ``total`` bytes."""
    count = total // size
    assert [b.num for b in blocks] == list(range(count)), blocks
    assert {b.size for b in blocks} == {size}, blocks
    assert [b.more for b in blocks] == [True] * (count - 1) + [False], blocks


# =================================================== aiocoap client -> our server


@pytest.fixture
async def aio_client() -> AsyncIterator[Any]:
    context = await aiocoap.Context.create_client_context(transports=["udp6"])
    try:
        yield context
    finally:
        await asyncio.wait_for(context.shutdown(), TIMEOUT)


async def test_aiocoap_get(demo_server: DemoServer, aio_client: Any) -> None:
    response = await _request(aio_client, AMessage(code=ACode.GET, uri=demo_server.uri + "/text"))
    assert response.code == ACode.CONTENT
    assert response.payload == TEXT
    assert _cf(response) == ContentFormat.TEXT_PLAIN
    assert response.mtype == aiocoap.ACK  # piggybacked (RFC 7252 5.2.1)


async def test_aiocoap_non_get_gets_non_response(demo_server: DemoServer, aio_client: Any) -> None:
    request = AMessage(
        code=ACode.GET, uri=demo_server.uri + "/text", transport_tuning=aiocoap.Unreliable
    )
    response = await _request(aio_client, request)
    assert response.code == ACode.CONTENT
    assert response.payload == TEXT
    assert response.mtype == aiocoap.NON  # RFC 7252 5.2.3


async def test_aiocoap_put_then_get(demo_server: DemoServer, aio_client: Any) -> None:
    body = b"\x00\xffbinary\xff"
    put = AMessage(
        code=ACode.PUT, uri=demo_server.uri + "/store", payload=body, content_format=OCTET_STREAM
    )
    response = await _request(aio_client, put)
    assert response.code == ACode.CHANGED
    assert demo_server.store.payload == body
    assert demo_server.store.content_format == OCTET_STREAM

    response = await _request(aio_client, AMessage(code=ACode.GET, uri=demo_server.uri + "/store"))
    assert response.code == ACode.CONTENT
    assert response.payload == body
    assert _cf(response) == OCTET_STREAM


async def test_aiocoap_post_and_delete(demo_server: DemoServer, aio_client: Any) -> None:
    post = AMessage(
        code=ACode.POST, uri=demo_server.uri + "/store", payload=b"posted", content_format=0
    )
    response = await _request(aio_client, post)
    assert response.code == ACode.CREATED
    assert tuple(response.opt.location_path) == LOCATION
    assert demo_server.store.payload == b"posted"
    assert demo_server.store.content_format == ContentFormat.TEXT_PLAIN

    delete = AMessage(code=ACode.DELETE, uri=demo_server.uri + "/store")
    response = await _request(aio_client, delete)
    assert response.code == ACode.DELETED
    assert demo_server.store.payload == b""


async def test_aiocoap_unknown_path_is_not_found(demo_server: DemoServer, aio_client: Any) -> None:
    response = await _request(aio_client, AMessage(code=ACode.GET, uri=demo_server.uri + "/nope"))
    assert response.code == ACode.NOT_FOUND


# The server's preferred size: aiocoap's own (1024) and a smaller one it must follow.
@pytest.mark.parametrize("sized_demo_server", [1024, 256], indirect=True)
async def test_aiocoap_block2_4k(sized_demo_server: DemoServer, aio_client: Any) -> None:
    server = sized_demo_server
    server_block = server.endpoint_block_size
    response = await _request(aio_client, AMessage(code=ACode.GET, uri=server.uri + "/big"))
    assert response.code == ACode.CONTENT
    assert response.payload == BIG
    assert _cf(response) == OCTET_STREAM
    sent = server.transport.blocks(OptionNumber.BLOCK2, outgoing=True)
    _assert_block_run(sent, server_block, len(BIG))


# The server's preferred size: aiocoap's own (1024) and a smaller one it must follow.
@pytest.mark.parametrize("sized_demo_server", [1024, 256], indirect=True)
async def test_aiocoap_block1_4k(sized_demo_server: DemoServer, aio_client: Any) -> None:
    server = sized_demo_server
    server_block = server.endpoint_block_size
    put = AMessage(
        code=ACode.PUT, uri=server.uri + "/store", payload=BIG, content_format=OCTET_STREAM
    )
    response = await _request(aio_client, put)
    assert response.code == ACode.CHANGED
    assert server.store.payload == BIG
    assert server.store.content_format == OCTET_STREAM
    assert len(server.store.requests) == 1  # the handler saw one reassembled request
    received = server.transport.blocks(OptionNumber.BLOCK1, outgoing=False)
    assert received[0].num == 0 and received[-1].more is False
    # aiocoap starts with 1024-byte blocks; a server preferring less makes it follow (2.3).
    assert {b.size for b in received[1:]} == {server_block}
    assert sum(b.size for b in received) == len(BIG)
    # The final response carries Block1 with M=0 (RFC 7959 2.3).
    echoed = server.transport.blocks(OptionNumber.BLOCK1, outgoing=True)
    assert echoed[-1].more is False and echoed[-1].num == received[-1].num


async def _collect(observation: Any, into: list[Any], count: int) -> None:
    async for notification in observation:
        into.append(notification)
        if len(into) == count:
            return


@pytest.mark.parametrize("confirmable", [False, True])
async def test_aiocoap_observe_three_notifications(
    demo_server: DemoServer, aio_client: Any, confirmable: bool
) -> None:
    request = aio_client.request(AMessage(code=ACode.GET, uri=demo_server.uri + "/obs", observe=0))
    first = await asyncio.wait_for(request.response, TIMEOUT)
    assert first.code == ACode.CONTENT
    assert first.payload == b"0"
    assert first.opt.observe is not None
    assert len(demo_server.endpoint.observations("/obs")) == 1

    got: list[Any] = []
    collector = asyncio.create_task(_collect(request.observation, got, 3))
    try:
        for n in range(1, 4):
            assert demo_server.bump(confirmable=confirmable) == 1
            await wait_until(at_least(got, n), what=f"notification {n}")
        await asyncio.wait_for(collector, TIMEOUT)
    finally:
        collector.cancel()
    assert [m.payload for m in got] == [b"1", b"2", b"3"]
    assert all(m.code == ACode.CONTENT and _cf(m) == ContentFormat.TEXT_PLAIN for m in got)
    sequence = [first.opt.observe] + [m.opt.observe for m in got]
    assert sequence == sorted(sequence) and len(set(sequence)) == 4  # RFC 7641 4.4

    sent = [m for m in demo_server.transport.messages(outgoing=True) if m.code == Code.CONTENT]
    notifications = sent[1:]
    assert [m.type for m in notifications] == [Type.CON if confirmable else Type.NON] * 3
    if confirmable:
        acks = {m.mid for m in demo_server.transport.messages(outgoing=False) if m.type is Type.ACK}
        assert {m.mid for m in notifications} <= acks
    request.observation.cancel()


async def test_aiocoap_forgotten_observation_ends_on_rst(
    demo_server: DemoServer, aio_client: Any
) -> None:
    """aiocoap forgets an observation locally and then rejects a CON notification with
    RST (it still acknowledges the first one after the cancel); the RST ends the
    observation on our side (RFC 7641 3.6)."""
    request = aio_client.request(AMessage(code=ACode.GET, uri=demo_server.uri + "/obs", observe=0))
    first = await asyncio.wait_for(request.response, TIMEOUT)
    assert first.payload == b"0"
    assert len(demo_server.endpoint.observations()) == 1
    request.observation.cancel()
    wire = demo_server.transport

    def answered(mid: int) -> Callable[[], bool]:
        return lambda: any(m.mid == mid and m.is_empty for m in wire.messages(outgoing=False))

    for _ in range(3):
        if demo_server.bump(confirmable=True) == 0:
            break
        notification = wire.messages(outgoing=True)[-1]
        assert notification.type is Type.CON
        await wait_until(answered(notification.mid), what="ACK or RST")
    assert not demo_server.endpoint.observations()
    resets = [m for m in wire.messages(outgoing=False) if m.type is Type.RST]
    assert [m.mid for m in resets] == [notification.mid]


async def test_aiocoap_observe_large_notifications(
    demo_server: DemoServer, aio_client: Any
) -> None:
    """4 KiB notifications go out as Block2 and aiocoap fetches the rest (RFC 7959 3.4)."""
    request = aio_client.request(
        AMessage(code=ACode.GET, uri=demo_server.uri + "/bigobs", observe=0)
    )
    first = await asyncio.wait_for(request.response, TIMEOUT)
    assert first.payload == big_state(0)
    got: list[Any] = []
    collector = asyncio.create_task(_collect(request.observation, got, 2))
    try:
        for n in (1, 2):
            demo_server.bump("/bigobs")
            await wait_until(at_least(got, n), what=f"notification {n}")
        await asyncio.wait_for(collector, TIMEOUT)
    finally:
        collector.cancel()
        request.observation.cancel()
    assert [m.payload for m in got] == [big_state(1), big_state(2)]


# =================================================== our client -> aiocoap server


class _Text(aiocoap.resource.Resource):  # type: ignore[misc]
    async def render_get(self, request: Any) -> Any:
        return AMessage(code=ACode.CONTENT, payload=TEXT, content_format=0)


class _Big(aiocoap.resource.Resource):  # type: ignore[misc]
    async def render_get(self, request: Any) -> Any:
        return AMessage(code=ACode.CONTENT, payload=BIG, content_format=OCTET_STREAM)


class _Store(aiocoap.resource.Resource):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.payload = b""
        self.content_format: int | None = None

    async def render_get(self, request: Any) -> Any:
        return AMessage(
            code=ACode.CONTENT, payload=self.payload, content_format=self.content_format
        )

    def _keep(self, request: Any) -> None:
        self.payload = request.payload
        self.content_format = _cf(request)

    async def render_put(self, request: Any) -> Any:
        self._keep(request)
        return AMessage(code=ACode.CHANGED)

    async def render_post(self, request: Any) -> Any:
        self._keep(request)
        return AMessage(code=ACode.CREATED, location_path=LOCATION)

    async def render_delete(self, request: Any) -> Any:
        self.payload, self.content_format = b"", None
        return AMessage(code=ACode.DELETED)


class _Counter(aiocoap.resource.ObservableResource):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.value = 0
        self.observers = 0

    def update_observation_count(self, newcount: int) -> None:
        self.observers = newcount

    def bump(self) -> None:
        self.value += 1
        self.updated_state()

    async def render_get(self, request: Any) -> Any:
        return AMessage(code=ACode.CONTENT, payload=str(self.value).encode(), content_format=0)


@dataclass
class AioServer:
    address: tuple[str, int]
    store: _Store
    counter: _Counter


@pytest.fixture
async def aio_server() -> AsyncIterator[AioServer]:
    site = aiocoap.resource.Site()
    store, counter = _Store(), _Counter()
    site.add_resource(["text"], _Text())
    site.add_resource(["big"], _Big())
    site.add_resource(["store"], store)
    site.add_resource(["obs"], counter)
    for attempt in range(5):  # the free port may be taken in between; try another
        port = free_udp_port()
        try:
            context = await aiocoap.Context.create_server_context(
                site, bind=(HOST, port), transports=["udp6"]
            )
            break
        except OSError:
            if attempt == 4:
                raise
    try:
        yield AioServer((HOST, port), store, counter)
    finally:
        await asyncio.wait_for(context.shutdown(), TIMEOUT)


async def test_get_from_aiocoap(aio_server: AioServer, make_client: ClientFactory) -> None:
    client, _ = await make_client()
    response = await client.get("/text", remote=aio_server.address, timeout=TIMEOUT)
    assert response.code is Code.CONTENT
    assert response.payload == TEXT
    assert response.content_format == ContentFormat.TEXT_PLAIN
    assert response.type is Type.ACK


async def test_non_get_from_aiocoap(aio_server: AioServer, make_client: ClientFactory) -> None:
    client, _ = await make_client()
    response = await client.get(
        "/text", remote=aio_server.address, confirmable=False, timeout=TIMEOUT
    )
    assert response.code is Code.CONTENT
    assert response.payload == TEXT
    assert response.type is Type.NON


async def test_put_post_get_delete_on_aiocoap(
    aio_server: AioServer, make_client: ClientFactory
) -> None:
    client, _ = await make_client()
    addr = aio_server.address
    body = b"\x00\x01\xfe\xff"
    resp = await client.put("/store", body, remote=addr, content_format=42, timeout=TIMEOUT)
    assert resp.code is Code.CHANGED
    assert aio_server.store.payload == body and aio_server.store.content_format == 42

    resp = await client.get("/store", remote=addr, timeout=TIMEOUT)
    assert resp.code is Code.CONTENT
    assert resp.payload == body and resp.content_format == 42

    resp = await client.post("/store", b"posted", remote=addr, content_format=0, timeout=TIMEOUT)
    assert resp.code is Code.CREATED
    assert resp.location_path == LOCATION
    assert aio_server.store.payload == b"posted" and aio_server.store.content_format == 0

    resp = await client.delete("/store", remote=addr, timeout=TIMEOUT)
    assert resp.code is Code.DELETED
    assert aio_server.store.payload == b""

    resp = await client.get("/missing", remote=addr, timeout=TIMEOUT)
    assert resp.code is Code.NOT_FOUND


@pytest.mark.parametrize("block_size", [1024, 64])
async def test_block2_4k_from_aiocoap(
    aio_server: AioServer, make_client: ClientFactory, block_size: int
) -> None:
    client, wire = await make_client(block_size=block_size)
    response = await client.get("/big", remote=aio_server.address, timeout=TIMEOUT)
    assert response.code is Code.CONTENT
    assert response.payload == BIG
    assert response.content_format == OCTET_STREAM
    # aiocoap honours our preferred size, asked for early when smaller (RFC 7959 2.4).
    _assert_block_run(wire.blocks(OptionNumber.BLOCK2, outgoing=False), block_size, len(BIG))


@pytest.mark.parametrize("block_size", [1024, 256])
async def test_block1_4k_to_aiocoap(
    aio_server: AioServer, make_client: ClientFactory, block_size: int
) -> None:
    client, wire = await make_client(block_size=block_size)
    response = await client.put(
        "/store", BIG, remote=aio_server.address, content_format=OCTET_STREAM, timeout=TIMEOUT
    )
    assert response.code is Code.CHANGED
    assert aio_server.store.payload == BIG
    assert aio_server.store.content_format == OCTET_STREAM
    _assert_block_run(wire.blocks(OptionNumber.BLOCK1, outgoing=True), block_size, len(BIG))
    continues = [m for m in wire.messages(outgoing=False) if m.code == Code.CONTINUE]
    assert len(continues) == len(BIG) // block_size - 1


async def test_observe_aiocoap_three_notifications(
    aio_server: AioServer, make_client: ClientFactory
) -> None:
    client, _ = await make_client()
    observation: Observation = await client.observe(
        "/obs", remote=aio_server.address, timeout=TIMEOUT
    )
    got: list[Message] = []

    async def collect() -> None:
        async for notification in observation:
            got.append(notification)
            if len(got) == 4:
                return

    collector = asyncio.create_task(collect())
    try:
        await wait_until(at_least(got, 1), what="first response")
        assert aio_server.counter.observers == 1
        for n in range(1, 4):
            aio_server.counter.bump()
            await wait_until(at_least(got, n + 1), what=f"notification {n}")
        await asyncio.wait_for(collector, TIMEOUT)
    finally:
        collector.cancel()
    assert [m.payload for m in got] == [b"0", b"1", b"2", b"3"]
    assert all(m.code is Code.CONTENT and m.content_format == 0 for m in got)
    sequence = [m.observe for m in got]
    assert None not in sequence
    assert sequence == sorted(sequence) and len(set(sequence)) == 4

    final = await asyncio.wait_for(observation.cancel(), TIMEOUT)
    assert final is not None and final.code is Code.CONTENT
    assert final.observe is None  # the deregistration answer carries no Observe (3.6)
    await wait_until(lambda: aio_server.counter.observers == 0, what="aiocoap drops observer")

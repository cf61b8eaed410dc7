"""Streamed Block1 bodies and streamed Block2 responses (RFC 7959), sans-IO and over loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from lwm2m.coap.blockwise import Block1Stream, StreamAbort, serve_block2
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.errors import BadResponse, RequestTimeout
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import BlockOption, Message
from lwm2m.coap.numbers import Code, OptionNumber, Type
from lwm2m.transport.base import Address

BODY = bytes(i * 7 % 251 for i in range(5000))
PEER = ("127.0.0.1", 5683)
MakeEndpoint = Callable[..., Awaitable[Endpoint]]
Factory = Callable[..., Awaitable[Any]]


def block_request(
    num: int,
    more: bool,
    szx: int,
    payload: bytes,
    *,
    size1: int | None = None,
    mid: int = 0,
    token: bytes = b"",
    path: str = "/fw/pkg",
) -> Message:
    msg = Message.request(Code.PUT, path, payload=payload, token=token)
    msg.mid = mid
    msg.block1 = BlockOption(num, more, szx)
    if size1 is not None:
        msg.size1 = size1
    return msg


def chunk(num: int, szx: int = 6) -> bytes:
    size = 1 << (szx + 4)
    return BODY[num * size : (num + 1) * size]


class Recorder:
    """A stream handler that records each block; ``final`` is its answer to the last one."""

    def __init__(self) -> None:
        self.blocks: list[tuple[int, bytes, bool]] = []
        self.aborts: list[tuple[Address, StreamAbort]] = []
        self.final = Message(code=Code.CHANGED, payload=b"stored")
        self.answer: dict[int, Message] = {}
        self.gate: asyncio.Event | None = None

    async def __call__(
        self, request: Message, remote: Address, offset: int, data: bytes, last: bool
    ) -> Message | None:
        if self.gate is not None:
            await self.gate.wait()
        self.blocks.append((offset, data, last))
        if offset in self.answer:
            return self.answer[offset]
        return self.final if last else None

    def on_abort(self, remote: Address, reason: StreamAbort) -> None:
        self.aborts.append((remote, reason))

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data, _ in self.blocks)


# ------------------------------------------------------------------ sans-IO


def feed_all(stream: Block1Stream, szx: int = 6) -> None:
    size = 1 << (szx + 4)
    for num in range(0, (len(BODY) + size - 1) // size):
        more = (num + 1) * size < len(BODY)
        step = stream.feed(PEER, block_request(num, more, szx, chunk(num, szx)), 0)
        assert step.response is None and step.offset == num * size
        stream.answered(step, Message(code=Code.CONTINUE if more else Code.CHANGED), 0)


def test_stream_hands_on_blocks_without_keeping_them() -> None:
    stream = Block1Stream(None, 6, 100.0)
    step = stream.feed(PEER, block_request(0, True, 6, chunk(0), size1=5000), 0)
    assert (step.offset, step.data, step.last) == (0, chunk(0), False)
    assert step.echo == BlockOption(0, True, 6)
    stream.answered(step, Message(code=Code.CONTINUE), 0)
    step = stream.feed(PEER, block_request(1, True, 6, chunk(1)), 0)
    assert step.offset == 1024 and step.data == chunk(1)
    stream.answered(step, Message(code=Code.CONTINUE), 0)
    feed_all(Block1Stream(None, 6, 100.0))
    assert stream.take_aborted() == []


def test_stream_size_limits_give_4_13_with_size1() -> None:
    stream = Block1Stream(2000, 6, 100.0)
    step = stream.feed(PEER, block_request(0, True, 6, chunk(0), size1=5000), 0)
    assert step.response is not None and step.response.code is Code.REQUEST_ENTITY_TOO_LARGE
    assert step.response.size1 == 2000
    assert stream.take_aborted() == []  # nothing was handed on yet
    step = stream.feed(PEER, block_request(0, True, 6, chunk(0)), 0)
    stream.answered(step, Message(code=Code.CONTINUE), 0)
    step = stream.feed(PEER, block_request(1, True, 6, chunk(1)), 0)
    assert step.response is not None and step.response.code is Code.REQUEST_ENTITY_TOO_LARGE
    assert stream.take_aborted() == [(PEER, StreamAbort.TOO_LARGE)]
    assert len(stream) == 0


def test_stream_refuses_gaps_bad_sizes_and_blocks_while_busy() -> None:
    stream = Block1Stream(None, 6, 100.0)
    step = stream.feed(PEER, block_request(1, True, 6, chunk(1)), 0)
    assert step.response is not None and step.response.code is Code.REQUEST_ENTITY_INCOMPLETE
    first = stream.feed(PEER, block_request(0, True, 6, chunk(0)), 0)
    busy = stream.feed(PEER, block_request(1, True, 6, chunk(1)), 0)
    assert busy.response is not None and busy.response.code is Code.SERVICE_UNAVAILABLE
    stream.answered(first, Message(code=Code.CONTINUE), 0)
    gap = stream.feed(PEER, block_request(3, True, 6, chunk(3)), 0)
    assert gap.response is not None and gap.response.code is Code.REQUEST_ENTITY_INCOMPLETE
    assert stream.take_aborted() == [(PEER, StreamAbort.INCOMPLETE)]
    restart = stream.feed(PEER, block_request(0, True, 6, chunk(0)), 0)
    stream.answered(first, Message(code=Code.CONTINUE), 0)  # a stale step changes nothing
    still_busy = stream.feed(PEER, block_request(1, True, 6, chunk(1)), 0)
    assert still_busy.response is not None
    assert still_busy.response.code is Code.SERVICE_UNAVAILABLE
    stream.answered(restart, Message(code=Code.CONTINUE), 0)
    short = stream.feed(PEER, block_request(1, True, 6, b"short"), 0)
    assert short.response is not None and short.response.code is Code.BAD_REQUEST


def test_stream_repeated_block_gets_the_same_answer() -> None:
    stream = Block1Stream(None, 6, 100.0)
    step = stream.feed(PEER, block_request(0, True, 6, chunk(0)), 0)
    answer = Message(code=Code.CONTINUE, options=[(OptionNumber.BLOCK1, b"\x0e")])
    stream.answered(step, answer, 0)
    again = stream.feed(PEER, block_request(0, True, 6, chunk(0)), 0)
    assert again.response is None and again.offset == 0  # block 0 restarts
    stream.answered(again, answer, 0)
    step = stream.feed(PEER, block_request(1, False, 6, b"end"), 0)
    final = Message(code=Code.CHANGED)
    stream.answered(step, final, 0)
    repeat = stream.feed(PEER, block_request(1, False, 6, b"end"), 1)
    assert repeat.response is final
    late = stream.feed(PEER, block_request(2, False, 6, b"x"), 1)
    assert late.response is not None and late.response.code is Code.REQUEST_ENTITY_INCOMPLETE
    assert stream.take_aborted() == []  # a completed transfer is not an aborted one


def test_stream_idle_transfers_expire() -> None:
    stream = Block1Stream(None, 6, 10.0)
    step = stream.feed(PEER, block_request(0, True, 6, chunk(0)), 0)
    stream.expire(50.0)
    assert len(stream) == 1  # never while the block is being handled
    stream.answered(step, Message(code=Code.CONTINUE), 1.0)
    assert stream.next_expiry() == 11.0
    stream.expire(11.0)
    assert len(stream) == 0 and stream.next_expiry() is None
    assert stream.take_aborted() == [(PEER, StreamAbort.EXPIRED)]
    stream.feed(PEER, block_request(0, True, 6, chunk(0)), 0)
    stream.abort_all()
    assert stream.take_aborted() == [(PEER, StreamAbort.CLOSED)]


# ------------------------------------------------------------- over loopback


@pytest.fixture
async def pair(make_endpoint: MakeEndpoint) -> AsyncIterator[tuple[Endpoint, Endpoint]]:
    yield await make_endpoint(), await make_endpoint()


async def test_put_is_streamed_block_by_block(pair: tuple[Endpoint, Endpoint]) -> None:
    server, client = pair
    rec = Recorder()
    server.add_block1_stream("/fw", rec, on_abort=rec.on_abort)
    resp = await client.put("/fw/pkg", BODY, remote=server.local_address, timeout=5)
    assert resp.code is Code.CHANGED and resp.payload == b"stored"
    assert resp.block1 == BlockOption(4, False, 6)
    assert [(o, len(d), last) for o, d, last in rec.blocks] == [
        (0, 1024, False),
        (1024, 1024, False),
        (2048, 1024, False),
        (3072, 1024, False),
        (4096, 904, True),
    ]
    assert rec.body == BODY and rec.aborts == []


async def test_smaller_server_block_size_is_negotiated(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint(block_size=256)
    client = await make_endpoint()
    rec = Recorder()
    server.add_block1_stream("/fw", rec)
    resp = await client.put("/fw/pkg", BODY, remote=server.local_address, timeout=5)
    assert resp.code is Code.CHANGED
    assert rec.blocks[0][0] == 0 and len(rec.blocks[0][1]) == 1024
    assert all(len(d) == 256 for _, d, last in rec.blocks[1:] if not last)
    assert rec.body == BODY


async def test_request_without_block1_goes_to_ordinary_handlers(
    pair: tuple[Endpoint, Endpoint],
) -> None:
    server, client = pair
    rec = Recorder()
    server.add_block1_stream("/fw", rec)

    async def whole(request: Message, remote: Address) -> Message:
        return Message(code=Code.CHANGED, payload=b"%d" % len(request.payload))

    server.add_resource("/fw", whole)
    resp = await client.put("/fw/pkg", b"small", remote=server.local_address, timeout=5)
    assert resp.payload == b"5" and rec.blocks == []
    # Block1 outside the stream prefix is reassembled as before
    server.add_resource("/other", whole)
    resp = await client.put("/other", BODY, remote=server.local_address, timeout=5)
    assert resp.payload == b"5000" and rec.blocks == []
    server.remove_block1_stream("/fw")
    resp = await client.put("/fw/pkg", BODY, remote=server.local_address, timeout=5)
    assert resp.payload == b"5000" and rec.blocks == []


async def test_size_limit_gives_4_13(pair: tuple[Endpoint, Endpoint]) -> None:
    server, client = pair
    rec = Recorder()
    server.add_block1_stream("/fw", rec, max_size=3000, on_abort=rec.on_abort)
    resp = await client.put("/fw/pkg", BODY, remote=server.local_address, timeout=5)
    assert resp.code is Code.REQUEST_ENTITY_TOO_LARGE and resp.size1 == 3000
    assert rec.blocks == []  # refused from Size1 before anything was handed on


async def test_out_of_order_block_gives_4_08_and_abort(pair: tuple[Endpoint, Endpoint]) -> None:
    server, client = pair
    rec = Recorder()
    server.add_block1_stream("/fw", rec, on_abort=rec.on_abort)
    remote = server.local_address
    resp = await client.request(block_request(0, True, 6, chunk(0)), remote=remote, timeout=5)
    assert resp.code is Code.CONTINUE and resp.block1 == BlockOption(0, True, 6)
    resp = await client.request(block_request(2, True, 6, chunk(2)), remote=remote, timeout=5)
    assert resp.code is Code.REQUEST_ENTITY_INCOMPLETE
    assert [r for _, r in rec.aborts] == [StreamAbort.INCOMPLETE]
    assert rec.aborts[0][0][1] == client.local_address[1]
    assert [o for o, _, _ in rec.blocks] == [0]


async def test_retransmissions_are_not_handed_on_twice(
    pair: tuple[Endpoint, Endpoint], make_raw_peer: Factory
) -> None:
    server, _ = pair
    rec = Recorder()
    server.add_block1_stream("/fw", rec)
    peer = await make_raw_peer()
    first = block_request(0, True, 6, chunk(0), mid=100, token=b"a")
    for _ in range(3):  # the same CON three times: deduplicated by Message ID
        peer.send(first.encode(), server.local_address)
    answers = {(await peer.next())[0] for _ in range(3)}
    assert len(answers) == 1
    # the same block under a new Message ID: the previous answer again
    peer.send(
        block_request(0, True, 6, chunk(0), mid=101, token=b"b").encode(), server.local_address
    )
    peer.send(
        block_request(1, False, 6, b"tail", mid=102, token=b"c").encode(), server.local_address
    )
    peer.send(
        block_request(1, False, 6, b"tail", mid=103, token=b"d").encode(), server.local_address
    )
    replies = [Message.decode((await peer.next())[0]) for _ in range(3)]
    assert replies[0].code is Code.CONTINUE  # block 0 with a new MID restarts the body
    assert replies[1].code is Code.CHANGED and replies[1].block1 == BlockOption(1, False, 6)
    assert replies[2].code is Code.CHANGED and replies[2].token == b"d"
    assert [(o, last) for o, _, last in rec.blocks] == [(0, False), (0, False), (1024, True)]


async def test_handler_answer_or_failure_ends_the_transfer(
    pair: tuple[Endpoint, Endpoint],
) -> None:
    server, client = pair
    rec = Recorder()
    rec.answer[1024] = Message(code=Code.FORBIDDEN, payload=b"no")
    server.add_block1_stream("/fw", rec, on_abort=rec.on_abort)
    resp = await client.put("/fw/pkg", BODY, remote=server.local_address, timeout=5)
    assert resp.code is Code.FORBIDDEN and resp.payload == b"no"
    assert [o for o, _, _ in rec.blocks] == [0, 1024]
    follow = block_request(2, True, 6, chunk(2))
    resp = await client.request(follow, remote=server.local_address, timeout=5)
    assert resp.code is Code.REQUEST_ENTITY_INCOMPLETE
    assert rec.aborts == []  # the handler ended it itself

    async def broken(*args: Any) -> Message | None:
        raise RuntimeError("sink failed")

    server.add_block1_stream("/fw", broken)
    resp = await client.put("/fw/pkg", BODY, remote=server.local_address, timeout=5)
    assert resp.code is Code.INTERNAL_SERVER_ERROR


async def test_slow_handler_gets_separate_responses(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint()
    client = await make_endpoint()
    rec = Recorder()
    rec.gate = asyncio.Event()
    server.add_block1_stream("/fw", rec)
    put = asyncio.ensure_future(client.put("/fw/pkg", BODY, remote=server.local_address))
    await asyncio.sleep(0.1)  # longer than empty_ack_delay: the ACK went out empty
    assert rec.blocks == []
    rec.gate.set()
    resp = await asyncio.wait_for(put, 5)
    assert resp.code is Code.CHANGED and rec.body == BODY


async def test_idle_transfer_is_dropped_and_reported(pair: tuple[Endpoint, Endpoint]) -> None:
    server, client = pair
    rec = Recorder()
    server.add_block1_stream("/fw", rec, idle_timeout=0.05, on_abort=rec.on_abort)
    remote = server.local_address
    await client.request(block_request(0, True, 6, chunk(0)), remote=remote, timeout=5)
    for _ in range(100):
        if rec.aborts:
            break
        await asyncio.sleep(0.01)
    assert [r for _, r in rec.aborts] == [StreamAbort.EXPIRED]
    resp = await client.request(block_request(1, True, 6, chunk(1)), remote=remote, timeout=5)
    assert resp.code is Code.REQUEST_ENTITY_INCOMPLETE


async def test_close_reports_transfers_under_way(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint()
    client = await make_endpoint()
    rec = Recorder()
    server.add_block1_stream("/fw", rec, on_abort=rec.on_abort)
    await client.request(block_request(0, True, 6, chunk(0)), remote=server.local_address)
    await server.close()
    assert [r for _, r in rec.aborts] == [StreamAbort.CLOSED]


# --------------------------------------------------------- streamed Block2


async def collect(it: AsyncIterator[Message]) -> list[Message]:
    return [m async for m in it]


async def test_request_blocks_yields_each_block(pair: tuple[Endpoint, Endpoint]) -> None:
    server, client = pair

    async def image(request: Message, remote: Address) -> Message:
        return Message(code=Code.CONTENT, payload=BODY)

    server.add_resource("/img", image)
    blocks = await collect(client.request_blocks(Code.GET, "/img", remote=server.local_address))
    assert len(blocks) == 5 and all(b.code is Code.CONTENT for b in blocks)
    assert blocks[0].size2 == 5000
    assert b"".join(b.payload for b in blocks) == BODY
    assert max(len(b.payload) for b in blocks) == 1024
    small = await collect(client.request_blocks(Code.GET, "/nothing", remote=server.local_address))
    assert [m.code for m in small] == [Code.NOT_FOUND]


async def test_request_blocks_checks_etag_and_times_out(
    pair: tuple[Endpoint, Endpoint], make_endpoint: MakeEndpoint
) -> None:
    server, client = pair
    versions = iter(range(100))

    async def changing(request: Message, remote: Address) -> Message:
        # every request sees another representation (the cache is bypassed below)
        body = bytes([next(versions)]) * 3000
        return serve_block2(Message(code=Code.CONTENT, payload=body), request.block2, 6)

    server.add_resource("/img", changing)
    with pytest.raises(BadResponse):
        await collect(client.request_blocks(Code.GET, "/img", remote=server.local_address))

    silent = await make_endpoint(params=TransmissionParams(ack_timeout=5.0))
    silent.add_resource("/img", lambda req, remote: asyncio.sleep(10))  # type: ignore[arg-type,return-value]
    with pytest.raises(RequestTimeout):
        await collect(
            client.request_blocks(Code.GET, "/img", remote=silent.local_address, timeout=0.1)
        )


async def test_request_blocks_can_stop_early(pair: tuple[Endpoint, Endpoint]) -> None:
    server, client = pair
    served: list[int] = []

    async def image(request: Message, remote: Address) -> Message:
        served.append(1)
        return Message(code=Code.CONTENT, payload=BODY)

    server.add_resource("/img", image)
    gen = client.request_blocks(Code.GET, "/img", remote=server.local_address)
    async with contextlib.aclosing(gen) as it:
        async for block in it:
            assert block.type is Type.ACK
            break
    assert client.layer.pending_exchanges == 0

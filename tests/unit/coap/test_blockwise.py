"""Block-wise transfers (RFC 7959): sans-IO pieces and both roles over loopback."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lwm2m.coap.blockwise import (
    Block1Receiver,
    Block1Sender,
    Block2Cache,
    Block2Collector,
    BlockwiseError,
    serve_block2,
)
from lwm2m.coap.message import BlockOption, Message
from lwm2m.coap.numbers import Code, OptionNumber, Type
from lwm2m.transport.base import Address

Factory = Callable[..., Awaitable[Any]]
PEER = ("10.0.0.9", 5683)
BODY = os.urandom(5000)


def block1_request(
    num: int, more: bool, szx: int, payload: bytes, size1: int | None = None
) -> Message:
    req = Message.request(Code.PUT, "/fw", content_format=42)
    req.block1 = BlockOption(num, more, szx)
    if size1 is not None:
        req.size1 = size1
    req.payload = payload
    return req


# ------------------------------------------------------------ server, Block2


def test_serve_block2_slices_with_size2_and_etag() -> None:
    full = Message(code=Code.CONTENT, payload=BODY, options=[(12, b"\x2a")])
    first = serve_block2(full, None, 6)
    assert first.block2 == BlockOption(0, True, 6)
    assert first.payload == BODY[:1024]
    assert first.size2 == 5000
    assert first.content_format == 42
    etag = first.etag
    assert etag is not None
    last = serve_block2(full, BlockOption(4, False, 6), 6)
    assert last.block2 == BlockOption(4, False, 6)
    assert last.payload == BODY[4096:]
    assert last.etag == etag and last.size2 is None


def test_serve_block2_honours_smaller_request_szx() -> None:
    full = Message(code=Code.CONTENT, payload=BODY)
    block = serve_block2(full, BlockOption(3, False, 2), 6)  # 64-byte blocks
    assert block.block2 == BlockOption(3, True, 2)
    assert block.payload == BODY[192:256]
    # the server's smaller preference wins over a larger request
    block = serve_block2(full, BlockOption(1, False, 6), 4)
    assert block.block2 == BlockOption(1, True, 4) and block.payload == BODY[256:512]


def test_serve_block2_small_and_out_of_range() -> None:
    small = Message(code=Code.CONTENT, payload=b"tiny")
    assert serve_block2(small, None, 6) is small
    explicit = serve_block2(small, BlockOption(0, False, 6), 6)
    assert explicit.block2 == BlockOption(0, False, 6) and explicit.payload == b"tiny"
    beyond = serve_block2(Message(code=Code.CONTENT, payload=BODY), BlockOption(9, False, 6), 6)
    assert beyond.code is Code.BAD_OPTION


def test_block2_cache_lookup_and_expiry() -> None:
    cache = Block2Cache(lifetime=10.0, limit=2)
    req = Message.request(Code.POST, "/a", token=b"1")
    resp = Message(code=Code.CHANGED, payload=BODY)
    cache.store(PEER, req, resp, 0.0)
    follow = Message.request(Code.POST, "/a", token=b"2")
    follow.block2 = BlockOption(1, False, 6)
    assert cache.lookup(PEER, follow, 5.0) is resp  # token and Block2 are not part of the key
    assert cache.lookup(("10.0.0.8", 1), follow, 5.0) is None
    assert cache.lookup(PEER, Message.request(Code.POST, "/b"), 5.0) is None
    assert cache.lookup(PEER, follow, 10.0) is None
    for i in range(5):
        cache.store(PEER, Message.request(Code.GET, f"/{i}"), resp, 20.0)
    assert len(cache) == 2


# ------------------------------------------------------------ server, Block1


def test_block1_receiver_reassembles_with_continue() -> None:
    rx = Block1Receiver(max_body_size=10_000, szx=6, lifetime=100.0)
    chunks = [BODY[i : i + 1024] for i in range(0, 5000, 1024)]
    for num, chunk in enumerate(chunks[:-1]):
        result = rx.feed(PEER, block1_request(num, True, 6, chunk, 5000 if num == 0 else None), 0)
        assert result.response is not None and result.response.code is Code.CONTINUE
        assert result.response.block1 == BlockOption(num, True, 6)
    result = rx.feed(PEER, block1_request(4, False, 6, chunks[-1]), 0)
    assert result.response is None
    assert result.body == BODY and result.echo == BlockOption(4, False, 6)
    assert len(rx) == 0


def test_block1_receiver_out_of_order_gives_4_08() -> None:
    rx = Block1Receiver(max_body_size=10_000, szx=6, lifetime=100.0)
    rx.feed(PEER, block1_request(0, True, 6, BODY[:1024]), 0)
    result = rx.feed(PEER, block1_request(2, True, 6, BODY[2048:3072]), 0)
    assert result.response is not None
    assert result.response.code is Code.REQUEST_ENTITY_INCOMPLETE
    # without a block 0 first: also incomplete
    result = rx.feed(PEER, block1_request(1, False, 6, b"x"), 0)
    assert result.response is not None
    assert result.response.code is Code.REQUEST_ENTITY_INCOMPLETE


def test_block1_receiver_too_large_gives_4_13_with_size1() -> None:
    rx = Block1Receiver(max_body_size=2000, szx=6, lifetime=100.0)
    result = rx.feed(PEER, block1_request(0, True, 6, BODY[:1024], size1=5000), 0)
    assert result.response is not None
    assert result.response.code is Code.REQUEST_ENTITY_TOO_LARGE
    assert result.response.size1 == 2000
    # no Size1 announced: detected when the body grows beyond the limit
    rx.feed(PEER, block1_request(0, True, 6, BODY[:1024]), 0)
    result = rx.feed(PEER, block1_request(1, True, 6, BODY[1024:2048]), 0)
    assert result.response is not None
    assert result.response.code is Code.REQUEST_ENTITY_TOO_LARGE
    assert len(rx) == 0


def test_block1_receiver_negotiates_smaller_szx_and_checks_sizes() -> None:
    rx = Block1Receiver(max_body_size=10_000, szx=4, lifetime=100.0)
    result = rx.feed(PEER, block1_request(0, True, 6, BODY[:1024]), 0)
    assert result.response is not None and result.response.block1 == BlockOption(0, True, 4)
    # the client continues with 256-byte blocks at offset 1024 (num 4)
    result = rx.feed(PEER, block1_request(4, False, 4, BODY[1024:1100]), 0)
    assert result.body == BODY[:1100]
    bad = rx.feed(PEER, block1_request(0, True, 6, b"short"), 0)
    assert bad.response is not None and bad.response.code is Code.BAD_REQUEST


def test_block1_receiver_forgets_stale_transfers() -> None:
    rx = Block1Receiver(max_body_size=10_000, szx=6, lifetime=10.0)
    rx.feed(PEER, block1_request(0, True, 6, BODY[:1024]), 0)
    result = rx.feed(PEER, block1_request(1, False, 6, b"end"), 11.0)
    assert result.response is not None
    assert result.response.code is Code.REQUEST_ENTITY_INCOMPLETE


# ------------------------------------------------------------ client side


def test_block1_sender_adapts_to_smaller_size() -> None:
    sender = Block1Sender(Message.request(Code.POST, "/x", payload=BODY), 6)
    first = sender.next_request()
    assert first.block1 == BlockOption(0, True, 6) and first.size1 == 5000
    assert first.payload == BODY[:1024]
    cont = Message(
        code=Code.CONTINUE, options=[(OptionNumber.BLOCK1, BlockOption(0, True, 5).encode())]
    )
    sender.on_continue(cont)
    second = sender.next_request()
    assert second.block1 == BlockOption(2, True, 5) and second.payload == BODY[1024:1536]
    assert second.size1 is None
    with pytest.raises(BlockwiseError):
        sender.on_continue(Message(code=Code.CONTINUE))


def test_block2_collector_checks_etag_and_offsets() -> None:
    full = Message(code=Code.CONTENT, payload=BODY)
    first = serve_block2(full, None, 6)
    collector = Block2Collector(first, 6, 1 << 20)
    second = serve_block2(full, collector.next_block(), 6)
    collector.add(second)
    changed = serve_block2(
        Message(code=Code.CONTENT, payload=BODY[::-1]), collector.next_block(), 6
    )
    with pytest.raises(BlockwiseError, match="ETag"):
        collector.add(changed)
    with pytest.raises(BlockwiseError, match="offset"):
        collector.add(serve_block2(full, BlockOption(4, False, 6), 6))
    with pytest.raises(BlockwiseError):
        collector.add(Message(code=Code.NOT_FOUND))
    with pytest.raises(BlockwiseError):
        Block2Collector(first, 6, 2000).add(second)  # exceeds the body limit


# ------------------------------------------------------------ over loopback


async def big_handler(request: Message, remote: Address) -> Message:
    if request.code == Code.GET:
        return Message(code=Code.CONTENT, payload=BODY, options=[(12, b"\x2a")])
    return Message(code=Code.CHANGED, payload=request.payload[::-1])


@pytest.mark.parametrize(
    ("server_size", "client_size", "expected_block"),
    [(1024, 1024, 1024), (128, 1024, 128), (1024, 256, 256)],
)
async def test_block2_download(
    server_size: int, client_size: int, expected_block: int, make_wrapped: Factory
) -> None:
    server, server_t = await make_wrapped(block_size=server_size)
    client, _ = await make_wrapped(block_size=client_size)
    server.add_resource("/big", big_handler)
    resp = await client.get("/big", remote=server.local_address, timeout=10)
    assert resp.code is Code.CONTENT
    assert resp.payload == BODY
    assert resp.block2 is None and resp.content_format == 42
    sizes = {len(m.payload) for m, _ in server_t.sent if m.block2 and m.block2.more}
    assert sizes == {expected_block}


@pytest.mark.parametrize(("server_size", "client_size"), [(1024, 1024), (256, 1024), (1024, 64)])
async def test_block1_upload_with_block2_response(
    server_size: int, client_size: int, make_wrapped: Factory
) -> None:
    server, server_t = await make_wrapped(block_size=server_size)
    client, client_t = await make_wrapped(block_size=client_size)
    calls: list[int] = []

    async def handler(request: Message, remote: Address) -> Message:
        calls.append(len(request.payload))
        return await big_handler(request, remote)

    server.add_resource("/big", handler)
    resp = await client.post("/big", BODY, remote=server.local_address, timeout=10)
    assert resp.code is Code.CHANGED
    assert resp.payload == BODY[::-1]
    assert calls == [5000]  # the handler ran once, on the whole body
    continues = [m for m, _ in server_t.sent if m.code == Code.CONTINUE]
    assert continues and all(m.block1 is not None for m in continues)
    block_sizes = [len(m.payload) for m, _ in client_t.sent if m.block1 and m.block1.more]
    assert max(block_sizes) <= client_size
    assert block_sizes[-1] == min(server_size, client_size)


async def test_block1_too_large_returns_4_13(make_wrapped: Factory) -> None:
    server, _ = await make_wrapped(max_body_size=2000)
    client, _ = await make_wrapped()
    server.add_resource("/big", big_handler)
    resp = await client.put("/big", BODY, remote=server.local_address, timeout=5)
    assert resp.code is Code.REQUEST_ENTITY_TOO_LARGE
    assert resp.size1 == 2000


async def test_block1_out_of_order_returns_4_08(make_wrapped: Factory) -> None:
    server, _ = await make_wrapped()
    client, _ = await make_wrapped()
    server.add_resource("/big", big_handler)
    stray = block1_request(3, True, 6, BODY[:1024])
    resp = await client.request(stray, remote=server.local_address, timeout=5)
    assert resp.code is Code.REQUEST_ENTITY_INCOMPLETE


async def test_block2_etag_change_restarts(
    make_wrapped: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = await make_wrapped()
    client, _ = await make_wrapped()
    versions = [BODY, BODY[::-1]]
    calls: list[int] = []

    async def changing(request: Message, remote: Address) -> Message:
        calls.append(1)
        body = versions[min(len(calls) - 1, 1)]
        return Message(code=Code.CONTENT, payload=body, options=[(4, bytes([len(calls) > 1]))])

    server.add_resource("/v", changing)
    # defeat the server cache so that block 1 is produced by a second handler run
    monkeypatch.setattr(Block2Cache, "store", lambda *a: None)
    resp = await client.get("/v", remote=server.local_address, timeout=10)
    assert resp.payload == BODY[::-1]
    assert len(calls) >= 3


async def test_large_non_request_response(make_wrapped: Factory) -> None:
    server, _ = await make_wrapped()
    client, client_t = await make_wrapped()
    server.add_resource("/big", big_handler)
    resp = await client.get("/big", remote=server.local_address, confirmable=False, timeout=10)
    assert resp.payload == BODY
    assert all(m.type is Type.NON for m, _ in client_t.sent)


async def test_endpoint_rejects_bad_block_size(make_endpoint: Factory) -> None:
    with pytest.raises(ValueError, match="block size"):
        await make_endpoint(block_size=1000)

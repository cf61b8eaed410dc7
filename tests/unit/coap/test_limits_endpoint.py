"""Bounds on peer-held state through a real Endpoint on loopback.

Each test makes one raw UDP peer open more than the limits allow, checks the
answers (5.03 with Max-Age, 4.13 with Size1, a plain GET for an observation
too many), that the endpoint holds no more than the bound, that the log got
one warning line, and that partial transfers go away on the endpoint's timer
with no further traffic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lwm2m.coap.blockwise import StreamAbort
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.limits import Limits
from lwm2m.coap.message import BlockOption, Message
from lwm2m.coap.numbers import Code, Type
from lwm2m.transport.base import Address

MakeEndpoint = Callable[..., Awaitable[Endpoint]]
Factory = Callable[..., Awaitable[Any]]
Poll = Callable[..., Awaitable[None]]


def block_put(path: str, mid: int, num: int = 0, more: bool = True, size: int = 64) -> bytes:
    msg = Message.request(Code.PUT, path, payload=bytes(size), token=mid.to_bytes(2, "big"))
    msg.mid = mid
    msg.block1 = BlockOption(num, more, BlockOption.szx_for_size(size))
    return msg.encode()


async def answers(peer: Any, count: int) -> list[Message]:
    out = []
    for _ in range(count):
        data, _ = await peer.next()
        out.append(Message.decode(data))
    return out


def warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and text in r.getMessage()
    ]


async def test_block1_flood_is_bounded_refused_with_503_and_expires_without_traffic(
    make_endpoint: MakeEndpoint,
    make_raw_peer: Factory,
    poll: Poll,
    caplog: pytest.LogCaptureFixture,
) -> None:
    limits = Limits(block1_per_peer=4, block1_total=100, transfer_timeout=0.3, retry_after=12)
    ep = await make_endpoint(limits=limits)
    ep.add_resource("/up", lambda request, remote: Message(code=Code.CHANGED))
    peer = await make_raw_peer()
    with caplog.at_level(logging.WARNING, logger="lwm2m.coap"):
        for i in range(60):
            peer.send(block_put(f"/up/{i}", i), ep.local_address)
        got = await answers(peer, 60)
    codes = [m.code for m in got]
    assert codes.count(Code.CONTINUE) == 4
    refused = [m for m in got if m.code is Code.SERVICE_UNAVAILABLE]
    assert len(refused) == 56 and all(m.max_age == 12 for m in refused)
    assert ep.held()["block1"] == 4 and ep.held()["block1_bytes"] == 4 * 64
    assert len(warnings(caplog, "Block1 transfer from")) == 1
    loop = asyncio.get_running_loop()
    start = loop.time()
    await poll(lambda: ep.held()["block1"] == 0, timeout=3)
    print(
        f"60 transfers opened: 4 held, 56 refused with 5.03 Max-Age 12; "
        f"all gone {loop.time() - start:.2f} s later without traffic"
    )
    assert ep.held()["block1_bytes"] == 0
    # And the peer can start again.
    peer.send(block_put("/up/0", 100), ep.local_address)
    [again] = await answers(peer, 1)
    assert again.code is Code.CONTINUE


async def test_body_over_max_size_gets_413_with_size1(
    make_endpoint: MakeEndpoint, make_raw_peer: Factory
) -> None:
    ep = await make_endpoint(limits=Limits(max_body_size=100))
    ep.add_resource("/up", lambda request, remote: Message(code=Code.CHANGED))
    peer = await make_raw_peer()
    peer.send(block_put("/up", 1), ep.local_address)
    peer.send(block_put("/up", 2, num=1), ep.local_address)
    first, second = await answers(peer, 2)
    assert first.code is Code.CONTINUE
    assert second.code is Code.REQUEST_ENTITY_TOO_LARGE and second.size1 == 100
    assert ep.held()["block1"] == 0


async def test_kept_block2_responses_expire_without_traffic(
    make_endpoint: MakeEndpoint, make_raw_peer: Factory, poll: Poll
) -> None:
    ep = await make_endpoint(limits=Limits(transfer_timeout=0.2, block2_per_peer=2))
    ep.add_resource("/big", lambda request, remote: Message(code=Code.CONTENT, payload=bytes(3000)))
    peer = await make_raw_peer()
    for i in range(5):
        get = Message.request(Code.GET, f"/big/{i}", token=bytes([i + 1]))
        get.mid = 10 + i
        peer.send(get.encode(), ep.local_address)
    got = await answers(peer, 5)
    assert all(m.code is Code.CONTENT and m.block2 is not None for m in got)
    assert ep.held()["block2"] == 2  # the peer's oldest made room
    await poll(lambda: ep.held()["block2"] == 0, timeout=2)


async def until_mid(peer: Any, mid: int) -> Message:
    """Read datagrams until the answer with Message ID ``mid`` (others are skipped)."""
    while True:
        answer = Message.decode((await peer.next())[0])
        if answer.mid == mid and answer.type is Type.ACK:
            return answer


async def test_requests_in_progress_are_bounded_per_peer(
    make_endpoint: MakeEndpoint,
    make_raw_peer: Factory,
    poll: Poll,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ep = await make_endpoint(limits=Limits(pending_per_peer=2, retry_after=5))
    gate = asyncio.Event()

    async def slow(request: Message, remote: Address) -> Message:
        await gate.wait()
        return Message(code=Code.CONTENT, payload=b"done")

    ep.add_resource("/slow", slow)
    peer = await make_raw_peer()

    def get(mid: int) -> bytes:
        msg = Message.request(Code.GET, "/slow", token=bytes([mid]))
        msg.mid = mid
        return msg.encode()

    with caplog.at_level(logging.WARNING, logger="lwm2m.coap"):
        for mid in (1, 2):
            peer.send(get(mid), ep.local_address)
        empty_acks = await answers(peer, 2)  # the handlers are slow: empty ACKs
        assert [m.code for m in empty_acks] == [Code.EMPTY, Code.EMPTY]
        assert ep.held()["pending"] == 2
        for mid in range(3, 13):
            peer.send(get(mid), ep.local_address)
        refused = await answers(peer, 10)
    assert all(m.code is Code.SERVICE_UNAVAILABLE for m in refused)
    assert all(m.type is Type.ACK and m.max_age == 5 for m in refused)
    assert len(warnings(caplog, "requests in progress")) == 1
    # The answers go out as separate CON responses; unacknowledged, they still count.
    gate.set()
    await poll(lambda: ep.held()["pending"] == 0)
    assert ep.held()["separate"] == 2
    peer.send(get(20), ep.local_address)
    assert (await until_mid(peer, 20)).code is Code.SERVICE_UNAVAILABLE

    # Acknowledging them frees the peer.
    def ack(data: bytes) -> bytes | None:
        msg = Message.decode(data)
        return (
            Message(Type.ACK, Code.EMPTY, msg.mid, b"").encode() if msg.type is Type.CON else None
        )

    peer.reply = ack
    await poll(lambda: ep.held()["separate"] == 0)
    peer.send(get(21), ep.local_address)
    answer = await until_mid(peer, 21)
    assert answer.code is Code.CONTENT and answer.payload == b"done"
    print(f"2 slow requests held, 10 + 1 refused with 5.03 Max-Age 5, then served: {ep.held()}")


async def test_observations_beyond_the_bound_fall_back_to_a_plain_get(
    make_endpoint: MakeEndpoint, make_raw_peer: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    ep = await make_endpoint(limits=Limits(observations_per_peer=2))
    ep.add_resource(
        "/3/0/9",
        lambda request, remote: Message.response_to(request, Code.CONTENT, b"87", observe=0),
    )
    peer = await make_raw_peer()
    with caplog.at_level(logging.WARNING, logger="lwm2m.coap"):
        for i in range(4):
            msg = Message.request(Code.GET, "/3/0/9", token=bytes([i + 1]), observe=0)
            msg.mid = 40 + i
            peer.send(msg.encode(), ep.local_address)
        got = {m.token: m for m in await answers(peer, 4)}
    assert all(m.code is Code.CONTENT and m.payload == b"87" for m in got.values())
    observed = [t for t, m in got.items() if m.observe is not None]
    assert len(observed) == 2 and len(ep.observations()) == 2
    assert len(warnings(caplog, "observation from")) == 1
    # Re-registering an existing observation is not a new one.
    again = Message.request(Code.GET, "/3/0/9", token=observed[0], observe=0)
    again.mid = 50
    peer.send(again.encode(), ep.local_address)
    [answer] = await answers(peer, 1)
    assert answer.observe is not None and len(ep.observations()) == 2


async def test_streamed_transfers_count_against_the_block1_bound_and_expire(
    make_endpoint: MakeEndpoint, make_raw_peer: Factory, poll: Poll
) -> None:
    ep = await make_endpoint(limits=Limits(block1_per_peer=1, transfer_timeout=0.2))
    aborts: list[tuple[Address, StreamAbort]] = []

    async def sink(request: Message, remote: Address, offset: int, data: bytes, last: bool) -> None:
        return None

    ep.add_block1_stream(
        "/fw", sink, on_abort=lambda remote, reason: aborts.append((remote, reason))
    )
    ep.add_resource("/up", lambda request, remote: Message(code=Code.CHANGED))
    peer = await make_raw_peer()
    peer.send(block_put("/fw/pkg", 1), ep.local_address)
    [first] = await answers(peer, 1)
    assert first.code is Code.CONTINUE and ep.held()["block1"] == 1
    peer.send(block_put("/up", 2), ep.local_address)
    [second] = await answers(peer, 1)
    assert second.code is Code.SERVICE_UNAVAILABLE and second.max_age == 10
    # The stream's idle timeout defaults to the endpoint's transfer timeout.
    await poll(lambda: ep.held()["block1"] == 0, timeout=2)
    assert [reason for _, reason in aborts] == [StreamAbort.EXPIRED]


async def test_limits_default_and_explicit_max_body_size(make_endpoint: MakeEndpoint) -> None:
    ep = await make_endpoint()
    assert ep.limits == Limits()
    ep2 = await make_endpoint(limits=Limits(max_body_size=5000), max_body_size=100)
    assert ep2._max_body == 100  # the explicit argument wins


async def test_large_notifications_faster_than_their_fetch_do_not_pile_up(
    make_endpoint: MakeEndpoint, make_raw_peer: Factory, poll: Poll
) -> None:
    ep = await make_endpoint()
    server = await make_raw_peer()
    block_requests: list[Message] = []

    def serve(data: bytes) -> bytes | None:
        request = Message.decode(data)
        if request.observe == 0:
            answer = Message(Type.ACK, Code.CONTENT, request.mid, request.token, [], b"small")
            answer.observe = 1
            return answer.encode()
        block_requests.append(request)  # later blocks are never answered
        return None

    server.reply = serve
    obs = await ep.observe("/big", remote=server.address)
    for seq in range(2, 52):
        note = Message(Type.NON, Code.CONTENT, 1000 + seq, obs.token, [], bytes(1024))
        note.observe = seq
        note.block2 = BlockOption(0, True, 6)
        server.send(note.encode(), ep.local_address)
    await poll(lambda: bool(block_requests))
    await asyncio.sleep(0.1)
    # One fetch of the rest runs; the newest notification waits for it, the others are gone.
    assert len(ep._tasks) == 1
    assert ep.layer.pending_exchanges == 2  # the observation and that one fetch
    assert len({m.mid for m in block_requests}) == 1
    print(
        f"50 large notifications: {len(ep._tasks)} fetch task, "
        f"{ep.layer.pending_exchanges} exchanges"
    )
    obs.forget()


async def test_the_transfer_timer_reads_the_endpoint_clock(
    make_endpoint: MakeEndpoint, make_raw_peer: Factory, poll: Poll
) -> None:
    now = [0.0]
    ep = await make_endpoint(clock=lambda: now[0], limits=Limits(transfer_timeout=0.1))
    ep.add_resource("/up", lambda request, remote: Message(code=Code.CHANGED))
    peer = await make_raw_peer()
    peer.send(block_put("/up", 1), ep.local_address)
    [answer] = await answers(peer, 1)
    assert answer.code is Code.CONTINUE
    await asyncio.sleep(0.4)  # the timer fired, but the endpoint's time stands still
    assert ep.held()["block1"] == 1
    now[0] = 0.1
    await poll(lambda: ep.held()["block1"] == 0, timeout=1)


async def test_dedup_memory_is_bounded_by_limits() -> None:
    """The duplicate cache keeps at most ``Limits.dedup_total`` messages, oldest out first."""
    server = await Endpoint.create_udp("127.0.0.1", 0, limits=Limits(dedup_total=5))
    client = await Endpoint.create_udp("127.0.0.1", 0)
    server.add_resource("/x", lambda request, remote: Message(code=Code.CONTENT))
    try:
        for _ in range(12):
            await client.get("/x", remote=server.local_address, timeout=5.0)
        held = len(server.layer._dedup)
        assert held == 5, held
    finally:
        await client.close()
        await server.close()

"""CoAP codec and endpoint robustness: round trips, random and mutated datagrams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import MessageLayer, RequestReceived, TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, Type
from lwm2m.errors import DecodeError
from lwm2m.transport.base import Address

option_values = st.binary(max_size=300)
options = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 300), st.integers(0, 65535 + 269)),
        option_values,
    ),
    max_size=12,
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    code = draw(st.integers(0, 255))
    msg_type = draw(st.sampled_from(list(Type)))
    mid = draw(st.integers(0, 0xFFFF))
    if code == 0:
        return Message(msg_type, code, mid)
    return Message(
        msg_type,
        code,
        mid,
        draw(st.binary(max_size=8)),
        draw(options),
        draw(st.binary(max_size=200)),
    )


def exercise(msg: Message) -> None:
    """Every typed accessor either works or raises DecodeError."""
    for name in (
        "uri_path",
        "uri_query",
        "location_path",
        "content_format",
        "accept",
        "observe",
        "block1",
        "block2",
        "size1",
        "size2",
        "max_age",
        "uri_host",
        "uri_port",
        "etag",
        "no_response",
    ):
        with contextlib.suppress(DecodeError):
            getattr(msg, name)
    msg.unknown_critical_option()
    repr(msg)


@settings(max_examples=400, deadline=None)
@given(messages())
def test_round_trip(msg: Message) -> None:
    data = msg.encode()
    back = Message.decode(data)
    assert back.type == msg.type and back.code == msg.code and back.mid == msg.mid
    assert back.token == msg.token
    assert back.options == sorted(msg.options, key=lambda o: o[0])
    assert back.payload == msg.payload
    assert back.encode() == data
    exercise(back)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=120))
def test_random_datagrams_raise_only_decode_error(data: bytes) -> None:
    try:
        msg = Message.decode(data)
    except DecodeError as exc:
        assert exc.offset is not None
        return
    exercise(msg)
    assert Message.decode(msg.encode()) == msg


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        action = rng.randrange(4)
        if action == 0 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif action == 1 and buf:
            del buf[rng.randrange(len(buf)) :]
        elif action == 2:
            pos = rng.randrange(len(buf) + 1)
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 5)))
        elif buf:
            pos = rng.randrange(len(buf))
            buf[pos] ^= 1 << rng.randrange(8)
    return bytes(buf)


SEEDS = [
    Message.request(Code.GET, "/3/0/1", query="a=b", token=b"\x01\x02").encode(),
    Message.request(Code.PUT, "/x" * 20, payload=b"v" * 40, content_format=11542).encode(),
    Message(Type.ACK, Code.CONTENT, 7, b"tok", [(23, b"\x1e"), (28, b"\x10\x00")], b"p").encode(),
    Message(Type.CON, Code.POST, 9, b"", [(2000, b"x" * 300), (60, b"")], b"").encode(),
    Message(Type.RST, Code.EMPTY, 1).encode(),
]


def mutated_datagrams(rng: random.Random, count: int) -> list[bytes]:
    out = []
    for i in range(count):
        if i % 3 == 0:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 60))))
        else:
            out.append(mutate(rng, rng.choice(SEEDS)))
    return out


def check_codec(rng: random.Random, count: int) -> int:
    decoded = 0
    for data in mutated_datagrams(rng, count):
        try:
            msg = Message.decode(data)
        except DecodeError:
            continue
        decoded += 1
        exercise(msg)
    return decoded


def feed_layer(rng: random.Random, count: int) -> int:
    """Feed garbage, answer every request; the number answered. The layer still serves after."""
    layer = MessageLayer(TransmissionParams(), rng=random.Random(1))
    peer = ("10.1.1.1", 5683)
    answered = 0
    now = 0.0
    for i, data in enumerate(mutated_datagrams(rng, count)):
        now = i * 0.01
        layer.receive(data, peer, now)
        for event in layer.take_events():
            incoming = getattr(event, "incoming", None)
            if incoming is not None:
                layer.respond(incoming, Message(code=Code.CONTENT), now)
                answered += 1
        layer.take_datagrams()
        layer.handle_timeout(now)
    fresh = ("10.1.1.2", 5683)
    request = Message(Type.CON, Code.GET, 0x4242, b"after")
    layer.receive(request.encode(), fresh, now)
    [event] = layer.take_events()
    assert isinstance(event, RequestReceived) and event.incoming.token == b"after"
    layer.respond(event.incoming, Message(code=Code.CONTENT, payload=b"ok"), now)
    [(data, addr)] = layer.take_datagrams()
    ack = Message.decode(data)
    assert addr == fresh and (ack.type, ack.code, ack.mid) == (Type.ACK, Code.CONTENT, 0x4242)
    assert ack.token == b"after" and ack.payload == b"ok"
    return answered


def test_mutated_datagrams_codec_and_layer() -> None:
    assert check_codec(random.Random(42), 3000) > 100
    assert feed_layer(random.Random(43), 3000) > 10


@pytest.mark.slow
def test_mutated_datagrams_codec_and_layer_long() -> None:
    assert check_codec(random.Random(7), 100_000) > 1000
    assert feed_layer(random.Random(8), 100_000) > 100


async def live_endpoint_survives(count: int, caplog: pytest.LogCaptureFixture) -> None:
    server = await Endpoint.create_udp("127.0.0.1", 0)
    client = await Endpoint.create_udp("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    calls = 0

    async def handler(request: Message, remote: Address) -> Message:
        nonlocal calls
        calls += 1
        return Message(code=Code.CONTENT, payload=b"ok")

    server.set_fallback_handler(handler)
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        with caplog.at_level(logging.ERROR, logger="lwm2m.coap"):
            rng = random.Random(99)
            for i, data in enumerate(mutated_datagrams(rng, count)):
                transport.sendto(data, server.local_address)
                if i % 50 == 49:
                    await asyncio.sleep(0.001)
            await asyncio.sleep(0.05)
            resp = await client.get("/after", remote=server.local_address, timeout=5)
        assert resp.code is Code.CONTENT and resp.payload == b"ok"
        assert calls >= 1
        assert not [r for r in caplog.records if "processing a datagram" in r.getMessage()]
    finally:
        transport.close()
        await client.close()
        await server.close()


async def test_live_endpoint_survives_garbage(caplog: pytest.LogCaptureFixture) -> None:
    await live_endpoint_survives(2500, caplog)


@pytest.mark.slow
async def test_live_endpoint_survives_garbage_long(caplog: pytest.LogCaptureFixture) -> None:
    await live_endpoint_survives(100_000, caplog)

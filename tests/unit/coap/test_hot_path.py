"""Behaviour of the shortcuts on the request/response path (caches, deferred timers)."""

from __future__ import annotations

import asyncio
import random

from lwm2m.coap.layer import MessageLayer, RequestReceived, ResponseReceived, TransmissionParams
from lwm2m.coap.message import Message, encode_message, split_path
from lwm2m.coap.numbers import Code, Type
from lwm2m.transport.base import Address
from lwm2m.transport.udp import UdpTransport

CLIENT = ("10.0.0.1", 5683)
SERVER = ("10.0.0.2", 5683)


def test_repeated_path_strings_parse_the_same_and_stay_independent() -> None:
    assert split_path("/a%2Fb/c") == ("a/b", "c")
    assert split_path("/a%2Fb/c") == ("a/b", "c")
    assert split_path("3/0/") == ("3", "0")
    first = Message.request(Code.GET, "/3/0/1")
    first.options.append((17, b"\x2a"))
    second = Message.request(Code.GET, "/3/0/1")
    assert second.options == [(11, b"3"), (11, b"0"), (11, b"1")]
    assert Message.request(Code.GET, "/x%20y").uri_path == ("x y",)


def test_unsorted_options_encode_like_sorted_ones() -> None:
    options = [(12, b"\x00"), (11, b"a"), (15, b"q"), (11, b"b")]
    in_order = sorted(options, key=lambda o: o[0])
    assert encode_message(Type.CON, Code.GET, 1, b"t", options, b"p") == encode_message(
        Type.CON, Code.GET, 1, b"t", in_order, b"p"
    )
    assert options[0] == (12, b"\x00")  # the caller's list is left alone


def test_send_request_with_a_token_override() -> None:
    client = MessageLayer(rng=random.Random(1))
    server = MessageLayer(rng=random.Random(2))
    request = Message.request(Code.GET, "/3/0")
    exchange = client.send_request(request, SERVER, 0.0, token=b"\x07\x08")
    assert request.token == b"" and exchange.token == b"\x07\x08"
    [(data, _)] = client.take_datagrams()
    assert Message.decode(data).token == b"\x07\x08"
    server.receive(data, CLIENT, 0.0)
    [event] = server.take_events()
    assert isinstance(event, RequestReceived)
    server.respond(event.incoming, Message(code=Code.CONTENT, payload=b"ok"), 0.0)
    [(answer, _)] = server.take_datagrams()
    client.receive(answer, SERVER, 0.01)
    [done] = client.take_events()
    assert isinstance(done, ResponseReceived) and done.response.payload == b"ok"
    assert client.pending_exchanges == 0 and client.next_deadline() is None


def test_answered_requests_leave_no_timer_and_pending_ones_keep_theirs() -> None:
    server = MessageLayer(TransmissionParams(empty_ack_delay=0.5), rng=random.Random(3))
    fast = Message(Type.CON, Code.GET, 1, b"a")
    slow = Message(Type.CON, Code.GET, 2, b"b")
    server.receive(fast.encode(), CLIENT, 1.0)
    server.receive(slow.encode(), CLIENT, 1.25)
    first, _ = server.take_events()
    assert isinstance(first, RequestReceived)
    server.respond(first.incoming, Message(code=Code.CONTENT), 1.0)
    assert server.next_deadline() == 1.75
    server.handle_timeout(1.75)
    assert [Message.decode(d).mid for d, _ in server.take_datagrams()] == [1, 2]
    assert server.next_deadline() is None


def test_rearm_is_needed_only_for_earlier_deadlines() -> None:
    layer = MessageLayer(TransmissionParams(ack_random_factor=1.0), rng=random.Random(4))
    assert layer.arm_deadline() is None and not layer.needs_rearm(float("inf"))
    layer.send_request(Message.request(Code.GET, "/a", token=b"1"), SERVER, 10.0)
    assert layer.needs_rearm(float("inf"))
    assert layer.arm_deadline() == 12.0
    layer.send_request(Message.request(Code.GET, "/b", token=b"2"), CLIENT, 11.0)
    assert not layer.needs_rearm(12.0)  # a timer at 12.0 is early enough
    assert layer.needs_rearm(13.5)  # ... one at 13.5 would be late for 13.0
    assert layer.next_deadline() == 12.0


async def test_udp_callbacks_can_be_replaced_after_creation() -> None:
    receiver = await UdpTransport.create("127.0.0.1", 0)
    sender = await UdpTransport.create("127.0.0.1", 0)
    first: list[bytes] = []
    second: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()
    try:
        receiver.set_callbacks(lambda data, remote: first.append(data), lambda e, r: None)
        receiver.set_callbacks(lambda data, remote: second.put_nowait((data, remote)), print)
        sender.send(b"ping", receiver.local_address)
        data, remote = await asyncio.wait_for(second.get(), 5)
        assert data == b"ping" and remote == sender.local_address and first == []
    finally:
        sender.close()
        receiver.close()

"""A late RST to a NON notification still ends the observation (RFC 7641 3.6, 4.5)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.errors import ResetReceived
from lwm2m.coap.layer import ExchangeFailed, MessageLayer, TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, Type
from lwm2m.transport.base import Address

Factory = Callable[..., Awaitable[Any]]
CLIENT = ("10.0.0.1", 5683)


def make_layer(**kwargs: Any) -> MessageLayer:
    return MessageLayer(TransmissionParams(), rng=random.Random(3), **kwargs)


def advance(layer: MessageLayer, until: float) -> None:
    """Run every timer up to ``until`` at its own deadline."""
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        layer.handle_timeout(deadline)
    layer.handle_timeout(until)


def rst(mid: int) -> bytes:
    return Message(Type.RST, Code.EMPTY, mid).encode()


# ---------------------------------------------------------------- sans-IO


def test_rst_long_after_the_ack_window_fails_the_non_notification() -> None:
    layer = make_layer()
    params = layer.params
    ex = layer.send_message(Message(Type.NON, Code.CONTENT, 0, b"ob"), CLIENT, 0.0)
    layer.take_datagrams()
    late = 10 * params.ack_timeout * params.ack_random_factor
    assert late < params.exchange_lifetime
    advance(layer, late)
    assert layer.take_events() == []
    layer.receive(rst(ex.mid), CLIENT, late)
    [event] = layer.take_events()
    assert isinstance(event, ExchangeFailed) and event.exchange is ex
    assert isinstance(event.error, ResetReceived)
    layer.receive(rst(ex.mid), CLIENT, late + 1)  # a duplicate RST changes nothing
    assert layer.take_events() == []


def test_rst_after_exchange_lifetime_is_ignored() -> None:
    layer = make_layer()
    ex = layer.send_message(Message(Type.NON, Code.CONTENT, 0, b"ob"), CLIENT, 0.0)
    layer.take_datagrams()
    end = layer.params.exchange_lifetime
    advance(layer, end - 0.001)
    layer.receive(rst((ex.mid + 1) & 0xFFFF), CLIENT, end - 0.001)  # another MID
    assert layer.take_events() == []
    advance(layer, end)
    assert layer.next_deadline() is None  # nothing is tracked any more
    layer.receive(rst(ex.mid), CLIENT, end + 1)
    assert layer.take_events() == []


def test_tracked_non_notifications_are_bounded_oldest_first() -> None:
    layer = make_layer(non_tracking_limit=3)
    sent = [
        layer.send_message(Message(Type.NON, Code.CONTENT, 0, b"ob"), CLIENT, float(i))
        for i in range(5)
    ]
    layer.take_datagrams()
    for ex in sent[:2]:  # evicted by the three newer ones
        layer.receive(rst(ex.mid), CLIENT, 10.0)
    assert layer.take_events() == []
    layer.receive(rst(sent[2].mid), CLIENT, 10.0)
    [event] = layer.take_events()
    assert isinstance(event, ExchangeFailed) and event.exchange is sent[2]


def test_expired_notification_does_not_untrack_a_newer_message_with_its_mid() -> None:
    layer = make_layer()
    old = layer.send_message(Message(Type.NON, Code.CONTENT, 0, b"ob"), CLIENT, 0.0)
    layer.take_datagrams()
    # The peer's 16-bit Message ID counter wraps around to the same MID.
    layer._mid_next = old.mid  # CLIENT is the layer's first peer: its counter is in a slot
    new = layer.send_message(Message(Type.NON, Code.CONTENT, 0, b"ob"), CLIENT, 100.0)
    layer.take_datagrams()
    assert new.mid == old.mid
    advance(layer, layer.params.exchange_lifetime + 1)  # the old entry expires
    layer.receive(rst(new.mid), CLIENT, layer.params.exchange_lifetime + 1)
    [event] = layer.take_events()
    assert isinstance(event, ExchangeFailed) and event.exchange is new


# --------------------------------------------------------- over loopback


async def test_late_rst_to_non_notification_removes_the_observer(
    make_endpoint: Factory, make_raw_peer: Factory, poll: Factory
) -> None:
    # An RST window of 20 ms if it were ACK_TIMEOUT * ACK_RANDOM_FACTOR.
    params = TransmissionParams(ack_timeout=0.02, ack_random_factor=1.0)
    server: Endpoint = await make_endpoint(params=params)
    value = [0]

    async def handler(request: Message, remote: Address) -> Message:
        observe = 0 if request.observe == 0 else None
        return Message.response_to(request, Code.CONTENT, b"%d" % value[0], observe=observe)

    server.add_resource("/3303/0", handler)
    removed: list[bool] = []
    server.add_observation_listener(lambda obs, active: removed.append(active))
    client = await make_raw_peer()
    register = Message.request(Code.GET, "/3303/0", confirmable=True, token=b"t1")
    register.observe = 0
    register.mid = 0x1234
    client.send(register.encode(), server.local_address)
    first = Message.decode((await client.next())[0])
    assert first.type is Type.ACK and first.code == Code.CONTENT and first.observe is not None
    assert len(server.observations()) == 1

    value[0] = 1
    assert server.notify("/3303/0", confirmable=False) == 1
    note = Message.decode((await client.next())[0])
    assert note.type is Type.NON and note.token == b"t1" and note.payload == b"1"
    await asyncio.sleep(0.3)  # well past the 20 ms ACK window
    client.send(rst((note.mid + 1) & 0xFFFF), server.local_address)  # not a notification's
    await asyncio.sleep(0.05)
    assert len(server.observations()) == 1 and removed == [True]
    client.send(rst(note.mid), server.local_address)
    await poll(lambda: server.observations() == [])
    assert removed == [True, False]
    value[0] = 2
    assert server.notify("/3303/0") == 0

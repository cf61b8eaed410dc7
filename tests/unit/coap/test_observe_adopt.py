"""Adopting an observation registered earlier (by a previous process), client role.

A server that restarts keeps its observations' tokens in a store; its new
endpoint adopts them so that the notifications the observed peer keeps sending
are accepted, without a new registration request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.errors import EndpointClosed
from lwm2m.coap.layer import MessageLayer, ResponseReceived
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, Type
from lwm2m.transport.base import Address

Factory = Callable[..., Awaitable[Any]]
PEER = ("10.0.0.9", 5683)
OTHER = ("10.0.0.10", 5683)
TOKEN = b"\x01\x02\x03\x04"


def _notification(msg_type: Type, mid: int, seq: int, token: bytes = TOKEN) -> bytes:
    msg = Message(msg_type, Code.CONTENT, mid, token, [], b"%d" % seq)
    msg.observe = seq
    return msg.encode()


def test_layer_adopts_a_token_without_sending() -> None:
    layer = MessageLayer()
    request = Message.request(Code.GET, "/3/0", observe=0, token=TOKEN)
    context = object()
    exchange = layer.adopt(request, PEER, context=context)
    assert layer.take_datagrams() == [] and layer.next_deadline() is None
    assert layer.token_in_use(TOKEN)
    # a NON notification is delivered, a CON one acknowledged and delivered
    layer.receive(_notification(Type.NON, 1, 5), PEER, 0.0)
    layer.receive(_notification(Type.CON, 2, 6), PEER, 0.0)
    events = layer.take_events()
    assert [type(e) for e in events] == [ResponseReceived, ResponseReceived]
    assert all(isinstance(e, ResponseReceived) and e.exchange is exchange for e in events)
    assert [e.response.observe for e in events if isinstance(e, ResponseReceived)] == [5, 6]
    acks = [Message.decode(d) for d, _ in layer.take_datagrams()]
    assert [(m.type, m.mid) for m in acks] == [(Type.ACK, 2)]
    assert exchange.context is context
    # the same token from another peer is not this observation: RST
    layer.receive(_notification(Type.CON, 3, 7), OTHER, 0.0)
    assert layer.take_events() == []
    assert [Message.decode(d).type for d, _ in layer.take_datagrams()] == [Type.RST]
    with pytest.raises(ValueError):
        layer.adopt(request, PEER)
    layer.forget(exchange, 0.0)
    assert not layer.token_in_use(TOKEN)
    layer.receive(_notification(Type.CON, 4, 8), PEER, 0.0)
    assert layer.take_events() == []
    assert [Message.decode(d).type for d, _ in layer.take_datagrams()] == [Type.RST]


class Counter:
    """An observable resource: its value, and a handler that serves it."""

    def __init__(self) -> None:
        self.value = 0

    async def handler(self, request: Message, remote: Address) -> Message:
        observe = 0 if request.observe == 0 else None
        return Message.response_to(request, Code.CONTENT, b"%d" % self.value, observe=observe)


async def _observed_then_restarted(
    make_endpoint: Factory,
) -> tuple[Endpoint, Counter, Message, Endpoint]:
    """An observer that registered an observation, then was replaced by a new endpoint
    on the same port (a process restart); returns the observed endpoint, its resource,
    the registration request and the new observer endpoint."""
    observed: Endpoint = await make_endpoint()
    counter = Counter()
    observed.add_resource("/3303/0", counter.handler)
    first = await Endpoint.create_udp("127.0.0.1", 0)
    port = first.local_address[1]
    obs = await first.observe("/3303/0/5700", remote=observed.local_address, timeout=5)
    assert (await anext(obs)).payload == b"0"
    request = obs.request
    await first.close()
    restarted = await Endpoint.create_udp("127.0.0.1", port)
    assert restarted.local_address[1] == port
    return observed, counter, request, restarted


async def test_without_adoption_the_notification_is_refused(
    make_endpoint: Factory, poll: Factory
) -> None:
    observed, counter, _, restarted = await _observed_then_restarted(make_endpoint)
    try:
        counter.value = 1
        assert observed.notify("/3303/0/5700") == 1
        # the unknown token is answered with RST, which ends the observation (RFC 7641 3.6)
        await poll(lambda: observed.observations() == [])
    finally:
        await restarted.close()


async def test_adopted_observation_receives_notifications_then_cancels(
    make_endpoint: Factory, poll: Factory
) -> None:
    observed, counter, request, restarted = await _observed_then_restarted(make_endpoint)
    try:
        adopted = restarted.adopt_observation(request, remote=observed.local_address)
        assert adopted.token == request.token and adopted.active
        got: list[bytes] = []
        for value in (1, 2, 3):
            counter.value = value
            assert observed.notify("/3303/0/5700") == 1
            note = await asyncio.wait_for(anext(adopted), 2)
            got.append(note.payload)
        assert got == [b"1", b"2", b"3"]
        assert len(observed.observations()) == 1
        response = await adopted.cancel()
        assert response is not None and response.code is Code.CONTENT
        await poll(lambda: observed.observations() == [])
        assert not adopted.active
    finally:
        await restarted.close()


async def test_adopt_needs_a_token_and_an_open_endpoint(make_endpoint: Factory) -> None:
    endpoint: Endpoint = await make_endpoint()
    with pytest.raises(ValueError):
        endpoint.adopt_observation(Message.request(Code.GET, "/3/0", observe=0), remote=PEER)
    request = Message.request(Code.GET, "/3/0", observe=0, token=TOKEN)
    endpoint.adopt_observation(request, remote=PEER)
    with pytest.raises(ValueError):  # the token is in use
        endpoint.adopt_observation(request, remote=PEER)
    await endpoint.close()
    with pytest.raises(EndpointClosed):
        endpoint.adopt_observation(request, remote=PEER)

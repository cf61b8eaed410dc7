"""Observe (RFC 7641): ordering rules, registry policy, both roles over loopback."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, Type
from lwm2m.coap.observe import (
    Observation,
    ObservationRegistry,
    is_fresh,
    paths_overlap,
)
from lwm2m.transport.base import Address

Factory = Callable[..., Awaitable[Any]]
PEER = ("10.0.0.9", 5683)


# ---------------------------------------------------------------- sans-IO


def test_freshness_rule() -> None:
    assert is_fresh(5, 0.0, 6, 0.0)
    assert not is_fresh(6, 0.0, 5, 0.0)
    assert not is_fresh(6, 0.0, 6, 0.0)
    assert is_fresh((1 << 24) - 1, 0.0, 0, 0.0)  # wrap-around
    assert not is_fresh(0, 0.0, (1 << 24) - 1, 0.0)
    assert not is_fresh(10, 0.0, 10 + (1 << 23), 0.0)  # too far ahead
    assert is_fresh(6, 0.0, 5, 128.5)  # 128 s rule
    assert not is_fresh(6, 0.0, 5, 128.0)


def test_paths_overlap() -> None:
    assert paths_overlap(("3", "0"), ("3", "0", "1"))
    assert paths_overlap(("3", "0", "1"), ("3",))
    assert paths_overlap((), ("3",))
    assert not paths_overlap(("3", "0"), ("3", "1"))


def test_registry_con_policy_and_sequence() -> None:
    reg = ObservationRegistry(con_every=3, con_interval=100.0)
    req = Message.request(Code.GET, "/3/0", observe=0, token=b"t")
    obs = reg.add(PEER, req, None, 0.0)
    types = [reg.notification_type(obs, 1.0, None) for _ in range(6)]
    assert types == [Type.NON, Type.NON, Type.CON] * 2
    assert reg.notification_type(obs, 150.0, None) is Type.CON  # interval elapsed
    assert reg.notification_type(obs, 151.0, True) is Type.CON
    assert reg.notification_type(obs, 152.0, False) is Type.NON
    seqs = [reg.next_sequence() for _ in range(3)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    reg._sequence = (1 << 24) - 1
    assert reg.next_sequence() == 0
    assert reg.get(PEER, b"t") is obs
    assert reg.matching(("3",)) == [obs] and reg.matching(("4",)) == []
    # re-registration replaces
    obs2 = reg.add(PEER, req, None, 2.0)
    assert len(reg) == 1 and reg.get(PEER, b"t") is obs2
    assert not reg.remove(obs) and reg.remove(obs2) and len(reg) == 0
    with pytest.raises(ValueError):
        ObservationRegistry(con_every=0)


async def test_client_observation_drops_stale_notifications() -> None:
    now = [0.0]
    forgotten: list[Observation] = []

    async def no_cancel(o: Observation) -> Message | None:
        return None

    obs = Observation(
        Message.request(Code.GET, "/x", observe=0, token=b"t"),
        PEER,
        lambda: now[0],
        no_cancel,
        forgotten.append,
    )

    def note(seq: int, payload: bytes) -> Message:
        msg = Message(Type.NON, Code.CONTENT, 0, b"t", [], payload)
        msg.observe = seq
        return msg

    for seq, payload in [(10, b"a"), (12, b"b"), (11, b"stale"), (12, b"dup"), (13, b"c")]:
        now[0] += 1.0
        if obs.accept(msg := note(seq, payload)):
            obs.deliver(msg)
    now[0] += 200.0
    if obs.accept(msg := note(5, b"after-gap")):  # older number but 128 s later: fresh
        obs.deliver(msg)
    final = Message(Type.NON, Code.NOT_FOUND, 0, b"t")
    assert obs.accept(final)
    obs.deliver(final)
    got = [m.payload async for m in obs]
    assert got == [b"a", b"b", b"c", b"after-gap", b""]
    assert obs.dropped_stale == 2
    assert not obs.active and forgotten == [obs]


# --------------------------------------------------------- over loopback


class Sensor:
    """An observable resource whose value changes under test control."""

    def __init__(self) -> None:
        self.value = 0
        self.calls = 0
        self.code = Code.CONTENT

    async def handler(self, request: Message, remote: Address) -> Message:
        self.calls += 1
        observe = 0 if request.observe == 0 else None
        return Message.response_to(request, self.code, b"%d" % self.value, observe=observe)


async def setup(
    make_wrapped: Factory, **server_kwargs: Any
) -> tuple[Endpoint, Any, Endpoint, Any, Sensor]:
    server, server_t = await make_wrapped(**server_kwargs)
    client, client_t = await make_wrapped()
    sensor = Sensor()
    server.add_resource("/3303/0", sensor.handler)
    return server, server_t, client, client_t, sensor


async def test_observe_notifications_in_order_then_cancel(make_wrapped: Factory) -> None:
    server, _, client, client_t, sensor = await setup(make_wrapped)
    changes: list[tuple[str, bool]] = []
    server.add_observation_listener(lambda o, active: changes.append(("/".join(o.path), active)))
    obs = await client.observe("/3303/0/5700", remote=server.local_address, timeout=5)
    assert len(server.observations()) == 1
    assert changes == [("3303/0/5700", True)]
    for value in (1, 2, 3):
        sensor.value = value
        assert server.notify("/3303/0") == 1
        await asyncio.sleep(0.01)
    received = []
    async for note in obs:
        received.append(note)
        if len(received) == 4:
            break
    assert [m.payload for m in received] == [b"0", b"1", b"2", b"3"]
    seqs = [m.observe for m in received]
    assert all(isinstance(s, int) for s in seqs)
    assert seqs == sorted(seqs)  # type: ignore[type-var]
    assert server.notify("/4") == 0
    response = await obs.cancel()
    assert response is not None and response.code is Code.CONTENT
    assert response.observe is None
    assert server.observations() == []
    assert changes[-1] == ("3303/0/5700", False)
    # the deregistration was a GET with Observe=1 and the observation's token
    dereg = [m for m, _ in client_t.sent if m.code == Code.GET and m.observe == 1]
    assert len(dereg) == 1 and dereg[0].token == obs.token
    assert not obs.active


async def test_forgotten_observation_is_answered_with_rst(
    make_wrapped: Factory, poll: Factory
) -> None:
    server, _server_t, client, client_t, sensor = await setup(make_wrapped)
    obs = await client.observe("/3303/0", remote=server.local_address, timeout=5)
    obs.forget()
    sensor.value = 7
    server.notify("/3303/0")
    await poll(lambda: any(m.type is Type.RST for m, _ in client_t.sent))
    await poll(lambda: server.observations() == [])
    # iteration ends after what was queued before forget(): the first response
    assert [m.payload async for m in obs] == [b"0"]


async def test_con_notification_every_n(make_wrapped: Factory, poll: Factory) -> None:
    server, server_t, client, _, sensor = await setup(make_wrapped, notify_con_every=3)
    obs = await client.observe("/3303/0", remote=server.local_address, timeout=5)
    for value in range(1, 7):
        sensor.value = value
        server.notify("/3303/0")
        await asyncio.sleep(0.02)
    await poll(lambda: len([m for m, _ in server_t.sent if m.observe is not None]) >= 7)
    types = [m.type for m, _ in server_t.sent if m.observe is not None and m.type is not Type.ACK]
    assert types == [Type.NON, Type.NON, Type.CON] * 2
    got = []
    async for note in obs:
        got.append(note.payload)
        if len(got) == 7:
            break
    assert got == [b"%d" % i for i in range(7)]


async def test_failed_con_notification_drops_observer(make_wrapped: Factory, poll: Factory) -> None:
    params = TransmissionParams(ack_timeout=0.01, max_retransmit=1)
    server, _, client, _, sensor = await setup(make_wrapped, params=params)
    await client.observe("/3303/0", remote=server.local_address, timeout=5)
    removed: list[bool] = []
    server.add_observation_listener(lambda o, active: removed.append(active))
    await client.close()
    sensor.value = 1
    server.notify("/3303/0", confirmable=True)
    await poll(lambda: server.observations() == [])
    assert removed == [False]


async def test_push_notification_and_final_error(make_wrapped: Factory) -> None:
    server, _, client, _, _ = await setup(make_wrapped)
    obs = await client.observe("/3303/0", remote=server.local_address, timeout=5)
    [server_obs] = server.observations("/3303")
    server.push_notification(server_obs, Message(code=Code.CONTENT, payload=b"pushed"))
    server.push_notification(server_obs, Message(code=Code.NOT_FOUND))
    got = [m async for m in obs]
    assert [(m.code, m.payload) for m in got] == [
        (Code.CONTENT, b"0"),
        (Code.CONTENT, b"pushed"),
        (Code.NOT_FOUND, b""),
    ]
    assert got[2].observe is None
    assert server.observations() == []


async def test_handler_declining_observe(make_wrapped: Factory) -> None:
    server, _, client, _, _ = await setup(make_wrapped)

    async def plain(request: Message, remote: Address) -> Message:
        return Message(code=Code.CONTENT, payload=b"once")

    server.add_resource("/plain", plain)
    obs = await client.observe("/plain", remote=server.local_address, timeout=5)
    assert [m.payload async for m in obs] == [b"once"]
    assert server.observations() == []
    assert client.layer.pending_exchanges == 0


async def test_notify_overlapping_paths(make_wrapped: Factory) -> None:
    server, _, client, _, _sensor = await setup(make_wrapped)
    parent = await client.observe("/3303/0", remote=server.local_address, timeout=5)
    child = await client.observe("/3303/0/5700", remote=server.local_address, timeout=5)
    assert server.notify("/3303/0/5700") == 2
    assert server.notify("/3303") == 2
    assert server.notify("/3303/0/5701") == 1
    await parent.cancel()
    await child.cancel()


async def test_large_notification_is_reassembled(make_wrapped: Factory) -> None:
    server, _, client, _, _ = await setup(make_wrapped)
    body = [os.urandom(3000)]

    async def big(request: Message, remote: Address) -> Message:
        return Message.response_to(request, Code.CONTENT, body[0], observe=0)

    server.add_resource("/big", big)
    obs = await client.observe("/big", remote=server.local_address, timeout=5)
    first = await obs.__anext__()
    assert first.payload == body[0] and first.observe is not None
    body[0] = os.urandom(2500)
    server.notify("/big")
    second = await asyncio.wait_for(obs.__anext__(), 5)
    assert second.payload == body[0]
    assert second.observe is not None and second.observe > first.observe
    await obs.cancel()


async def test_observe_timeout_and_failure(make_endpoint: Factory, make_raw_peer: Factory) -> None:
    from lwm2m.coap.errors import RequestTimeout

    silent = await make_raw_peer()
    client = await make_endpoint()
    with pytest.raises(RequestTimeout):
        await client.observe("/x", remote=silent.address, timeout=0.05)
    assert client.layer.pending_exchanges == 0

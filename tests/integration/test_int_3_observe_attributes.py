"""Notification attributes over the wire (Core TS 1.1 5.1.2): st on a multiple resource, and the
pmin/pmax of each path of an Observe-Composite (inherited object -> instance -> resource)."""

from __future__ import annotations

import asyncio
import json

from client_support import CF, ClientRig, next_notification, no_notification

from lwm2m import formats
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.model import MultiResourceNode


def composite_request(*paths: str) -> Message:
    body = json.dumps([{"n": p} for p in paths]).encode()
    return Message.request(
        Code.FETCH, "/", payload=body, content_format=CF.SENML_JSON, accept=CF.SENML_JSON, observe=0
    )


async def write_attributes(rig: ClientRig, path: str, *query: str) -> None:
    r = await rig.request(Code.PUT, path, query=list(query))
    assert r.code == Code.CHANGED, r


async def test_int_261_step_on_a_multiple_resource(client_rig: ClientRig) -> None:
    client = client_rig.client
    client.set("3/0/7", {0: 3800, 1: 5000})
    await write_attributes(client_rig, "/3/0/7", "st=200")
    obs = await client_rig.observe("/3/0/7", accept=CF.LWM2M_TLV)
    first = await next_notification(obs)
    assert first.code == Code.CONTENT
    client.set("3/0/7", {0: 3900, 1: 5000})  # +100 on instance 0: below st
    assert await no_notification(obs, within=0.4)
    client.set("3/0/7", {0: 3900, 1: 4750})  # -250 on instance 1: st reached
    note = await next_notification(obs)
    node = formats.decode(CF.LWM2M_TLV, note.payload, "/3/0/7")
    assert isinstance(node, MultiResourceNode) and node.values == {0: 3900, 1: 4750}
    client.set("3/0/7", {0: 4050, 1: 4750})  # +150 from the value sent: below st
    assert await no_notification(obs, within=0.3)
    client.set("3/0/7", {0: 4050, 1: 4750, 2: 1200})  # an instance added always notifies
    await next_notification(obs)
    await obs.cancel()


async def test_int_304_observe_composite_honours_the_pmax_of_a_path(client_rig: ClientRig) -> None:
    # Server defaults pmax 3 s; /1/0/1 carries pmax=1: the composite beats every second.
    client_rig.client.set("1/0/3", 3)
    await write_attributes(client_rig, "/1/0/1", "pmax=1")
    obs = await client_rig.observe(composite_request("/1/0/1", "/3/0/9"))
    await next_notification(obs)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await next_notification(obs, timeout=2.5)
    assert 0.8 <= loop.time() - started < 2.0
    await obs.cancel()


async def test_int_304_observe_composite_pmin_pmax_inherited_with_default_pmax_0(
    client_rig: ClientRig,
) -> None:
    # No Server default pmax (0: none); pmin/pmax written on the instance /3/0 apply to
    # /3/0/9 below it: a heartbeat after pmax, a change held back until pmin.
    client_rig.client.set("1/0/3", 0)
    await write_attributes(client_rig, "/3/0", "pmin=1", "pmax=2")
    obs = await client_rig.observe(composite_request("/3303/0/5700", "/3/0/9"))
    await next_notification(obs)
    loop = asyncio.get_running_loop()
    started = loop.time()
    beat = await next_notification(obs, timeout=3.5)
    assert 1.8 <= loop.time() - started < 3.0 and beat.code == Code.CONTENT
    sent = loop.time()
    client_rig.client.set("3/0/9", 12)
    note = await next_notification(obs, timeout=2.5)
    assert loop.time() - sent >= 0.9  # the pmin of /3/0/9's instance
    assert b"12" in note.payload
    await obs.cancel()


async def test_write_attributes_after_observe_still_apply(client_rig: ClientRig) -> None:
    obs = await client_rig.observe(composite_request("/3/0/9"))
    await next_notification(obs)
    await write_attributes(client_rig, "/3/0/9", "pmax=1")
    await next_notification(obs, timeout=2.5)
    await obs.cancel()

"""ETS 301-310: Observe, cancel, Observe-Composite, Send, over the wire."""

from __future__ import annotations

import asyncio
import json

import cbor2
import pytest
from client_support import (
    CF,
    TEST_OBJECT,
    ClientRig,
    next_notification,
    no_notification,
    wait_until,
)

from lwm2m import formats
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.coap.observe import Observation

T = TEST_OBJECT


def client_observations(rig: ClientRig) -> int:
    """How many observations the client's endpoint keeps for the test server."""
    return len(rig.client._connections[101].endpoint.observations())


def text(msg: Message) -> str:
    return msg.payload.decode()


def composite_request(*paths: str, observe: int = 0) -> Message:
    body = json.dumps([{"n": p} for p in paths]).encode()
    return Message.request(
        Code.FETCH,
        "/",
        payload=body,
        content_format=CF.SENML_JSON,
        accept=CF.SENML_JSON,
        observe=observe,
    )


def senml_values(rig: ClientRig, msg: Message) -> dict[str, object]:
    records = formats.decode(CF.SENML_JSON, msg.payload, "/", rig.client.store.registry)
    assert isinstance(records, dict)
    return {str(p): v for p, v in records.items()}


async def test_int_301_observe_with_pmin_pmax(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.PUT, "/3303/0/5700", query=["pmin=1", "pmax=2"])
    assert r.code == Code.CHANGED
    loop = asyncio.get_running_loop()
    obs = await client_rig.observe("/3303/0/5700", accept=CF.TEXT_PLAIN)
    first = await next_notification(obs)
    started = loop.time()
    assert first.code == Code.CONTENT and text(first) == "21.5"
    client_rig.temperature.update(22.0)
    client_rig.temperature.update(23.0)  # within pmin: only the newest value goes out
    change = await next_notification(obs)
    at_change = loop.time()
    assert text(change) == "23.0" and at_change - started >= 0.9  # not before pmin
    # No change: pmax brings a notification anyway.
    beat = await next_notification(obs, timeout=4.0)
    assert text(beat) == "23.0" and loop.time() - at_change >= 1.9
    await obs.cancel()


async def test_int_302_cancel_observation_by_reset(client_rig: ClientRig) -> None:
    obs = await client_rig.observe("/3303/0/5700", accept=CF.TEXT_PLAIN)
    await next_notification(obs)
    assert client_observations(client_rig) == 1
    obs.forget()  # the next notification is answered with RST
    client_rig.temperature.update(30.0)
    await wait_until(lambda: client_observations(client_rig) == 0, what="observer removed")
    assert not client_rig.client._observed


async def test_int_303_cancel_observation_by_get(client_rig: ClientRig) -> None:
    obs = await client_rig.observe("/3/0/9", accept=CF.TEXT_PLAIN)
    assert text(await next_notification(obs)) == "87"
    response = await obs.cancel()
    assert response is not None and response.code == Code.CONTENT
    assert response.observe is None  # a plain answer ends the observation
    assert client_observations(client_rig) == 0
    client_rig.client.set("3/0/9", 50)
    await asyncio.sleep(0.05)
    assert not client_rig.client._observed


async def test_int_304_observe_composite(client_rig: ClientRig) -> None:
    obs = await client_rig.observe(composite_request("/3303/0/5700", "/3/0/9"))
    first = await next_notification(obs)
    assert first.code == Code.CONTENT and first.content_format == CF.SENML_JSON
    assert senml_values(client_rig, first) == {"/3303/0/5700": 21.5, "/3/0/9": 87}
    client_rig.client.set("3/0/9", 42)
    change = await next_notification(obs)
    assert senml_values(client_rig, change) == {"/3303/0/5700": 21.5, "/3/0/9": 42}
    await obs.cancel()


async def test_int_305_cancel_observe_composite(client_rig: ClientRig) -> None:
    obs = await client_rig.observe(composite_request("/3303/0/5700", "/3/0/9"))
    await next_notification(obs)
    response = await obs.cancel()
    assert response is not None and response.code == Code.CONTENT
    assert client_observations(client_rig) == 0
    client_rig.client.set("3/0/9", 1)
    await asyncio.sleep(0.05)
    assert not client_rig.client._observed


async def test_int_306_send(client_rig: ClientRig) -> None:
    code = await client_rig.client.send(["3/0/9", "3303/0/5700"])
    assert code == Code.CHANGED
    (sent,) = client_rig.server.sends
    assert sent.code == Code.POST and sent.uri_path == ("dp",)
    assert sent.content_format == CF.SENML_CBOR
    records = formats.decode(CF.SENML_CBOR, sent.payload, "/")
    assert isinstance(records, dict)
    assert {str(p): v for p, v in records.items()} == {"/3/0/9": 87, "/3303/0/5700": 21.5}
    assert all(-2 in rec or 0 in rec for rec in cbor2.loads(sent.payload))


async def test_int_307_mute_send(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.PUT, "/1/0/23", payload=b"1", content_format=CF.TEXT_PLAIN)
    assert r.code == Code.CHANGED
    with pytest.raises(PermissionError):
        await client_rig.client.send(["3/0/9"])
    assert client_rig.server.sends == []
    r = await client_rig.request(Code.PUT, "/1/0/23", payload=b"0", content_format=CF.TEXT_PLAIN)
    assert await client_rig.client.send(["3/0/9"]) == Code.CHANGED
    assert len(client_rig.server.sends) == 1


async def observe_object(rig: ClientRig) -> Observation:
    obs = await rig.observe(composite_request(f"/{T}"))
    first = await next_notification(obs)
    assert senml_values(rig, first)[f"/{T}/0/0"] == "first"
    return obs


async def test_int_308_observe_composite_with_create(client_rig: ClientRig) -> None:
    obs = await observe_object(client_rig)
    body = json.dumps([{"bn": f"/{T}/5/", "n": "0", "vs": "new"}]).encode()
    r = await client_rig.request(Code.POST, f"/{T}", payload=body, content_format=CF.SENML_JSON)
    assert r.code == Code.CREATED and r.location_path == (str(T), "5")
    note = await next_notification(obs)
    got = senml_values(client_rig, note)
    assert got[f"/{T}/5/0"] == "new" and got[f"/{T}/0/0"] == "first"
    await obs.cancel()


async def test_int_309_observe_composite_with_delete(client_rig: ClientRig) -> None:
    client_rig.client.create_instance(T, 6)
    client_rig.client.set(f"{T}/6/0", "short-lived")
    obs = await observe_object(client_rig)
    r = await client_rig.request(Code.DELETE, f"/{T}/6")
    assert r.code == Code.DELETED
    note = await next_notification(obs)
    got = senml_values(client_rig, note)
    assert f"/{T}/6/0" not in got and got[f"/{T}/0/0"] == "first"
    await obs.cancel()


async def test_int_310_observe_composite_with_value_change(client_rig: ClientRig) -> None:
    obs = await observe_object(client_rig)
    r = await client_rig.request(
        Code.PUT, f"/{T}/0/0", payload=b"second", content_format=CF.TEXT_PLAIN
    )
    assert r.code == Code.CHANGED
    note = await next_notification(obs)
    assert senml_values(client_rig, note)[f"/{T}/0/0"] == "second"
    # A change elsewhere does not notify.
    client_rig.client.set("3/0/9", 10)
    assert await no_notification(obs, 0.2)
    await obs.cancel()


async def test_int_301_attributes_written_after_observe_apply(client_rig: ClientRig) -> None:
    """Write-Attributes on an observed path changes the running observation (5.1.2)."""
    loop = asyncio.get_running_loop()
    obs = await client_rig.observe("/3303/0/5700", accept=CF.TEXT_PLAIN)
    first = await next_notification(obs)
    assert text(first) == "21.5"
    assert await no_notification(obs, 1.2)  # no pmax yet: nothing without a change
    r = await client_rig.request(Code.PUT, "/3303/0/5700", query=["pmax=1"])
    assert r.code == Code.CHANGED
    written = loop.time()
    beat = await next_notification(obs, timeout=3.0)  # the heartbeat the new pmax asks for
    assert text(beat) == "21.5" and loop.time() - written < 2.0
    r = await client_rig.request(Code.PUT, "/3303/0/5700", query=["pmax"])  # removed again
    assert r.code == Code.CHANGED
    await no_notification(obs, 0.5)  # one heartbeat may have been on its way
    assert await no_notification(obs, 1.5)
    await obs.cancel()

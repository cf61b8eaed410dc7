"""ETS 901-910: the Connectivity Statistics object over the wire."""

from __future__ import annotations

from client_support import CF, ClientRig, next_notification

from lwm2m import formats
from lwm2m.coap.numbers import Code
from lwm2m.model import InstanceNode, ResourceNode


async def test_int_901_connectivity_statistics_read(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.POST, "/7/0/6")  # Start
    assert r.code == Code.CHANGED
    client_rig.stats.counters.on_sent(4096)
    client_rig.stats.counters.on_received(2048)
    r = await client_rig.request(Code.GET, "/7/0", accept=CF.LWM2M_TLV)
    node = formats.decode(CF.LWM2M_TLV, r.payload, "/7/0")
    assert isinstance(node, InstanceNode)
    assert node.resources[2] == ResourceNode(2, 4)  # KiB sent
    assert node.resources[3] == ResourceNode(3, 2)
    assert node.resources[4] == ResourceNode(4, 4096)
    r = await client_rig.request(Code.POST, "/7/0/7")  # Stop
    assert r.code == Code.CHANGED and not client_rig.stats.collecting


async def test_int_905_connectivity_statistics_write(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.PUT, "/7/0/8", payload=b"60", content_format=CF.TEXT_PLAIN)
    assert r.code == Code.CHANGED and client_rig.client.get("7/0/8") == 60
    before = client_rig.snapshot()
    r = await client_rig.request(Code.PUT, "/7/0/8", payload=b"-1", content_format=CF.TEXT_PLAIN)
    assert r.code == Code.BAD_REQUEST  # refused by the object's validation
    r = await client_rig.request(Code.PUT, "/7/0/2", payload=b"1", content_format=CF.TEXT_PLAIN)
    assert r.code == Code.METHOD_NOT_ALLOWED
    assert client_rig.snapshot() == before


async def test_int_910_connectivity_statistics_observe(client_rig: ClientRig) -> None:
    await client_rig.request(Code.POST, "/7/0/6")
    r = await client_rig.request(Code.PUT, "/7/0/2", query=["pmax=1"])
    assert r.code == Code.CHANGED
    obs = await client_rig.observe("/7/0/2", accept=CF.TEXT_PLAIN)
    assert (await next_notification(obs)).payload == b"0"
    client_rig.stats.counters.on_sent(3 * 1024)  # a counter is sampled: pmax reports it
    assert (await next_notification(obs)).payload == b"3"
    await obs.cancel()

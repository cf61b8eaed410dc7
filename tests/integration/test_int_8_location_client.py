"""ETS 801-810: the Location object over the wire."""

from __future__ import annotations

from client_support import CF, ClientRig, next_notification

from lwm2m import formats
from lwm2m.coap.numbers import Code
from lwm2m.model import InstanceNode, ResourceNode


async def test_int_801_location_read(client_rig: ClientRig) -> None:
    client_rig.location.update(45.5, -73.6, altitude=30.0, speed=1.5, velocity=b"\x00\x01")
    r = await client_rig.request(Code.GET, "/6/0", accept=CF.LWM2M_TLV)
    node = formats.decode(CF.LWM2M_TLV, r.payload, "/6/0")
    assert isinstance(node, InstanceNode)
    assert node.resources[0] == ResourceNode(0, 45.5)
    assert node.resources[1] == ResourceNode(1, -73.6)
    assert node.resources[2] == ResourceNode(2, 30.0)
    assert node.resources[4] == ResourceNode(4, b"\x00\x01")
    assert node.resources[6] == ResourceNode(6, 1.5)


async def test_int_805_location_write(client_rig: ClientRig) -> None:
    before = client_rig.snapshot()
    for rid, value in ((0, b"1.0"), (1, b"2.0"), (5, b"0")):
        r = await client_rig.request(
            Code.PUT, f"/6/0/{rid}", payload=value, content_format=CF.TEXT_PLAIN
        )
        assert r.code == Code.METHOD_NOT_ALLOWED  # read-only for a server
    assert client_rig.snapshot() == before


async def test_int_810_location_observe(client_rig: ClientRig) -> None:
    obs = await client_rig.observe("/6/0", accept=CF.LWM2M_TLV)
    await next_notification(obs)
    client_rig.location.update(10.0, 20.0)
    note = formats.decode(CF.LWM2M_TLV, (await next_notification(obs)).payload, "/6/0")
    assert isinstance(note, InstanceNode)
    assert note.resources[0] == ResourceNode(0, 10.0)
    assert note.resources[1] == ResourceNode(1, 20.0)
    await obs.cancel()

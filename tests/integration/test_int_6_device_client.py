"""ETS 651-685: the Device object over the wire."""

from __future__ import annotations

from client_support import CF, ClientRig, next_notification, wait_until

from lwm2m import formats
from lwm2m.coap.numbers import Code
from lwm2m.model import InstanceNode, MultiResourceNode, ObjectNode, ResourceNode


async def read_device(rig: ClientRig) -> InstanceNode:
    r = await rig.request(Code.GET, "/3/0", accept=CF.LWM2M_TLV)
    assert r.code == Code.CONTENT
    node = formats.decode(CF.LWM2M_TLV, r.payload, "/3/0")
    assert isinstance(node, InstanceNode)
    return node


async def test_int_651_device_readable_resources(client_rig: ClientRig) -> None:
    node = await read_device(client_rig)
    values = {rid: res for rid, res in node.resources.items()}
    assert values[0] == ResourceNode(0, "Open Mobile Alliance")
    assert values[1] == ResourceNode(1, "Lightweight M2M Client")
    assert values[2] == ResourceNode(2, "345000123")
    assert values[9] == ResourceNode(9, 87) and values[10] == ResourceNode(10, 15)
    assert values[11] == MultiResourceNode(11, {0: 0})
    assert values[16] == ResourceNode(16, "U")
    assert isinstance(values[13], ResourceNode) and isinstance(values[13].value, int)
    assert not {4, 5, 12} & set(values)  # executable resources are not read
    for rid in (4, 5, 12):
        r = await client_rig.request(Code.GET, f"/3/0/{rid}")
        assert r.code == Code.METHOD_NOT_ALLOWED


async def test_int_652_firmware_version(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.GET, "/3/0/3", accept=CF.TEXT_PLAIN)
    assert r.payload == b"1.0"
    client_rig.device.set_firmware_version("1.1")
    r = await client_rig.request(Code.GET, "/3/0/3", accept=CF.TEXT_PLAIN)
    assert r.payload == b"1.1"


async def test_int_655_reboot(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.POST, "/3/0/4")
    assert r.code == Code.CHANGED
    await wait_until(lambda: client_rig.reboots == ["reboot"], what="reboot hook")
    r = await client_rig.request(Code.PUT, "/3/0/4", payload=b"1", content_format=CF.TEXT_PLAIN)
    assert r.code == Code.METHOD_NOT_ALLOWED


async def test_int_656_factory_reset(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.POST, "/3/0/5")
    assert r.code == Code.CHANGED
    await wait_until(lambda: client_rig.factory_resets == ["factory-reset"], what="reset hook")


async def test_int_657_error_code(client_rig: ClientRig) -> None:
    client_rig.device.add_error(2)  # low battery
    client_rig.device.add_error(4)  # out of memory... by code
    r = await client_rig.request(Code.GET, "/3/0/11", accept=CF.LWM2M_TLV)
    assert formats.decode(CF.LWM2M_TLV, r.payload, "/3/0/11") == MultiResourceNode(11, {0: 2, 1: 4})
    r = await client_rig.request(Code.POST, "/3/0/12")
    assert r.code == Code.CHANGED
    await wait_until(lambda: client_rig.client.get("3/0/11") == {0: 0}, what="errors reset")


async def test_int_660_device_basic_observation(client_rig: ClientRig) -> None:
    obs = await client_rig.observe("/3/0/9", accept=CF.TEXT_PLAIN)
    assert (await next_notification(obs)).payload == b"87"
    client_rig.client.set("3/0/9", 86)
    assert (await next_notification(obs)).payload == b"86"
    client_rig.device.set_battery(level=85)
    assert (await next_notification(obs)).payload == b"85"
    await obs.cancel()


async def test_int_661_device_extended_observation(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.PUT, "/3/0", query=["pmin=0", "pmax=30"])
    assert r.code == Code.CHANGED
    obs = await client_rig.observe("/3/0", accept=CF.LWM2M_TLV)
    first = formats.decode(CF.LWM2M_TLV, (await next_notification(obs)).payload, "/3/0")
    assert isinstance(first, InstanceNode) and first.resources[9] == ResourceNode(9, 87)
    client_rig.client.set("3/0/10", 12)  # any resource of the instance notifies
    note = formats.decode(CF.LWM2M_TLV, (await next_notification(obs)).payload, "/3/0")
    assert isinstance(note, InstanceNode) and note.resources[10] == ResourceNode(10, 12)
    await obs.cancel()


async def test_int_680_create_on_device_fails(client_rig: ClientRig) -> None:
    before = client_rig.snapshot()
    node = ObjectNode(3, {1: InstanceNode(1, {0: ResourceNode(0, "second")})})
    r = await client_rig.write(Code.POST, "/3", node)
    assert r.code == Code.METHOD_NOT_ALLOWED
    assert client_rig.client.store.instance_ids(3) == [0]
    assert client_rig.snapshot() == before


async def test_int_685_delete_on_device_fails(client_rig: ClientRig) -> None:
    before = client_rig.snapshot()
    r = await client_rig.request(Code.DELETE, "/3/0")
    assert r.code == Code.METHOD_NOT_ALLOWED
    r = await client_rig.request(Code.DELETE, "/3")
    assert r.code == Code.METHOD_NOT_ALLOWED
    assert client_rig.client.store.has_instance(3, 0) and client_rig.snapshot() == before

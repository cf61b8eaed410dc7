"""ETS 701-710 (Connectivity Monitoring) and 751-760 (Firmware Update) over the wire."""

from __future__ import annotations

from client_support import CF, ClientRig, next_notification, wait_until

from lwm2m import formats
from lwm2m.coap.numbers import Code
from lwm2m.model import InstanceNode, MultiResourceNode, ResourceNode
from lwm2m.objects import Result, State


async def test_int_701_connectivity_monitoring_read(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.GET, "/4/0", accept=CF.LWM2M_TLV)
    node = formats.decode(CF.LWM2M_TLV, r.payload, "/4/0")
    assert isinstance(node, InstanceNode)
    assert node.resources[0] == ResourceNode(0, 41)  # Ethernet
    assert node.resources[2] == ResourceNode(2, -70)
    assert node.resources[4] == MultiResourceNode(4, {0: "192.0.2.7"})


async def test_int_705_connectivity_monitoring_write(client_rig: ClientRig) -> None:
    before = client_rig.snapshot()
    # Every resource is read-only: a server write is refused, the store unchanged.
    r = await client_rig.request(Code.PUT, "/4/0/2", payload=b"-50", content_format=CF.TEXT_PLAIN)
    assert r.code == Code.METHOD_NOT_ALLOWED
    assert client_rig.snapshot() == before
    # Write-Attributes does apply.
    r = await client_rig.request(Code.PUT, "/4/0/2", query=["st=5"])
    assert r.code == Code.CHANGED


async def test_int_710_connectivity_monitoring_observe(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.PUT, "/4/0/2", query=["st=5"])
    assert r.code == Code.CHANGED
    obs = await client_rig.observe("/4/0/2", accept=CF.TEXT_PLAIN)
    assert (await next_notification(obs)).payload == b"-70"
    client_rig.monitor.update(radio_signal_strength=-72)  # below the step: no notification
    client_rig.monitor.update(radio_signal_strength=-80)
    assert (await next_notification(obs)).payload == b"-80"
    await obs.cancel()


async def test_int_751_firmware_update_read(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.GET, "/5/0", accept=CF.LWM2M_TLV)
    node = formats.decode(CF.LWM2M_TLV, r.payload, "/5/0")
    assert isinstance(node, InstanceNode)
    assert node.resources[3] == ResourceNode(3, State.IDLE)
    assert node.resources[5] == ResourceNode(5, Result.INITIAL)
    assert 0 not in node.resources  # Package is write-only


async def test_int_755_firmware_write_package(client_rig: ClientRig) -> None:
    image = b"\x7fELF" + bytes(300)
    r = await client_rig.request(Code.PUT, "/5/0/0", payload=image, content_format=CF.OCTET_STREAM)
    assert r.code == Code.CHANGED
    await wait_until(lambda: client_rig.firmware.state is State.DOWNLOADED, what="downloaded")
    assert bytes(client_rig.updater.image) == image
    r = await client_rig.request(Code.POST, "/5/0/2")  # Update
    assert r.code == Code.CHANGED
    await wait_until(lambda: client_rig.updater.applied == 1, what="update applied")


async def test_int_756_firmware_write_package_uri(client_rig: ClientRig) -> None:
    r = await client_rig.request(
        Code.PUT, "/5/0/1", payload=b"coap://192.0.2.1/fw.bin", content_format=CF.TEXT_PLAIN
    )
    assert r.code == Code.CHANGED
    await wait_until(lambda: client_rig.firmware.state is State.DOWNLOADED, what="downloaded")
    assert bytes(client_rig.updater.image) == b"pulled image"
    # A scheme the client cannot fetch: the write succeeds, Update Result says why.
    # An empty Package resets the state machine.
    r = await client_rig.request(Code.PUT, "/5/0/0", payload=b"", content_format=CF.OCTET_STREAM)
    assert r.code == Code.CHANGED
    await wait_until(lambda: client_rig.firmware.state is State.IDLE, what="reset")
    r = await client_rig.request(
        Code.PUT, "/5/0/1", payload=b"ftp://192.0.2.1/fw.bin", content_format=CF.TEXT_PLAIN
    )
    assert r.code == Code.CHANGED
    await wait_until(
        lambda: client_rig.client.get("5/0/5") == Result.UNSUPPORTED_PROTOCOL, what="result"
    )


async def test_int_760_firmware_observe_state(client_rig: ClientRig) -> None:
    obs = await client_rig.observe("/5/0/3", accept=CF.TEXT_PLAIN)
    assert (await next_notification(obs)).payload == b"0"
    r = await client_rig.request(
        Code.PUT, "/5/0/0", payload=b"image", content_format=CF.OCTET_STREAM
    )
    assert r.code == Code.CHANGED
    states = set()
    while b"2" not in states:
        states.add((await next_notification(obs)).payload)
    assert states <= {b"1", b"2"}
    await obs.cancel()

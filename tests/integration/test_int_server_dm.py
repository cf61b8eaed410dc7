"""Device management from our Server to our Client over loopback (ETS 2xx and 3xx rows)."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path as FsPath

import pytest

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared server_support module
from server_support import (
    HOST,
    Recorder,
    make_device,
    make_server,
    registered,
    start_registered,
)

from lwm2m.client.client import Client
from lwm2m.coap.errors import RequestError, RequestTimeout
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.errors import ModelError
from lwm2m.model import InstanceNode, MultiResourceNode, ObjectNode, Path, ResourceNode
from lwm2m.server import ClientNotRegistered, DmError, Notification, Registered, Server

CF = ContentFormat
NODE_FORMATS = [CF.LWM2M_TLV, CF.SENML_JSON, CF.SENML_CBOR, CF.LWM2M_JSON, CF.LWM2M_CBOR]
VALUE_FORMATS = [CF.TEXT_PLAIN, CF.CBOR, *NODE_FORMATS]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with make_server() as srv:
        yield srv


@pytest.fixture
async def device(server: Server) -> AsyncIterator[Client]:
    client = make_device(server)
    client.store.add_object(3303)
    async with registered(server, client):
        yield client


@pytest.fixture
async def device_10(server: Server) -> AsyncIterator[Client]:
    client = make_device(server, "dev10", version="1.0")
    async with registered(server, client):
        yield client


def _resources(node: object) -> dict[int, object]:
    assert isinstance(node, InstanceNode)
    return {
        rid: (r.value if isinstance(r, ResourceNode) else dict(r.values))
        for rid, r in node.resources.items()
    }


# --- Read ------------------------------------------------------------------------------


async def test_int_201_read_resource_as_text(server: Server, device: Client) -> None:
    node = await server.read("dev1", "/3/0/0", format=CF.TEXT_PLAIN)
    assert node == ResourceNode(0, "Acme")


async def test_int_203_read_device_instance_as_tlv(server: Server, device: Client) -> None:
    node = await server.read("dev1", "/3/0", format=CF.LWM2M_TLV)
    values = _resources(node)
    assert values[0] == "Acme" and values[1] == "M1" and values[3] == "1.0.3"


async def test_int_204_read_device_instance_as_oma_json(server: Server, device: Client) -> None:
    node = await server.read("dev1", "/3/0", format=CF.LWM2M_JSON)
    assert _resources(node)[2] == "SN-1"


@pytest.mark.parametrize("cf", NODE_FORMATS, ids=lambda c: CF(c).name)
async def test_int_222_read_object_in_each_format(server: Server, device: Client, cf: int) -> None:
    node = await server.read("dev1", "/3", format=cf)
    assert isinstance(node, ObjectNode)
    assert _resources(node.instances[0])[0] == "Acme"


@pytest.mark.parametrize("cf", VALUE_FORMATS, ids=lambda c: CF(c).name)
async def test_int_224_read_resource_in_each_format(
    server: Server, device: Client, cf: int
) -> None:
    assert await server.read("dev1", "/3/0/1", format=cf) == ResourceNode(1, "M1")


async def test_int_225_read_resource_instance(server: Server, device: Client) -> None:
    node = await server.read("dev1", "/3/0/11/0", format=CF.SENML_JSON)
    assert node == ResourceNode(0, 0)


async def test_int_211_read_single_value_as_cbor(server: Server, device: Client) -> None:
    assert await server.read("dev1", "/3/0/2", format=CF.CBOR) == ResourceNode(2, "SN-1")


async def test_read_default_formats_by_version(
    server: Server, device: Client, device_10: Client
) -> None:
    # 1.1: SenML CBOR (the client's ct=112); 1.0: TLV for instances, text for values.
    node_11 = await server.read("dev1", "/3/0/11")
    assert node_11 == MultiResourceNode(11, {0: 0})
    node_10 = await server.read("dev10", "/3/0")
    assert _resources(node_10)[0] == "Acme"
    assert await server.read("dev10", "/3/0/1") == ResourceNode(1, "M1")
    reg_10 = server.get_registration("dev10")
    assert reg_10 is not None
    assert await server.read(reg_10, "/3/0/2") == ResourceNode(2, "SN-1")


# --- Write ------------------------------------------------------------------------------


@pytest.mark.parametrize("cf", VALUE_FORMATS, ids=lambda c: CF(c).name)
async def test_int_227_replace_write_on_resource(server: Server, device: Client, cf: int) -> None:
    await server.write("dev1", "/3/0/14", "+05:30", format=cf)
    assert device.get("3/0/14") == "+05:30"
    assert await server.read("dev1", "/3/0/14") == ResourceNode(14, "+05:30")


@pytest.mark.parametrize("cf", NODE_FORMATS, ids=lambda c: CF(c).name)
async def test_int_226_partial_update_write_on_instance(
    server: Server, device: Client, cf: int
) -> None:
    await server.write("dev1", "/3/0", {14: "+01:00", 15: "Europe/Paris"}, replace=False, format=cf)
    assert device.get("3/0/14") == "+01:00"
    assert device.get("3/0/15") == "Europe/Paris"
    assert device.get("3/0/0") == "Acme"  # untouched


async def test_int_215_write_server_instance_tlv_partial_and_replace(
    server: Server, device_10: Client
) -> None:
    await server.write("dev10", "/1/0", {2: 5, 3: 60}, replace=False)
    assert device_10.get("1/0/2") == 5 and device_10.get("1/0/3") == 60
    await server.write("dev10", "/1/0", InstanceNode(0, {3: ResourceNode(3, 90)}))
    assert device_10.get("1/0/3") == 90


async def test_int_256_failed_write_changes_nothing(server: Server, device: Client) -> None:
    with pytest.raises(DmError) as info:
        await server.write("dev1", "/3/0", {14: "+02:00", 0: "Other"}, replace=False)
    assert info.value.code == Code.METHOD_NOT_ALLOWED
    assert device.get("3/0/14") == "+00:00" and device.get("3/0/0") == "Acme"


async def test_write_typed_by_definition(server: Server, device: Client) -> None:
    await server.write("dev1", "/1/0/2", 7)  # Unsigned Integer, plain int
    assert device.get("1/0/2") == 7
    before = device.get("3/0/14")
    with pytest.raises(ValueError, match="String"):
        await server.write("dev1", "/3/0/14", 5)  # refused before anything is sent
    assert device.get("3/0/14") == before


# --- Execute, Create, Delete -------------------------------------------------------------


async def test_int_241_execute_reboot(server: Server) -> None:
    calls: list[str] = []
    client = make_device(server, on_reboot=lambda: calls.append("reboot"))
    async with registered(server, client):
        await server.execute("dev1", "/3/0/4")
        for _ in range(50):
            if calls:
                break
            await asyncio.sleep(0.01)
    assert calls == ["reboot"]


async def test_execute_with_arguments(server: Server, device: Client) -> None:
    seen: list[object] = []
    device.store.callbacks.execute[Path(3, 0, 4)] = lambda path, args: seen.append(args)
    await server.execute("dev1", "/3/0/4", "0='now',1")
    assert seen and "0='now'" in str(seen[0])


async def test_int_270_290_create_and_delete_instance(server: Server, device: Client) -> None:
    path = await server.create("dev1", "/3303", InstanceNode(1, {5700: ResourceNode(5700, 21.5)}))
    assert path == Path(3303, 1)
    assert await server.read("dev1", "/3303/1/5700") == ResourceNode(5700, 21.5)
    await server.delete("dev1", "/3303/1")
    with pytest.raises(DmError) as info:
        await server.read("dev1", "/3303/1")
    assert info.value.code == Code.NOT_FOUND
    assert info.value.code_name == "NOT_FOUND"


async def test_create_from_values_and_empty(server: Server, device: Client) -> None:
    made = await server.create("dev1", "/3303", {5700: 3.0}, instance_id=4, format=CF.LWM2M_TLV)
    assert made == Path(3303, 4)
    assert list(device.store.instance_ids(3303)) == [4]
    with pytest.raises(DmError) as info:  # an empty Create lacks the mandatory 5700
        await server.create("dev1", "/3303")
    assert info.value.code == Code.BAD_REQUEST and "5700" in info.value.message
    assert list(device.store.instance_ids(3303)) == [4]  # nothing was created


async def test_create_without_instance_id_lets_the_client_pick(
    server: Server, device: Client
) -> None:
    first = await server.create("dev1", "/3303", {5700: 1.5})
    second = await server.create("dev1", "/3303", {5700: 2.5})
    assert first != second and {first, second} <= {Path(3303, i) for i in range(3)}
    assert device.get(f"3303/{second[1]}/5700") == 2.5
    with pytest.raises(ModelError):  # no instance id: only bare TLV resources can say so
        await server.create("dev1", "/3303", {5700: 1.0}, format=CF.SENML_JSON)
    assert sorted(device.store.instance_ids(3303)) == sorted([first[1], second[1]])


async def test_int_680_create_device_instance_fails(server: Server, device: Client) -> None:
    with pytest.raises(DmError) as info:
        await server.create("dev1", "/3", InstanceNode(1, {}))
    assert info.value.code >> 5 == 4


# --- Discover and attributes ---------------------------------------------------------


async def test_int_260_discover_with_attributes(server: Server, device: Client) -> None:
    await server.write_attributes("dev1", "/3/0/14", pmin=2, pmax=30)
    entries = await server.discover("dev1", "/3/0")
    by_path = {e.path: e.attributes for e in entries}
    assert Path(3, 0) in by_path
    assert by_path[Path(3, 0, 14)] == {"pmin": 2, "pmax": 30}
    assert by_path[Path(3, 0, 11)]["dim"] == 1


async def test_int_261_write_attributes_on_multiple_resource(
    server: Server, device: Client
) -> None:
    await server.write_attributes("dev1", "/3/0/11", gt=5.5, lt=1, st=0.5)
    entry = next(e for e in await server.discover("dev1", "/3/0/11") if e.path == Path(3, 0, 11))
    assert entry.attributes["gt"] == 5.5 and entry.attributes["lt"] == 1
    await server.write_attributes("dev1", "/3/0/11", gt=None)  # remove one attribute
    entry = next(e for e in await server.discover("dev1", "/3/0/11") if e.path == Path(3, 0, 11))
    assert "gt" not in entry.attributes and entry.attributes["st"] == 0.5


# --- Observe ----------------------------------------------------------------------------


async def test_int_301_observe_with_pmin_pmax(server: Server, device: Client) -> None:
    rec = Recorder(server)
    await server.write_attributes("dev1", "/3/0/14", pmin=0, pmax=1)
    obs = await server.observe("dev1", "/3/0/14")
    assert obs.initial == ResourceNode(14, "+00:00")
    assert [o.paths for o in server.observations("dev1")] == [(Path(3, 0, 14),)]
    device.set("3/0/14", "+04:00")
    async with asyncio.timeout(3):
        changed = await anext(obs)
        assert changed.content == ResourceNode(14, "+04:00")
        unchanged = await anext(obs)  # pmax: a notification without a change
    assert unchanged.content == ResourceNode(14, "+04:00")
    assert unchanged.sequence is not None and changed.sequence is not None
    assert unchanged.sequence > changed.sequence
    event = await rec.next(Notification)
    assert event.endpoint == "dev1" and event.path == Path(3, 0, 14)
    await obs.cancel()


async def test_int_303_cancel_observation_actively(server: Server, device: Client) -> None:
    rec = Recorder(server)
    obs = await server.observe("dev1", "/3/0/15")
    await obs.cancel()
    assert not obs.active and server.observations() == []
    device.set("3/0/15", "Europe/Oslo")
    await asyncio.sleep(0.2)
    assert rec.of(Notification) == []
    assert [n async for n in obs] == []


async def test_int_302_cancel_observation_by_reset(server: Server, device: Client) -> None:
    rec = Recorder(server)
    obs = await server.observe("dev1", "/3/0/15")
    obs.forget()
    device.set("3/0/15", "Europe/Oslo")  # answered with RST
    await asyncio.sleep(0.2)
    device.set("3/0/15", "Europe/Rome")
    await asyncio.sleep(0.2)
    assert rec.of(Notification) == [] and server.observations() == []


async def test_cancel_observations_by_path(server: Server, device: Client) -> None:
    first = await server.observe("dev1", "/3/0/14")
    second = await server.observe("dev1", "/3/0/15")
    assert await server.cancel_observations("dev1", "/3/0/14") == 1
    assert not first.active and second.active
    assert [o.paths for o in server.observations("dev1")] == [(Path(3, 0, 15),)]
    assert await server.cancel_observations("dev1") == 1


async def test_observe_instance_notifies_resource_change(server: Server, device: Client) -> None:
    obs = await server.observe("dev1", "/3/0", format=CF.LWM2M_TLV)
    device.set("3/0/15", "Asia/Tokyo")
    async with asyncio.timeout(3):
        note = await anext(obs)
    assert _resources(note.content)[15] == "Asia/Tokyo"
    assert note.content_format == CF.LWM2M_TLV


async def test_observation_ends_when_instance_deleted(server: Server, device: Client) -> None:
    await server.create("dev1", "/3303", InstanceNode(0, {5700: ResourceNode(5700, 1.0)}))
    obs = await server.observe("dev1", "/3303/0/5700")
    await server.delete("dev1", "/3303/0")
    async with asyncio.timeout(3):
        rest = [n async for n in obs]
    assert all(isinstance(n, Notification) for n in rest)
    assert not obs.active and server.observations() == []


# --- Composite ----------------------------------------------------------------------------


@pytest.mark.parametrize("cf", [CF.SENML_CBOR, CF.SENML_JSON, CF.LWM2M_CBOR], ids=str)
async def test_int_229_read_composite(server: Server, device: Client, cf: int) -> None:
    records = await server.read_composite("dev1", ["/3/0/0", "/3/0/11", "/1/0/1"], format=cf)
    assert records == {Path(3, 0, 0): "Acme", Path(3, 0, 11, 0): 0, Path(1, 0, 1): 300}


@pytest.mark.parametrize("cf", [CF.SENML_CBOR, CF.SENML_JSON], ids=str)
async def test_int_230_write_composite(server: Server, device: Client, cf: int) -> None:
    await server.write_composite("dev1", {"/3/0/14": "-03:00", Path(1, 0, 2): 9}, format=cf)
    assert device.get("3/0/14") == "-03:00" and device.get("1/0/2") == 9


async def test_int_304_305_observe_composite_and_cancel(server: Server, device: Client) -> None:
    obs = await server.observe_composite("dev1", ["/3/0/14", "/3/0/15"])
    assert obs.composite and obs.initial == {Path(3, 0, 14): "+00:00", Path(3, 0, 15): "UTC"}
    device.set("3/0/15", "America/Lima")
    async with asyncio.timeout(3):
        note = await anext(obs)
    assert note.composite and note.path == Path()
    assert note.content[Path(3, 0, 15)] == "America/Lima"  # type: ignore[index]
    stored = server.observations("dev1")
    assert len(stored) == 1 and stored[0].composite
    await obs.cancel()
    assert server.observations("dev1") == []


# --- Errors -----------------------------------------------------------------------------------


async def test_unknown_endpoint(server: Server) -> None:
    with pytest.raises(ClientNotRegistered):
        await server.read("nobody", "/3/0")
    with pytest.raises(ClientNotRegistered):
        await server.observe("nobody", "/3/0/0")


async def test_not_found_from_client(server: Server, device: Client) -> None:
    with pytest.raises(DmError) as info:
        await server.read("dev1", "/3/7")
    assert info.value.code == Code.NOT_FOUND and "4.04" in str(info.value)
    with pytest.raises(DmError) as info:
        await server.observe("dev1", "/3/7/0")
    assert info.value.code == Code.NOT_FOUND
    assert server.observations() == []


async def test_int_221_security_object_refused(server: Server, device: Client) -> None:
    with pytest.raises(DmError) as info:
        await server.read("dev1", "/0/0")
    assert info.value.code == Code.UNAUTHORIZED


async def test_method_not_allowed_and_not_acceptable(server: Server, device: Client) -> None:
    with pytest.raises(DmError) as info:
        await server.delete("dev1", "/3/0/0")
    assert info.value.code_name == "METHOD_NOT_ALLOWED"
    with pytest.raises(DmError) as info:
        await server.read("dev1", "/3/0", format=CF.TEXT_PLAIN)
    assert info.value.code == Code.NOT_ACCEPTABLE


async def test_bad_arguments_are_refused_before_sending(server: Server, device: Client) -> None:
    for call in (
        server.read("dev1", "/"),
        server.read("dev1", "/3/x"),
        server.execute("dev1", "/3/0"),
        server.create("dev1", "/3/0"),
        server.write_attributes("dev1", "/3/0/14"),
        server.write_attributes("dev1", "/3/0/14", pmin=-1),
        server.write_composite("dev1", {"/3/0": 1}),
        server.read_composite("dev1", []),
    ):
        with pytest.raises(ValueError):
            await call


async def test_timeout_on_silent_client(server: Server) -> None:
    # A "client" that registers from a socket it never reads again.
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind((HOST, 0))
    try:
        register = Message.request(
            Code.POST,
            "/rd",
            query=["lwm2m=1.1", "ep=ghost", "lt=60"],
            payload=b"</3/0>",
            content_format=CF.LINK_FORMAT,
            token=b"\x01",
        )
        register.mid = 7
        waiter = asyncio.ensure_future(server.wait_for(Registered, endpoint="ghost"))
        await asyncio.sleep(0)
        silent.sendto(register.encode(), server.coap_address)
        await waiter
        with pytest.raises(RequestTimeout):
            await server.read("ghost", "/3/0/0")  # retransmissions run out (~0.3 s)
        with pytest.raises(RequestTimeout):
            await server.read("ghost", "/3/0/0", timeout=0.05)
    finally:
        silent.close()


async def test_client_gone_without_deregister(server: Server) -> None:
    """After ``stop(deregister=False)`` the client's socket is closed: nobody answers.

    Fails while ``Client.stop`` cancels the task that closes the connection it just
    popped (the socket then stays open and answers 5.03).
    """
    client = make_device(server, "gone")
    await start_registered(server, client)
    await client.stop(deregister=False)
    with pytest.raises(RequestError):
        await server.read("gone", "/3/0/0", timeout=2.0)

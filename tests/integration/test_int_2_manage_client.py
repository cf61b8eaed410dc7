"""ETS 241, 260, 261, 270, 271, 290: Execute, Discover, Write-Attributes, Create, Delete."""

from __future__ import annotations

from client_support import CF, TEST_OBJECT, ClientRig, wait_until

from lwm2m import formats
from lwm2m.coap.numbers import Code
from lwm2m.formats.link import parse_discover
from lwm2m.model import InstanceNode, MultiResourceNode, ObjectNode, Path, ResourceNode

T = TEST_OBJECT


async def discover(rig: ClientRig, path: str, query: list[str] | None = None) -> dict[str, dict]:
    r = await rig.request(Code.GET, path, accept=CF.LINK_FORMAT, query=query)
    assert (r.code, r.content_format) == (Code.CONTENT, CF.LINK_FORMAT), r
    return {str(e.path): e.attributes for e in parse_discover(r.payload)}


async def write_attributes(rig: ClientRig, path: str, *query: str) -> int:
    r = await rig.request(Code.PUT, path, query=list(query))
    return int(r.code)


async def test_int_241_execute_reboot(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.POST, "/3/0/4")
    assert r.code == Code.CHANGED
    await wait_until(lambda: client_rig.reboots == ["reboot"], what="reboot hook")
    # Execute with arguments in the 1.0 syntax; malformed arguments are 4.00.
    r = await client_rig.request(Code.POST, "/3/0/4", payload=b"0='now',1")
    assert r.code == Code.CHANGED
    r = await client_rig.request(Code.POST, "/3/0/4", payload=b"0=now")
    assert r.code == Code.BAD_REQUEST


async def test_int_260_discover_with_attributes(client_rig: ClientRig) -> None:
    assert await write_attributes(client_rig, "/3", "pmin=10") == Code.CHANGED
    assert await write_attributes(client_rig, "/3/0", "pmax=60") == Code.CHANGED
    assert await write_attributes(client_rig, "/3/0/9", "gt=50", "lt=42.2") == Code.CHANGED
    links = await discover(client_rig, "/3")
    assert links["/3"] == {"ver": "1.1", "pmin": 10}
    assert "/3/0" in links and "/3/0/0" in links and "/3/0/4" in links
    assert links["/3/0/11"]["dim"] == 1
    assert not any(p.count("/") == 4 for p in links)  # no resource instances at depth 2
    links = await discover(client_rig, "/3/0")
    assert links["/3/0"] == {"pmax": 60}
    assert links["/3/0/9"] == {"gt": 50, "lt": 42.2}
    # A resource: its attributes and those it inherits.
    links = await discover(client_rig, "/3/0/9")
    assert links == {"/3/0/9": {"pmin": 10, "pmax": 60, "gt": 50, "lt": 42.2}}
    # LwM2M 1.1 depth: 0 is the target alone, 3 reaches resource instances.
    assert list(await discover(client_rig, "/3", ["depth=0"])) == ["/3"]
    assert set(await discover(client_rig, "/3", ["depth=1"])) == {"/3", "/3/0"}
    assert "/3/0/11/0" in await discover(client_rig, "/3", ["depth=3"])
    r = await client_rig.request(Code.GET, "/3", accept=CF.LINK_FORMAT, query=["depth=9"])
    assert r.code == Code.BAD_REQUEST
    r = await client_rig.request(Code.GET, "/3/1", accept=CF.LINK_FORMAT)
    assert r.code == Code.NOT_FOUND


async def test_int_260_discover_lwm2m_10(client_rig_10: ClientRig) -> None:
    rig = client_rig_10
    assert await write_attributes(rig, "/3", "pmin=10") == Code.CHANGED
    assert await write_attributes(rig, "/3/0/9", "gt=50") == Code.CHANGED
    links = await discover(rig, "/3")
    assert links["/3"]["pmin"] == 10
    assert links["/3/0/9"] == {}  # an object Discover reports object attributes only
    links = await discover(rig, "/3/0/11")
    assert links == {"/3/0/11": {"dim": 1, "pmin": 10}}


async def test_int_261_write_attributes_on_multiple_resource(client_rig: ClientRig) -> None:
    assert await write_attributes(client_rig, f"/{T}/0/1", "pmin=1", "pmax=5") == Code.CHANGED
    assert await write_attributes(client_rig, f"/{T}/0/1/0", "gt=15") == Code.CHANGED
    links = await discover(client_rig, f"/{T}/0/1")
    assert links[f"/{T}/0/1"] == {"dim": 2, "pmin": 1, "pmax": 5}
    assert links[f"/{T}/0/1/0"] == {"gt": 15}
    assert links[f"/{T}/0/1/1"] == {}
    # Invalid combinations are refused and leave what was set.
    assert await write_attributes(client_rig, f"/{T}/0/1", "pmin=9", "pmax=3") == Code.BAD_REQUEST
    assert await write_attributes(client_rig, f"/{T}/0/1", "lt=5", "gt=1") == Code.BAD_REQUEST
    assert await write_attributes(client_rig, f"/{T}/0/1", "st=-1") == Code.BAD_REQUEST
    assert await write_attributes(client_rig, f"/{T}/0/1", "bogus=1") == Code.BAD_REQUEST
    assert await write_attributes(client_rig, f"/{T}/0/9", "pmin=1") == Code.NOT_FOUND
    links = await discover(client_rig, f"/{T}/0/1")
    assert links[f"/{T}/0/1"] == {"dim": 2, "pmin": 1, "pmax": 5}
    # An attribute without a value is removed.
    assert await write_attributes(client_rig, f"/{T}/0/1", "pmax") == Code.CHANGED
    links = await discover(client_rig, f"/{T}/0/1")
    assert links[f"/{T}/0/1"] == {"dim": 2, "pmin": 1}


def create_body(rig: ClientRig, node: InstanceNode) -> bytes:
    obj = ObjectNode(T, {node.id: node})
    return formats.encode(CF.LWM2M_TLV, obj, f"/{T}", rig.client.store.registry)


async def test_int_270_create_object_instance(client_rig: ClientRig) -> None:
    registry = client_rig.client.store.registry
    node = InstanceNode(3, {0: ResourceNode(0, "created"), 3: ResourceNode(3, 1.5)})
    r = await client_rig.request(
        Code.POST, f"/{T}", payload=create_body(client_rig, node), content_format=CF.LWM2M_TLV
    )
    assert r.code == Code.CREATED and r.location_path == (str(T), "3")
    assert client_rig.client.get(f"{T}/3/0") == "created"
    # Without an instance id: the client picks one and names it in Location-Path.
    node = InstanceNode(0, {0: ResourceNode(0, "auto")})
    payload = formats.encode(CF.LWM2M_TLV, node, f"/{T}/0", registry)
    tlv_resources_only = payload  # resources at top level, no instance wrapper
    r = await client_rig.request(
        Code.POST, f"/{T}", payload=tlv_resources_only, content_format=CF.LWM2M_TLV
    )
    assert r.code == Code.CREATED and r.location_path == (str(T), "1")
    assert client_rig.client.get(f"{T}/1/0") == "auto"
    # An existing instance, or a missing mandatory resource: 4.00, nothing created.
    before = client_rig.client.store.instance_ids(T)
    node = InstanceNode(3, {0: ResourceNode(0, "again")})
    r = await client_rig.request(
        Code.POST, f"/{T}", payload=create_body(client_rig, node), content_format=CF.LWM2M_TLV
    )
    assert r.code == Code.BAD_REQUEST
    node = InstanceNode(7, {3: ResourceNode(3, 1.0)})
    r = await client_rig.request(
        Code.POST, f"/{T}", payload=create_body(client_rig, node), content_format=CF.LWM2M_TLV
    )
    assert r.code == Code.BAD_REQUEST
    assert client_rig.client.store.instance_ids(T) == before
    # The Register payload changes: an Update carries the new object list.
    await wait_until(
        lambda: any(f"</{T}/3>".encode() in m.payload for m, _ in client_rig.server.requests),
        what="Update with the new instance",
    )


async def test_int_271_create_multiple_resource_instance(client_rig: ClientRig) -> None:
    registry = client_rig.client.store.registry
    # A partial update naming a new resource instance adds it.
    node = MultiResourceNode(1, {7: 70})
    r = await client_rig.write(Code.POST, f"/{T}/0/1", node, CF.LWM2M_TLV, registry)
    assert r.code == Code.CHANGED
    assert client_rig.client.get(f"{T}/0/1") == {0: 10, 1: 20, 7: 70}
    # A Write on a resource instance that does not exist yet creates it (LwM2M 1.1).
    r = await client_rig.request(
        Code.PUT, f"/{T}/0/2/5", payload=b"five", content_format=CF.TEXT_PLAIN
    )
    assert r.code == Code.CHANGED and client_rig.client.get(f"{T}/0/2") == {5: "five"}
    links = await discover(client_rig, f"/{T}/0/2")
    assert links == {f"/{T}/0/2": {"dim": 1}, f"/{T}/0/2/5": {}}


async def test_int_290_delete_object_instance(client_rig: ClientRig) -> None:
    client = client_rig.client
    client.create_instance(T, 4)
    client.set(f"{T}/4/0", "doomed")
    await client_rig.request(Code.PUT, f"/{T}/4", query=["pmin=3"])
    r = await client_rig.request(Code.DELETE, f"/{T}/4")
    assert r.code == Code.DELETED
    assert not client.store.has_instance(T, 4)
    r = await client_rig.request(Code.GET, f"/{T}/4", accept=CF.LWM2M_TLV)
    assert r.code == Code.NOT_FOUND
    assert client_rig.client.engine is not None
    ctx = client._contexts[101]
    assert ctx.attributes.get(Path(T, 4)) == {}  # its attributes went with it
    # Delete on a resource or an object is not allowed; on a missing instance 4.04.
    assert (await client_rig.request(Code.DELETE, f"/{T}/0/0")).code == Code.METHOD_NOT_ALLOWED
    assert (await client_rig.request(Code.DELETE, f"/{T}/4")).code == Code.NOT_FOUND
    assert client.store.has_instance(T, 0)

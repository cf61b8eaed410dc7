"""ETS 205, 210, 212, 215, 220, 221, 226-228, 232, 234, 256: Write over the wire."""

from __future__ import annotations

import json

import cbor2
from client_support import CF, TEST_OBJECT, ClientRig, wait_until

from lwm2m.coap.numbers import Code
from lwm2m.model import InstanceNode, MultiResourceNode, ResourceNode

T = TEST_OBJECT


def server_instance(*resources: ResourceNode | MultiResourceNode) -> InstanceNode:
    return InstanceNode(0, {r.id: r for r in resources})


async def test_int_205_write_plain_text(client_rig: ClientRig) -> None:
    r = await client_rig.request(
        Code.PUT, "/3/0/15", payload=b"Europe/Paris", content_format=CF.TEXT_PLAIN
    )
    assert r.code == Code.CHANGED
    assert client_rig.client.get("3/0/15") == "Europe/Paris"
    r = await client_rig.request(Code.PUT, "/1/0/2", payload=b"7", content_format=CF.TEXT_PLAIN)
    assert r.code == Code.CHANGED and client_rig.client.get("1/0/2") == 7
    r = await client_rig.request(Code.GET, "/1/0/2", accept=CF.TEXT_PLAIN)
    assert r.payload == b"7"


async def test_int_210_write_opaque(client_rig: ClientRig) -> None:
    image = bytes(range(256)) * 2
    r = await client_rig.request(Code.PUT, "/5/0/0", payload=image, content_format=CF.OCTET_STREAM)
    assert r.code == Code.CHANGED
    await wait_until(lambda: bytes(client_rig.updater.image) == image, what="image stored")
    r = await client_rig.request(
        Code.PUT, f"/{T}/0/4", payload=b"\x01\x02", content_format=CF.OCTET_STREAM
    )
    assert r.code == Code.CHANGED and client_rig.client.get(f"{T}/0/4") == b"\x01\x02"


async def test_int_212_write_single_value_as_cbor(client_rig: ClientRig) -> None:
    r = await client_rig.request(
        Code.PUT, f"/{T}/0/3", payload=cbor2.dumps(2.25), content_format=CF.CBOR
    )
    assert r.code == Code.CHANGED and client_rig.client.get(f"{T}/0/3") == 2.25
    r = await client_rig.request(
        Code.PUT, "/3311/0/5851", payload=cbor2.dumps(40), content_format=CF.CBOR
    )
    assert r.code == Code.CHANGED and client_rig.client.get("3311/0/5851") == 40


async def test_int_215_write_server_instance_as_tlv(client_rig: ClientRig) -> None:
    client = client_rig.client
    updates = client_rig.server.count(Code.POST)
    node = server_instance(ResourceNode(2, 5), ResourceNode(3, 50))
    r = await client_rig.write(Code.POST, "/1/0", node)
    assert r.code == Code.CHANGED
    assert (client.get("1/0/2"), client.get("1/0/3"), client.get("1/0/1")) == (5, 50, 300)
    # Replace: the writable optional resources absent from the payload are removed.
    node = server_instance(
        ResourceNode(1, 120), ResourceNode(6, False), ResourceNode(7, "U"), ResourceNode(3, 90)
    )
    r = await client_rig.write(Code.PUT, "/1/0", node)
    assert r.code == Code.CHANGED
    assert (client.get("1/0/1"), client.get("1/0/3"), client.get("1/0/0")) == (120, 90, 101)
    assert 2 not in client.store.resource_ids(1, 0)
    # The new lifetime goes to the server in an Update (ETS 102).
    await wait_until(lambda: client_rig.server.count(Code.POST) > updates, what="Update")
    last = [m for m, _ in client_rig.server.requests if m.code == Code.POST][-1]
    assert "lt=120" in last.uri_query


async def test_int_220_write_server_instance_as_json(client_rig: ClientRig) -> None:
    client = client_rig.client
    node = server_instance(ResourceNode(2, 11))
    r = await client_rig.write(Code.POST, "/1/0", node, CF.LWM2M_JSON)
    assert r.code == Code.CHANGED and client.get("1/0/2") == 11
    node = server_instance(ResourceNode(1, 300), ResourceNode(6, True), ResourceNode(7, "U"))
    r = await client_rig.write(Code.PUT, "/1/0", node, CF.LWM2M_JSON)
    assert r.code == Code.CHANGED and 2 not in client.store.resource_ids(1, 0)


async def test_int_221_security_object_refused(client_rig: ClientRig) -> None:
    before = client_rig.snapshot()
    cases = [
        (Code.GET, "/0", None, b""),
        (Code.GET, "/0/0", None, b""),
        (Code.GET, "/0/0/0", CF.TEXT_PLAIN, b""),
        (Code.GET, "/0/0", CF.LINK_FORMAT, b""),
        (Code.PUT, "/0/0/0", None, b"coap://evil"),
        (Code.POST, "/0", None, b""),
        (Code.DELETE, "/0/0", None, b""),
    ]
    for code, path, accept, payload in cases:
        r = await client_rig.request(
            code,
            path,
            accept=accept,
            payload=payload,
            content_format=CF.TEXT_PLAIN if payload else None,
        )
        assert r.code == Code.UNAUTHORIZED, (code, path)
    assert client_rig.snapshot() == before


async def test_int_226_partial_update_write(client_rig: ClientRig) -> None:
    node = InstanceNode(0, {5851: ResourceNode(5851, 30)})
    r = await client_rig.write(Code.POST, "/3311/0", node)
    assert r.code == Code.CHANGED
    assert client_rig.client.get("3311/0/5851") == 30
    assert client_rig.client.get("3311/0/5850") is False  # untouched


async def test_int_227_replace_write_on_resource(client_rig: ClientRig) -> None:
    node = MultiResourceNode(1, {5: 55})
    r = await client_rig.write(
        Code.PUT, f"/{T}/0/1", node, CF.LWM2M_TLV, client_rig.client.store.registry
    )
    assert r.code == Code.CHANGED and client_rig.client.get(f"{T}/0/1") == {5: 55}
    r = await client_rig.request(
        Code.PUT, "/3311/0/5850", payload=b"1", content_format=CF.TEXT_PLAIN
    )
    assert r.code == Code.CHANGED and client_rig.light.store.get("3311/0/5850") is True


async def test_int_228_write_resource_instance(client_rig: ClientRig) -> None:
    r = await client_rig.request(
        Code.PUT, f"/{T}/0/1/1", payload=b"42", content_format=CF.TEXT_PLAIN
    )
    assert r.code == Code.CHANGED
    assert client_rig.client.get(f"{T}/0/1") == {0: 10, 1: 42}


async def test_int_232_write_senml_json(client_rig: ClientRig) -> None:
    payload = json.dumps(
        [{"bn": f"/{T}/0/", "n": "0", "vs": "json"}, {"n": "1/3", "v": 33}]
    ).encode()
    r = await client_rig.request(
        Code.POST, f"/{T}/0", payload=payload, content_format=CF.SENML_JSON
    )
    assert r.code == Code.CHANGED
    assert client_rig.client.get(f"{T}/0/0") == "json"
    assert client_rig.client.get(f"{T}/0/1") == {0: 10, 1: 20, 3: 33}


async def test_int_234_write_senml_cbor(client_rig: ClientRig) -> None:
    payload = cbor2.dumps([{-2: f"/{T}/0/", 0: "3", 2: 7.5}, {0: "4", 8: b"\xaa"}])
    r = await client_rig.request(
        Code.POST, f"/{T}/0", payload=payload, content_format=CF.SENML_CBOR
    )
    assert r.code == Code.CHANGED
    assert client_rig.client.get(f"{T}/0/3") == 7.5
    assert client_rig.client.get(f"{T}/0/4") == b"\xaa"


async def test_int_256_write_failure_leaves_data_unchanged(client_rig: ClientRig) -> None:
    before = client_rig.snapshot()
    # One good value and one out of range (Levels are 0..100): nothing is applied.
    payload = json.dumps(
        [{"bn": f"/{T}/0/", "n": "0", "vs": "changed"}, {"n": "1/0", "v": 500}]
    ).encode()
    r = await client_rig.request(
        Code.POST, f"/{T}/0", payload=payload, content_format=CF.SENML_JSON
    )
    assert r.code == Code.BAD_REQUEST
    # A read-only resource in the payload: 4.05, nothing applied.
    node = server_instance(ResourceNode(0, 5), ResourceNode(2, 9))
    r = await client_rig.write(Code.POST, "/1/0", node)
    assert r.code == Code.METHOD_NOT_ALLOWED
    # The application's validate callback refuses: 4.00.
    r = await client_rig.request(
        Code.PUT, "/3/0/14", payload=b"not-an-offset", content_format=CF.TEXT_PLAIN
    )
    assert r.code == Code.BAD_REQUEST
    assert client_rig.snapshot() == before

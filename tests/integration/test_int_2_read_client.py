"""ETS 201-204, 211, 222-225, 237: Read over the wire, in every content format."""

from __future__ import annotations

import json

import cbor2
from client_support import CF, ClientRig

from lwm2m import formats
from lwm2m.coap.numbers import Code
from lwm2m.model import InstanceNode, MultiResourceNode, ObjectNode, ResourceNode


async def test_int_201_read_device_resources_as_plain_text(client_rig: ClientRig) -> None:
    expected = {
        "/3/0/0": b"Open Mobile Alliance",
        "/3/0/1": b"Lightweight M2M Client",
        "/3/0/2": b"345000123",
        "/3/0/3": b"1.0",
        "/3/0/9": b"87",
        "/3/0/16": b"U",
    }
    for path, payload in expected.items():
        r = await client_rig.request(Code.GET, path, accept=CF.TEXT_PLAIN)
        assert (r.code, r.content_format, r.payload) == (Code.CONTENT, CF.TEXT_PLAIN, payload)


async def test_int_202_read_opaque(client_rig: ClientRig) -> None:
    client_rig.client.set("10300/0/4", b"\x00\xffbinary")
    r = await client_rig.request(Code.GET, "/10300/0/4", accept=CF.OCTET_STREAM)
    assert (r.code, r.content_format, r.payload) == (
        Code.CONTENT,
        CF.OCTET_STREAM,
        b"\x00\xffbinary",
    )
    # A string is not opaque: 4.06 Not Acceptable.
    r = await client_rig.request(Code.GET, "/3/0/0", accept=CF.OCTET_STREAM)
    assert r.code == Code.NOT_ACCEPTABLE


async def test_int_203_read_device_instance_as_tlv(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.GET, "/3/0", accept=CF.LWM2M_TLV)
    assert (r.code, r.content_format) == (Code.CONTENT, CF.LWM2M_TLV)
    node = formats.decode(CF.LWM2M_TLV, r.payload, "/3/0")
    assert isinstance(node, InstanceNode)
    assert node.resources[0] == ResourceNode(0, "Open Mobile Alliance")
    assert node.resources[9] == ResourceNode(9, 87)
    assert isinstance(node.resources[11], MultiResourceNode)
    assert 4 not in node.resources  # Reboot is executable, never read


async def test_int_204_read_device_instance_as_oma_json(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.GET, "/3/0", accept=CF.LWM2M_JSON)
    assert (r.code, r.content_format) == (Code.CONTENT, CF.LWM2M_JSON)
    doc = json.loads(r.payload)
    assert doc["bn"] == "/3/0/"
    assert {"n": "0", "sv": "Open Mobile Alliance"} in doc["e"]
    assert {"n": "9", "v": 87} in doc["e"]


async def test_int_211_read_single_value_as_cbor(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.GET, "/3/0/9", accept=CF.CBOR)
    assert (r.code, r.content_format) == (Code.CONTENT, CF.CBOR)
    assert cbor2.loads(r.payload) == 87
    r = await client_rig.request(Code.GET, "/3/0/0", accept=CF.CBOR)
    assert cbor2.loads(r.payload) == "Open Mobile Alliance"


async def test_int_222_read_object(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.GET, "/3303", accept=CF.SENML_JSON)
    assert r.code == Code.CONTENT
    node = formats.decode(CF.SENML_JSON, r.payload, "/3303")
    assert isinstance(node, ObjectNode) and list(node.instances) == [0]
    assert node.instances[0].resources[5700] == ResourceNode(5700, 21.5)


async def test_int_223_read_object_instance(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.GET, "/6/0", accept=CF.LWM2M_TLV)
    node = formats.decode(CF.LWM2M_TLV, r.payload, "/6/0")
    assert isinstance(node, InstanceNode)
    assert node.resources[0] == ResourceNode(0, 48.85)
    assert node.resources[1] == ResourceNode(1, 2.35)


async def test_int_224_read_resource(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.GET, "/10300/0/1", accept=CF.LWM2M_TLV)
    node = formats.decode(CF.LWM2M_TLV, r.payload, "/10300/0/1", client_rig.client.store.registry)
    assert node == MultiResourceNode(1, {0: 10, 1: 20})


async def test_int_225_read_resource_instance(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.GET, "/10300/0/1/1", accept=CF.TEXT_PLAIN)
    assert (r.code, r.payload) == (Code.CONTENT, b"20")
    r = await client_rig.request(Code.GET, "/10300/0/1/7", accept=CF.TEXT_PLAIN)
    assert r.code == Code.NOT_FOUND


async def test_int_237_read_without_accept_uses_default_format(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.GET, "/3/0")
    assert (r.code, r.content_format) == (Code.CONTENT, CF.SENML_CBOR)
    records = formats.decode(CF.SENML_CBOR, r.payload, "/3/0")
    assert isinstance(records, InstanceNode) and records.resources[9] == ResourceNode(9, 87)
    r = await client_rig.request(Code.GET, "/3/0/9")
    assert r.code == Code.CONTENT and r.content_format in (CF.TEXT_PLAIN, CF.SENML_CBOR)


async def test_int_237_read_without_accept_lwm2m_10_is_tlv(client_rig_10: ClientRig) -> None:
    r = await client_rig_10.request(Code.GET, "/3/0")
    assert (r.code, r.content_format) == (Code.CONTENT, CF.LWM2M_TLV)
    r = await client_rig_10.request(Code.GET, "/3/0/0")
    assert (r.code, r.content_format, r.payload) == (
        Code.CONTENT,
        CF.TEXT_PLAIN,
        b"Open Mobile Alliance",
    )


async def test_int_233_read_senml_cbor(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.GET, "/3/0/0", accept=CF.SENML_CBOR)
    assert (r.code, r.content_format) == (Code.CONTENT, CF.SENML_CBOR)
    doc = cbor2.loads(r.payload)
    assert doc[0][-2] == "/3/0/0" and doc[0][3] == "Open Mobile Alliance"


async def test_int_231_read_senml_json(client_rig: ClientRig) -> None:
    r = await client_rig.request(Code.GET, "/3/0/0", accept=CF.SENML_JSON)
    assert (r.code, r.content_format) == (Code.CONTENT, CF.SENML_JSON)
    doc = json.loads(r.payload)
    assert doc == [{"bn": "/3/0/0", "vs": "Open Mobile Alliance"}]

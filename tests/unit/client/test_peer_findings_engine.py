"""What independent peers found in the client engine: attributes, lenient formats, errors that
name the real cause, the bootstrap interface and the versions in what the client declares.

Every request goes through :meth:`Client.engine.handle` as a server's request would.
"""

from __future__ import annotations

import json

import pytest

from lwm2m import formats
from lwm2m.client.client import Client
from lwm2m.client.engine import ServerContext
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.formats import link as linkfmt
from lwm2m.model import InstanceNode, ObjectNode, ObjLink, Path, ResourceNode
from lwm2m.objects.device import Device

CF = ContentFormat
SERVER = ServerContext(short_id=101)
BOOTSTRAP = ServerContext(short_id=0, is_bootstrap=True)


def device_client(version: str = "1.1") -> Client:
    client = Client("peer-dev", lwm2m_version=version)
    Device(client.store, manufacturer="ACME", model="M1", battery_level=87)
    client.set("3/0/7", {0: 3800, 1: 5000})
    client.set("3/0/14", "+01:00")
    client.add_server("coap://127.0.0.1:5683", short_server_id=101, lifetime=300)
    client.store.create_instance(3303, 0)
    client.set("3303/0/5700", 21.5)
    return client


async def handle(
    client: Client, code: Code, path: str, server: ServerContext = SERVER, **kw: object
) -> Message:
    return await client.engine.handle(Message.request(code, path, **kw), server)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- 2. attributes


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/3/0/14", "String"),  # UTC Offset
        ("/1/0/6", "Boolean"),  # Notification Storing
        ("/3/0/22", "Objlnk"),  # ExtDevInfo
        ("/5/0/0", "Opaque"),  # Package
    ],
)
@pytest.mark.parametrize("query", ["gt=5", "lt=1", "st=2", "pmin=1&gt=3"])
async def test_int_261_gt_lt_st_refused_on_non_numeric_resources(
    path: str, kind: str, query: str
) -> None:
    client = device_client()
    client.store.create_instance(5, 0)
    client.set("5/0/0", b"")
    client.set("3/0/22", {0: ObjLink(3, 0)})
    context = ServerContext(short_id=101)
    r = await handle(client, Code.PUT, path, context, query=query.split("&"))
    assert r.code == Code.BAD_REQUEST, (path, query, r)
    assert kind.encode() in r.payload
    assert context.attributes.get(Path.parse(path)) == {}  # nothing stored, pmin neither


async def test_int_261_gt_lt_st_accepted_on_numeric_resources() -> None:
    client = device_client()
    context = ServerContext(short_id=101)
    for path in ("/3/0/9", "/3303/0/5700", "/3/0/7", "/3/0/7/1"):
        r = await handle(client, Code.PUT, path, context, query=["gt=50", "lt=10", "st=5"])
        assert r.code == Code.CHANGED, (path, r)
        assert context.attributes.get(Path.parse(path)) == {"gt": 50.0, "lt": 10.0, "st": 5.0}
    # pmin/pmax stay allowed anywhere
    r = await handle(client, Code.PUT, "/3/0/14", context, query=["pmin=5"])
    assert r.code == Code.CHANGED


# --------------------------------------------------------------------------- 3. formats


async def test_int_204_accept_1543_is_oma_json() -> None:
    client = device_client("1.0")
    r = await handle(client, Code.GET, "/3/0", accept=1543)
    assert r.code == Code.CONTENT and r.content_format == 1543
    node = formats.decode(CF.LWM2M_JSON, r.payload, "/3/0")
    assert isinstance(node, InstanceNode) and node.resources[0] == ResourceNode(0, "ACME")
    one = await handle(client, Code.GET, "/3/0/14", accept=1543)
    assert one.code == Code.CONTENT and json.loads(one.payload)["e"][0]["sv"] == "+01:00"


@pytest.mark.parametrize("cf", [CF.LWM2M_JSON, 1543])
@pytest.mark.parametrize("method", [Code.PUT, Code.POST])
@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        # bn = instance path with "/", n = resource id
        ("/3/0", {"bn": "/3/0/", "e": [{"n": "14", "sv": "+02:00"}]}, "+02:00"),
        # bn = resource path, no n
        ("/3/0/14", {"bn": "/3/0/14", "e": [{"sv": "+03:00"}]}, "+03:00"),
        # no bn, full names in n
        ("/3/0", {"e": [{"n": "/3/0/14", "sv": "+04:00"}]}, "+04:00"),
        ("/3/0/14", {"e": [{"n": "/3/0/14", "sv": "+05:00"}]}, "+05:00"),
    ],
    ids=["bn-instance", "bn-resource", "full-names-instance", "full-names-resource"],
)
async def test_int_215_oma_json_writes_in_every_shape_servers_send(
    cf: int, method: Code, path: str, body: dict[str, object], expected: str
) -> None:
    client = device_client("1.0")
    r = await handle(client, method, path, payload=json.dumps(body).encode(), content_format=cf)
    assert r.code == Code.CHANGED, r
    assert client.get("3/0/14") == expected
    assert client.get("3/0/0") == "ACME"  # a Replace of the resource leaves the others


async def test_int_215_oma_json_write_of_the_server_object() -> None:
    client = device_client("1.0")
    body = {"bn": "/1/0/", "e": [{"n": "1", "v": 600}, {"n": "6", "bv": True}]}
    r = await handle(
        client, Code.POST, "/1/0", payload=json.dumps(body).encode(), content_format=CF.LWM2M_JSON
    )
    assert r.code == Code.CHANGED
    assert client.get("1/0/1") == 600 and client.get("1/0/6") is True


# --------------------------------------------------------------------------- 4. errors


def _tlv_float_create() -> bytes:
    # Object Instance 7 holding resource 5700 (Float) with a 1-byte value: no float is
    # 1 byte long (Appendix C: 4 or 8 bytes).
    resource = bytes([0xC0 | 0x20 | 0x01, 0x16, 0x44, 0x01])  # 16-bit id, length 1
    return bytes([0x00 | len(resource), 0x07]) + resource


async def test_int_270_tlv_create_reports_the_float_error() -> None:
    client = device_client()
    r = await handle(
        client, Code.POST, "/3303", payload=_tlv_float_create(), content_format=CF.LWM2M_TLV
    )
    assert r.code == Code.BAD_REQUEST
    text = r.payload.decode()
    assert "5700" in text and "Float" in text, text
    assert "does not match the path" not in text
    assert client.store.instance_ids(3303) == [0]


async def test_int_270_tlv_create_of_bare_resources_still_picks_the_instance_id() -> None:
    client = device_client()
    payload = formats.encode(
        CF.LWM2M_TLV, InstanceNode(1, {5700: ResourceNode(5700, 30.0)}), Path(3303, 1)
    )
    r = await handle(client, Code.POST, "/3303", payload=payload, content_format=CF.LWM2M_TLV)
    assert r.code == Code.CREATED and r.location_path == ("3303", "1")
    bad = bytes([0xC0 | 0x20 | 0x01, 0x16, 0x44, 0x01])  # a bare 1-byte float
    r = await handle(client, Code.POST, "/3303", payload=bad, content_format=CF.LWM2M_TLV)
    assert r.code == Code.BAD_REQUEST and b"Float" in r.payload


@pytest.mark.parametrize("lifetime", [b"-6", b"0"])
async def test_int_102_non_positive_lifetime_is_refused_and_not_stored(lifetime: bytes) -> None:
    client = device_client()
    r = await handle(client, Code.PUT, "/1/0/1", payload=lifetime, content_format=CF.TEXT_PLAIN)
    assert r.code == Code.BAD_REQUEST
    assert client.get("1/0/1") == 300
    body = formats.encode(
        CF.LWM2M_TLV, InstanceNode(0, {1: ResourceNode(1, int(lifetime))}), Path(1, 0)
    )
    r = await handle(client, Code.POST, "/1/0", payload=body, content_format=CF.LWM2M_TLV)
    assert r.code == Code.BAD_REQUEST and client.get("1/0/1") == 300


# --------------------------------------------------------------------------- 7. bootstrap


async def test_int_5_bootstrap_write_creates_missing_instance_and_resource() -> None:
    client = device_client()
    r = await handle(
        client,
        Code.PUT,
        "/0/5/0",
        BOOTSTRAP,
        payload=b"coap://10.0.0.1:5683",
        content_format=CF.TEXT_PLAIN,
    )
    assert r.code == Code.CHANGED
    assert client.get("0/5/0") == "coap://10.0.0.1:5683"
    r = await handle(
        client, Code.PUT, "/1/3/1", BOOTSTRAP, payload=b"120", content_format=CF.TEXT_PLAIN
    )
    assert r.code == Code.CHANGED and client.get("1/3/1") == 120
    # a resource missing from an existing instance is created as well
    assert not client.store.exists(Path(1, 0, 5))
    r = await handle(
        client, Code.PUT, "/1/0/5", BOOTSTRAP, payload=b"60", content_format=CF.TEXT_PLAIN
    )
    assert r.code == Code.CHANGED and client.get("1/0/5") == 60


async def test_int_5_bootstrap_write_of_an_object_ignores_unsupported_optional_resources() -> None:
    client = device_client()
    node = ObjectNode(
        1,
        {
            4: InstanceNode(
                4, {0: ResourceNode(0, 9), 1: ResourceNode(1, 90), 99: ResourceNode(99, 1)}
            )
        },
    )
    payload = formats.encode(CF.LWM2M_TLV, node, Path(1))
    r = await handle(
        client, Code.PUT, "/1", BOOTSTRAP, payload=payload, content_format=CF.LWM2M_TLV
    )
    assert r.code == Code.CHANGED
    assert client.store.resource_ids(1, 4) == [0, 1]


@pytest.mark.parametrize(
    ("method", "path"), [(Code.POST, "/1"), (Code.POST, "/3"), (Code.POST, "/1/0/8")]
)
async def test_int_4_bootstrap_interface_has_no_create_or_execute(method: Code, path: str) -> None:
    client = device_client()
    before = client.store.instance_ids(1)
    payload = formats.encode(CF.LWM2M_TLV, InstanceNode(7, {0: ResourceNode(0, 7)}), Path(1, 7))
    r = await handle(client, method, path, BOOTSTRAP, payload=payload, content_format=CF.LWM2M_TLV)
    assert r.code == Code.METHOD_NOT_ALLOWED
    assert client.store.instance_ids(1) == before


async def test_int_9_a_second_bootstrap_server_account_is_refused() -> None:
    client = device_client()
    client.add_server("coap://127.0.0.1:5783", bootstrap=True)  # /0/1
    before = client._config_values()
    second = InstanceNode(
        6,
        {
            0: ResourceNode(0, "coap://10.0.0.2:5683"),
            1: ResourceNode(1, True),
            2: ResourceNode(2, 3),
        },
    )
    payload = formats.encode(CF.LWM2M_TLV, second, Path(0, 6))
    r = await handle(
        client, Code.PUT, "/0/6", BOOTSTRAP, payload=payload, content_format=CF.LWM2M_TLV
    )
    assert r.code == Code.BAD_REQUEST and b"Bootstrap-Server" in r.payload
    assert client._config_values() == before
    # flipping a server account into a second bootstrap account is refused the same way
    r = await handle(
        client, Code.PUT, "/0/0/1", BOOTSTRAP, payload=b"1", content_format=CF.TEXT_PLAIN
    )
    assert r.code == Code.BAD_REQUEST and client._config_values() == before
    # replacing the bootstrap account by itself is fine
    r = await handle(
        client, Code.PUT, "/0/1/1", BOOTSTRAP, payload=b"1", content_format=CF.TEXT_PLAIN
    )
    assert r.code == Code.CHANGED


# --------------------------------------------------------------------------- 8. versions


def _links(text: str) -> dict[str, dict[str, str | None]]:
    return {link.target: link.params for link in linkfmt.parse_links(text)}


async def test_int_101_lwm2m_1_0_registration_payload_has_no_1_1_object_versions() -> None:
    client = device_client("1.0")
    client.store.create_instance(5, 0)
    links = _links(client._object_links("1.0"))
    assert "ver" not in links.get("/3/0", {}) and "</3>;ver" not in client._object_links("1.0")
    assert "/1/0" in links and "/5/0" in links
    assert not any(p.get("ver") == "1.1" for t, p in links.items() if t in ("/1", "/3", "/5"))
    assert "ct=" not in client._object_links("1.0")  # no SenML CBOR announced to 1.0
    # the same client registering as 1.1 declares its 1.1 models
    text = client._object_links("1.1")
    assert "</1>;ver=1.1" in text and "</3>;ver=1.1" in text and "ct=112" in text


async def test_int_6_bootstrap_discover_of_a_1_0_client() -> None:
    client = device_client("1.0")
    r = await handle(client, Code.GET, "/", BOOTSTRAP, accept=CF.LINK_FORMAT)
    assert r.code == Code.CONTENT
    text = r.payload.decode()
    assert text.startswith('lwm2m="1.0",')
    assert "</1>;ver" not in text and "</3>;ver" not in text  # 1.0 models of the core
    assert "</0/0>" in text and "</1/0>;ssid=101" in text and "</3/0>" in text
    r11 = await handle(device_client("1.1"), Code.GET, "/", BOOTSTRAP, accept=CF.LINK_FORMAT)
    assert r11.payload.decode().startswith('lwm2m="1.1",') and b"</3>;ver=1.1" in r11.payload


async def test_discover_follows_the_version_the_server_was_registered_with() -> None:
    client = device_client("1.1")
    fallen_back = ServerContext(short_id=101, lwm2m_version="1.0")
    r = await handle(client, Code.GET, "/3", fallen_back, accept=CF.LINK_FORMAT)
    assert r.code == Code.CONTENT and b"ver=" not in r.payload
    r = await handle(client, Code.GET, "/3", accept=CF.LINK_FORMAT)
    assert b"</3>;ver=1.1" in r.payload
    # and the default multi-value format is TLV for a 1.0 server
    r = await handle(client, Code.GET, "/3/0", fallen_back)
    assert r.content_format == CF.LWM2M_TLV
    r = await handle(client, Code.GET, "/3/0")
    assert r.content_format == CF.SENML_CBOR

"""Engine: CoAP request -> LwM2M operation -> response code, without sockets."""

from __future__ import annotations

import copy

import pytest

from lwm2m import formats
from lwm2m.client.engine import Engine, ServerContext
from lwm2m.client.store import ObjectStore
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.formats import senml_json
from lwm2m.model import InstanceNode, ObjectNode, Path, ResourceNode

CF = ContentFormat


def make_engine(version: str = "1.1") -> Engine:
    s = ObjectStore()
    s.create_instance(0, 0)
    s.set("0/0/0", "coap://127.0.0.1:5683")
    s.set("0/0/1", False)
    s.set("0/0/2", 3)
    s.set("0/0/10", 101)
    s.create_instance(1, 0)
    s.set("1/0/0", 101)
    s.set("1/0/1", 300)
    s.set("1/0/6", False)
    s.set("1/0/7", "U")
    s.create_instance(3, 0)
    s.set("3/0/0", "ACME")
    s.set("3/0/1", "M1")
    s.set("3/0/9", 87)
    s.set("3/0/11", [0])
    s.set("3/0/16", "U")
    s.create_instance(3303, 0)
    s.set("3303/0/5700", 21.5)
    return Engine(s, lwm2m_version=version)


SERVER = ServerContext(short_id=101)


async def req(engine: Engine, code: Code, path: str, **kw: object) -> Message:
    return await engine.handle(Message.request(code, path, **kw), SERVER)  # type: ignore[arg-type]


async def test_int_201_read_resource_plain_text() -> None:
    e = make_engine()
    r = await req(e, Code.GET, "/3/0/0")
    assert r.code == Code.CONTENT and r.content_format == CF.TEXT_PLAIN and r.payload == b"ACME"


async def test_int_203_read_instance_tlv_and_default_format() -> None:
    e = make_engine("1.0")
    r = await req(e, Code.GET, "/3/0", accept=CF.LWM2M_TLV)
    assert r.code == Code.CONTENT and r.content_format == CF.LWM2M_TLV
    node = formats.decode(CF.LWM2M_TLV, r.payload, "/3/0")
    assert isinstance(node, InstanceNode) and node.resources[0] == ResourceNode(0, "ACME")
    r = await req(e, Code.GET, "/3/0")
    assert r.content_format == CF.LWM2M_TLV
    e11 = make_engine("1.1")
    r = await req(e11, Code.GET, "/3/0")
    assert r.content_format == CF.SENML_CBOR


async def test_read_unacceptable_format_is_406() -> None:
    e = make_engine()
    r = await req(e, Code.GET, "/3/0", accept=CF.TEXT_PLAIN)
    assert r.code == Code.NOT_ACCEPTABLE


async def test_int_221_security_object_refused() -> None:
    e = make_engine()
    for code in (Code.GET, Code.PUT, Code.DELETE):
        r = await req(e, code, "/0/0")
        assert r.code == Code.UNAUTHORIZED


async def test_int_222_to_225_read_levels() -> None:
    e = make_engine()
    for path in ("/3", "/3/0", "/3/0/11", "/3/0/11/0"):
        r = await req(e, Code.GET, path, accept=CF.SENML_JSON)
        assert r.code == Code.CONTENT, path
    assert (await req(e, Code.GET, "/3/0/11/5")).code == Code.NOT_FOUND
    assert (await req(e, Code.GET, "/9")).code == Code.NOT_FOUND
    assert (await req(e, Code.GET, "/3/0/4")).code in (Code.METHOD_NOT_ALLOWED, Code.NOT_ACCEPTABLE)


async def test_int_205_write_plain_text_and_refusals_leave_store_unchanged() -> None:
    e = make_engine()
    r = await req(e, Code.PUT, "/1/0/1", payload=b"120", content_format=CF.TEXT_PLAIN)
    assert r.code == Code.CHANGED and e.store.get("1/0/1") == 120
    before = copy.deepcopy(e.store._data)
    bad = [
        (Code.PUT, "/1/0/1", b"abc", CF.TEXT_PLAIN, Code.BAD_REQUEST),
        (Code.PUT, "/3/0/0", b"X", CF.TEXT_PLAIN, Code.METHOD_NOT_ALLOWED),
        (Code.PUT, "/1/0/1", b"1", 9999, Code.UNSUPPORTED_CONTENT_FORMAT),
        (Code.PUT, "/1/0/1", b"\xff\x00", CF.LWM2M_TLV, Code.BAD_REQUEST),
        (Code.PUT, "/1/5/1", b"1", CF.TEXT_PLAIN, Code.NOT_FOUND),
        (Code.PUT, "/1/0/999", b"1", CF.TEXT_PLAIN, Code.NOT_FOUND),
    ]
    for code, path, payload, cf, expected in bad:
        r = await req(e, code, path, payload=payload, content_format=cf)
        assert r.code == expected, (path, payload, r)
    assert e.store._data == before


async def test_int_215_write_instance_tlv_partial_and_replace() -> None:
    e = make_engine()
    node = InstanceNode(0, {1: ResourceNode(1, 77), 2: ResourceNode(2, 5)})
    body = formats.encode(CF.LWM2M_TLV, node, "/1/0")
    r = await req(e, Code.POST, "/1/0", payload=body, content_format=CF.LWM2M_TLV)
    assert r.code == Code.CHANGED and e.store.get("1/0/2") == 5
    body = formats.encode(CF.LWM2M_TLV, InstanceNode(0, {1: ResourceNode(1, 78)}), "/1/0")
    r = await req(e, Code.PUT, "/1/0", payload=body, content_format=CF.LWM2M_TLV)
    assert r.code == Code.CHANGED and e.store.get("1/0/1") == 78
    assert not e.store.exists(Path(1, 0, 2))


async def test_int_241_execute_and_arguments() -> None:
    e = make_engine()
    calls: list[str] = []
    e.store.callbacks.execute[Path(3, 0, 4)] = lambda p, a: calls.append(a)
    assert (await req(e, Code.POST, "/3/0/4")).code == Code.CHANGED
    assert (await req(e, Code.POST, "/3/0/4", payload=b"0='now'")).code == Code.CHANGED
    assert (await req(e, Code.POST, "/3/0/4", payload=b"bad")).code == Code.BAD_REQUEST
    assert calls == ["", "0='now'"]
    assert (await req(e, Code.POST, "/3/0/0")).code == Code.METHOD_NOT_ALLOWED


async def test_int_270_create_and_290_delete() -> None:
    e = make_engine()
    node = InstanceNode(1, {5700: ResourceNode(5700, 3.5)})
    body = formats.encode(CF.LWM2M_TLV, ObjectNode(3303, {1: node}), "/3303")
    r = await req(e, Code.POST, "/3303", payload=body, content_format=CF.LWM2M_TLV)
    assert r.code == Code.CREATED and r.location_path == ("3303", "1")
    assert e.store.get("3303/1/5700") == 3.5
    # the same id again: 4.00, nothing changed
    r = await req(e, Code.POST, "/3303", payload=body, content_format=CF.LWM2M_TLV)
    assert r.code == Code.BAD_REQUEST
    # bare resources without an instance wrapper: the client picks the id
    bare = formats.encode(CF.LWM2M_TLV, InstanceNode(9, {5700: ResourceNode(5700, 1.0)}), "/3303/9")
    r = await req(e, Code.POST, "/3303", payload=bare, content_format=CF.LWM2M_TLV)
    assert r.code == Code.CREATED and r.location_path == ("3303", "2")
    assert (await req(e, Code.DELETE, "/3303/1")).code == Code.DELETED
    assert not e.store.has_instance(3303, 1)
    assert (await req(e, Code.DELETE, "/3303/1")).code == Code.NOT_FOUND
    assert (await req(e, Code.DELETE, "/3303")).code == Code.METHOD_NOT_ALLOWED


async def test_int_680_685_create_delete_on_device_fail() -> None:
    e = make_engine()
    body = formats.encode(CF.LWM2M_TLV, InstanceNode(1, {}), "/3/1")
    r = await req(e, Code.POST, "/3", payload=body, content_format=CF.LWM2M_TLV)
    assert r.code in (Code.BAD_REQUEST, Code.METHOD_NOT_ALLOWED)
    assert not e.store.has_instance(3, 1)


async def test_int_260_discover_and_261_write_attributes() -> None:
    e = make_engine()
    r = await req(e, Code.PUT, "/3303/0/5700", query="pmin=10&pmax=60&gt=30")
    assert r.code == Code.CHANGED
    r = await req(e, Code.GET, "/3303/0", accept=CF.LINK_FORMAT)
    assert r.code == Code.CONTENT and r.content_format == CF.LINK_FORMAT
    text = r.payload.decode()
    assert text.startswith("</3303/0>,") and "</3303/0/5700>;pmin=10;pmax=60;gt=30" in text
    r = await req(e, Code.GET, "/3/0/11", accept=CF.LINK_FORMAT)
    assert r.payload.decode().startswith("</3/0/11>;dim=1")
    r = await req(e, Code.PUT, "/3303/0/5700", query="lt=50")  # lt >= gt: refused
    assert r.code == Code.BAD_REQUEST
    assert SERVER.attributes.get(Path(3303, 0, 5700))["gt"] == 30


async def test_int_229_read_composite_and_230_write_composite() -> None:
    e = make_engine()
    body = senml_json.encode_paths([Path(3, 0, 0), Path(3303, 0, 5700), Path(9, 9)])
    r = await req(
        e, Code.FETCH, "/", payload=body, content_format=CF.SENML_JSON, accept=CF.SENML_JSON
    )
    assert r.code == Code.CONTENT
    records = formats.decode(CF.SENML_JSON, r.payload, "/")
    assert records == {Path(3, 0, 0): "ACME", Path(3303, 0, 5700): 21.5}
    write = formats.encode(CF.SENML_JSON, {Path(1, 0, 1): 99, Path(3, 0, 14): "+02:00"}, "/")
    r = await req(e, Code.IPATCH, "/", payload=write, content_format=CF.SENML_JSON)
    assert r.code == Code.CHANGED and e.store.get("1/0/1") == 99
    before = copy.deepcopy(e.store._data)
    bad = formats.encode(CF.SENML_JSON, {Path(1, 0, 1): 5, Path(3, 0, 0): "X"}, "/")
    r = await req(e, Code.IPATCH, "/", payload=bad, content_format=CF.SENML_JSON)
    assert r.code == Code.METHOD_NOT_ALLOWED
    assert e.store._data == before


@pytest.mark.parametrize(
    ("code", "path", "payload", "cf"),
    [
        (Code.GET, "/abc", b"", None),
        (Code.GET, "/3/0/0/0/0", b"", None),
        (Code.GET, "/70000", b"", None),
        (Code.POST, "/1/0", b"\x00\x01garbage", CF.LWM2M_TLV),
        (Code.POST, "/1/0", b"{", CF.SENML_JSON),
        (Code.FETCH, "/", b"not cbor", CF.SENML_CBOR),
        (Code.IPATCH, "/", b"[{]", CF.SENML_JSON),
        (Code.PATCH, "/3/0", b"", None),
    ],
)
async def test_garbage_requests_get_4xx_and_change_nothing(
    code: Code, path: str, payload: bytes, cf: int | None
) -> None:
    e = make_engine()
    before = copy.deepcopy(e.store._data)
    r = await req(e, code, path, payload=payload, content_format=cf)
    assert 128 <= r.code < 160
    assert e.store._data == before


async def _discover(e: Engine, path: str, query: str | None = None) -> list[str]:
    r = await req(e, Code.GET, path, accept=CF.LINK_FORMAT, query=query)
    assert r.code == Code.CONTENT, r.payload
    return [link.split(">")[0].lstrip("<") for link in r.payload.decode().split(",")]


async def test_discover_depth_rules_11() -> None:
    e = make_engine("1.1")
    assert await _discover(e, "/3303") == ["/3303", "/3303/0", "/3303/0/5700"]
    assert await _discover(e, "/3303", "depth=0") == ["/3303"]
    assert await _discover(e, "/3303", "depth=1") == ["/3303", "/3303/0"]
    assert await _discover(e, "/3/0/11") == ["/3/0/11", "/3/0/11/0"]
    assert await _discover(e, "/3/0/11", "depth=0") == ["/3/0/11"]
    assert "/3/0/11/0" in await _discover(e, "/3", "depth=3")
    for bad in ("depth=4", "depth=x", "foo=1"):
        r = await req(e, Code.GET, "/3", accept=CF.LINK_FORMAT, query=bad)
        assert r.code == Code.BAD_REQUEST


async def test_discover_rules_10_ignore_depth() -> None:
    e = make_engine("1.0")
    links = await _discover(e, "/3/0/11", "depth=3")
    assert links == ["/3/0/11"]  # no resource instances in 1.0
    r = await req(e, Code.GET, "/3/0/11", accept=CF.LINK_FORMAT)
    assert r.payload == b"</3/0/11>;dim=1"


async def test_bootstrap_discover_lists_instances_and_accounts() -> None:
    e = make_engine("1.1")
    boot = ServerContext(short_id=0, is_bootstrap=True)
    r = await e.handle(Message.request(Code.GET, "/", accept=CF.LINK_FORMAT), boot)
    text = r.payload.decode()
    assert text.startswith('lwm2m="1.1",')
    assert "</0/0>;ssid=101" in text and "</1/0>;ssid=101" in text and "</3303/0>" in text
    r = await e.handle(Message.request(Code.GET, "/3/0", accept=CF.LINK_FORMAT), boot)
    assert r.code == Code.BAD_REQUEST


async def test_read_composite_skips_absent_paths_and_hides_security() -> None:
    e = make_engine()
    body = b'[{"n":"/"}]'
    r = await req(e, Code.FETCH, "/", payload=body, content_format=CF.SENML_JSON)
    records = formats.decode(CF.SENML_JSON, r.payload, "/")
    assert isinstance(records, dict) and records
    assert not [p for p in records if p[0] == 0]
    body = b'[{"n":"/3/0/0"},{"n":"/3/0/99"}]'
    r = await req(e, Code.FETCH, "/", payload=body, content_format=CF.SENML_JSON)
    records = formats.decode(CF.SENML_JSON, r.payload, "/")
    assert records == {Path(3, 0, 0): "ACME"}
    body = b'[{"n":"/3/0/99"}]'
    r = await req(e, Code.FETCH, "/", payload=body, content_format=CF.SENML_JSON)
    assert r.code == Code.NOT_FOUND


async def test_write_in_pre_1_0_oma_json_content_format_1543() -> None:
    """Servers still send the pre-1.0 number 1543 for OMA JSON; it is OMA JSON."""
    e = make_engine()
    body = b'{"bn":"/1/0/","e":[{"n":"1","v":240}]}'
    r = await req(e, Code.PUT, "/1/0/1", payload=body, content_format=1543)
    assert r.code == Code.CHANGED and e.store.get("1/0/1") == 240

"""Device-management response codes checked against LwM2M Core TS 1.1.1 6.3 and 5.1.2."""

from __future__ import annotations

import pytest
from tests.unit.client.test_engine import make_engine

from lwm2m import formats
from lwm2m.client.engine import ServerContext
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.model import InstanceNode, ObjectNode, Path, ResourceNode

CF = ContentFormat


async def call(code: Code, path: str, setup: str = "", **kw: object) -> Message:
    engine = make_engine()
    if setup == "empty5":
        engine.store.add_object(5)
    server = ServerContext(short_id=101)  # fresh attributes for every request
    request = Message.request(code, path, **kw)  # type: ignore[arg-type]
    return await engine.handle(request, server)


async def test_read_of_an_object_without_instances_is_205_and_empty() -> None:
    # 6.3.1 / 7.4.3: the object exists (it can take a Create), so Read answers 2.05.
    tlv = await call(Code.GET, "/5", "empty5", accept=CF.LWM2M_TLV)
    assert tlv.code == Code.CONTENT and tlv.payload == b""
    senml = await call(Code.GET, "/5", "empty5", accept=CF.SENML_JSON)
    assert senml.code == Code.CONTENT and senml.payload == b"[]"


async def test_create_with_an_existing_instance_id_is_400() -> None:
    body = ObjectNode(3303, {0: InstanceNode(0, {5700: ResourceNode(5700, 1.0)})})
    payload = formats.encode(CF.LWM2M_TLV, body, "/3303")
    r = await call(Code.POST, "/3303", payload=payload, content_format=CF.LWM2M_TLV)
    assert r.code == Code.BAD_REQUEST  # 6.3.6


@pytest.mark.parametrize(
    ("code", "path", "expected"),
    [
        (Code.DELETE, "/3303/7", Code.NOT_FOUND),  # 6.3.7: instance absent
        (Code.POST, "/3/0/0", Code.METHOD_NOT_ALLOWED),  # 6.3.5: not executable
        (Code.POST, "/0/0/1", Code.UNAUTHORIZED),  # 6.3: Security object
        (Code.GET, "/3/0/4", Code.METHOD_NOT_ALLOWED),  # 6.3.1: not readable
        (Code.DELETE, "/3303/0/5700", Code.METHOD_NOT_ALLOWED),  # 6.3.7: instances only
    ],
)
async def test_operation_response_codes(code: Code, path: str, expected: Code) -> None:
    assert (await call(code, path)).code == expected


async def test_write_of_a_read_only_resource_is_405() -> None:
    r = await call(Code.PUT, "/3/0/0", payload=b"x", content_format=CF.TEXT_PLAIN)
    assert r.code == Code.METHOD_NOT_ALLOWED  # 6.3.3: target not allowed for Write


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/3303", ("gt=5",)),  # 5.1.2: gt/lt/st belong to resources only
        ("/3303/0", ("st=1",)),
        ("/3303/0/5700", ("pmin=10", "pmax=5")),  # 5.1.2: pmax >= pmin
        ("/3303/0/5700", ("lt=10", "gt=5")),  # 5.1.2: lt < gt
        ("/3303/0/5700", ("lt=1", "gt=5", "st=2")),  # 5.1.2: lt + 2*st < gt
        ("/3303/0/5700", ("pmin=1.5",)),  # pmin is an integer
    ],
)
async def test_write_attributes_rejections_are_400(path: str, query: tuple[str, ...]) -> None:
    assert (await call(Code.PUT, path, query=query)).code == Code.BAD_REQUEST


async def test_write_attributes_without_value_clears_the_attribute() -> None:
    engine = make_engine()
    server = ServerContext(short_id=101)
    for query in (("pmin=10", "pmax=60"), ("pmin",)):
        r = await engine.handle(Message.request(Code.PUT, "/3303/0", query=query), server)
        assert r.code == Code.CHANGED
    assert server.attributes.get(engine._path(("3303", "0"))) == {"pmax": 60.0}


async def test_discover_of_a_resource_lists_dim_and_inherited_attributes() -> None:
    engine = make_engine()
    server = ServerContext(short_id=101)
    for path, query in (("/3", ("pmin=10",)), ("/3/0", ("pmax=60",))):
        r = await engine.handle(Message.request(Code.PUT, path, query=query), server)
        assert r.code == Code.CHANGED
    r = await engine.handle(Message.request(Code.GET, "/3/0/11", accept=CF.LINK_FORMAT), server)
    assert r.code == Code.CONTENT and r.content_format == CF.LINK_FORMAT
    assert r.payload == b"</3/0/11>;dim=1;pmin=10;pmax=60,</3/0/11/0>"


async def test_write_attributes_on_an_executable_resource_is_method_not_allowed() -> None:
    """Discover lists /3/0/4, so it exists; it holds no value and cannot be observed."""
    from lwm2m.client.engine import Engine
    from lwm2m.client.store import ObjectStore

    store = ObjectStore()
    store.create_instance(3, 0)
    store.set("3/0/0", "ACME")
    engine = Engine(store)
    ctx = ServerContext(short_id=101)
    req = Message.request(Code.PUT, "/3/0/4", query="pmin=10")
    assert (await engine.handle(req, ctx)).code == Code.METHOD_NOT_ALLOWED
    req = Message.request(Code.PUT, "/3/1/4", query="pmin=10")
    assert (await engine.handle(req, ctx)).code == Code.NOT_FOUND
    assert ctx.attributes.get(Path(3, 0, 4)) == {}

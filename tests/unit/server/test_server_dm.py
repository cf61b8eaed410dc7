"""Device-management requests and answers, server side, without I/O; the queue-mode queue."""

from __future__ import annotations

import math
from typing import cast

import pytest

from lwm2m import formats
from lwm2m.coap.errors import BadResponse, RequestTimeout
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.coap.observe import Observation as CoapObservation
from lwm2m.errors import ModelError
from lwm2m.formats import senml_cbor, senml_json
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    ObjectNode,
    ObjLink,
    Path,
    ResourceNode,
    default_registry,
)
from lwm2m.server import Notification, ObservationHandle, Server, dm
from lwm2m.server.queue import RequestQueue
from lwm2m.server.registration import Registration, RegistrationTable

CF = ContentFormat
REG = default_registry()


def registration(version: str = "1.1", links: bytes = b"</1/0>,</3/0>") -> Registration:
    table = RegistrationTable(id_factory=lambda: "r1")
    query = [f"lwm2m={version}", "ep=dev", "lt=60"]
    return table.register(query, links, 40, ("127.0.0.1", 1), 0.0).registration


# --- values to nodes ------------------------------------------------------------------


class TestToNode:
    def test_resource_and_resource_instance(self) -> None:
        assert dm.to_node(Path(3, 0, 14), "+01:00", REG) == ResourceNode(14, "+01:00")
        assert dm.to_node(Path(3, 0, 11, 2), 5, REG) == ResourceNode(2, 5)

    def test_multiple_resource_from_dict(self) -> None:
        node = dm.to_node(Path(3, 0, 11), {0: 1, 3: 2}, REG)
        assert node == MultiResourceNode(11, {0: 1, 3: 2})

    def test_instance_from_dict(self) -> None:
        node = dm.to_node(Path(3, 0), {14: "+02:00", 11: {0: 0}}, REG)
        assert node == InstanceNode(
            0, {14: ResourceNode(14, "+02:00"), 11: MultiResourceNode(11, {0: 0})}
        )

    def test_values_are_typed_by_the_definition(self) -> None:
        node = dm.to_node(Path(3303, 0, 5700), 21, REG)
        assert isinstance(node, ResourceNode) and node.value == 21.0
        assert isinstance(node.value, float)
        assert dm.to_node(Path(5, 0, 0), bytearray(b"ab"), REG) == ResourceNode(0, b"ab")

    def test_nodes_pass_through(self) -> None:
        node = InstanceNode(0, {1: ResourceNode(1, 2)})
        assert dm.to_node(Path(1, 0), node, REG) is node

    def test_unknown_resources_keep_the_value(self) -> None:
        assert dm.to_node(Path(40000, 0, 1), b"x", REG) == ResourceNode(1, b"x")
        link = ObjLink(3, 0)
        assert dm.to_node(Path(40000, 0, 2), link, REG) == ResourceNode(2, link)
        assert dm.to_node(Path(40000, 0, 3), memoryview(b"y"), REG) == ResourceNode(3, b"y")

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            (Path(3, 0, 14), 5),  # String resource
            (Path(3, 0, 11), "x"),  # Integer
            (Path(3303, 0, 5700), True),  # bool is not a number
            (Path(40000, 0, 1), object()),  # no LwM2M type
            (Path(3), {0: {}}),  # an object cannot be built from values
            (Path(3, 0), "x"),
        ],
    )
    def test_bad_values(self, path: Path, value: object) -> None:
        with pytest.raises(ModelError):
            dm.to_node(path, value, REG)

    def test_to_records(self) -> None:
        records = dm.to_records({"/3/0/14": "+01:00", Path(3303, 0, 5700): 3}, REG)
        assert records == {Path(3, 0, 14): "+01:00", Path(3303, 0, 5700): 3.0}
        with pytest.raises(ModelError):
            dm.to_records({"/3/0": 1}, REG)
        with pytest.raises(ModelError):
            dm.to_records({"/3/x/1": 1}, REG)


# --- formats -----------------------------------------------------------------------------


class TestDefaultFormat:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            (Path(3), CF.LWM2M_TLV),
            (Path(3, 0), CF.LWM2M_TLV),
            (Path(3, 0, 0), CF.TEXT_PLAIN),
            (Path(3, 0, 11), CF.LWM2M_TLV),  # multiple resource
            (Path(3, 0, 11, 0), CF.TEXT_PLAIN),
            (Path(5, 0, 0), CF.OCTET_STREAM),  # Opaque
            (Path(40000, 0, 0), CF.LWM2M_TLV),  # unknown
            (Path(3, 0, 4), CF.LWM2M_TLV),  # executable: no single-value format
        ],
    )
    def test_read_10(self, path: Path, expected: int) -> None:
        assert dm.default_format(registration("1.0"), path, REG) == expected

    def test_write_10_follows_the_value(self) -> None:
        reg = registration("1.0")
        fmt = dm.default_format
        assert fmt(reg, Path(40000, 0, 0), REG, ResourceNode(0, b"x")) == CF.OCTET_STREAM
        assert fmt(reg, Path(40000, 0, 0), REG, ResourceNode(0, 5)) == CF.TEXT_PLAIN
        assert fmt(reg, Path(3, 0), REG, InstanceNode(0)) == CF.LWM2M_TLV
        assert fmt(reg, Path(3, 0, 11), REG, MultiResourceNode(11)) == CF.LWM2M_TLV

    def test_11_and_later(self) -> None:
        for version in ("1.1", "1.2"):
            assert dm.default_format(registration(version), Path(3, 0, 0), REG) == CF.SENML_CBOR
        lwm2m_cbor = registration("1.1", b'</>;rt="oma.lwm2m";ct="11543 11544",</3/0>')
        assert dm.default_format(lwm2m_cbor, Path(3, 0), REG) == CF.LWM2M_CBOR
        legacy_only = registration("1.1", b'</>;rt="oma.lwm2m";ct=11543,</3/0>')
        assert dm.default_format(legacy_only, Path(3, 0), REG) == CF.SENML_CBOR


# --- requests -----------------------------------------------------------------------------


class TestRequests:
    def test_read_and_observe(self) -> None:
        msg = dm.build_read(Path(3, 0, 1), CF.TEXT_PLAIN)
        assert (msg.code, msg.uri_path, msg.accept, msg.observe) == (
            Code.GET,
            ("3", "0", "1"),
            CF.TEXT_PLAIN,
            None,
        )
        assert dm.build_read(Path(3), CF.LWM2M_TLV, observe=True).observe == 0

    def test_write_replace_and_partial(self) -> None:
        node = ResourceNode(14, "+01:00")
        put = dm.build_write(Path(3, 0, 14), node, CF.TEXT_PLAIN, REG, replace=True)
        post = dm.build_write(Path(3, 0, 14), node, CF.TEXT_PLAIN, REG, replace=False)
        assert (put.code, post.code) == (Code.PUT, Code.POST)
        assert put.payload == post.payload == b"+01:00"
        assert put.content_format == CF.TEXT_PLAIN

    def test_write_format_that_cannot_carry_the_node(self) -> None:
        with pytest.raises(ValueError):
            dm.build_write(Path(3, 0), InstanceNode(0), CF.TEXT_PLAIN, REG, replace=True)

    def test_create_wraps_the_instance_in_its_object(self) -> None:
        inst = InstanceNode(2, {5700: ResourceNode(5700, 1.5)})
        msg = dm.build_create(3303, inst, CF.LWM2M_TLV, REG)
        assert (msg.code, msg.uri_path, msg.content_format) == (Code.POST, ("3303",), 11542)
        decoded = formats.decode(CF.LWM2M_TLV, msg.payload, Path(3303), REG)
        assert decoded == ObjectNode(3303, {2: inst})

    @pytest.mark.parametrize("cf", [CF.SENML_CBOR, CF.SENML_JSON, CF.LWM2M_CBOR])
    def test_composite_paths(self, cf: int) -> None:
        paths = [Path(3, 0, 0), Path(1)]
        msg = dm.build_composite_paths(paths, cf, observe=True)
        assert (msg.code, msg.uri_path, msg.accept, msg.observe) == (Code.FETCH, (), cf, 0)
        body_cf = msg.content_format
        decode = senml_json.decode_paths if body_cf == CF.SENML_JSON else senml_cbor.decode_paths
        assert body_cf in (CF.SENML_JSON, CF.SENML_CBOR)
        assert decode(msg.payload) == paths
        with pytest.raises(ModelError):
            dm.build_composite_paths([], cf)

    def test_write_composite(self) -> None:
        records = {Path(3, 0, 14): "+01:00"}
        msg = dm.build_write_composite(records, CF.SENML_JSON, REG)
        assert (msg.code, msg.uri_path) == (Code.IPATCH, ())
        assert formats.decode(CF.SENML_JSON, msg.payload, Path(), REG) == records
        with pytest.raises(ModelError):
            dm.build_write_composite({}, CF.SENML_JSON, REG)

    def test_attribute_query(self) -> None:
        query = dm.attribute_query({"epmax": 9, "pmin": 2.0, "gt": 1.5, "lt": None, "st": 2})
        assert query == ["pmin=2", "gt=1.5", "lt", "st=2", "epmax=9"]
        assert dm.attribute_query({"pmax": dm.UNSET, "pmin": 0}) == ["pmin=0"]

    @pytest.mark.parametrize(
        "attrs",
        [{}, {"pmin": -1}, {"pmin": 1.5}, {"gt": True}, {"gt": "5"}, {"st": math.nan}],
    )
    def test_attribute_query_refuses(self, attrs: dict[str, object]) -> None:
        with pytest.raises(ModelError):
            dm.attribute_query(attrs)


# --- answers --------------------------------------------------------------------------------


def answer(code: int, payload: bytes = b"", **kwargs: object) -> Message:
    msg = Message(code=code, payload=payload)
    for name, value in kwargs.items():
        setattr(msg, name, value)
    return msg


class TestAnswers:
    def test_check(self) -> None:
        ok = answer(Code.CONTENT)
        assert dm.check(ok, Code.CONTENT) is ok
        assert dm.check(answer(Code.CHANGED)) is not None
        with pytest.raises(dm.DmError) as info:
            dm.check(answer(Code.NOT_FOUND, b"no such instance"), Code.CONTENT)
        err = info.value
        assert (err.code, err.code_name, err.message) == (
            Code.NOT_FOUND,
            "NOT_FOUND",
            "no such instance",
        )
        assert str(err) == "4.04 NOT_FOUND: no such instance"
        with pytest.raises(dm.DmError) as info:
            dm.check(answer(0x9F), Code.CONTENT)  # 4.31, not registered
        assert info.value.code_name == "CODE_4_31" and str(info.value) == "4.31 CODE_4_31"
        with pytest.raises(BadResponse):
            dm.check(answer(Code.CREATED), Code.CONTENT)

    def test_decode_content(self) -> None:
        text = answer(Code.CONTENT, b"Acme")
        assert dm.decode_content(text, Path(3, 0, 0), REG) == ResourceNode(0, "Acme")
        tlv = formats.encode(CF.LWM2M_TLV, InstanceNode(0, {0: ResourceNode(0, "A")}), Path(3, 0))
        assert dm.decode_content(answer(Code.CONTENT, tlv), Path(3, 0), REG) == InstanceNode(
            0, {0: ResourceNode(0, "A")}
        )
        for bad in (
            answer(Code.CONTENT, b"\xff\xff", content_format=CF.LWM2M_TLV),
            answer(Code.CONTENT, b"[", content_format=CF.SENML_JSON),
            answer(Code.CONTENT, b"x", content_format=40),
            answer(Code.CONTENT, b"x", content_format=9999),
            Message(code=Code.CONTENT, options=[(12, b"\x01\x02\x03")]),  # 3-byte format
        ):
            with pytest.raises(BadResponse):
                dm.decode_content(bad, Path(3, 0), REG)

    def test_decode_composite_needs_records(self) -> None:
        body = formats.encode(CF.SENML_CBOR, {Path(3, 0, 0): "A"}, Path(), REG)
        assert dm.decode_composite(
            answer(Code.CONTENT, body, content_format=CF.SENML_CBOR), REG
        ) == {Path(3, 0, 0): "A"}
        with pytest.raises(BadResponse):
            dm.decode_composite(answer(Code.CONTENT, b"A", content_format=0), REG)

    def test_decode_discover(self) -> None:
        good = answer(Code.CONTENT, b"</3/0>,</3/0/1>;pmin=5", content_format=40)
        entries = dm.decode_discover(good)
        assert [(e.path, e.attributes) for e in entries] == [
            (Path(3, 0), {}),
            (Path(3, 0, 1), {"pmin": 5}),
        ]
        with pytest.raises(BadResponse):
            dm.decode_discover(answer(Code.CONTENT, b"</3/0>", content_format=0))
        with pytest.raises(BadResponse):
            dm.decode_discover(answer(Code.CONTENT, b"</3/x>;pmin=a", content_format=40))

    def test_created_path(self) -> None:
        inst = InstanceNode(4)
        assert dm.created_path(answer(Code.CREATED, location_path=("3303", "7")), 3303, inst) == (
            Path(3303, 7)
        )
        assert dm.created_path(answer(Code.CREATED), 3303, inst) == Path(3303, 4)
        for bad, node in (
            (answer(Code.CREATED), None),
            (answer(Code.CREATED, location_path=("3", "7")), inst),
            (answer(Code.CREATED, location_path=("3303",)), inst),
            (answer(Code.CREATED, location_path=("3303", "x")), inst),
        ):
            with pytest.raises(BadResponse):
                dm.created_path(bad, 3303, node)

    def test_request_expired_is_a_timeout(self) -> None:
        assert issubclass(dm.RequestExpired, RequestTimeout)
        assert issubclass(dm.ClientNotRegistered, LookupError)


# --- queue mode -------------------------------------------------------------------------------


class TestRequestQueue:
    def test_awake_window(self) -> None:
        q: RequestQueue[str] = RequestQueue(awake_time=93.0)
        assert not q.awake("a", 0.0)
        q.seen("a", 10.0)
        assert q.awake("a", 102.9) and not q.awake("a", 103.0)
        assert not q.awake("b", 10.0)

    def test_fifo_per_endpoint(self) -> None:
        q: RequestQueue[str] = RequestQueue(expiry=5.0)
        assert q.push("a", "r1", 0.0) == 5.0
        q.push("b", "x", 0.0)
        q.push("a", "r2", 1.0, expiry=1.0)
        assert (q.pending("a"), q.pending("b"), q.pending("c")) == (2, 1, 0)
        assert q.next_deadline() == 2.0
        assert q.pop("a") == "r1" and q.pop("a") == "r2" and q.pop("a") is None
        assert q.pending("a") == 0

    def test_expiry(self) -> None:
        q: RequestQueue[str] = RequestQueue(expiry=5.0)
        q.push("a", "old", 0.0)
        q.push("a", "new", 3.0)
        q.push("b", "b1", 1.0)
        assert q.expired(4.9) == []
        assert q.expired(6.0) == ["old", "b1"]
        assert q.pending("a") == 1 and q.pending("b") == 0
        assert q.next_deadline() == 8.0
        assert q.expired(100.0) == ["new"] and q.next_deadline() is None

    def test_forget(self) -> None:
        q: RequestQueue[str] = RequestQueue()
        q.seen("a", 0.0)
        q.push("a", "r1", 0.0)
        assert q.forget("a") == ["r1"] and not q.awake("a", 0.0)
        assert q.forget("a") == []

    @pytest.mark.parametrize(("awake", "expiry"), [(-1.0, 5.0), (1.0, 0.0)])
    def test_bad_parameters(self, awake: float, expiry: float) -> None:
        with pytest.raises(ValueError):
            RequestQueue(awake, expiry)


# --- the observation handle ---------------------------------------------------------------------


class _StubCoap:
    token = b"\x01"


async def test_observation_handle_keeps_the_newest_unread() -> None:
    reg = registration()
    server = Server()
    handle = ObservationHandle(
        server,
        reg,
        cast(CoapObservation, _StubCoap()),
        (Path(3, 0, 14),),
        False,
        0,
        ResourceNode(14, ""),
    )
    total = ObservationHandle.BACKLOG + 10
    for seq in range(total):
        handle._push(Notification(reg, b"\x01", handle.paths, ResourceNode(14, "x"), 0, seq))
    handle._end()
    seqs = [n.sequence async for n in handle]
    assert seqs == list(range(total - ObservationHandle.BACKLOG + 1, total))
    assert not handle.active and [n async for n in handle] == []

"""SenML JSON (content format 110): TS 1.1.1 7.4.5 examples, typing rules, round trips."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path as FsPath

import pytest
from hypothesis import given, settings

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared senml_testutil module
from senml_testutil import REG, TYPES_OID, assert_round_trip, device_instance, instances

from lwm2m.errors import DecodeError, EncodeError
from lwm2m.formats import senml_cbor, senml_json
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    ObjectNode,
    ObjLink,
    Path,
    ResourceNode,
)

# LwM2M Core TS 1.1.1 section 7.4.5, Read /3/0 of the example client (white space removed).
DEVICE_SENML_JSON = (
    b'[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},'
    b'{"n":"1","vs":"Lightweight M2M Client"},{"n":"2","vs":"345000123"},'
    b'{"n":"3","vs":"1.0"},{"n":"6/0","v":1},{"n":"6/1","v":5},{"n":"7/0","v":3800},'
    b'{"n":"7/1","v":5000},{"n":"8/0","v":125},{"n":"8/1","v":900},{"n":"9","v":100},'
    b'{"n":"10","v":15},{"n":"11/0","v":0},{"n":"13","v":1367491215},'
    b'{"n":"14","vs":"+02:00"},{"n":"16","vs":"U"}]'
)


P = Path.parse


def test_ts_1_1_1_7_4_5_device_instance_encodes_byte_exact() -> None:
    assert senml_json.encode(device_instance(), P("/3/0"), REG) == DEVICE_SENML_JSON


def test_ts_1_1_1_7_4_5_device_instance_decodes() -> None:
    assert senml_json.decode(DEVICE_SENML_JSON, P("/3/0"), REG) == device_instance()


def test_ts_1_1_1_7_4_5_multiple_resource_3_0_7() -> None:
    payload = b'[{"bn":"/3/0/7/","n":"0","v":3800},{"n":"1","v":5000}]'
    node = MultiResourceNode(7, {0: 3800, 1: 5000})
    assert senml_json.encode(node, P("/3/0/7"), REG) == payload
    assert senml_json.decode(payload, P("/3/0/7"), REG) == node


def test_ts_1_1_1_7_4_5_single_resource_and_resource_instance() -> None:
    assert senml_json.encode(ResourceNode(0, "OMA"), P("/3/0/0"), REG) == (
        b'[{"bn":"/3/0/0","vs":"OMA"}]'
    )
    assert senml_json.encode(ResourceNode(1, 5000), P("/3/0/7/1"), REG) == (
        b'[{"bn":"/3/0/7/1","v":5000}]'
    )
    assert senml_json.decode(b'[{"bn":"/3/0/7/1","v":5000}]', P("/3/0/7/1"), REG) == (
        ResourceNode(1, 5000)
    )


def test_ts_1_1_1_6_3_read_composite_request_and_response() -> None:
    paths = [P("/3/0/0"), P("/3/0/9"), P("/1/0/1")]
    body = b'[{"n":"/3/0/0"},{"n":"/3/0/9"},{"n":"/1/0/1"}]'
    assert senml_json.encode_paths(paths) == body
    assert senml_json.decode_paths(body) == paths
    # A request may also use a base name and name objects or instances.
    assert senml_json.decode_paths(b'[{"bn":"/3/0/","n":"0"},{"n":"9"},{"bn":"/1"}]') == [
        P("/3/0/0"),
        P("/3/0/9"),
        P("/1"),
    ]
    records = {P("/3/0/0"): "Open Mobile Alliance", P("/3/0/9"): 95, P("/1/0/1"): 86400}
    response = (
        b'[{"n":"/3/0/0","vs":"Open Mobile Alliance"},{"n":"/3/0/9","v":95},'
        b'{"n":"/1/0/1","v":86400}]'
    )
    assert senml_json.encode(records, P("/"), REG) == response
    assert senml_json.decode(response, P("/"), REG) == records


def test_decode_accepts_base_name_changes_base_time_and_absent_names() -> None:
    payload = json.dumps(
        [
            {"bn": "/3/0/", "bt": 1.5e9, "n": "0", "vs": "A", "t": -5},
            {"bn": "/3/0/9", "v": 90},
            {"bn": "/3/0/", "n": "14", "vs": "+01:00"},
        ]
    ).encode()
    assert senml_json.decode(payload, P("/3/0"), REG) == InstanceNode(
        0, {0: ResourceNode(0, "A"), 9: ResourceNode(9, 90), 14: ResourceNode(14, "+01:00")}
    )


def test_decode_object_with_instances() -> None:
    payload = b'[{"bn":"/3/","n":"0/9","v":1},{"n":"1/9","v":2}]'
    assert senml_json.decode(payload, P("/3"), REG) == ObjectNode(
        3,
        {0: InstanceNode(0, {9: ResourceNode(9, 1)}), 1: InstanceNode(1, {9: ResourceNode(9, 2)})},
    )


def test_typing_by_definition() -> None:
    def one(name: str, field: str, value: object) -> object:
        payload = json.dumps([{"n": name, field: value}]).encode()
        records = senml_json.decode(payload, P("/"), REG)
        assert isinstance(records, dict)
        return records[P(name)]

    assert one("/3/0/9", "v", 2.0) == 2 and type(one("/3/0/9", "v", 2.0)) is int
    assert type(one("/3/0/13", "v", 1e9)) is int  # Time -> int
    assert (
        one(f"/{TYPES_OID}/0/3", "v", 2) == 2.0 and type(one(f"/{TYPES_OID}/0/3", "v", 2)) is float
    )
    assert one(f"/{TYPES_OID}/0/2", "v", 2**64 - 1) == 2**64 - 1
    assert one(f"/{TYPES_OID}/0/5", "vd", "-_8") == b"\xfb\xff"
    assert one(f"/{TYPES_OID}/0/5", "vd", "-_8=") == b"\xfb\xff"  # padding accepted
    assert one(f"/{TYPES_OID}/0/7", "vlo", "3:0") == ObjLink(3, 0)
    # Unknown resources take the format's own type.
    assert one("/4242/0/1", "v", 1.5) == 1.5
    assert one("/4242/0/1", "v", 7) == 7
    assert one("/4242/0/1", "vs", "x") == "x"
    assert one("/4242/0/1", "vb", False) is False
    assert one("/4242/0/1", "vd", "") == b""
    assert one("/4242/0/1", "vlo", "65535:65535") == ObjLink(65535, 65535)


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        ({"n": "/3/0/9", "v": 2.5}, "field v"),
        ({"n": "/3/0/9", "vs": "2"}, "field vs"),
        ({"n": "/3/0/9", "vb": True}, "field vb"),
        ({"n": "/3/0/9", "v": 2**63}, "field v"),
        ({"n": f"/{TYPES_OID}/0/2", "v": -1}, "field v"),
        ({"n": "/3/0/13", "v": 1.5}, "field v"),
        ({"n": f"/{TYPES_OID}/0/5", "vd": "a+b/"}, "field vd"),
        ({"n": f"/{TYPES_OID}/0/5", "vd": "abcde"}, "field vd"),
        ({"n": f"/{TYPES_OID}/0/7", "vlo": "3-0"}, "field vlo"),
        ({"n": f"/{TYPES_OID}/0/7", "vlo": "70000:0"}, "field vlo"),
        ({"n": "/3/0/4", "vs": "x"}, "field vs"),  # executable resource carries no value
        ({"n": "/4242/0/1", "v": True}, "field v"),
    ],
)
def test_values_breaking_the_definition_name_record_and_field(
    record: dict[str, object], fragment: str
) -> None:
    payload = json.dumps([{"n": "/3/0/0", "vs": "ok"}, record]).encode()
    with pytest.raises(DecodeError, match="record 1") as exc:
        senml_json.decode(payload, P("/"), REG)
    assert fragment in str(exc.value)


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (b"{}", "/3/0"),
        (b"[1]", "/3/0"),
        (b'[{"n":"/3/0/x","v":1}]', "/"),
        (b'[{"n":"3/0/9","v":1}]', "/"),  # LwM2M names are absolute paths
        (b'[{"n":"/3/0/09","v":1}]', "/"),
        (b'[{"n":"/3/0/65535","v":1}]', "/"),
        (b'[{"n":"/3/0/9/0/1","v":1}]', "/"),
        (b'[{"n":"/3/0/9","v":1,"vs":"1"}]', "/"),
        (b'[{"n":"/3/0/9"}]', "/"),  # no value
        (b'[{"n":"/3/0","v":1}]', "/"),  # not a resource
        (b'[{"n":"/3/0/9","v":1,"x_":1}]', "/"),  # must-understand field
        (b'[{"n":9,"v":1}]', "/"),
        (b'[{"bn":"/3/0/","n":"9","v":1,"t":"x"}]', "/"),
        (b'[{"bn":"/3/1/","n":"9","v":1}]', "/3/0"),  # outside the request path
        (b'[{"bn":"/3/0/","n":"7","v":1}]', "/3/0"),  # multiple resource without instance id
        (b'[{"bn":"/3/0/","n":"9/0","v":1}]', "/3/0"),  # single resource with instance id
        (b'[{"bn":"/4242/0/","n":"1","v":1},{"n":"1/0","v":1}]', "/4242/0"),  # mixed
        (b"[]", "/3/0/9"),  # no value for a single resource
        (b'[{"n":"/3/0/9","v":NaN}]', "/"),
        (b'[{"n":"/3/0/9","v":1}] x', "/"),
        (b'\xff[{"n":"/3/0/9","v":1}]', "/"),
        (b"[" * 100000, "/"),
    ],
)
def test_bad_payloads_raise_decode_error(payload: bytes, path: str) -> None:
    with pytest.raises(DecodeError):
        senml_json.decode(payload, P(path), REG)


def test_empty_multiple_resource_decodes_by_definition() -> None:
    assert senml_json.decode(b"[]", P("/3/0/7"), REG) == MultiResourceNode(7)


def test_duplicate_names_last_record_wins() -> None:
    payload = b'[{"n":"/3/0/9","v":1,"t":1},{"n":"/3/0/9","v":2,"t":2}]'
    assert senml_json.decode(payload, P("/"), REG) == {P("/3/0/9"): 2}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_json_cannot_carry_non_finite_floats(value: float) -> None:
    with pytest.raises(EncodeError):
        senml_json.encode(ResourceNode(3, value), Path(TYPES_OID, 0, 3), REG)


@pytest.mark.parametrize(
    ("payload", "number"),
    [
        (b'[{"n":"/3/0/4242","v":1e999}]', "1e999"),  # an undefined resource: any number
        (b'[{"bn":"/3/0/","bt":1e999,"n":"9","v":1}]', "1e999"),  # base time
        (b'[{"n":"/3/0/9","v":1,"t":-1.5e400}]', "-1.5e400"),  # record time
        (b'[{"n":"/3/0/9","v":1,"t":NaN}]', "NaN"),
        (b'[{"n":"/3/0/9","v":1,"bt":Infinity}]', "Infinity"),
    ],
)
def test_non_finite_numbers_are_refused(payload: bytes, number: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(number)) as info:
        senml_json.decode(payload, P("/"), REG)
    if number[-1].isdigit():  # the error names where the number is
        assert info.value.offset == payload.index(number.encode())


def test_non_finite_float_value_is_refused_and_large_finite_kept() -> None:
    path = Path(TYPES_OID, 0, 3)
    with pytest.raises(DecodeError, match=r"1E\+309 is not a finite"):
        senml_json.decode(f'[{{"bn":"{path}","v":1E+309}}]'.encode(), path, REG)
    payload = f'[{{"bn":"{path}","v":1.5e308,"t":-1e300}}]'.encode()
    assert senml_json.decode(payload, path, REG) == ResourceNode(3, 1.5e308)


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_is_a_decode_error(depth: int) -> None:
    for payload in (
        b"[" * depth + b"]" * depth,
        b'[{"n":"/3/0/9","v":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}]",
    ):
        with pytest.raises(DecodeError, match="SenML JSON"):
            senml_json.decode(payload, P("/"), REG)


@pytest.mark.parametrize(
    ("node", "path"),
    [
        (ResourceNode(9, "x"), "/3/0/9"),  # String for an Integer resource
        (ResourceNode(9, 1.5), "/3/0/9"),
        (ResourceNode(9, True), "/3/0/9"),
        (ResourceNode(9, 2**63), "/3/0/9"),
        (ResourceNode(2, -1), f"/{TYPES_OID}/0/2"),
        (ResourceNode(9, None), "/3/0/9"),
        (ResourceNode(7, 1), "/3/0/7"),  # single value for a multiple resource
        (MultiResourceNode(9, {0: 1}), "/3/0/9"),
        (InstanceNode(1), "/3/0"),  # id differs from the path
        (InstanceNode(0, {9: ResourceNode(9, object())}), "/3/0"),  # type: ignore[arg-type]
        (MultiResourceNode(7, {65535: 1}), "/3/0/7"),
        ({P("/3/0/9"): 1}, "/1"),  # record outside the request path
    ],
)
def test_encode_rejects_values_and_shapes_breaking_the_definition(node: object, path: str) -> None:
    with pytest.raises(EncodeError):
        senml_json.encode(node, P(path), REG)  # type: ignore[arg-type]


def test_paths_may_name_the_root() -> None:
    """Read-/Observe-Composite may name the root path (Core TS 1.1 6.3.9, 6.4.3)."""
    body = senml_json.encode_paths([P("/"), P("/3/0")])
    assert body == b'[{"n":"/"},{"n":"/3/0"}]'
    assert senml_json.decode_paths(body) == [P("/"), P("/3/0")]
    assert senml_cbor.decode_paths(senml_cbor.encode_paths([P("/")])) == [P("/")]
    with pytest.raises(DecodeError):  # values are never at the root
        senml_json.decode(b'[{"n":"/","v":1}]', P("/"), REG)


@pytest.mark.parametrize(
    "payload", [b'[{"n":"/3/0/9","v":1}]', b'[{"n":"//"}]', b"{}", b'[{"n":"/3/a"}]']
)
def test_decode_paths_rejects_values_and_bad_names(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        senml_json.decode_paths(payload)


def test_non_ascii_text_is_utf8() -> None:
    payload = senml_json.encode(ResourceNode(0, "Zürich ✓"), P("/3/0/0"), REG)
    assert payload == '[{"bn":"/3/0/0","vs":"Zürich ✓"}]'.encode()
    assert senml_json.decode(payload, P("/3/0/0"), REG) == ResourceNode(0, "Zürich ✓")


def test_opaque_is_base64url_without_padding() -> None:
    payload = senml_json.encode(ResourceNode(5, b"\xfb\xff"), Path(TYPES_OID, 0, 5), REG)
    assert payload == f'[{{"bn":"/{TYPES_OID}/0/5","vd":"-_8"}}]'.encode()


@settings(max_examples=150, deadline=None)
@given(instances())
def test_round_trip_every_type(inst: InstanceNode) -> None:
    assert_round_trip(senml_json, inst)

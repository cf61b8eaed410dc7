"""OMA LwM2M JSON (content format 11543): TS 1.0.2 6.4.4 examples, typing, round trips."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path as FsPath

import pytest
from hypothesis import given, settings

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared senml_testutil module
from senml_testutil import REG, TYPES_OID, assert_round_trip, device_instance, instances

from lwm2m import formats
from lwm2m.coap.numbers import ContentFormat as CF
from lwm2m.errors import DecodeError, EncodeError, UnsupportedFormat
from lwm2m.formats import oma_json
from lwm2m.model import InstanceNode, MultiResourceNode, ObjectNode, ObjLink, Path, ResourceNode

P = Path.parse

# LwM2M TS 1.0.2 section 6.4.4, JSON of Read /3/0 of the example client (white space removed).
DEVICE_JSON = (
    b'{"bn":"/3/0/","e":[{"n":"0","sv":"Open Mobile Alliance"},'
    b'{"n":"1","sv":"Lightweight M2M Client"},{"n":"2","sv":"345000123"},'
    b'{"n":"3","sv":"1.0"},{"n":"6/0","v":1},{"n":"6/1","v":5},{"n":"7/0","v":3800},'
    b'{"n":"7/1","v":5000},{"n":"8/0","v":125},{"n":"8/1","v":900},{"n":"9","v":100},'
    b'{"n":"10","v":15},{"n":"11/0","v":0},{"n":"13","v":1367491215},'
    b'{"n":"14","sv":"+02:00"},{"n":"16","sv":"U"}]}'
)


def test_ts_1_0_2_6_4_4_device_instance_byte_exact_both_ways() -> None:
    assert oma_json.encode(device_instance(), P("/3/0"), REG) == DEVICE_JSON
    assert oma_json.decode(DEVICE_JSON, P("/3/0"), REG) == device_instance()


def test_ts_1_0_2_6_4_4_multiple_object_instances_access_control() -> None:
    # Read /2: two Access Control instances, ACL as a multiple resource.
    payload = (
        b'{"bn":"/2/","e":[{"n":"0/0","v":1},{"n":"0/1","v":0},{"n":"0/2/101","v":-1},'
        b'{"n":"0/3","v":101},{"n":"1/0","v":3},{"n":"1/1","v":0},{"n":"1/2/102","v":15},'
        b'{"n":"1/3","v":102}]}'
    )
    node = ObjectNode(
        2,
        {
            0: InstanceNode(
                0,
                {
                    0: ResourceNode(0, 1),
                    1: ResourceNode(1, 0),
                    2: MultiResourceNode(2, {101: -1}),
                    3: ResourceNode(3, 101),
                },
            ),
            1: InstanceNode(
                1,
                {
                    0: ResourceNode(0, 3),
                    1: ResourceNode(1, 0),
                    2: MultiResourceNode(2, {102: 15}),
                    3: ResourceNode(3, 102),
                },
            ),
        },
    )
    assert oma_json.decode(payload, P("/2"), REG) == node
    assert oma_json.encode(node, P("/2"), REG) == payload


def test_ts_1_0_2_6_4_4_single_resource_and_multiple_resource() -> None:
    assert oma_json.encode(ResourceNode(0, "OMA"), P("/3/0/0"), REG) == (
        b'{"bn":"/3/0/","e":[{"n":"0","sv":"OMA"}]}'
    )
    payload = b'{"bn":"/3/0/7/","e":[{"n":"0","v":3800},{"n":"1","v":5000}]}'
    node = MultiResourceNode(7, {0: 3800, 1: 5000})
    assert oma_json.encode(node, P("/3/0/7"), REG) == payload
    assert oma_json.decode(payload, P("/3/0/7"), REG) == node


def test_value_fields_sv_bv_ov_and_opaque_base64() -> None:
    node = InstanceNode(
        0,
        {
            5: ResourceNode(5, b"\xfb\xff"),
            4: ResourceNode(4, False),
            7: ResourceNode(7, ObjLink(3, 0)),
            1: ResourceNode(1, -5),
        },
    )
    payload = oma_json.encode(node, Path(TYPES_OID, 0), REG)
    assert (
        payload
        == (
            f'{{"bn":"/{TYPES_OID}/0/","e":[{{"n":"5","sv":"+/8="}},{{"n":"4","bv":false}},'
            '{"n":"7","ov":"3:0"},{"n":"1","v":-5}]}'
        ).encode()
    )
    assert oma_json.decode(payload, Path(TYPES_OID, 0), REG) == node
    unpadded = payload.replace(b"+/8=", b"+/8")
    assert oma_json.decode(unpadded, Path(TYPES_OID, 0), REG) == node


def test_base_time_and_entry_times_are_accepted_and_unknown_resources_typed_by_field() -> None:
    payload = (
        b'{"bn":"/4242/0/","bt":1500000000,"e":[{"n":"0","v":1.5,"t":-10},'
        b'{"n":"1","sv":"x"},{"n":"2","bv":true},{"n":"3","ov":"1:2"},{"n":"4","v":7}]}'
    )
    assert oma_json.decode(payload, P("/4242/0"), REG) == InstanceNode(
        0,
        {
            0: ResourceNode(0, 1.5),
            1: ResourceNode(1, "x"),
            2: ResourceNode(2, True),
            3: ResourceNode(3, ObjLink(1, 2)),
            4: ResourceNode(4, 7),
        },
    )


# --- one value: the instance path as bn and the resource (instance) as n ------------------


@pytest.mark.parametrize(
    ("path", "node", "payload"),
    [
        ("/3/0/14", ResourceNode(14, "+02:00"), b'{"bn":"/3/0/","e":[{"n":"14","sv":"+02:00"}]}'),
        ("/3/0/7/1", ResourceNode(1, 5000), b'{"bn":"/3/0/","e":[{"n":"7/1","v":5000}]}'),
        ("/3/0/9", ResourceNode(9, 87), b'{"bn":"/3/0/","e":[{"n":"9","v":87}]}'),
        (f"/{TYPES_OID}/0/4", ResourceNode(4, True), b'"e":[{"n":"4","bv":true}]}'),
    ],
)
def test_one_value_is_named_relative_to_its_instance(
    path: str, node: ResourceNode, payload: bytes
) -> None:
    encoded = oma_json.encode(node, P(path), REG)
    assert encoded.endswith(payload)
    assert encoded.startswith(b'{"bn":"/') and b'/0/","e":[{"n":"' in encoded
    assert oma_json.decode(encoded, P(path), REG) == node


@pytest.mark.parametrize(
    "payload",
    [
        b'{"bn":"/3/0/","e":[{"n":"14","sv":"+02:00"}]}',  # what encode writes
        b'{"bn":"/3/0/14","e":[{"sv":"+02:00"}]}',  # bn is the resource, no n
        b'{"e":[{"n":"/3/0/14","sv":"+02:00"}]}',  # no bn, the full path in n
        b'{"bn":"/3/","e":[{"n":"0/14","sv":"+02:00"}]}',  # any split of the path
    ],
)
def test_every_shape_of_one_resource_decodes(payload: bytes) -> None:
    assert oma_json.decode(payload, P("/3/0/14"), REG) == ResourceNode(14, "+02:00")


@pytest.mark.parametrize(
    "payload",
    [
        b'{"bn":"/3/0/","e":[{"n":"7/1","v":5000}]}',
        b'{"bn":"/3/0/7/1","e":[{"v":5000}]}',
        b'{"e":[{"n":"/3/0/7/1","v":5000}]}',
        b'{"bn":"/3/0/7/","e":[{"n":"1","v":5000}]}',
    ],
)
def test_every_shape_of_one_resource_instance_decodes(payload: bytes) -> None:
    assert oma_json.decode(payload, P("/3/0/7/1"), REG) == ResourceNode(1, 5000)


def test_pre_1_0_content_format_1543_decodes_as_oma_json() -> None:
    payload = b'{"bn":"/3/0/","e":[{"n":"14","sv":"+02:00"}]}'
    assert CF.LWM2M_JSON_OLD == 1543
    assert formats.decode(1543, payload, "/3/0/14", REG) == ResourceNode(14, "+02:00")
    assert formats.decode(CF.LWM2M_JSON_OLD, DEVICE_JSON, "/3/0", REG) == device_instance()
    assert CF.LWM2M_JSON_OLD in formats.DECODE_FORMATS
    assert CF.LWM2M_JSON_OLD not in formats.ALL_FORMATS
    with pytest.raises(DecodeError, match="LwM2M JSON"):
        formats.decode(1543, b'{"bn":"/3/0/","e":[{"n":"9","sv":"x"}]}', "/3/0", REG)
    with pytest.raises(UnsupportedFormat):  # never written under the old number
        formats.encode(1543, ResourceNode(14, "+02:00"), "/3/0/14", REG)
    assert "1543" in formats.format_name(1543)


# --- numbers JSON cannot carry --------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "number"),
    [
        (b'{"bn":"/3/0/","e":[{"n":"4242","v":1e999}]}', "1e999"),  # an undefined resource
        (b'{"bn":"/3/0/","e":[{"n":"9","v":1}],"bt":1e999}', "1e999"),  # base time
        (b'{"bn":"/3/0/","e":[{"n":"9","v":1,"t":-2e308}]}', "-2e308"),  # entry time
        (b'{"bn":"/3/0/","e":[{"n":"9","v":NaN}]}', "NaN"),
        (b'{"bn":"/3/0/","e":[{"n":"9","v":Infinity}]}', "Infinity"),
        (b'{"bn":"/3/0/","e":[{"n":"9","v":-Infinity}]}', "Infinity"),
    ],
)
def test_non_finite_numbers_are_refused(payload: bytes, number: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(number)) as info:
        oma_json.decode(payload, P("/3/0"), REG)
    if number[-1].isdigit():  # the error names where the number is
        assert info.value.offset == payload.index(number.encode())


def test_non_finite_float_resource_value_is_refused() -> None:
    payload = f'{{"bn":"/{TYPES_OID}/0/","e":[{{"n":"3","v":-1E+400}}]}}'.encode()
    with pytest.raises(DecodeError, match=r"-1E\+400 is not a finite"):
        oma_json.decode(payload, Path(TYPES_OID, 0), REG)


def test_finite_extremes_are_kept() -> None:
    payload = f'{{"bn":"/{TYPES_OID}/0/","e":[{{"n":"3","v":1.7976931348623157e308}}]}}'
    node = oma_json.decode(payload.encode(), Path(TYPES_OID, 0), REG)
    assert node == InstanceNode(0, {3: ResourceNode(3, 1.7976931348623157e308)})
    payload = '{"bn":"/3/0/","bt":1e-999,"e":[{"n":"9","v":5}]}'  # underflows to 0.0: finite
    assert oma_json.decode(payload.encode(), P("/3/0"), REG) == InstanceNode(
        0, {9: ResourceNode(9, 5)}
    )


def test_deep_nesting_is_a_decode_error() -> None:
    depth = 100_000
    for payload in (
        b"[" * depth + b"]" * depth,
        b'{"e":' * depth + b"1" + b"}" * depth,
        b'{"bn":"/3/0/","e":[{"n":"9","v":' + b"[" * depth + b"]" * depth + b"}]}",
    ):
        with pytest.raises(DecodeError, match="LwM2M JSON"):
            oma_json.decode(payload, P("/3/0"), REG)


def test_full_names_without_base_name() -> None:
    payload = b'{"e":[{"n":"/3/0/9","v":50.0}]}'
    assert oma_json.decode(payload, P("/3/0/9"), REG) == ResourceNode(9, 50)


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"bn": "/3/0/"},
        {"bn": 3, "e": []},
        {"bn": "/3/0/", "bt": "x", "e": []},
        {"bn": "/3/0/", "e": {}},
        {"bn": "/3/0/", "e": [{"n": "9", "sv": "1"}]},
        {"bn": "/3/0/", "e": [{"n": "9", "v": 1.5}]},
        {"bn": "/3/0/", "e": [{"n": "9", "v": 1, "sv": "1"}]},
        {"bn": "/3/0/", "e": [{"n": "0", "vs": "SenML label"}]},  # no OMA JSON value field
        {"bn": "/4/0/", "e": [{"n": "9", "v": 1}]},
        {"bn": f"/{TYPES_OID}/0/", "e": [{"n": "5", "sv": "!!"}]},
        {"bn": f"/{TYPES_OID}/0/", "e": [{"n": "7", "ov": "3"}]},
    ],
)
def test_bad_documents_raise_decode_error(doc: object) -> None:
    with pytest.raises(DecodeError):
        oma_json.decode(json.dumps(doc).encode(), P("/3/0"), REG)


def test_type_error_names_entry_and_field() -> None:
    doc = {"bn": "/3/0/", "e": [{"n": "0", "sv": "a"}, {"n": "9", "sv": "1"}]}
    with pytest.raises(DecodeError, match=r"record 1 \(/3/0/9\), field sv"):
        oma_json.decode(json.dumps(doc).encode(), P("/3/0"), REG)


def test_nan_cannot_be_encoded() -> None:
    with pytest.raises(EncodeError):
        oma_json.encode(ResourceNode(3, float("nan")), Path(TYPES_OID, 0, 3), REG)


@settings(max_examples=150, deadline=None)
@given(instances())
def test_round_trip_every_type(inst: InstanceNode) -> None:
    assert_round_trip(oma_json, inst)


def test_no_composite_form() -> None:
    with pytest.raises(UnsupportedFormat):
        oma_json.encode({P("/3/0/9"): 1}, P("/"), REG)
    with pytest.raises(UnsupportedFormat):
        oma_json.decode(b'{"e":[{"n":"/3/0/9","v":1}]}', P("/"), REG)

"""SenML CBOR (content format 112): TS 1.1.1 7.4.6 example, labels, typing, round trips."""

from __future__ import annotations

import math
import sys
from pathlib import Path as FsPath

import cbor2
import pytest
from hypothesis import given, settings

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared senml_testutil module
from senml_testutil import REG, TYPES_OID, assert_round_trip, instances

from lwm2m.errors import DecodeError, EncodeError
from lwm2m.formats import senml_cbor, senml_json
from lwm2m.model import InstanceNode, MultiResourceNode, ObjLink, Path, ResourceNode

P = Path.parse

# LwM2M Core TS 1.1.1 section 7.4.6: Read /3/0 of the example client in SenML CBOR.
DEVICE_SENML_CBOR = bytes.fromhex(
    "90a321652f332f302f00613003744f70656e204d6f62696c6520416c6c69616e6365a200613103764c6967"
    "6874776569676874204d324d20436c69656e74a20061320369333435303030313233a20061330363312e30"
    "a20063362f300201a20063362f310205a20063372f3002190ed8a20063372f3102191388a20063382f3002"
    "187da20063382f3102190384a2006139021864a200623130020fa2006431312f300200a200623133021a51"
    "82428fa20062313403662b30323a3030a200623136036155"
)
DEVICE_SENML_JSON = (
    b'[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},'
    b'{"n":"1","vs":"Lightweight M2M Client"},{"n":"2","vs":"345000123"},'
    b'{"n":"3","vs":"1.0"},{"n":"6/0","v":1},{"n":"6/1","v":5},{"n":"7/0","v":3800},'
    b'{"n":"7/1","v":5000},{"n":"8/0","v":125},{"n":"8/1","v":900},{"n":"9","v":100},'
    b'{"n":"10","v":15},{"n":"11/0","v":0},{"n":"13","v":1367491215},'
    b'{"n":"14","vs":"+02:00"},{"n":"16","vs":"U"}]'
)


def test_ts_1_1_1_7_4_6_device_instance_byte_exact_both_ways() -> None:
    node = senml_cbor.decode(DEVICE_SENML_CBOR, P("/3/0"), REG)
    assert node == senml_json.decode(DEVICE_SENML_JSON, P("/3/0"), REG)
    assert senml_cbor.encode(node, P("/3/0"), REG) == DEVICE_SENML_CBOR


def test_ts_1_1_1_7_4_6_multiple_resource_and_composite_read() -> None:
    node = MultiResourceNode(7, {0: 3800, 1: 5000})
    payload = senml_cbor.encode(node, P("/3/0/7"), REG)
    assert cbor2.loads(payload) == [{-2: "/3/0/7/", 0: "0", 2: 3800}, {0: "1", 2: 5000}]
    assert senml_cbor.decode(payload, P("/3/0/7"), REG) == node
    paths = [P("/3/0/0"), P("/3/0/9"), P("/1/0/1")]
    body = senml_cbor.encode_paths(paths)
    assert body == cbor2.dumps([{0: "/3/0/0"}, {0: "/3/0/9"}, {0: "/1/0/1"}])
    assert senml_cbor.decode_paths(body) == paths
    records = {P("/3/0/0"): "Open Mobile Alliance", P("/3/0/9"): 95, P("/1/0/1"): 86400}
    response = senml_cbor.encode(records, P("/"), REG)
    assert cbor2.loads(response) == [
        {0: "/3/0/0", 3: "Open Mobile Alliance"},
        {0: "/3/0/9", 2: 95},
        {0: "/1/0/1", 2: 86400},
    ]
    assert senml_cbor.decode(response, P("/"), REG) == records


def test_send_example_with_base_name_decodes() -> None:
    # [{-2: "/3/0/", 0: "9", 2: 15}, {0: "20", 2: 4}]: a Send of two Device resources.
    payload = bytes.fromhex("82a321652f332f302f006139020fa2006232300204")
    assert senml_cbor.decode(payload, P("/"), REG) == {P("/3/0/9"): 15, P("/3/0/20"): 4}


def test_labels_byte_strings_and_vlo() -> None:
    node = InstanceNode(
        0,
        {
            5: ResourceNode(5, b"\x00\xff"),
            7: ResourceNode(7, ObjLink(3, 0)),
            4: ResourceNode(4, True),
            3: ResourceNode(3, 1.5),
        },
    )
    payload = senml_cbor.encode(node, Path(TYPES_OID, 0), REG)
    assert cbor2.loads(payload) == [
        {-2: f"/{TYPES_OID}/0/", 0: "5", 8: b"\x00\xff"},
        {0: "7", "vlo": "3:0"},
        {0: "4", 4: True},
        {0: "3", 2: 1.5},
    ]
    assert senml_cbor.decode(payload, Path(TYPES_OID, 0), REG) == node


def test_decode_accepts_half_floats_indefinite_lengths_and_base_time() -> None:
    # [_ {-3: 10, 0: "/3/0/9", 2: 2.0 (half), 6: 1}]
    payload = (
        bytes.fromhex("9fa4220a0066")
        + b"/3/0/9"
        + bytes.fromhex("02f9400006 01ff".replace(" ", ""))
    )
    assert senml_cbor.decode(payload, P("/"), REG) == {P("/3/0/9"): 2}


@pytest.mark.parametrize(
    "item",
    [
        [{0: "/3/0/9", 2: 2.5}],  # not integral
        [{0: "/3/0/9", 3: "2"}],
        [{0: "/3/0/0", 8: b"x"}],  # bytes for a String resource
        [{0: f"/{TYPES_OID}/0/5", 8: "AA"}],  # vd must be a byte string
        [{0: "/3/0/9", 2: 1, 3: "1"}],
        [{0: "/3/0/9"}],
        [{0: "/3/0/9", 2: None}],
        [{0: "/3/0/9", 2: cbor2.CBORTag(4, [-1, 15])}],
        {0: "/3/0/9", 2: 1},
        [[0, "/3/0/9", 2, 1]],
        [{0: 5, 2: 1}],
    ],
)
def test_bad_items_raise_decode_error(item: object) -> None:
    with pytest.raises(DecodeError):
        senml_cbor.decode(cbor2.dumps(item), P("/"), REG)


@pytest.mark.parametrize("payload", [b"", b"\x81", b"\x81\xa1\x00", b"\x80\x00", b"\xff"])
def test_truncated_or_trailing_bytes_raise_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        senml_cbor.decode(payload, P("/"), REG)


def test_typing_error_names_record_and_field() -> None:
    payload = cbor2.dumps([{0: "/3/0/0", 3: "x"}, {0: "/3/0/9", 3: "1"}])
    with pytest.raises(DecodeError, match=r"record 1 \(/3/0/9\), field vs\(3\)"):
        senml_cbor.decode(payload, P("/"), REG)


def test_cbor_carries_non_finite_floats() -> None:
    node = ResourceNode(3, float("inf"))
    payload = senml_cbor.encode(node, Path(TYPES_OID, 0, 3), REG)
    assert senml_cbor.decode(payload, Path(TYPES_OID, 0, 3), REG) == node
    nan = senml_cbor.decode(
        senml_cbor.encode(ResourceNode(3, float("nan")), Path(TYPES_OID, 0, 3), REG),
        Path(TYPES_OID, 0, 3),
        REG,
    )
    assert isinstance(nan, ResourceNode) and nan.value != nan.value


@pytest.mark.parametrize("label", [senml_cbor.BT, senml_cbor.TIME])
@pytest.mark.parametrize("time", [math.inf, -math.inf, math.nan])
def test_time_fields_must_be_finite(label: int, time: float) -> None:
    payload = cbor2.dumps([{senml_cbor.NAME: "/3/0/9", senml_cbor.V: 1, label: time}])
    name = {senml_cbor.BT: "bt", senml_cbor.TIME: "t"}[label]
    with pytest.raises(DecodeError, match=rf"record 0: field {name}\({label}\) is not a finite"):
        senml_cbor.decode(payload, P("/"), REG)
    finite = cbor2.dumps([{senml_cbor.NAME: "/3/0/9", senml_cbor.V: 1, label: 1e300}])
    assert senml_cbor.decode(finite, P("/"), REG) == {P("/3/0/9"): 1}


@pytest.mark.parametrize("time", [math.inf, math.nan])
def test_a_time_resource_value_must_be_finite(time: float) -> None:
    payload = cbor2.dumps([{senml_cbor.BN: "/3/0/13", senml_cbor.V: time}])
    with pytest.raises(DecodeError, match=r"field v\(2\): .* is not an integer"):
        senml_cbor.decode(payload, P("/3/0/13"), REG)


def test_deep_nesting_and_bignums_are_decode_errors() -> None:
    with pytest.raises(DecodeError, match="SenML CBOR"):
        senml_cbor.decode(b"\x81" * 100_000 + b"\x00", P("/"), REG)
    with pytest.raises(DecodeError, match="SenML CBOR"):
        senml_cbor.decode(b"\xc6" * 100_000 + b"\x00", P("/"), REG)
    bignum = cbor2.dumps([{senml_cbor.NAME: "/3/0/9", senml_cbor.V: 7**20_000}])
    with pytest.raises(DecodeError, match=r"record 0 .*: a 56148-bit integer does not fit"):
        senml_cbor.decode(bignum, P("/"), REG)


def test_encode_rejects_type_mismatch() -> None:
    with pytest.raises(EncodeError):
        senml_cbor.encode(ResourceNode(9, "1"), P("/3/0/9"), REG)


@settings(max_examples=150, deadline=None)
@given(instances())
def test_round_trip_every_type(inst: InstanceNode) -> None:
    assert_round_trip(senml_cbor, inst)

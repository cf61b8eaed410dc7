"""LwM2M CBOR (content format 11544, TS 1.2 7.4.7): nested maps, array keys, typing, round trips."""

from __future__ import annotations

import sys
from pathlib import Path as FsPath

import cbor2
import pytest
from hypothesis import given, settings

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared senml_testutil module
from senml_testutil import REG, TYPES_OID, assert_round_trip, device_instance, instances

from lwm2m.errors import DecodeError, EncodeError
from lwm2m.formats import lwm2m_cbor
from lwm2m.model import InstanceNode, MultiResourceNode, ObjectNode, ObjLink, Path, ResourceNode

P = Path.parse

DEVICE_TREE = {
    0: "Open Mobile Alliance",
    1: "Lightweight M2M Client",
    2: "345000123",
    3: "1.0",
    6: {0: 1, 1: 5},
    7: {0: 3800, 1: 5000},
    8: {0: 125, 1: 900},
    9: 100,
    10: 15,
    11: {0: 0},
    13: 1367491215,
    14: "+02:00",
    16: "U",
}


def canonical(tree: dict[object, object]) -> bytes:
    """Our canonical bytes: the tree with single-child chains as array keys, in order."""
    return cbor2.dumps(tree)


def test_ts_1_2_7_4_7_device_instance_canonical_array_key() -> None:
    # {[3, 0]: {0: "Open Mobile Alliance", ..., 11: {0: 0} -> [11, 0]: 0, ...}}
    inner = dict(DEVICE_TREE)
    del inner[11]
    inner = {**{k: v for k, v in inner.items() if k < 11}, (11, 0): 0, 13: 1367491215}
    inner |= {14: "+02:00", 16: "U"}
    payload = lwm2m_cbor.encode(device_instance(), P("/3/0"), REG)
    assert payload == canonical({(3, 0): inner})
    assert payload[:3] == bytes.fromhex("a18203")  # map(1), key array(2) [3, ...
    assert lwm2m_cbor.decode(payload, P("/3/0"), REG) == device_instance()


@pytest.mark.parametrize(
    "tree",
    [
        {3: {0: DEVICE_TREE}},  # fully nested from the Object
        {(3, 0): DEVICE_TREE},
        {3: {(0, 0): "Open Mobile Alliance"} | {0: {k: v for k, v in DEVICE_TREE.items() if k}}},
    ],
)
def test_ts_1_2_7_4_7_decode_accepts_any_key_grouping(tree: dict[object, object]) -> None:
    assert lwm2m_cbor.decode(cbor2.dumps(tree), P("/3/0"), REG) == device_instance()


def test_ts_1_2_7_4_7_single_resource_multiple_resource_and_instance() -> None:
    assert lwm2m_cbor.encode(ResourceNode(0, "OMA"), P("/3/0/0"), REG) == canonical(
        {(3, 0, 0): "OMA"}
    )
    node = MultiResourceNode(7, {0: 3800, 1: 5000})
    payload = lwm2m_cbor.encode(node, P("/3/0/7"), REG)
    assert payload == canonical({(3, 0, 7): {0: 3800, 1: 5000}})
    assert lwm2m_cbor.decode(payload, P("/3/0/7"), REG) == node
    one = lwm2m_cbor.encode(ResourceNode(1, 5000), P("/3/0/7/1"), REG)
    assert one == canonical({(3, 0, 7, 1): 5000})
    assert lwm2m_cbor.decode(one, P("/3/0/7/1"), REG) == ResourceNode(1, 5000)


def test_ts_1_2_7_4_7_composite_read_response() -> None:
    records = {P("/3/0/0"): "Open Mobile Alliance", P("/3/0/9"): 95, P("/1/0/1"): 86400}
    payload = lwm2m_cbor.encode(records, P("/"), REG)
    assert payload == canonical({(3, 0): {0: "Open Mobile Alliance", 9: 95}, (1, 0, 1): 86400})
    assert lwm2m_cbor.decode(payload, P("/"), REG) == records


def test_object_with_two_instances() -> None:
    node = ObjectNode(
        3,
        {0: InstanceNode(0, {9: ResourceNode(9, 1)}), 1: InstanceNode(1, {9: ResourceNode(9, 2)})},
    )
    payload = lwm2m_cbor.encode(node, P("/3"), REG)
    assert payload == canonical({3: {(0, 9): 1, (1, 9): 2}})
    assert lwm2m_cbor.decode(payload, P("/3"), REG) == node


def test_values_typed_by_major_type_and_definition() -> None:
    oid = TYPES_OID
    tree = {
        (oid, 0): {
            0: "",
            1: -(2**63),
            2: 2**64 - 1,
            3: 2,  # integer for a Float resource -> float
            4: True,
            5: b"",
            6: cbor2.CBORTag(1, 1367491215),  # Time as tag 1
            7: "65535:65535",
        }
    }
    node = lwm2m_cbor.decode(cbor2.dumps(tree), Path(oid, 0), REG)
    assert isinstance(node, InstanceNode)
    values = {rid: r.value for rid, r in node.resources.items() if isinstance(r, ResourceNode)}
    assert values == {
        0: "",
        1: -(2**63),
        2: 2**64 - 1,
        3: 2.0,
        4: True,
        5: b"",
        6: 1367491215,
        7: ObjLink(65535, 65535),
    }
    assert type(values[3]) is float
    unknown = lwm2m_cbor.decode(cbor2.dumps({(4242, 0, 1): "3:0"}), P("/"), REG)
    assert unknown == {P("/4242/0/1"): "3:0"}  # no definition: text stays text


@pytest.mark.parametrize(
    "tree",
    [
        [1],
        {(3, 0, 9): "1"},  # text for an Integer
        {(3, 0, 9): 1.5},
        {(3, 0, 9): None},
        {(3, 0, 9): cbor2.CBORTag(1, 5)},  # tag 1 for an Integer resource
        {(3, 0, 9): [1]},
        {(3, 0): 1},  # value at an instance
        {(3, 0, 7): 1},  # multiple resource without instance ids
        {(3, 0, 9, 0): 1},  # single resource with an instance id
        {(3, 0, 9, 0, 1): 1},
        {(3, 0, 65535): 1},
        {-1: {0: {9: 1}}},
        {"3": {0: {9: 1}}},
        {(): 1},
        {(3, "0"): {9: 1}},
        {(3, 0, 9): 1, 3: {0: {9: 2}}},  # the same leaf twice
        {(3, 1, 9): 1},  # outside the request path /3/0
        {(3, 0, 13): cbor2.CBORTag(1, 1e300)},
    ],
)
def test_bad_trees_raise_decode_error(tree: object) -> None:
    with pytest.raises(DecodeError):
        lwm2m_cbor.decode(cbor2.dumps(tree), P("/3/0"), REG)


@pytest.mark.parametrize("payload", [b"", b"\xa1", b"\xa0\x00", b"\xbf\x03", b"\x1f"])
def test_bad_bytes_raise_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        lwm2m_cbor.decode(payload, P("/3/0"), REG)


@pytest.mark.parametrize("value", [float("inf"), float("nan"), cbor2.CBORTag(1, float("inf"))])
def test_a_time_must_be_finite(value: object) -> None:
    with pytest.raises(DecodeError, match="LwM2M CBOR"):
        lwm2m_cbor.decode(cbor2.dumps({(3, 0, 13): value}), P("/3/0/13"), REG)


def test_ieee_float_values_are_kept() -> None:
    path = Path(TYPES_OID, 0, 3)
    for value in (float("inf"), float("-inf")):
        payload = cbor2.dumps({(TYPES_OID, 0, 3): value})
        assert lwm2m_cbor.decode(payload, path, REG) == ResourceNode(3, value)


@pytest.mark.parametrize("head", [b"\xa1\x00", b"\x81", b"\xa1\x81\x00"])
def test_deep_nesting_is_a_decode_error(head: bytes) -> None:
    with pytest.raises(DecodeError, match="LwM2M CBOR"):
        lwm2m_cbor.decode(head * 100_000 + b"\x00", P("/3/0"), REG)


@pytest.mark.parametrize(
    "tree",
    [
        {(3, 0, 9): 1, 3: {0: {9: 2}}},
        {3: {0: {9: 2}}, (3, 0, 9): 1},
        {(3,): {0: {9: 1}}, 3: {0: {9: 2}}},  # a one-id array key is the plain id
        {(3, 0): {9: 1}, (3,): {0: {9: 2}}},
        {(3, 0): {9: 1, 1: 5}, (3, 0, 9): 2},
        {(3, 0): {(9,): 1, 9: 2}},  # one level down
        {3: {(0, 9): 1, 0: {(9,): 2}}},
    ],
)
def test_one_leaf_reached_by_two_key_groupings_is_a_decode_error(tree: object) -> None:
    with pytest.raises(DecodeError, match="/3/0/9 occurs twice"):
        lwm2m_cbor.decode(cbor2.dumps(tree), P("/3/0"), REG)


@pytest.mark.parametrize(
    ("tree", "paths"),
    [
        ({(3, 0): {9: 1}, (3, 1): {9: 2}}, ["/3/0/9", "/3/1/9"]),  # share a first id only
        ({3: {0: {9: 1}}, (4, 0, 9): 2}, ["/3/0/9", "/4/0/9"]),
        ({(3, 0, 9): 1, (3, 0, 10): 2, (3, 1): {9: 3}}, ["/3/0/9", "/3/0/10", "/3/1/9"]),
    ],
)
def test_array_keys_that_part_are_no_duplicates(
    tree: dict[object, object], paths: list[str]
) -> None:
    records = lwm2m_cbor.decode(cbor2.dumps(tree), P("/"), REG)
    assert isinstance(records, dict) and sorted(records) == sorted(map(P, paths))


def test_a_long_array_key_is_a_decode_error() -> None:
    payload = cbor2.dumps({tuple([3] * 100_000): 1})
    with pytest.raises(DecodeError, match="deeper than 4 levels"):
        lwm2m_cbor.decode(payload, P("/3"), REG)


def test_empty_instance_is_the_empty_map() -> None:
    assert lwm2m_cbor.encode(InstanceNode(0), P("/3/0"), REG) == b"\xa0"
    assert lwm2m_cbor.decode(b"\xa0", P("/3/0"), REG) == InstanceNode(0)
    assert lwm2m_cbor.decode(cbor2.dumps({3: {0: {}}}), P("/3/0"), REG) == InstanceNode(0)


def test_encode_rejects_type_mismatch() -> None:
    with pytest.raises(EncodeError):
        lwm2m_cbor.encode(ResourceNode(0, 5), P("/3/0/0"), REG)


@settings(max_examples=150, deadline=None)
@given(instances())
def test_round_trip_every_type(inst: InstanceNode) -> None:
    assert_round_trip(lwm2m_cbor, inst)

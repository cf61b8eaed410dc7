"""to_records / from_records: tree <-> flat records, round trips and errors."""

from __future__ import annotations

import pytest

from lwm2m.errors import ModelError
from lwm2m.model import (
    ROOT,
    InstanceNode,
    MultiResourceNode,
    ObjectNode,
    ObjLink,
    Path,
    Records,
    ResourceNode,
    from_records,
    to_records,
)


def _device_instance() -> InstanceNode:
    return InstanceNode(
        0,
        {
            0: ResourceNode(0, "ACME"),
            9: ResourceNode(9, 87),
            11: MultiResourceNode(11, {0: 0, 3: 5}),
            22: MultiResourceNode(22, {}),
        },
    )


def test_instance_to_records() -> None:
    records = to_records(_device_instance(), Path(3, 0))
    assert records == {
        Path(3, 0, 0): "ACME",
        Path(3, 0, 9): 87,
        Path(3, 0, 11, 0): 0,
        Path(3, 0, 11, 3): 5,
    }


def test_instance_to_records_from_object_path() -> None:
    records = to_records(InstanceNode(2, {1: ResourceNode(1, True)}), Path(3303))
    assert records == {Path(3303, 2, 1): True}


def test_object_to_records() -> None:
    node = ObjectNode(
        3303,
        {
            0: InstanceNode(0, {5700: ResourceNode(5700, 21.5)}),
            1: InstanceNode(1, {5700: ResourceNode(5700, -3.0)}),
            2: InstanceNode(2),
        },
    )
    assert to_records(node, Path(3303)) == {
        Path(3303, 0, 5700): 21.5,
        Path(3303, 1, 5700): -3.0,
    }


def test_resource_and_resource_instance_to_records() -> None:
    assert to_records(ResourceNode(1, 300), Path(1, 0, 1)) == {Path(1, 0, 1): 300}
    multi = MultiResourceNode(6, {0: 1, 1: 5})
    assert to_records(multi, Path(3, 0, 6)) == {Path(3, 0, 6, 0): 1, Path(3, 0, 6, 1): 5}
    assert to_records(ResourceNode(1, 5), Path(3, 0, 6, 1)) == {Path(3, 0, 6, 1): 5}
    assert to_records(MultiResourceNode(6), Path(3, 0, 6)) == {}


def test_records_pass_through_as_copy() -> None:
    records: Records = {Path(3, 0, 0): "x", Path(1, 0, 1): 60}
    out = to_records(records, ROOT)
    assert out == records and out is not records


def test_multi_resource_at_instance_path_is_rejected() -> None:
    with pytest.raises(ModelError, match="resource instance path takes a ResourceNode"):
        to_records(MultiResourceNode(6, {0: 1}), Path(3, 0, 6, 0))


def test_round_trip_instance() -> None:
    path = Path(3, 0)
    node = _device_instance()
    records = to_records(node, path)
    rebuilt = from_records(records, path)
    # The empty multiple resource has no record, so it cannot come back.
    expected = _device_instance()
    del expected.resources[22]
    assert rebuilt == expected


def test_round_trip_object_sorted_instances() -> None:
    records: Records = {
        Path(1, 5, 1): 60,
        Path(1, 0, 1): 300,
        Path(1, 0, 10): ObjLink(11, 0),
    }
    node = from_records(records, Path(1))
    assert isinstance(node, ObjectNode)
    assert list(node.instances) == [0, 5]
    assert to_records(node, Path(1)) == records


def test_round_trip_resource_levels() -> None:
    assert from_records({Path(1, 0, 1): 300}, Path(1, 0, 1)) == ResourceNode(1, 300)
    multi: Records = {Path(3, 0, 11, 0): 0, Path(3, 0, 11, 1): 4}
    assert from_records(multi, Path(3, 0, 11)) == MultiResourceNode(11, {0: 0, 1: 4})
    one: Records = {Path(3, 0, 11, 1): 4}
    assert from_records(one, Path(3, 0, 11, 1)) == ResourceNode(1, 4)


def test_from_records_root_returns_copy() -> None:
    records: Records = {Path(3, 0, 0): "x"}
    out = from_records(records, ROOT)
    assert out == records and out is not records


def test_from_records_empty() -> None:
    assert from_records({}, Path(3, 0, 1)) == ResourceNode(1, None)
    assert from_records({}, Path(3, 0, 11), {Path(3, 0, 11): True}) == MultiResourceNode(11)
    assert from_records({}, Path(3, 0)) == InstanceNode(0)
    assert from_records({}, Path(3)) == ObjectNode(3)


def test_is_multiple_hint_overrides_guess() -> None:
    # A multiple resource needs instance ids even when the hint is given.
    hint = {Path(3, 0, 11): True}
    with pytest.raises(ModelError, match="needs resource instance ids"):
        from_records({Path(3, 0, 11): 0}, Path(3, 0), hint)
    # A single resource must not carry a resource instance id.
    with pytest.raises(ModelError, match="is single-instance"):
        from_records({Path(3, 0, 9, 0): 50}, Path(3, 0), {Path(3, 0, 9): False})


@pytest.mark.parametrize(
    ("records", "path", "fragment"),
    [
        ({Path(4, 0, 0): 1}, Path(3, 0), "outside the request path"),
        ({Path(3, 1, 0): "x"}, Path(3, 0), "outside the request path"),
        ({Path(3, 0): "x"}, Path(3), "not a resource or resource instance path"),
        ({Path(3, 0, 6, 0): 1, Path(3, 0, 6, 1): 2}, Path(3, 0, 6, 0), "outside the request path"),
        ({}, Path(3, 0, 6, 0), "exactly one value"),
        ({Path(3, 0, 6): 2, Path(3, 0, 6, 0): 1}, Path(3, 0), "mixes single and multiple"),
    ],
)
def test_from_records_errors(records: Records, path: Path, fragment: str) -> None:
    with pytest.raises(ModelError, match=fragment):
        from_records(records, path)

"""The store's compact layout: id maps in id order, shared ids and multiple resources."""

from __future__ import annotations

import copy

import pytest

from lwm2m.client.store import ObjectStore, _IdMap, _shared_multi
from lwm2m.model import MultiResourceNode, Path


def test_id_map_keeps_ascending_order_and_behaves_like_a_dict() -> None:
    m: _IdMap[str] = _IdMap()
    for key in (7, 2, 9, 0):
        m[key] = f"v{key}"
    assert list(m) == [0, 2, 7, 9]
    assert list(m.items()) == [(0, "v0"), (2, "v2"), (7, "v7"), (9, "v9")]
    assert (len(m), 2 in m, 3 in m, "2" in m) == (4, True, False, False)
    m[2] = "two"
    assert (m[2], m.get(3), m.get(3, "-"), m.setdefault(2, "x"), m.setdefault(4, "four")) == (
        "two",
        None,
        "-",
        "two",
        "four",
    )
    assert m.pop(7) == "v7" and m.pop(7) is None
    del m[0]
    with pytest.raises(KeyError):
        del m[0]
    with pytest.raises(KeyError):
        m[0]
    assert m == {2: "two", 4: "four", 9: "v9"} and repr(m) == "{2: 'two', 4: 'four', 9: 'v9'}"
    assert copy.deepcopy(m) == m


def test_maps_with_the_same_ids_share_them() -> None:
    a: _IdMap[int] = _IdMap()
    b: _IdMap[int] = _IdMap()
    for key in (5, 1, 3):
        a[key] = key
    for key in (1, 3, 5):
        b[key] = -key
    assert a._ids is b._ids


def test_equal_multiple_resources_are_shared_and_copied_on_write() -> None:
    one, two = ObjectStore(), ObjectStore()
    for s in (one, two):
        s.set("3/0/11", [0])
        s.set("3/0/6", [1, 5])
    shared = one._locate(Path(3, 0, 6))
    assert shared is two._locate(Path(3, 0, 6))
    one.set("3/0/6/1", 6)
    one.delete_resource("3/0/11/0")
    assert (one.get("3/0/6"), one.get("3/0/11")) == ({0: 1, 1: 6}, {})
    assert (two.get("3/0/6"), two.get("3/0/11")) == ({0: 1, 1: 5}, {0: 0})
    assert shared == {0: 1, 1: 5}


async def test_a_server_write_leaves_shared_values_of_other_stores() -> None:
    one, two = ObjectStore(), ObjectStore()
    for s in (one, two):
        s.set("3/0/6", [1])
    node = MultiResourceNode(6, {2: 4})
    await one.write(Path(3, 0, 6), node, replace=False, check_access=False)
    assert (one.get("3/0/6"), two.get("3/0/6")) == ({0: 1, 2: 4}, {0: 1})


def test_only_values_of_the_same_type_are_shared() -> None:
    # Resource instance id 4321: not used by the other tests, so not shared yet.
    ints, flags, floats = {4321: 1}, {4321: True}, {4321: 1.0}
    assert _shared_multi(ints) is ints
    assert _shared_multi(flags) is flags  # 1 == True, but not the same value
    assert _shared_multi(floats) is floats  # floats are not shared at all
    assert _shared_multi({4321: 1}) is ints
    assert _shared_multi({4321: 1.0}) is not floats

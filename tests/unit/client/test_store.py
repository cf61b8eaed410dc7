"""Object store: application API, server operations, atomicity, callbacks."""

from __future__ import annotations

import copy

import pytest

from lwm2m.client.store import ObjectStore
from lwm2m.errors import BadRequest, MethodNotAllowed, ModelError, NotFound
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    ObjectNode,
    ObjLink,
    Path,
    ResourceNode,
)


def device_store() -> ObjectStore:
    s = ObjectStore()
    s.create_instance(3, 0)
    s.set("3/0/0", "ACME")
    s.set("3/0/1", "M1")
    s.set("3/0/11", [0])
    s.set("3/0/13", 1_700_000_000)
    s.set("3/0/14", "+01:00")
    s.set("3/0/16", "U")
    s.create_instance(1, 0)
    s.set("1/0/0", 101)
    s.set("1/0/1", 300)
    s.set("1/0/6", False)
    s.set("1/0/7", "U")
    return s


def snapshot(s: ObjectStore) -> object:
    return copy.deepcopy(s._data)


def test_set_get_typed_and_range_checked() -> None:
    s = device_store()
    assert s.get("3/0/0") == "ACME"
    assert s.get("/3/0/11") == {0: 0}
    assert s.get("3/0/11/0") == 0
    with pytest.raises(ModelError, match="3/0/13"):
        s.set("3/0/13", "yesterday")
    with pytest.raises(ModelError):
        s.set("3/0/0", 5)
    with pytest.raises(ModelError, match="bool"):
        s.set("1/0/1", True)
    with pytest.raises(ModelError):
        s.set("3/0/9999", 1)
    with pytest.raises(ModelError):
        s.set("3/0", 1)
    with pytest.raises(ModelError, match="single-instance"):
        s.set("3/0/0/1", "x")


def test_callable_value_is_read_lazily() -> None:
    s = device_store()
    level = iter([90, 80])
    s.set("3/0/9", lambda: next(level))
    assert s.get("3/0/9") == 90
    node = s.read(Path(3, 0, 9))
    assert node == ResourceNode(9, 80)


def test_listener_sees_application_changes() -> None:
    s = device_store()
    seen: list[list[Path]] = []
    s.add_listener(seen.append)
    s.set("3/0/14", "+02:00")
    s.set("3/0/14", "+02:00")  # unchanged: no notification
    assert seen == [[Path(3, 0, 14)]]


def test_read_levels_and_readability() -> None:
    s = device_store()
    inst = s.read(Path(3, 0))
    assert isinstance(inst, InstanceNode)
    assert inst.resources[0] == ResourceNode(0, "ACME")
    assert inst.resources[11] == MultiResourceNode(11, {0: 0})
    obj = s.read(Path(3))
    assert isinstance(obj, ObjectNode) and list(obj.instances) == [0]
    assert s.read(Path(3, 0, 11, 0)) == ResourceNode(0, 0)
    with pytest.raises(NotFound):
        s.read(Path(3, 1))
    with pytest.raises(NotFound):
        s.read(Path(3, 0, 2))
    with pytest.raises(NotFound):
        s.read(Path(4))
    s.create_instance(5, 0)
    s.set("5/0/0", b"image")
    s.set("5/0/3", 0)
    with pytest.raises(MethodNotAllowed):  # Package is write-only
        s.read(Path(5, 0, 0))
    inst5 = s.read(Path(5, 0))
    assert isinstance(inst5, InstanceNode) and list(inst5.resources) == [3]


async def test_write_replace_and_partial_update() -> None:
    s = device_store()
    changed = await s.write(Path(1, 0, 1), ResourceNode(1, 600), replace=True)
    assert changed == [Path(1, 0, 1)] and s.get("1/0/1") == 600
    await s.write(
        Path(1, 0), InstanceNode(0, {1: ResourceNode(1, 60), 2: ResourceNode(2, 5)}), replace=False
    )
    assert s.get("1/0/1") == 60 and s.get("1/0/2") == 5
    # Replace removes writable optional resources that are absent (2 Default Minimum Period).
    await s.write(Path(1, 0), InstanceNode(0, {1: ResourceNode(1, 61)}), replace=True)
    assert s.get("1/0/1") == 61
    with pytest.raises(NotFound):
        s.get("1/0/2")
    assert s.get("1/0/0") == 101  # read-only, untouched


async def test_write_refuses_read_only_and_changes_nothing() -> None:
    s = device_store()
    before = snapshot(s)
    with pytest.raises(MethodNotAllowed):
        await s.write(Path(3, 0, 0), ResourceNode(0, "X"), replace=True)
    # one bad resource among good ones: nothing changes
    node = InstanceNode(0, {1: ResourceNode(1, 10), 0: ResourceNode(0, 7)})
    with pytest.raises(MethodNotAllowed):
        await s.write(Path(1, 0), node, replace=False)
    bad_type = InstanceNode(0, {1: ResourceNode(1, 10), 7: ResourceNode(7, 5)})
    with pytest.raises(BadRequest):
        await s.write(Path(1, 0), bad_type, replace=False)
    assert snapshot(s) == before


async def test_validate_callback_rejects_atomically() -> None:
    s = device_store()
    s.callbacks.validate[Path(1, 0, 1)] = lambda p, v: v >= 30  # type: ignore[operator]
    before = snapshot(s)
    node = InstanceNode(0, {7: ResourceNode(7, "UQ"), 1: ResourceNode(1, 5)})
    with pytest.raises(BadRequest, match="rejected"):
        await s.write(Path(1, 0), node, replace=False)
    assert snapshot(s) == before


async def test_post_write_callback_sync_and_async() -> None:
    s = device_store()
    seen: list[tuple[Path, object]] = []

    async def on_lifetime(p: Path, v: object) -> None:
        seen.append((p, v))

    s.callbacks.post_write[Path(1, 0, 1)] = on_lifetime
    s.callbacks.post_write[Path(1, 0, 7)] = lambda p, v: seen.append((p, v))  # type: ignore[func-returns-value]
    await s.write(
        Path(1, 0),
        InstanceNode(0, {1: ResourceNode(1, 90), 7: ResourceNode(7, "UQ")}),
        replace=False,
    )
    assert seen == [(Path(1, 0, 1), 90), (Path(1, 0, 7), "UQ")]


async def test_multiple_resource_partial_update_merges() -> None:
    s = ObjectStore()
    s.create_instance(2, 0)
    s.set("2/0/0", 3)
    s.set("2/0/1", 0)
    s.set("2/0/2", {101: 15})
    s.set("2/0/3", 101)
    await s.write(Path(2, 0, 2), MultiResourceNode(2, {102: 1}), replace=False)
    assert s.get("2/0/2") == {101: 15, 102: 1}
    await s.write(Path(2, 0, 2), MultiResourceNode(2, {103: 2}), replace=True)
    assert s.get("2/0/2") == {103: 2}
    await s.write(Path(2, 0, 2, 104), ResourceNode(104, 7), replace=True)
    assert s.get("2/0/2") == {103: 2, 104: 7}
    with pytest.raises(BadRequest):
        await s.write(Path(2, 0, 2), ResourceNode(2, 3), replace=True)
    assert s.get("2/0/2") == {103: 2, 104: 7}  # the refused write left the values alone


async def test_create_and_delete() -> None:
    s = device_store()
    created: list[Path] = []
    s.callbacks.create[1] = created.append  # type: ignore[assignment]
    node = InstanceNode(
        1,
        {
            0: ResourceNode(0, 102),
            1: ResourceNode(1, 60),
            6: ResourceNode(6, True),
            7: ResourceNode(7, "U"),
        },
    )
    iid = await s.create(1, node)
    assert iid == 1 and created == [Path(1, 1)] and s.get("1/1/0") == 102
    with pytest.raises(BadRequest, match="already exists"):
        await s.create(1, node)
    with pytest.raises(BadRequest, match="mandatory"):
        await s.create(1, InstanceNode(-1, {0: ResourceNode(0, 103)}))
    with pytest.raises(MethodNotAllowed, match="single-instance"):
        await s.create(3, None)
    await s.delete(Path(1, 1))
    assert not s.has_instance(1, 1)
    with pytest.raises(NotFound):
        await s.delete(Path(1, 1))
    with pytest.raises(MethodNotAllowed):
        await s.delete(Path(1, 0, 1))


async def test_execute_calls_callback_and_checks_operations() -> None:
    s = device_store()
    calls: list[tuple[Path, str]] = []
    s.callbacks.execute[Path(3, 0, 4)] = lambda p, a: calls.append((p, a))
    await s.execute(Path(3, 0, 4), "0='x'")
    assert calls == [(Path(3, 0, 4), "0='x'")]
    with pytest.raises(MethodNotAllowed):
        await s.execute(Path(3, 0, 0))
    with pytest.raises(MethodNotAllowed):
        await s.execute(Path(3, 0))
    with pytest.raises(NotFound):
        await s.execute(Path(3, 1, 4))


def test_object_links_and_records() -> None:
    s = device_store()
    s.add_object(5)
    assert s.object_links() == [Path(1, 0), Path(3, 0), Path(5)]
    records = s.read_records([Path(3, 0, 0), Path(3, 0, 11), Path(9, 0)])
    assert records == {Path(3, 0, 0): "ACME", Path(3, 0, 11, 0): 0}


def test_objlink_values() -> None:
    s = ObjectStore()
    s.create_instance(2, 0)
    s.set("2/0/0", 3)
    with pytest.raises(ModelError):
        ObjLink(70000, 0)


async def test_partial_update_of_instance_merges_resource_instances() -> None:
    s = ObjectStore()
    s.create_instance(2, 0)
    s.set("2/0/0", 3)
    s.set("2/0/1", 0)
    s.set("2/0/3", 101)
    s.set("2/0/2", {101: 1, 102: 3})
    node = InstanceNode(0, {2: MultiResourceNode(2, {103: 7})})
    await s.write(Path(2, 0), node, replace=False)
    assert s.get("2/0/2") == {101: 1, 102: 3, 103: 7}
    await s.write(Path(2, 0), node, replace=True)
    assert s.get("2/0/2") == {103: 7}

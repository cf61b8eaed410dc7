"""Instance reads: id order kept on insert, snapshots dropped on every change."""

from __future__ import annotations

import itertools

from lwm2m.client.store import ObjectStore
from lwm2m.model import InstanceNode, MultiResourceNode, Path, ResourceNode
from lwm2m.model.definitions import Operations, ResourceDef
from lwm2m.model.types import ResourceType


def read_instance(store: ObjectStore, oid: int = 3, iid: int = 0) -> InstanceNode:
    node = store.read(Path(oid, iid))
    assert isinstance(node, InstanceNode)
    return node


def test_resources_come_in_id_order_whatever_the_set_order() -> None:
    s = ObjectStore()
    for rid, value in ((16, "U"), (0, "ACME"), (14, "+01:00"), (1, "M1")):
        s.set(f"3/0/{rid}", value)
    s.set("3/0/11/3", 7)
    s.set("3/0/11/1", 5)
    node = read_instance(s)
    assert list(node.resources) == [0, 1, 11, 14, 16]
    errors = node.resources[11]
    assert isinstance(errors, MultiResourceNode)
    assert list(errors.values) == [1, 3]


def test_read_sees_every_kind_of_change() -> None:
    s = ObjectStore()
    s.set("3/0/0", "ACME")
    s.set("3/0/1", "M1")
    assert read_instance(s).resources[0] == ResourceNode(0, "ACME")
    s.set("3/0/0", "Other")  # application set
    assert read_instance(s).resources[0] == ResourceNode(0, "Other")
    s.delete_resource("3/0/1")
    assert 1 not in read_instance(s).resources
    s.delete_instance(3, 0)
    s.create_instance(3, 0)
    assert read_instance(s).resources == {}


async def test_read_sees_server_writes_and_recreated_instances() -> None:
    s = ObjectStore()
    s.create_instance(1, 0)
    s.set("1/0/0", 101)
    s.set("1/0/1", 300)
    s.set("1/0/7", "U")
    assert read_instance(s, 1).resources[1] == ResourceNode(1, 300)
    await s.write(Path(1, 0, 1), ResourceNode(1, 60), replace=True)
    assert read_instance(s, 1).resources[1] == ResourceNode(1, 60)
    await s.delete(Path(1, 0))
    values = {0: 7, 1: 9, 6: False, 7: "U"}
    await s.create(1, InstanceNode(0, {rid: ResourceNode(rid, v) for rid, v in values.items()}))
    assert read_instance(s, 1).resources[0] == ResourceNode(0, 7)


def test_equal_values_of_another_type_are_not_hidden_by_the_snapshot() -> None:
    s = ObjectStore()
    s.set("3/0/9", 1)
    assert read_instance(s).resources[9].value == 1  # type: ignore[union-attr]
    s.set("3/0/9", lambda: 2)
    assert read_instance(s).resources[9] == ResourceNode(9, 2)


def test_callables_are_read_on_every_read_in_place() -> None:
    s = ObjectStore()
    ticks = itertools.count(100)
    s.set("3/0/0", "ACME")
    s.set("3/0/13", lambda: next(ticks))
    s.set("3/0/16", "U")
    first, second = read_instance(s), read_instance(s)
    assert first.resources[13] == ResourceNode(13, 100)
    assert second.resources[13] == ResourceNode(13, 101)
    assert list(second.resources) == [0, 13, 16]
    s.set("3/0/11", {0: lambda: next(ticks)})
    errors = read_instance(s).resources[11]
    assert errors == MultiResourceNode(11, {0: 102})


def test_reads_do_not_share_the_resources_map() -> None:
    s = ObjectStore()
    s.set("3/0/0", "ACME")
    read_instance(s).resources.clear()
    assert read_instance(s).resources == {0: ResourceNode(0, "ACME")}


def test_resource_def_operation_flags_follow_operations() -> None:
    flags = {
        ops: ResourceDef(1, "x", ResourceType.STRING, operations=ops)
        for ops in (Operations.NONE, Operations.R, Operations.W, Operations.RW, Operations.E)
    }
    assert [(d.readable, d.writable, d.executable) for d in flags.values()] == [
        (False, False, False),
        (True, False, False),
        (False, True, False),
        (True, True, False),
        (False, False, True),
    ]
    assert flags[Operations.R] == ResourceDef(1, "x", ResourceType.STRING)

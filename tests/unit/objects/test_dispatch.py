"""Class-level resource handlers: one store entry per instance, Path-keyed callbacks first."""

from __future__ import annotations

from typing import Any

import pytest

from lwm2m.client.store import ObjectStore
from lwm2m.errors import BadRequest
from lwm2m.model import Path
from lwm2m.objects import Device, ManualClock
from lwm2m.objects._base import LOOP_SCHEDULER, ObjectInstance
from lwm2m.objects.ipso import Temperature, Timer

from .conftest import server_execute, server_write


class Probe(ObjectInstance):
    """/3/0 with a sync execute, an async post-write and a validator that raises."""

    object_id = 3
    execute_handlers = {4: "_reboot"}
    validate_handlers = {14: "_check_offset"}
    post_write_handlers = {15: "_timezone_written"}

    def __init__(self, store: ObjectStore) -> None:
        super().__init__(store, 0)
        self.seen: list[tuple[str, Any]] = []
        self._add_executables()

    def _reboot(self, args: str) -> None:
        self.seen.append(("reboot", args))

    def _check_offset(self, value: object) -> bool:
        if value == "+99:00":
            raise BadRequest("no such offset")
        return value != "+98:00"

    async def _timezone_written(self, value: object) -> None:
        self.seen.append(("timezone", self._get(15)))


class LoudProbe(Probe):
    """Inherits the tables; overriding a handler method takes effect."""

    execute_handlers = {5: "_reboot"}

    def _reboot(self, args: str) -> None:
        self.seen.append(("loud reboot", args))


async def test_handlers_get_args_and_values(store: ObjectStore) -> None:
    probe = Probe(store)
    assert store.callbacks.instances == {(3, 0): probe}
    assert not (store.callbacks.execute or store.callbacks.validate or store.callbacks.post_write)
    assert 4 in store.present_resource_ids(3, 0)
    await server_execute(store, "3/0/4", "0='now'")
    await server_write(store, "3/0/15", "Europe/Paris")
    assert probe.seen == [("reboot", "0='now'"), ("timezone", "Europe/Paris")]


async def test_validate_false_or_raising_rejects(store: ObjectStore) -> None:
    Probe(store)
    store.set("3/0/14", "+01:00")
    for bad in ("+98:00", "+99:00"):
        with pytest.raises(BadRequest):
            await server_write(store, "3/0/14", bad)
    assert store.get("3/0/14") == "+01:00"
    await server_write(store, "3/0/14", "+02:00")
    assert store.get("3/0/14") == "+02:00"


async def test_path_keyed_callbacks_take_precedence(store: ObjectStore) -> None:
    probe = Probe(store)
    calls: list[str] = []
    store.callbacks.execute[Path(3, 0, 4)] = lambda path, args: calls.append(f"{path} {args}")
    store.callbacks.validate[Path(3, 0, 14)] = lambda path, value: True
    store.callbacks.post_write[Path(3, 0, 15)] = lambda path, value: calls.append(value)
    await server_execute(store, "3/0/4", "x")
    await server_write(store, "3/0/14", "+98:00")  # the object would refuse it
    await server_write(store, "3/0/15", "UTC")
    assert calls == ["/3/0/4 x", "UTC"]
    assert probe.seen == []
    # The object's handler stays reachable, e.g. to wrap it.
    own = store.callbacks.find("execute", Path(3, 0, 5))
    assert own is None
    del store.callbacks.execute[Path(3, 0, 4)]
    await server_execute(store, "3/0/4", "y")
    assert probe.seen == [("reboot", "y")]


async def test_subclass_tables_merge_and_overrides_apply(store: ObjectStore) -> None:
    probe = LoudProbe(store)
    await server_execute(store, "3/0/4", "a")
    await server_execute(store, "3/0/5", "b")
    with pytest.raises(BadRequest):
        await server_write(store, "3/0/14", "+98:00")
    assert probe.seen == [("loud reboot", "a"), ("loud reboot", "b")]


def test_a_handler_that_is_no_method_fails_at_class_creation() -> None:
    with pytest.raises(TypeError, match="_missing"):

        class Broken(ObjectInstance):
            object_id = 3
            execute_handlers = {4: "_missing"}


async def test_each_instance_handles_its_own_resources(store: ObjectStore) -> None:
    clock = ManualClock(0.0)
    first = Timer(store, delay_duration=1.0, clock=clock, scheduler=clock)
    second = Timer(store, delay_duration=1.0, clock=clock, scheduler=clock)
    await server_execute(store, f"3340/{second.instance_id}/5523")
    assert (first.output, second.output) == (False, True)
    await server_write(store, f"3340/{first.instance_id}/5534", 7)  # a live counter
    assert (store.get("3340/0/5534"), store.get("3340/1/5534")) == (7, 1)
    assert callable(store._locate(Path(3340, 0, 5534)))  # served live again


def test_objects_share_one_default_scheduler(store: ObjectStore) -> None:
    device = Device(store)
    sensor = Temperature(store, 20.0)
    assert device.scheduler is LOOP_SCHEDULER and sensor.scheduler is LOOP_SCHEDULER
    assert device.path == Path(3, 0)

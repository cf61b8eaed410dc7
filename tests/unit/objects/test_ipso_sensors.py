"""IPSO measuring sensors: min/max tracking and reset, callable sources, accelerometer axes."""

from __future__ import annotations

import pytest

from lwm2m.client.store import ObjectStore
from lwm2m.errors import MethodNotAllowed, ModelError
from lwm2m.objects import ManualClock
from lwm2m.objects.ipso import (
    Accelerometer,
    GenericSensor,
    Humidity,
    Pressure,
    Sensor,
    Temperature,
)

from .conftest import server_execute, server_write, snapshot


@pytest.mark.parametrize(
    ("cls", "oid", "units"),
    [
        (Temperature, 3303, "Cel"),
        (Humidity, 3304, "%RH"),
        (Pressure, 3323, "Pa"),
        (GenericSensor, 3300, ""),
    ],
)
async def test_min_max_tracking_and_reset(
    store: ObjectStore, clock: ManualClock, cls: type[Sensor], oid: int, units: str
) -> None:
    s = cls(store, 20.0, min_range=-40, max_range=85, clock=clock)
    base = f"{oid}/{s.instance_id}"
    for v in (22.5, 18.0, 25.0, 21.0):
        clock.advance(1)
        s.update(v)
    assert store.get(f"{base}/5700") == 21.0
    assert (store.get(f"{base}/5601"), store.get(f"{base}/5602")) == (18.0, 25.0)
    assert store.get(f"{base}/5518") == 1_000_004
    assert store.get(f"{base}/5603") == -40.0
    if units:
        assert store.get(f"{base}/5701") == units
    await server_execute(store, f"{base}/5605")
    assert (store.get(f"{base}/5601"), store.get(f"{base}/5602")) == (21.0, 21.0)
    s.update(30.0)
    assert (s.min_measured, s.max_measured) == (21.0, 30.0)
    before = snapshot(store)
    with pytest.raises(MethodNotAllowed):
        await server_write(store, f"{base}/5700", 1.0)
    assert snapshot(store) == before and store.get(f"{base}/5700") == 30.0


def test_callable_source_tracked_on_every_read(store: ObjectStore) -> None:
    readings = iter([10.0, 12.0, 7.0, 9.0])
    t = Temperature(store, lambda: next(readings))
    path = f"3303/{t.instance_id}"
    assert store.get(f"{path}/5700") == 12.0
    assert store.get(f"{path}/5700") == 7.0
    assert store.get(f"{path}/5602") == 12.0
    assert store.get(f"{path}/5601") == 7.0


async def test_several_instances_each_with_own_reset(store: ObjectStore) -> None:
    a, b = Temperature(store, 1.0), Temperature(store, 2.0)
    assert (a.instance_id, b.instance_id) == (0, 1)
    a.update(5.0)
    b.update(3.0)
    assert store.get("3303/1/5602") == 3.0
    assert all(store.callbacks.find("execute", t.rpath(5605)) for t in (a, b))
    await server_execute(store, str(b.rpath(5605)))
    assert (a.min_measured, b.min_measured) == (1.0, 3.0)  # only b was reset
    await server_execute(store, str(a.rpath(5605)))
    assert (a.min_measured, a.max_measured) == (5.0, 5.0)


def test_accelerometer_axes(store: ObjectStore, clock: ManualClock) -> None:
    acc = Accelerometer(store, 0.1, 0.2, 9.81, clock=clock)
    clock.advance(5)
    acc.update(1.0, z=9.7)
    assert [store.get(f"3313/0/{r}") for r in (5702, 5703, 5704)] == [1.0, 0.2, 9.7]
    assert store.get("3313/0/5701") == "m/s2"
    assert store.get("3313/0/5518") == 1_000_005
    assert not store.exists(acc.rpath(5601))  # 3313 defines no min/max measured


def test_unknown_value_resource_rejected(store: ObjectStore) -> None:
    from lwm2m.objects.ipso.sensors import MeasuringSensor

    class Odd(MeasuringSensor):
        object_id = 3303

    with pytest.raises(ModelError):
        Odd(store, {5702: 1.0})
    assert not store.has_instance(3303, 0)

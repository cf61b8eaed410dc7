"""Connectivity Monitoring (4) and Connectivity Statistics (7)."""

from __future__ import annotations

import pytest

from lwm2m.client.store import ObjectStore
from lwm2m.errors import BadRequest, ModelError
from lwm2m.objects import (
    ConnectivityMonitor,
    ConnectivityStatistics,
    ManualClock,
    NetworkBearer,
    TrafficCounters,
)

from .conftest import server_execute, server_write, snapshot


def test_monitor_values_and_live_readings(store: ObjectStore) -> None:
    rssi = [-70]
    mon = ConnectivityMonitor(
        store,
        network_bearer=NetworkBearer.LTE_FDD,
        radio_signal_strength=lambda: rssi[0],
        ip_addresses=["192.0.2.7", "2001:db8::7"],
        apn=["internet"],
        cell_id=1234,
    )
    assert store.get("4/0/0") == 6
    assert store.get("4/0/1") == {0: 6}
    assert store.get("4/0/4") == {0: "192.0.2.7", 1: "2001:db8::7"}
    assert store.get("4/0/7") == {0: "internet"}
    rssi[0] = -90
    assert store.get("4/0/2") == -90
    before = snapshot(store)
    with pytest.raises(ModelError):
        mon.update(cell_id=5, link_utilization=150)  # second value out of range
    with pytest.raises(ModelError):
        mon.update(colour="red")
    assert snapshot(store) == before


async def test_statistics_start_stop_and_period(store: ObjectStore, clock: ManualClock) -> None:
    counters = TrafficCounters()
    stats = ConnectivityStatistics(store, counters, clock=clock, scheduler=clock)
    counters.on_sent(5000)
    assert store.get("7/0/2") == 0  # not collecting before Start
    await server_execute(store, "7/0/6")
    counters.on_sent(2048)
    counters.on_received(1024)
    counters.on_received(100)
    assert store.get("7/0/2") == 2
    assert store.get("7/0/3") == 1
    assert store.get("7/0/4") == 2048
    assert store.get("7/0/5") == (2048 + 1024 + 100) // 3
    await server_execute(store, "7/0/7")
    counters.on_sent(4096)
    assert store.get("7/0/2") == 2  # frozen after Stop, still readable
    # Start resets; a Collection Period stops by itself.
    await server_write(store, "7/0/8", 60)
    await server_execute(store, "7/0/6")
    assert store.get("7/0/2") == 0
    counters.on_sent(1024)
    clock.advance(61)
    assert not stats.collecting
    counters.on_sent(1024)
    assert store.get("7/0/2") == 1
    with pytest.raises(BadRequest):
        await server_write(store, "7/0/8", -1)
    assert store.get("7/0/8") == 60

"""Timer (3340) modes on a manual clock."""

from __future__ import annotations

import pytest

from lwm2m.client.store import ObjectStore
from lwm2m.errors import BadRequest
from lwm2m.objects import ManualClock
from lwm2m.objects.ipso import Timer, TimerMode

from .conftest import server_execute, server_write, snapshot


def make(
    store: ObjectStore, clock: ManualClock, mode: TimerMode, minimum_off_time: float = 0.0
) -> Timer:
    return Timer(
        store,
        mode=mode,
        delay_duration=10.0,
        minimum_off_time=minimum_off_time,
        clock=clock,
        scheduler=clock,
    )


def out(store: ObjectStore) -> bool:
    return bool(store.get("3340/0/5543"))


async def test_disabled_follows_input(store: ObjectStore, clock: ManualClock) -> None:
    t = make(store, clock, TimerMode.DISABLED)
    await server_write(store, "3340/0/5850", True)
    assert out(store)
    await server_execute(store, "3340/0/5523")
    t.set_input(False)
    assert not out(store) and clock.pending == 0


async def test_one_shot_with_remaining_time_and_rearm(
    store: ObjectStore, clock: ManualClock
) -> None:
    t = make(store, clock, TimerMode.ONE_SHOT, minimum_off_time=5.0)
    await server_execute(store, "3340/0/5523")
    assert out(store)
    clock.advance(4)
    assert store.get("3340/0/5538") == pytest.approx(6.0)
    await server_execute(store, "3340/0/5523")  # retrigger while running: ignored
    clock.advance(6)
    assert not out(store) and store.get("3340/0/5538") == 0.0
    t.trigger()  # inside the minimum off-time: ignored
    assert not out(store)
    clock.advance(5)
    t.set_input(True)  # input edge starts it too
    assert out(store)
    t.set_input(False)  # one-shot runs on regardless
    clock.advance(9)
    assert out(store)
    clock.advance(1)
    assert not out(store)
    assert store.get("3340/0/5534") == 2


async def test_interval_ends_early_when_input_drops(store: ObjectStore, clock: ManualClock) -> None:
    t = make(store, clock, TimerMode.INTERVAL)
    t.set_input(True)
    clock.advance(3)
    assert out(store)
    t.set_input(False)
    assert not out(store) and clock.pending == 0
    t.set_input(True)
    clock.advance(10)
    assert not out(store)  # the interval ended although the input stays on
    assert t.counter == 2


async def test_delay_on_pickup(store: ObjectStore, clock: ManualClock) -> None:
    t = make(store, clock, TimerMode.DELAY_ON_PICKUP)
    await server_write(store, "3340/0/5850", True)
    clock.advance(9)
    assert not out(store)
    clock.advance(1)
    assert out(store)
    await server_write(store, "3340/0/5850", False)
    assert not out(store)
    t.set_input(True)
    clock.advance(5)
    t.set_input(False)  # dropped before the delay: never turns on
    clock.advance(10)
    assert not out(store) and t.counter == 1
    t.trigger()
    clock.advance(10)
    assert out(store)


async def test_delay_on_dropout(store: ObjectStore, clock: ManualClock) -> None:
    t = make(store, clock, TimerMode.DELAY_ON_DROPOUT)
    t.set_input(True)
    assert out(store)
    t.set_input(False)
    clock.advance(9)
    assert out(store)
    t.set_input(True)  # back on before the delay: stays on
    clock.advance(20)
    assert out(store)
    t.set_input(False)
    clock.advance(10)
    assert not out(store)
    t.trigger()
    assert out(store)
    clock.advance(10)
    assert not out(store)


async def test_counters_and_cumulative_time(store: ObjectStore, clock: ManualClock) -> None:
    t = make(store, clock, TimerMode.DISABLED)
    t.set_input(True)
    clock.advance(3)
    t.set_input(False)
    clock.advance(3)
    t.set_input(True)
    clock.advance(2)
    assert store.get("3340/0/5544") == pytest.approx(5.0)
    assert store.get("3340/0/5501") == 2
    assert store.get("3340/0/5534") == 2
    await server_write(store, "3340/0/5544", 0.0)
    await server_write(store, "3340/0/5534", 0)
    clock.advance(1)
    assert store.get("3340/0/5544") == pytest.approx(1.0)
    assert store.get("3340/0/5534") == 0


async def test_mode_change_abandons_operation(store: ObjectStore, clock: ManualClock) -> None:
    t = make(store, clock, TimerMode.ONE_SHOT)
    t.trigger()
    await server_write(store, "3340/0/5526", 3)
    assert t.mode is TimerMode.DELAY_ON_PICKUP
    assert not out(store) and clock.pending == 0


async def test_bad_writes_change_nothing(store: ObjectStore, clock: ManualClock) -> None:
    make(store, clock, TimerMode.ONE_SHOT)
    before = snapshot(store)
    for rid, bad in ((5521, -1.0), (5525, -0.5), (5526, 7), (5534, -3)):
        with pytest.raises(BadRequest):
            await server_write(store, f"3340/0/{rid}", bad)
    assert snapshot(store) == before


async def test_real_event_loop_timer(store: ObjectStore) -> None:
    """The default scheduler is the running loop (tiny real duration, bounded)."""
    import asyncio

    fired: list[bool] = []
    t = Timer(store, delay_duration=0.01, on_output=fired.append)
    t.trigger()
    for _ in range(100):
        if len(fired) == 2:
            break
        await asyncio.sleep(0.01)
    assert fired == [True, False]

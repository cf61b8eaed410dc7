"""Light control, switches, push button and buzzer on a manual clock."""

from __future__ import annotations

import pytest

from lwm2m.client.store import ObjectStore
from lwm2m.errors import BadRequest
from lwm2m.objects import ManualClock
from lwm2m.objects.ipso import Buzzer, LightControl, OnOffSwitch, PushButton

from .conftest import server_write, snapshot


async def test_light_on_time_and_energy(store: ObjectStore, clock: ManualClock) -> None:
    changes: list[tuple[bool, int]] = []
    light = LightControl(
        store,
        rated_power=60.0,
        on_change=lambda lc: changes.append((lc.on, lc.dimmer)),
        clock=clock,
    )
    assert store.get("3311/0/5852") == 0
    await server_write(store, "3311/0/5850", True)
    clock.advance(100)
    assert store.get("3311/0/5852") == 100
    await server_write(store, "3311/0/5852", 0)  # reset the counter
    clock.advance(20)
    assert store.get("3311/0/5852") == 20
    await server_write(store, "3311/0/5851", 50)
    clock.advance(3600)
    # 60 W for 3720 s, then 30 W for 3600 s.
    assert store.get("3311/0/5805") == pytest.approx(60 * 120 / 3600 + 30.0)
    light.turn_off()
    assert store.get("3311/0/5852") == 0
    clock.advance(3600)
    assert light.energy_wh == pytest.approx(32.0)
    assert changes[0] == (True, 100) and changes[-1] == (False, 50)


async def test_light_bad_input_changes_nothing(store: ObjectStore, clock: ManualClock) -> None:
    light = LightControl(store, on=True, dimmer=40, clock=clock)
    before = snapshot(store)
    with pytest.raises(BadRequest):
        await server_write(store, "3311/0/5851", 150)
    with pytest.raises(BadRequest):
        await server_write(store, "3311/0/5852", -5)
    assert snapshot(store) == before
    assert light.dimmer == 40
    with pytest.raises(ValueError):
        light.set_dimmer(101)
    assert light.dimmer == 40


async def test_light_colour(store: ObjectStore, clock: ManualClock) -> None:
    seen: list[str | None] = []
    light = LightControl(
        store, colour="#ffffff", units="RGB", on_change=lambda lc: seen.append(lc.colour)
    )
    await server_write(store, "3311/0/5706", "#ff0000")
    assert light.colour == "#ff0000" and seen == ["#ff0000"]


async def test_on_off_switch(store: ObjectStore, clock: ManualClock) -> None:
    sw = OnOffSwitch(store, clock=clock)
    clock.advance(10)
    assert store.get("3342/0/5854") == 10
    sw.turn_on()
    clock.advance(4)
    assert (store.get("3342/0/5500"), store.get("3342/0/5852"), store.get("3342/0/5854")) == (
        True,
        4,
        0,
    )
    sw.turn_on()  # no edge: counter unchanged
    sw.toggle()
    sw.toggle()
    assert store.get("3342/0/5501") == 2
    assert store.get("3342/0/5518") == 1_000_014
    clock.advance(6)
    await server_write(store, "3342/0/5852", 0)
    clock.advance(1)
    assert sw.on_time == 1


def test_push_button(store: ObjectStore, clock: ManualClock) -> None:
    b = PushButton(store, application_type="doorbell", clock=clock)
    b.press()
    assert store.get("3347/0/5500") is True
    b.release()
    b.click()
    assert (store.get("3347/0/5500"), store.get("3347/0/5501")) == (False, 2)
    assert store.get("3347/0/5750") == "doorbell"


async def test_buzzer_duration_and_minimum_off_time(store: ObjectStore, clock: ManualClock) -> None:
    states: list[bool] = []
    bz = Buzzer(
        store,
        delay_duration=2.0,
        minimum_off_time=5.0,
        on_change=lambda b: states.append(b.on),
        clock=clock,
        scheduler=clock,
    )
    await server_write(store, "3338/0/5850", True)
    clock.advance(1.9)
    assert bz.on
    clock.advance(0.2)
    assert not bz.on and store.get("3338/0/5850") is False
    before = snapshot(store)
    with pytest.raises(BadRequest):  # inside the minimum off-time
        await server_write(store, "3338/0/5850", True)
    assert snapshot(store) == before
    clock.advance(5)
    bz.turn_on()
    assert states == [True, False, True]
    with pytest.raises(BadRequest):
        await server_write(store, "3338/0/5521", -1.0)
    with pytest.raises(ValueError):
        Buzzer(store, delay_duration=-1)

"""Device object: current time tracking, error codes, hooks, validated writes."""

from __future__ import annotations

import pytest

from lwm2m.client.store import ObjectStore
from lwm2m.errors import BadRequest, MethodNotAllowed, ModelError
from lwm2m.model import Path
from lwm2m.objects import Device, ManualClock, PowerSource, PowerSourceType
from lwm2m.objects.device import parse_utc_offset

from .conftest import server_execute, server_write, snapshot


def make(store: ObjectStore, clock: ManualClock, **kw: object) -> Device:
    return Device(
        store,
        manufacturer="ACME",
        model="M1",
        serial="123",
        firmware_version="1.0",
        clock=clock,
        **kw,  # type: ignore[arg-type]
    )


def test_identity_and_mandatory_resources(store: ObjectStore, clock: ManualClock) -> None:
    make(store, clock, supported_binding="UQ")
    assert [store.get(f"3/0/{r}") for r in (0, 1, 2, 3)] == ["ACME", "M1", "123", "1.0"]
    assert store.get("3/0/16") == "UQ"
    assert store.get("3/0/11") == {0: 0}
    assert store.exists(Path(3, 0, 4)) and store.exists(Path(3, 0, 12))


async def test_current_time_tracks_clock_after_write(
    store: ObjectStore, clock: ManualClock
) -> None:
    dev = make(store, clock)
    assert store.get("3/0/13") == 1_000_000
    await server_write(store, "3/0/13", 1_700_000_000)
    assert store.get("3/0/13") == 1_700_000_000
    clock.advance(90.5)
    assert store.get("3/0/13") == 1_700_000_090
    assert dev.current_time == 1_700_000_090
    dev.set_current_time(5)
    clock.advance(10)
    assert store.get("3/0/13") == 15


async def test_error_codes(store: ObjectStore, clock: ManualClock) -> None:
    dev = make(store, clock)
    dev.add_error(1)
    dev.add_error(7)
    dev.add_error(1)
    assert store.get("3/0/11") == {0: 1, 1: 7}
    with pytest.raises(ModelError):
        dev.add_error(9)
    with pytest.raises(ModelError):
        dev.add_error(0)
    dev.clear_errors()
    assert store.get("3/0/11") == {0: 0}
    dev.add_error(5)
    calls: list[str] = []
    dev.on_reset_error_code = lambda: calls.append("reset")
    await server_execute(store, "3/0/12")
    assert store.get("3/0/11") == {0: 0}
    assert calls == ["reset"]


async def test_reboot_and_factory_reset_hooks(store: ObjectStore, clock: ManualClock) -> None:
    calls: list[str] = []

    async def reboot() -> None:
        calls.append("reboot")

    make(store, clock, on_reboot=reboot, on_factory_reset=lambda: calls.append("factory"))
    await server_execute(store, "3/0/4")
    await server_execute(store, "3/0/5")
    assert calls == ["reboot", "factory"]


async def test_default_hooks_log_and_do_nothing(
    store: ObjectStore, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    make(store, clock)
    before = snapshot(store)
    await server_execute(store, "3/0/4")
    assert "reboot requested" in caplog.text
    assert snapshot(store) == before


async def test_utc_offset_and_timezone_writes(store: ObjectStore, clock: ManualClock) -> None:
    dev = make(store, clock)
    await server_write(store, "3/0/14", "+05:30")
    assert dev.utc_offset_minutes == 330
    await server_write(store, "3/0/15", "Europe/Berlin")
    assert dev.timezone == "Europe/Berlin"
    before = snapshot(store)
    for bad in ("5 hours", "+25:00", "+01:75", "UTC+x", ""):
        with pytest.raises(BadRequest):
            await server_write(store, "3/0/14", bad)
    for bad in ("Mars/Olympus", "Europe Berlin", "../etc"):
        with pytest.raises(BadRequest):
            await server_write(store, "3/0/15", bad)
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("Z", 0), ("UTC", 0), ("+01:00", 60), ("-0330", -210), ("UTC+02", 120), ("+14:00", 840)],
)
def test_parse_utc_offset(text: str, minutes: int) -> None:
    assert parse_utc_offset(text) == minutes


async def test_read_only_resources_refuse_server_writes(
    store: ObjectStore, clock: ManualClock
) -> None:
    make(store, clock)
    with pytest.raises(MethodNotAllowed):
        await server_write(store, "3/0/0", "EVIL")
    assert store.get("3/0/0") == "ACME"


def test_live_power_and_memory(store: ObjectStore, clock: ManualClock) -> None:
    level = [80]
    dev = make(
        store,
        clock,
        battery_level=lambda: level[0],
        memory_free=512,
        power_sources=[
            PowerSource(PowerSourceType.INTERNAL_BATTERY, lambda: 3700, 120),
            PowerSource(PowerSourceType.USB, 5000, 500),
        ],
    )
    assert store.get("3/0/9") == 80
    level[0] = 42
    assert store.get("3/0/9") == 42
    assert store.get("3/0/6") == {0: 1, 1: 5}
    assert store.get("3/0/7") == {0: 3700, 1: 5000}
    assert store.get("3/0/10") == 512
    dev.set_battery(status=1)
    assert store.get("3/0/20") == 1


def test_bad_construction(store: ObjectStore, clock: ManualClock) -> None:
    with pytest.raises(ModelError):
        Device(store, supported_binding="X")
    with pytest.raises(ModelError):
        Device(store, utc_offset="noon")
    assert not store.has_instance(3, 0)

"""Location (6): updates from the application set the timestamp; bad fixes change nothing."""

from __future__ import annotations

import pytest

from lwm2m.client.store import ObjectStore
from lwm2m.errors import MethodNotAllowed, ModelError
from lwm2m.objects import Location, ManualClock

from .conftest import server_write, snapshot


async def test_update_sets_timestamp(store: ObjectStore, clock: ManualClock) -> None:
    loc = Location(store, clock=clock)
    clock.advance(30)
    loc.update(48.85, 2.35, altitude=35.0, radius=5.0, speed=1.5, velocity=b"\x00\x10\x00\x05")
    assert (store.get("6/0/0"), store.get("6/0/1")) == (48.85, 2.35)
    assert store.get("6/0/2") == 35.0
    assert store.get("6/0/4") == b"\x00\x10\x00\x05"
    assert store.get("6/0/5") == 1_000_030
    assert loc.timestamp == 1_000_030
    before = snapshot(store)
    with pytest.raises(ModelError):
        loc.update(91.0, 0.0)
    with pytest.raises(ModelError):
        loc.update(0.0, -181.0)
    with pytest.raises(ModelError):
        loc.update(0.0, 0.0, speed=-1.0)
    with pytest.raises(ModelError):
        loc.update(0.0, 0.0, radius=float("inf"))
    with pytest.raises(ModelError):
        loc.update(float("nan"), 0.0)
    assert snapshot(store) == before
    with pytest.raises(MethodNotAllowed):
        await server_write(store, "6/0/0", 1.0)
    assert snapshot(store) == before  # the refused write changed nothing

"""Shared helpers for the object tests: a store and server-side write/execute shortcuts."""

from __future__ import annotations

from typing import Any

import pytest

from lwm2m.client.store import ObjectStore
from lwm2m.model import MultiResourceNode, Path, ResourceNode
from lwm2m.objects import ManualClock


@pytest.fixture
def store() -> ObjectStore:
    return ObjectStore()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_000_000.0)


async def server_write(store: ObjectStore, path: str, value: Any) -> list[Path]:
    """A server Write (Replace) of one resource, through the store's checked path."""
    p = Path.parse(path)
    node: ResourceNode | MultiResourceNode
    node = MultiResourceNode(p[2], value) if isinstance(value, dict) else ResourceNode(p[2], value)
    return await store.write(p, node, replace=True)


async def server_execute(store: ObjectStore, path: str, args: str = "") -> None:
    await store.execute(Path.parse(path), args)


def snapshot(store: ObjectStore) -> dict[Path, Any]:
    """Every readable value, resolved (callables read now); values are immutable."""
    return dict(store.read_records([Path()]))

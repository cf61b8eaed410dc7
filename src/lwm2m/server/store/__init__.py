"""Persistent server state: registrations, observations, security info."""

from lwm2m.server.store.base import (
    Observation,
    Registration,
    SecurityInfo,
    SecurityMode,
    ServerStore,
    StoreCorrupt,
    StoreError,
)
from lwm2m.server.store.memory import MemoryStore
from lwm2m.server.store.sqlite import SqliteStore

__all__ = [
    "MemoryStore",
    "Observation",
    "Registration",
    "SecurityInfo",
    "SecurityMode",
    "ServerStore",
    "SqliteStore",
    "StoreCorrupt",
    "StoreError",
]

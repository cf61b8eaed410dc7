"""The LwM2M server: registration interface and persistent stores."""

from lwm2m.server.object_links import ObjectLink, ObjectLinks, parse_object_links
from lwm2m.server.registration import (
    Deregistered,
    Expired,
    IdentityBinding,
    Registered,
    Registration,
    RegistrationEvent,
    RegistrationTable,
    Updated,
)
from lwm2m.server.store import (
    MemoryStore,
    Observation,
    SecurityInfo,
    SecurityMode,
    ServerStore,
    SqliteStore,
    StoreCorrupt,
    StoreError,
)

__all__ = [
    "Deregistered",
    "Expired",
    "IdentityBinding",
    "MemoryStore",
    "ObjectLink",
    "ObjectLinks",
    "Observation",
    "Registered",
    "Registration",
    "RegistrationEvent",
    "RegistrationTable",
    "SecurityInfo",
    "SecurityMode",
    "ServerStore",
    "SqliteStore",
    "StoreCorrupt",
    "StoreError",
    "Updated",
    "parse_object_links",
]

"""The LwM2M server: registration interface, device management, events and stores."""

from lwm2m.server.dm import ClientNotRegistered, DmError, RequestExpired
from lwm2m.server.events import Awake, Notification, SendReceived, ServerEvent, Sleeping
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
from lwm2m.server.server import EventStream, ObservationHandle, Server
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
    "Awake",
    "ClientNotRegistered",
    "Deregistered",
    "DmError",
    "EventStream",
    "Expired",
    "IdentityBinding",
    "MemoryStore",
    "Notification",
    "ObjectLink",
    "ObjectLinks",
    "Observation",
    "ObservationHandle",
    "Registered",
    "Registration",
    "RegistrationEvent",
    "RegistrationTable",
    "RequestExpired",
    "SecurityInfo",
    "SecurityMode",
    "SendReceived",
    "Server",
    "ServerEvent",
    "ServerStore",
    "Sleeping",
    "SqliteStore",
    "StoreCorrupt",
    "StoreError",
    "Updated",
    "parse_object_links",
]

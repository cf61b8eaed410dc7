"""Events the server publishes: registration changes, notifications, Send.

The registration events are those of :mod:`lwm2m.server.registration`
(:class:`Registered`, :class:`Updated`, :class:`Deregistered`, :class:`Expired`);
this module adds the two that carry device data:

* :class:`Notification` -- one Observe / Observe-Composite notification
  (Core TS 1.1 section 6.4.2), decoded;
* :class:`SendReceived` -- the records of one Send (Core TS 1.1 section 6.4.6);
* :class:`Sleeping` and :class:`Awake` -- a queue-mode client (section 6.5) went
  quiet for the awake time, or was heard from again after that.

:class:`ServerEvent` is the union handed to ``Server.on_event`` callbacks and
``Server.events()`` iterators.
"""

from __future__ import annotations

from dataclasses import dataclass

from lwm2m.model import Node, Path, Records
from lwm2m.server.registration import (
    Deregistered,
    Expired,
    Registered,
    Registration,
    Updated,
)

__all__ = [
    "Awake",
    "Deregistered",
    "Expired",
    "Notification",
    "Registered",
    "SendReceived",
    "ServerEvent",
    "Sleeping",
    "Updated",
    "event_endpoint",
]


@dataclass(frozen=True, slots=True)
class Notification:
    """A decoded notification of one observation.

    ``paths`` holds the observed path (one entry) or the Observe-Composite paths;
    ``content`` is the node for a single observation and :data:`Records` for a
    composite one. ``sequence`` is the CoAP Observe value.
    """

    registration: Registration
    token: bytes
    paths: tuple[Path, ...]
    content: Node | Records
    content_format: int | None
    sequence: int | None
    composite: bool = False

    @property
    def endpoint(self) -> str:
        return self.registration.endpoint

    @property
    def path(self) -> Path:
        """The observed path (the root for a composite observation)."""
        return Path() if self.composite else self.paths[0]


@dataclass(frozen=True, slots=True)
class SendReceived:
    """The records a client pushed with Send (POST /dp)."""

    registration: Registration
    records: Records
    content_format: int

    @property
    def endpoint(self) -> str:
        return self.registration.endpoint


@dataclass(frozen=True, slots=True)
class Sleeping:
    """A queue-mode client is taken to be asleep: requests for it wait."""

    registration: Registration

    @property
    def endpoint(self) -> str:
        return self.registration.endpoint


@dataclass(frozen=True, slots=True)
class Awake:
    """A sleeping queue-mode client was heard from: requests go out at once."""

    registration: Registration

    @property
    def endpoint(self) -> str:
        return self.registration.endpoint


ServerEvent = (
    Registered | Updated | Deregistered | Expired | Notification | SendReceived | Sleeping | Awake
)


def event_endpoint(event: ServerEvent) -> str:
    """The endpoint name an event is about."""
    return event.registration.endpoint

"""Events the registration/bootstrap client reports to the application.

The first ten names are those of the seed's ``LWM2M_RD_CLIENT_EVENT_*``
callback; the others report what a device in the field also needs to know
(queue mode going offline, network errors, an expired registration, a server
disabled by /1/x/4).

Every :class:`Event` names the server it concerns by its Short Server ID, or
``None`` for the bootstrap server and for events about the client as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["Event", "RdEvent"]


class RdEvent(IntEnum):
    """What happened; the application reacts (or only logs)."""

    NONE = 0
    #: Bootstrap-Request refused or unanswered, or a bootstrap transfer failed.
    BOOTSTRAP_REG_FAILURE = 1
    #: The bootstrap server accepted the Bootstrap-Request (2.04).
    BOOTSTRAP_REG_COMPLETE = 2
    #: Bootstrap-Finish received and the new configuration accepted.
    BOOTSTRAP_TRANSFER_COMPLETE = 3
    #: Register failed (reported once the retry policy's attempts are used up).
    REGISTRATION_FAILURE = 4
    #: Register answered 2.01 with a Location.
    REGISTRATION_COMPLETE = 5
    #: An Update failed (timeout, error code, network error).
    REG_UPDATE_FAILURE = 6
    #: An Update was answered 2.04.
    REG_UPDATE_COMPLETE = 7
    #: De-register failed or was not answered (the client stops anyway).
    DEREGISTER_FAILURE = 8
    #: The client stopped talking to this server (stop, disable, fall-back to bootstrap).
    DISCONNECT = 9
    #: Queue mode: the receive window after the last exchange closed; the client is offline.
    QUEUE_MODE_RX_OFF = 10
    #: The request could not be sent or the peer is unreachable (ICMP, socket error, DTLS).
    NETWORK_ERROR = 11
    #: The registration lifetime ran out without a successful Update; a full Register follows.
    REG_TIMEOUT = 12
    #: The server executed Disable (/1/x/4); the account stays off for the Disable Timeout.
    SERVER_DISABLED = 13
    #: De-register answered 2.02.
    DEREGISTER_COMPLETE = 14


@dataclass(slots=True, frozen=True)
class Event:
    """One event: its kind, the Short Server ID (``None``: bootstrap/client), a text, the time."""

    kind: RdEvent
    server: int | None
    detail: str = ""
    time: float = 0.0

    def __str__(self) -> str:
        who = "bootstrap" if self.server is None else f"server {self.server}"
        text = f"{self.kind.name} ({who})"
        return f"{text}: {self.detail}" if self.detail else text

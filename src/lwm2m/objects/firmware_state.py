"""The Firmware Update state machine (LwM2M Core TS 1.1 E.6.1, object 5 resources 3 and 5).

Theory of operation
-------------------
State (5/0/3) and Update Result (5/0/5) change only through :data:`TRANSITIONS`,
one row per arrow of the spec's state diagram::

    (state, event) -> (next state, Update Result, results the event may carry)

``Update Result`` is either fixed by the row or, for failure events, carried by
the event and checked against the row's allowed set. An event with no row in
the current state is refused with 4.05 Method Not Allowed: the spec says any
operation not identified as a trigger SHOULD be rejected.

::

    IDLE --START_DOWNLOAD / 0--> DOWNLOADING --DOWNLOAD_DONE / 0--> DOWNLOADED
    IDLE --URI_REJECTED / 7|9--> IDLE
    DOWNLOADING --DOWNLOAD_FAILED / 2,3,4,5,6,7,9--> IDLE
    DOWNLOADED --UPDATE / 0--> UPDATING
    DOWNLOADED --UPDATE_DEFERRED / 11--> DOWNLOADED
    UPDATING --UPDATE_SUCCEEDED / 1--> IDLE
    UPDATING --UPDATE_FAILED / 8--> DOWNLOADED        (image kept, may be retried)
    UPDATING --UPDATE_REJECTED / 2,3,5,6--> IDLE      (image unusable, e.g. integrity)
    IDLE|DOWNLOADING|DOWNLOADED --RESET / 0--> IDLE   (empty Package or Package URI)
    DOWNLOADING|DOWNLOADED --CANCEL / 10--> IDLE      (Cancel, 5/0/10)

This module does no I/O: :class:`FirmwareStateMachine` only records the
state, the result and when the state last changed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from lwm2m.errors import MethodNotAllowed


class State(enum.IntEnum):
    """State (5/0/3)."""

    IDLE = 0
    DOWNLOADING = 1
    DOWNLOADED = 2
    UPDATING = 3


class Result(enum.IntEnum):
    """Update Result (5/0/5)."""

    INITIAL = 0
    SUCCESS = 1
    NOT_ENOUGH_FLASH = 2
    OUT_OF_RAM = 3
    CONNECTION_LOST = 4
    INTEGRITY_FAILURE = 5
    UNSUPPORTED_PACKAGE_TYPE = 6
    INVALID_URI = 7
    UPDATE_FAILED = 8
    UNSUPPORTED_PROTOCOL = 9
    CANCELLED = 10
    DEFERRED = 11


class Event(enum.Enum):
    START_DOWNLOAD = "start download"
    DOWNLOAD_DONE = "download done"
    DOWNLOAD_FAILED = "download failed"
    URI_REJECTED = "uri rejected"
    UPDATE = "update"
    UPDATE_DEFERRED = "update deferred"
    UPDATE_SUCCEEDED = "update succeeded"
    UPDATE_FAILED = "update failed"
    UPDATE_REJECTED = "update rejected"
    RESET = "reset"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class Transition:
    """Target state; ``result`` fixed, or None when the event carries one of ``allowed``."""

    target: State
    result: Result | None
    allowed: frozenset[Result] = frozenset()


def _carried(target: State, *results: Result) -> Transition:
    return Transition(target, None, frozenset(results))


_S, _R, _E = State, Result, Event

TRANSITIONS: dict[tuple[State, Event], Transition] = {
    (_S.IDLE, _E.START_DOWNLOAD): Transition(_S.DOWNLOADING, _R.INITIAL),
    (_S.IDLE, _E.URI_REJECTED): _carried(_S.IDLE, _R.INVALID_URI, _R.UNSUPPORTED_PROTOCOL),
    (_S.IDLE, _E.RESET): Transition(_S.IDLE, _R.INITIAL),
    (_S.DOWNLOADING, _E.DOWNLOAD_DONE): Transition(_S.DOWNLOADED, _R.INITIAL),
    (_S.DOWNLOADING, _E.DOWNLOAD_FAILED): _carried(
        _S.IDLE,
        _R.NOT_ENOUGH_FLASH,
        _R.OUT_OF_RAM,
        _R.CONNECTION_LOST,
        _R.INTEGRITY_FAILURE,
        _R.UNSUPPORTED_PACKAGE_TYPE,
        _R.INVALID_URI,
        _R.UNSUPPORTED_PROTOCOL,
    ),
    (_S.DOWNLOADING, _E.RESET): Transition(_S.IDLE, _R.INITIAL),
    (_S.DOWNLOADING, _E.CANCEL): Transition(_S.IDLE, _R.CANCELLED),
    (_S.DOWNLOADED, _E.UPDATE): Transition(_S.UPDATING, _R.INITIAL),
    (_S.DOWNLOADED, _E.UPDATE_DEFERRED): Transition(_S.DOWNLOADED, _R.DEFERRED),
    (_S.DOWNLOADED, _E.RESET): Transition(_S.IDLE, _R.INITIAL),
    (_S.DOWNLOADED, _E.CANCEL): Transition(_S.IDLE, _R.CANCELLED),
    (_S.UPDATING, _E.UPDATE_SUCCEEDED): Transition(_S.IDLE, _R.SUCCESS),
    (_S.UPDATING, _E.UPDATE_FAILED): _carried(_S.DOWNLOADED, _R.UPDATE_FAILED),
    (_S.UPDATING, _E.UPDATE_REJECTED): _carried(
        _S.IDLE,
        _R.NOT_ENOUGH_FLASH,
        _R.OUT_OF_RAM,
        _R.INTEGRITY_FAILURE,
        _R.UNSUPPORTED_PACKAGE_TYPE,
    ),
}


class FirmwareStateMachine:
    """State and Update Result; :meth:`handle` applies one event through the table."""

    def __init__(
        self,
        state: State = State.IDLE,
        result: Result = Result.INITIAL,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.state = state
        self.result = result
        self._clock = clock
        self.changed_at: int | None = None

    def allows(self, event: Event) -> bool:
        return (self.state, event) in TRANSITIONS

    def handle(self, event: Event, result: Result | None = None) -> Transition:
        """Apply ``event`` (with its result, for failure events); 4.05 when not allowed here."""
        row = TRANSITIONS.get((self.state, event))
        if row is None:
            raise MethodNotAllowed(
                f"firmware update: {event.value} is not allowed in {self.state.name}"
            )
        if row.result is None:
            if result is None or result not in row.allowed:
                raise ValueError(
                    f"firmware update: {event.value} needs one of "
                    f"{sorted(r.value for r in row.allowed)}, got {result!r}"
                )
            new_result = result
        else:
            new_result = row.result
        if row.target is not self.state and self._clock is not None:
            self.changed_at = int(self._clock())
        self.state = row.target
        self.result = new_result
        return Transition(row.target, new_result)

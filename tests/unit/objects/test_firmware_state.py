"""The firmware state machine table: every transition and every refusal."""

from __future__ import annotations

import pytest

from lwm2m.errors import MethodNotAllowed
from lwm2m.objects.firmware_state import (
    TRANSITIONS,
    Event,
    FirmwareStateMachine,
    Result,
    State,
)

# (start state, event, carried result, end state, end result), one per arrow of Core TS E.6.1.
ARROWS = [
    (State.IDLE, Event.START_DOWNLOAD, None, State.DOWNLOADING, Result.INITIAL),
    (State.IDLE, Event.URI_REJECTED, Result.INVALID_URI, State.IDLE, Result.INVALID_URI),
    (
        State.IDLE,
        Event.URI_REJECTED,
        Result.UNSUPPORTED_PROTOCOL,
        State.IDLE,
        Result.UNSUPPORTED_PROTOCOL,
    ),
    (State.IDLE, Event.RESET, None, State.IDLE, Result.INITIAL),
    (State.DOWNLOADING, Event.DOWNLOAD_DONE, None, State.DOWNLOADED, Result.INITIAL),
    *[
        (State.DOWNLOADING, Event.DOWNLOAD_FAILED, r, State.IDLE, r)
        for r in (
            Result.NOT_ENOUGH_FLASH,
            Result.OUT_OF_RAM,
            Result.CONNECTION_LOST,
            Result.INTEGRITY_FAILURE,
            Result.UNSUPPORTED_PACKAGE_TYPE,
            Result.INVALID_URI,
            Result.UNSUPPORTED_PROTOCOL,
        )
    ],
    (State.DOWNLOADING, Event.RESET, None, State.IDLE, Result.INITIAL),
    (State.DOWNLOADING, Event.CANCEL, None, State.IDLE, Result.CANCELLED),
    (State.DOWNLOADED, Event.UPDATE, None, State.UPDATING, Result.INITIAL),
    (State.DOWNLOADED, Event.UPDATE_DEFERRED, None, State.DOWNLOADED, Result.DEFERRED),
    (State.DOWNLOADED, Event.RESET, None, State.IDLE, Result.INITIAL),
    (State.DOWNLOADED, Event.CANCEL, None, State.IDLE, Result.CANCELLED),
    (State.UPDATING, Event.UPDATE_SUCCEEDED, None, State.IDLE, Result.SUCCESS),
    (
        State.UPDATING,
        Event.UPDATE_FAILED,
        Result.UPDATE_FAILED,
        State.DOWNLOADED,
        Result.UPDATE_FAILED,
    ),
    *[
        (State.UPDATING, Event.UPDATE_REJECTED, r, State.IDLE, r)
        for r in (
            Result.NOT_ENOUGH_FLASH,
            Result.OUT_OF_RAM,
            Result.INTEGRITY_FAILURE,
            Result.UNSUPPORTED_PACKAGE_TYPE,
        )
    ],
]


@pytest.mark.parametrize(("start", "event", "carried", "end", "result"), ARROWS)
def test_every_arrow(
    start: State, event: Event, carried: Result | None, end: State, result: Result
) -> None:
    m = FirmwareStateMachine(start, Result.CONNECTION_LOST, clock=lambda: 42.0)
    m.handle(event, carried)
    assert (m.state, m.result) == (end, result)
    assert m.changed_at == (42 if end is not start else None)


def test_table_has_exactly_the_arrows() -> None:
    assert {(a[0], a[1]) for a in ARROWS} == set(TRANSITIONS)


@pytest.mark.parametrize(
    ("state", "event"),
    [(s, e) for s in State for e in Event if (s, e) not in TRANSITIONS],
)
def test_everything_else_is_refused_unchanged(state: State, event: Event) -> None:
    m = FirmwareStateMachine(state, Result.CONNECTION_LOST)
    with pytest.raises(MethodNotAllowed):
        m.handle(event, Result.INTEGRITY_FAILURE)
    assert (m.state, m.result) == (state, Result.CONNECTION_LOST)


def test_failure_event_must_carry_an_allowed_result() -> None:
    m = FirmwareStateMachine(State.DOWNLOADING)
    with pytest.raises(ValueError):
        m.handle(Event.DOWNLOAD_FAILED, Result.SUCCESS)
    with pytest.raises(ValueError):
        m.handle(Event.DOWNLOAD_FAILED)
    assert m.state is State.DOWNLOADING

"""Registration state machine on a fake clock: the life of a registration, its failures."""

from __future__ import annotations

import sys
from pathlib import Path as FsPath

import pytest

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared rd_harness module
from rd_harness import (
    BAD_REQUEST,
    CHANGED,
    CREATED,
    DELETED,
    FORBIDDEN,
    LOCATION,
    NOT_FOUND,
    SERVICE_UNAVAILABLE,
    Shell,
    registered_shell,
    settings,
)

from lwm2m.client.events import Event, RdEvent
from lwm2m.client.rd import (
    REGISTRATION_TABLE,
    REGISTRATION_TIMERS,
    CloseConnection,
    RdCoordinator,
    RegistrationMachine,
    RegState,
    RetryPolicy,
    SendDeregister,
    SendRegister,
    SendUpdate,
    ServerAccount,
    Timer,
)

EXCHANGE = 93.0  # a confirmable request gives up after MAX_TRANSMIT_WAIT


def machine(coord: RdCoordinator, server: int = 1) -> RegistrationMachine:
    return coord.servers[server]


# --------------------------------------------------------------------------- the table


def test_table_steps_exist_and_targets_are_states() -> None:
    for (state, _inp), rule in REGISTRATION_TABLE.items():
        assert callable(getattr(RegistrationMachine, "_step_" + rule.step, None)), rule.step
        assert rule.targets and all(isinstance(t, RegState) for t in rule.targets)
        assert isinstance(state, RegState)
    assert set(REGISTRATION_TIMERS) == set(RegState)


def test_every_state_but_idle_can_stop() -> None:
    for state in RegState:
        if state is not RegState.IDLE:
            assert any(s is state and i.name.startswith("STOP") for s, i in REGISTRATION_TABLE)


# --------------------------------------------------------------------------- full life


def test_int_101_register_then_updates_at_the_right_times() -> None:
    shell, coord = registered_shell()
    first = shell.requests[0][1]
    assert isinstance(first, SendRegister)
    assert first.query == ("lwm2m=1.1", "ep=dev-1", "lt=300")
    assert first.path == ("rd",) and first.object_links
    assert shell.kinds() == [RdEvent.REGISTRATION_COMPLETE]
    assert shell.events[0].detail == "/rd/5a3f" and shell.events[0].server == 1
    assert machine(coord).location == ("rd", "5a3f")
    # due at max(lifetime - 93, lifetime / 2) = 207 s after each success
    times = []
    for _ in range(3):
        req = shell.next_request()
        assert isinstance(req, SendUpdate)
        assert req.location == ("rd", "5a3f") and req.query == () and not req.object_links
        times.append(shell.now)
        shell.answer(CHANGED)
    assert times == [207.0, 414.0, 621.0]
    assert shell.kinds().count(RdEvent.REG_UPDATE_COMPLETE) == 3
    assert machine(coord).state is RegState.REGISTERED


def test_update_at_half_the_lifetime_when_the_margin_is_larger() -> None:
    shell, _ = registered_shell(ServerAccount(1, lifetime=60))
    shell.next_request()
    assert shell.now == 30.0


def test_server_gone_for_ten_minutes_backoff_then_recovery() -> None:
    shell, coord = registered_shell(retry=RetryPolicy(attempts=3, random=lambda: 0.0))
    for _ in range(3):
        shell.next_request()
        shell.answer(CHANGED)
    assert shell.now == 621.0
    # the server disappears at t=800 and comes back at t=1400
    update = shell.next_request()
    assert isinstance(update, SendUpdate) and shell.now == 828.0
    shell.time_out(after=EXCHANGE)  # t=921: the lifetime (621 + 300) is over
    assert shell.kinds()[-2:] == [RdEvent.REG_UPDATE_FAILURE, RdEvent.REG_TIMEOUT]
    assert isinstance(shell.last(), SendRegister)
    sends = [shell.now]
    failed_at = []
    while True:
        shell.time_out(after=EXCHANGE)
        failed_at.append(shell.now)
        req = shell.next_request()
        assert isinstance(req, SendRegister)
        sends.append(shell.now)
        if shell.now > 1400:
            break
    # The back-off (15, 30, 45, 45 s) runs from the start of each attempt: every
    # attempt already waited 93 s for its retransmissions, so the next one follows.
    waits = [s - f for f, s in zip(failed_at, sends[1:], strict=True)]
    assert waits == [0.0] * 6
    assert sends == [921.0 + 93.0 * n for n in range(7)]
    # reported once the attempts are used up, at every failure from then on
    assert shell.kinds().count(RdEvent.REGISTRATION_FAILURE) == 4
    assert "attempt 6" in shell.events[-1].detail
    shell.answer(CREATED, ["rd", "77"])
    assert shell.kinds()[-1] is RdEvent.REGISTRATION_COMPLETE
    assert machine(coord).failures == 0 and not machine(coord).exhausted
    req = shell.next_request()
    assert isinstance(req, SendUpdate) and req.location == ("rd", "77")
    assert shell.now == sends[-1] + 207.0


def test_backoff_is_capped_and_never_stops() -> None:
    policy = RetryPolicy(initial_delay=10, max_delay=60, attempts=2, random=lambda: 0.0)
    coord = RdCoordinator(settings(retry=policy), [ServerAccount(1)])
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    waits = []
    for _ in range(8):
        shell.answer(SERVICE_UNAVAILABLE)
        before = shell.now
        shell.next_request()
        waits.append(shell.now - before)
    assert waits == [10, 20, 40, 60, 60, 60, 60, 60]
    assert shell.kinds().count(RdEvent.REGISTRATION_FAILURE) == 7


def test_retry_policy_jitter_only_shortens_the_wait() -> None:
    draws = iter([0.0, 0.5, 0.999])
    policy = RetryPolicy(initial_delay=100, max_delay=900, jitter=0.2, random=lambda: next(draws))
    assert policy.delay(1) == 100.0
    assert policy.delay(1) == pytest.approx(90.0)
    assert 80.0 < policy.delay(1) < 80.1
    big = RetryPolicy(random=lambda: 0.0)
    assert big.delay(10_000) == big.max_delay  # no overflow on long outages


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_delay": 0},
        {"factor": 0.5},
        {"initial_delay": 10, "max_delay": 5},
        {"jitter": 1.0},
        {"attempts": 0},
    ],
)
def test_retry_policy_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_initial_registration_delay() -> None:
    coord = RdCoordinator(settings(), [ServerAccount(1, initial_delay=12)])
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    assert shell.requests == [] and machine(coord).state is RegState.WAIT_REGISTER
    shell.next_request()
    assert shell.now == 12.0


# --------------------------------------------------------------------------- update content


def test_int_105_update_answered_404_registers_again() -> None:
    shell, _ = registered_shell()
    shell.next_request()
    shell.answer(NOT_FOUND)
    req = shell.last()
    assert isinstance(req, SendRegister) and shell.now == 207.0
    assert req.query == ("lwm2m=1.1", "ep=dev-1", "lt=300") and req.object_links
    assert shell.kinds()[-1] is RdEvent.REG_UPDATE_FAILURE
    shell.answer(CREATED, ["rd", "new"])
    upd = shell.next_request()
    assert isinstance(upd, SendUpdate) and upd.location == ("rd", "new")


def test_update_refused_with_other_4xx_registers_again() -> None:
    shell, _ = registered_shell()
    shell.next_request()
    shell.answer(BAD_REQUEST)
    assert isinstance(shell.last(), SendRegister)


def test_int_102_lifetime_write_sends_update_with_only_lt() -> None:
    shell, coord = registered_shell()
    shell.advance(50.0)
    shell.apply(machine(coord).lifetime_changed(1000, shell.now))
    req = shell.last()
    assert isinstance(req, SendUpdate)
    assert req.query == ("lt=1000",) and not req.object_links
    shell.answer(CHANGED)
    nxt = shell.next_request()
    assert isinstance(nxt, SendUpdate) and nxt.query == ()
    assert shell.now == 50.0 + 1000 - 93


def test_binding_and_object_changes_carry_only_what_changed() -> None:
    shell, coord = registered_shell()
    m = machine(coord)
    shell.apply(m.objects_changed(10.0))
    req = shell.last()
    assert isinstance(req, SendUpdate) and req.object_links and req.query == ()
    # changes while the Update is in flight wait for it, then go in one more Update
    shell.apply(m.binding_changed("UT", 11.0))
    shell.apply(m.lifetime_changed(600, 11.0))
    assert shell.last() is req
    shell.answer(CHANGED)
    nxt = shell.last()
    assert isinstance(nxt, SendUpdate) and nxt is not req
    assert nxt.query == ("lt=600", "b=UT") and not nxt.object_links
    shell.answer(CHANGED)
    assert m.state is RegState.REGISTERED


def test_update_failure_keeps_the_unacknowledged_changes() -> None:
    shell, coord = registered_shell()
    shell.advance(10.0)
    shell.apply(machine(coord).lifetime_changed(400, 10.0))
    shell.answer(SERVICE_UNAVAILABLE)
    assert machine(coord).state is RegState.UPDATE_BACKOFF
    retry = shell.next_request()
    assert isinstance(retry, SendUpdate) and retry.query == ("lt=400",)
    assert shell.now == 25.0


def test_change_during_register_is_sent_right_after_it() -> None:
    coord = RdCoordinator(settings(), [ServerAccount(1, lifetime=300)])
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    shell.apply(machine(coord).lifetime_changed(900, 0.5))
    shell.answer(CREATED, LOCATION)
    req = shell.last()
    assert isinstance(req, SendUpdate) and req.query == ("lt=900",)


def test_update_5xx_retries_update_until_the_lifetime_ends() -> None:
    policy = RetryPolicy(initial_delay=40, max_delay=900, random=lambda: 0.0)
    shell, _ = registered_shell(retry=policy)
    shell.next_request()  # t=207, expires at 300
    shell.answer(SERVICE_UNAVAILABLE)
    assert shell.kinds()[-1] is RdEvent.REG_UPDATE_FAILURE
    retry = shell.next_request()
    assert isinstance(retry, SendUpdate) and shell.now == 247.0
    shell.answer(SERVICE_UNAVAILABLE)
    # the next back-off (80 s) would pass the end of the lifetime: retry at 300
    assert shell.timers[(1, Timer.RETRY)] == 300.0
    shell.advance(300.0)
    assert RdEvent.REG_TIMEOUT in shell.kinds()
    assert isinstance(shell.last(), SendRegister)


def test_update_network_error_reports_it() -> None:
    shell, coord = registered_shell()
    shell.next_request()
    shell.unreachable()
    assert shell.kinds()[-2:] == [RdEvent.NETWORK_ERROR, RdEvent.REG_UPDATE_FAILURE]
    assert machine(coord).state is RegState.UPDATE_BACKOFF


def test_int_104_update_trigger() -> None:
    shell, coord = registered_shell()
    shell.apply(machine(coord).update_trigger(30.0))
    req = shell.last()
    assert isinstance(req, SendUpdate) and req.query == ()
    # a second trigger while the first Update is in flight: one more Update afterwards
    shell.apply(machine(coord).update_trigger(31.0))
    assert shell.last() is req
    shell.answer(CHANGED)
    assert shell.last() is not req and isinstance(shell.last(), SendUpdate)


def test_update_trigger_during_update_backoff_sends_now() -> None:
    shell, coord = registered_shell()
    shell.next_request()
    shell.time_out(after=10)
    assert machine(coord).state is RegState.UPDATE_BACKOFF
    shell.apply(machine(coord).update_trigger(shell.now))
    assert isinstance(shell.last(), SendUpdate)
    assert (1, Timer.RETRY) not in shell.timers


# --------------------------------------------------------------------------- disable


def test_int_103_disable_deregisters_and_registers_after_timeout() -> None:
    shell, coord = registered_shell()
    m = machine(coord)
    shell.advance(100.0)
    shell.apply(m.disable(100.0, timeout=60))
    req = shell.last()
    assert isinstance(req, SendDeregister) and req.location == ("rd", "5a3f")
    assert shell.kinds()[-1] is RdEvent.SERVER_DISABLED
    shell.answer(DELETED)
    assert shell.kinds()[-1] is RdEvent.DEREGISTER_COMPLETE
    assert m.state is RegState.DISABLED and not m.accepts_requests
    assert shell.of_type(CloseConnection)
    assert shell.timers == {(1, Timer.DISABLE): 160.0}
    # the client ignores the server while disabled
    assert m.update_trigger(120.0) == [] and m.server_activity(120.0) == []
    req = shell.next_request()
    assert isinstance(req, SendRegister) and shell.now == 160.0
    shell.answer(CREATED, LOCATION)
    assert machine(coord).state is RegState.REGISTERED


def test_disable_with_unanswered_deregister_still_disables() -> None:
    shell, coord = registered_shell()
    shell.advance(5.0)
    shell.apply(machine(coord).disable(5.0))
    shell.time_out(after=EXCHANGE)
    assert shell.kinds()[-1] is RdEvent.DEREGISTER_FAILURE
    assert shell.timers == {(1, Timer.DISABLE): 5.0 + EXCHANGE + 86400}


def test_disable_while_not_registered_sends_nothing() -> None:
    coord = RdCoordinator(settings(), [ServerAccount(1, disable_timeout=30)])
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    shell.apply(machine(coord).disable(1.0))
    assert len(shell.requests) == 1 and machine(coord).state is RegState.DISABLED
    shell.answer(CREATED, LOCATION)  # the Register's late answer
    assert machine(coord).state is RegState.DISABLED
    shell.next_request()
    assert shell.now == 31.0


# --------------------------------------------------------------------------- queue mode


def test_int_108_109_queue_mode_rx_window_and_wake_up() -> None:
    shell, coord = registered_shell(ServerAccount(1, lifetime=3600, queue_mode=True))
    m = machine(coord)
    reg = shell.requests[0][1]
    assert isinstance(reg, SendRegister) and reg.query[-1] == "Q"
    assert shell.timers[(1, Timer.QUEUE_RX)] == 93.0
    shell.advance(50.0)
    shell.apply(m.server_activity(50.0))  # the server's last request
    assert shell.timers[(1, Timer.QUEUE_RX)] == 143.0
    shell.advance(142.0)
    assert m.state is RegState.REGISTERED
    shell.advance(143.0)
    assert (
        shell.kinds()[-1] is RdEvent.QUEUE_MODE_RX_OFF and machine(coord).state is RegState.SLEEPING
    )
    # wake-up: the first thing sent is an Update
    shell.apply(m.wake_up(1000.0))
    assert isinstance(shell.last(), SendUpdate) and machine(coord).state is RegState.UPDATING
    shell.now = 1000.0
    shell.answer(CHANGED)
    assert shell.timers[(1, Timer.QUEUE_RX)] == 1093.0
    # asleep when the Update is due: the timer wakes it
    shell.advance(1093.0)
    assert machine(coord).state is RegState.SLEEPING
    upd = shell.next_request()
    assert isinstance(upd, SendUpdate) and shell.now == 1000.0 + 3600 - 93


def test_queue_mode_switch_registers_again_in_1_1_and_updates_b_in_1_0() -> None:
    shell, coord = registered_shell()
    shell.apply(machine(coord).queue_mode_changed(True, 5.0))
    assert isinstance(shell.last(), SendRegister) and shell.last().query[-1] == "Q"  # type: ignore[union-attr]
    shell10, coord10 = registered_shell(lwm2m_version="1.0")
    shell10.apply(machine(coord10).queue_mode_changed(True, 5.0))
    req = shell10.last()
    assert isinstance(req, SendUpdate) and req.query == ("b=UQ",)


# --------------------------------------------------------------------------- address change, stop


def test_address_change_registers_again_and_drops_the_old_exchange() -> None:
    shell, coord = registered_shell()
    update = shell.next_request()
    shell.apply(machine(coord).address_changed(shell.now))
    reg = shell.last()
    assert isinstance(reg, SendRegister)
    assert shell.answer(CHANGED, request=update) == []  # stale answer: ignored
    shell.answer(CREATED, ["rd", "x"])
    assert machine(coord).location == ("rd", "x")


def test_stop_with_deregistration() -> None:
    shell, coord = registered_shell()
    shell.apply(coord.stop(10.0))
    req = shell.last()
    assert isinstance(req, SendDeregister) and req.location == ("rd", "5a3f")
    assert shell.timers == {}
    shell.answer(DELETED)
    assert shell.kinds()[-2:] == [RdEvent.DEREGISTER_COMPLETE, RdEvent.DISCONNECT]
    assert machine(coord).state is RegState.IDLE and machine(coord).location is None


def test_stop_with_unanswered_deregistration_reports_failure() -> None:
    shell, coord = registered_shell()
    shell.apply(coord.stop(10.0))
    shell.time_out(after=EXCHANGE)
    assert shell.kinds()[-2:] == [RdEvent.DEREGISTER_FAILURE, RdEvent.DISCONNECT]
    assert machine(coord).state is RegState.IDLE


def test_stop_without_deregistration() -> None:
    shell, coord = registered_shell()
    n = len(shell.requests)
    shell.apply(coord.stop(10.0, deregister=False))
    assert len(shell.requests) == n and shell.timers == {}
    assert shell.kinds()[-1] is RdEvent.DISCONNECT
    assert machine(coord).state is RegState.IDLE


def test_stop_while_waiting_to_retry_sends_nothing() -> None:
    coord = RdCoordinator(settings(), [ServerAccount(1)])
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    shell.answer(SERVICE_UNAVAILABLE)
    shell.apply(coord.stop(1.0))
    assert len(shell.requests) == 1 and shell.timers == {}
    assert machine(coord).state is RegState.IDLE
    # and it can start again
    shell.apply(coord.start(2.0))
    assert isinstance(shell.last(), SendRegister) and len(shell.requests) == 2


# --------------------------------------------------------------------------- garbage


@pytest.mark.parametrize(
    ("code", "location"),
    [
        (CREATED, []),  # Location-Path missing
        (CREATED, ["rd", ""]),  # empty segment
        (CREATED, ["rd/5a3f"]),  # a slash inside a segment
        (CREATED, [".."]),
        (CREATED, [b"\xff\xfe"]),  # not UTF-8
        (CREATED, [42]),  # not text
        (CREATED, ["x" * 256]),
        (CHANGED, LOCATION),  # 2.04 is not the answer to Register
        (0x45, LOCATION),  # 2.05
        (FORBIDDEN, []),
        (999, []),  # not a code
        ("2.01", LOCATION),  # not even a number
        (None, LOCATION),
    ],
)
def test_bad_register_answer_is_a_failure_and_retried(code: object, location: list[object]) -> None:
    coord = RdCoordinator(settings(), [ServerAccount(1)])
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    req = shell.last()
    out = shell.apply(coord.response(1, req.token, code, 0.0, location))  # type: ignore[arg-type]
    assert machine(coord).state is RegState.WAIT_REGISTER
    assert machine(coord).location is None
    assert (1, Timer.RETRY) in shell.timers
    assert not any(isinstance(a, Event) and a.kind is RdEvent.REGISTRATION_COMPLETE for a in out)


def test_inputs_that_make_no_sense_are_ignored() -> None:
    coord = RdCoordinator(settings(), [ServerAccount(1)])
    m = machine(coord)
    assert m.wake_up(0.0) == []
    assert m.disable(0.0) == []
    assert m.server_activity(0.0) == []
    assert m.update_trigger(0.0) == []
    assert m.response(1, CREATED, 0.0, LOCATION) == []  # nothing in flight
    assert m.timeout(7, 0.0) == []
    assert m.timer_fired(Timer.UPDATE, 0.0) == []  # not running
    assert m.stop(0.0) == []
    assert coord.response(99, 1, CREATED, 0.0) == []  # unknown server
    assert m.state is RegState.IDLE
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    assert m.start(0.0) == []  # already started
    assert m.response(shell.last().token + 5, CREATED, 0.0, LOCATION) == []  # wrong token
    assert machine(coord).state is RegState.REGISTERING


def test_network_error_without_a_request_is_reported_only() -> None:
    shell, coord = registered_shell()
    out = shell.apply(coord.network_error(1, None, 5.0, "port unreachable"))
    assert [e.kind for e in out if isinstance(e, Event)] == [RdEvent.NETWORK_ERROR]
    assert machine(coord).state is RegState.REGISTERED


def test_register_network_error_backs_off_and_reports() -> None:
    coord = RdCoordinator(settings(), [ServerAccount(1)])
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    shell.unreachable()
    assert shell.kinds() == [RdEvent.NETWORK_ERROR]
    assert shell.timers == {(1, Timer.RETRY): 15.0}


def test_invalid_lifetime_write_is_ignored() -> None:
    shell, coord = registered_shell()
    n = len(shell.requests)
    assert machine(coord).lifetime_changed(0, 1.0) == []
    assert len(shell.requests) == n

"""The registration procedure of Core TS 1.1 6.2.1.1 on a fake clock, and the version fall-back.

/1/x/13 Registration Priority Order, /1/x/14 Initial Registration Delay Timer,
/1/x/15 Registration Failure Block, /1/x/16 Bootstrap on Registration Failure and
/1/x/17-20 the communication retry counts and timers decide when each Register is
sent; a 4.12 to a Register makes the client try the next lower LwM2M version at once.
Every test records the exact times of the attempts.
"""

from __future__ import annotations

import sys
from pathlib import Path as FsPath

import pytest

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared rd_harness module
from rd_harness import CHANGED, CREATED, LOCATION, SERVICE_UNAVAILABLE, Shell, no_jitter

from lwm2m.client.accounts import NO_MORE_SEQUENCES, server_accounts
from lwm2m.client.events import Event, RdEvent
from lwm2m.client.rd import (
    BsState,
    ClientSettings,
    OpenConnection,
    RdCoordinator,
    RegState,
    RetryPolicy,
    SendBootstrapRequest,
    SendRegister,
    ServerAccount,
    Timer,
)

PRECONDITION_FAILED, FORBIDDEN = 0x8C, 0x83


def procedure_settings(**kw: object) -> ClientSettings:
    """Settings without an explicit retry policy: the Server object's procedure applies;
    the client's own bounded back-off (no jitter here) stands in for unset timers."""
    kw.setdefault("default_retry", RetryPolicy(random=no_jitter))
    kw.setdefault("bootstrap_retry", RetryPolicy(random=no_jitter))
    return ClientSettings(endpoint="dev-1", **kw)  # type: ignore[arg-type]


def start(*accounts: ServerAccount, bootstrap: bool = False, **kw: object) -> Shell:
    shell = Shell(RdCoordinator(procedure_settings(**kw), accounts, bootstrap=bootstrap))
    shell.apply(shell.coord.start(0.0))
    return shell


def registers(shell: Shell, server: int | None = None) -> list[float]:
    """When the Registers (to ``server``) were sent."""
    return [
        t
        for t, r in shell.requests
        if isinstance(r, SendRegister) and (server is None or r.server == server)
    ]


def fail_every_register(shell: Shell, until: float, code: int = SERVICE_UNAVAILABLE) -> None:
    """Answer every Register with ``code`` up to ``until`` (timers fire in order)."""
    while True:
        pending = [r for _, r in shell.requests if r.token == _inflight(shell, r.server)]
        for req in pending:
            shell.answer(code, request=req)
        if not shell.timers or min(shell.timers.values()) > until:
            return
        shell.advance(min(shell.timers.values()))


def _inflight(shell: Shell, server: int | None) -> int | None:
    machine = shell.coord.machine(server)
    return None if machine is None else machine.pending_token


# --------------------------------------------------------------------------- one server


def test_communication_retry_count_and_timer_then_sequence_delay() -> None:
    # /1/x/17 = 3 attempts per sequence, /1/x/18 = 10 s doubled at each attempt,
    # /1/x/19 = 100 s between sequences, /1/x/20 = 2 sequences, then failure for good.
    account = ServerAccount(
        1, retry_count=3, retry_timer=10, sequence_delay=100, sequence_retry_count=2
    )
    shell = start(account)
    fail_every_register(shell, until=1e6)
    assert registers(shell) == [0.0, 10.0, 30.0, 130.0, 140.0, 160.0]
    machine = shell.coord.servers[1]
    assert machine.state is RegState.FAILED and machine.registration_failed
    assert shell.timers == {}
    failures = [e for e in shell.events if e.kind is RdEvent.REGISTRATION_FAILURE]
    # failed after the second sequence (20 is 2), reported once: no further attempt
    assert len(failures) == 1 and "no further attempt" in failures[0].detail


def test_sequence_delay_max_value_means_no_other_sequence() -> None:
    account = ServerAccount(1, retry_count=2, retry_timer=5, sequence_delay=NO_MORE_SEQUENCES)
    shell = start(account)
    fail_every_register(shell, until=1e6)
    assert registers(shell) == [0.0, 5.0]
    assert shell.coord.servers[1].state is RegState.FAILED


def test_a_retry_timer_of_zero_never_hammers() -> None:
    shell = start(ServerAccount(1, retry_count=3, retry_timer=0, sequence_retry_count=1))
    fail_every_register(shell, until=1e6)
    assert registers(shell) == [0.0, 1.0, 2.0]  # at least 1 s apart


def test_unset_resources_keep_the_bounded_back_off_and_never_give_up() -> None:
    # Nothing of /1/x/17-20 set: 5 attempts per sequence (the spec's default count),
    # the registration reported failed after the first sequence, the attempts going on
    # with the client's back-off (15, 30, 45, 45 ... s) so a returning server is found
    # within a minute.
    shell = start(ServerAccount(1))
    fail_every_register(shell, until=400.0)
    times = registers(shell)
    assert times[:8] == [0.0, 15.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0]
    failures = [e for e in shell.events if e.kind is RdEvent.REGISTRATION_FAILURE]
    assert "attempt 5" in failures[0].detail  # one sequence of 5 attempts, then reported
    assert shell.coord.servers[1].state is RegState.WAIT_REGISTER


def test_spec_default_timers_written_explicitly_are_followed() -> None:
    # /1/x/17-20 written with the values of Table 6.2.1.1-1: 5 attempts 60 s doubling,
    # one sequence, then the registration has failed for good.
    account = ServerAccount(
        1, retry_count=5, retry_timer=60, sequence_delay=86400, sequence_retry_count=1
    )
    shell = start(account)
    fail_every_register(shell, until=1e6)
    assert registers(shell) == [0.0, 60.0, 180.0, 420.0, 900.0]
    assert shell.coord.servers[1].state is RegState.FAILED


def test_initial_registration_delay_only_until_the_first_registration() -> None:
    shell = start(ServerAccount(1, initial_delay=30))
    assert registers(shell) == []
    shell.advance(30.0)
    assert registers(shell) == [30.0]
    shell.answer(CREATED, LOCATION)
    machine = shell.coord.servers[1]
    shell.apply(machine.stop(40.0, deregister=False))
    shell.now = 40.0
    shell.apply(machine.start(40.0))
    assert registers(shell) == [30.0, 40.0]  # no delay the second time


def test_explicit_rejection_bootstraps_at_once() -> None:
    shell = start(ServerAccount(1), bootstrap=True)
    shell.answer(FORBIDDEN)
    assert isinstance(shell.last(), SendBootstrapRequest)
    assert shell.kinds_for(1)[:1] == [RdEvent.REGISTRATION_FAILURE]


def test_explicit_rejection_without_bootstrap_on_failure_keeps_trying() -> None:
    shell = start(ServerAccount(1, bootstrap_on_failure=False), bootstrap=True)
    shell.answer(FORBIDDEN)
    assert shell.coord.bootstrap is not None and shell.coord.bootstrap.state is BsState.IDLE
    assert shell.timers == {(1, Timer.RETRY): 15.0}


def test_procedure_resources_from_the_server_object() -> None:
    security = {0: {0: "coap://a.example", 1: False, 2: 3, 10: 7}}
    server = {
        0: {0: 7, 1: 60, 7: "U", 13: 2, 14: 5, 15: True, 16: False} | {17: 4, 18: 3, 19: 600, 20: 2}
    }
    [account] = server_accounts(security, server)
    assert (account.priority, account.initial_delay, account.failure_block) == (2, 5.0, True)
    assert not account.bootstrap_on_failure
    assert (account.retry_count, account.retry_timer) == (4, 3.0)
    assert (account.sequence_delay, account.sequence_retry_count) == (600.0, 2)
    [plain] = server_accounts(security, {0: {0: 7, 1: 60, 7: "U"}})
    assert plain.priority is None and plain.bootstrap_on_failure and not plain.failure_block
    assert plain.retry_count is plain.retry_timer is plain.sequence_delay is None


def test_an_explicit_retry_policy_overrides_the_server_object() -> None:
    account = ServerAccount(1, retry_count=2, retry_timer=100, sequence_retry_count=1)
    policy = RetryPolicy(initial_delay=1, max_delay=4, attempts=3, random=no_jitter)
    shell = start(account, retry=policy)
    fail_every_register(shell, until=20.0)
    assert registers(shell)[:6] == [0.0, 1.0, 3.0, 7.0, 11.0, 15.0]
    assert shell.coord.servers[1].state is RegState.WAIT_REGISTER  # never gives up


# --------------------------------------------------------------------------- several servers


def test_two_servers_in_priority_order_with_initial_delays() -> None:
    # Server 2 has the lower order: it goes first; server 1 starts when 2 registered,
    # its Initial Registration Delay (20 s) counted from then.
    first = ServerAccount(2, priority=1, initial_delay=10)
    second = ServerAccount(1, priority=5, initial_delay=20)
    shell = start(first, second)
    assert shell.coord.registration_order == [2, 1]
    shell.advance(10.0)
    assert registers(shell, 2) == [10.0] and registers(shell, 1) == []
    shell.now = 12.0
    shell.answer(CREATED, LOCATION)
    assert registers(shell, 1) == []
    shell.advance(32.0)
    assert registers(shell, 1) == [32.0]


def test_two_servers_the_first_fails_without_block_the_second_goes_on() -> None:
    first = ServerAccount(1, priority=0, retry_count=2, retry_timer=10, sequence_retry_count=1)
    second = ServerAccount(2, priority=1)
    shell = start(first, second)
    shell.answer(SERVICE_UNAVAILABLE)
    shell.advance(10.0)
    shell.answer(SERVICE_UNAVAILABLE)
    assert shell.coord.servers[1].state is RegState.FAILED
    assert registers(shell, 1) == [0.0, 10.0] and registers(shell, 2) == [10.0]


def test_three_servers_a_blocking_failure_holds_the_rest_back() -> None:
    # Order 1, 2, 3; server 2 blocks on failure (/1/x/15) and keeps retrying (unset
    # /1/x/20), so server 3 waits until server 2 finally registers.
    one = ServerAccount(1, priority=1)
    two = ServerAccount(2, priority=2, failure_block=True, retry_count=2, retry_timer=10)
    three = ServerAccount(3, priority=3)
    unordered = ServerAccount(4)
    shell = start(one, two, three, unordered)
    assert registers(shell, 1) == [0.0] and registers(shell, 4) == [0.0]  # 4: at once
    [to_one] = [r for _, r in shell.requests if r.server == 1]
    shell.answer(CREATED, LOCATION, request=to_one)
    assert registers(shell, 2) == [0.0]
    two_requests = [r for _, r in shell.requests if r.server == 2]
    shell.answer(SERVICE_UNAVAILABLE, request=two_requests[0])
    shell.advance(10.0)
    shell.answer(SERVICE_UNAVAILABLE)  # second attempt: the sequence and registration fail
    blocked = [e for e in shell.events if e.server is None]
    assert [e.kind for e in blocked] == [RdEvent.REGISTRATION_FAILURE]
    assert "server(s) 3 blocked" in blocked[0].detail
    shell.advance(100.0)
    assert registers(shell, 3) == []
    # next sequence after the bounded back-off (30 s from the start of the last attempt)
    assert registers(shell, 2)[:3] == [0.0, 10.0, 40.0]
    shell = start(one, two, three)
    [to_one] = [r for _, r in shell.requests if r.server == 1]
    shell.answer(CREATED, LOCATION, request=to_one)
    shell.answer(SERVICE_UNAVAILABLE)
    shell.advance(10.0)
    shell.answer(SERVICE_UNAVAILABLE)
    shell.advance(40.0)
    shell.now = 41.0
    shell.answer(CREATED, LOCATION)  # server 2 registered after all: 3 may go
    assert registers(shell, 3) == [41.0]


def test_every_ordered_server_failed_falls_back_to_bootstrap() -> None:
    one = ServerAccount(1, priority=1, failure_block=True, retry_count=1, sequence_retry_count=1)
    two = ServerAccount(2, priority=2)
    shell = start(one, two, bootstrap=True)
    shell.answer(SERVICE_UNAVAILABLE)
    # server 2 never started (blocked): server 1 was the only one tried, it failed.
    assert isinstance(shell.last(), SendBootstrapRequest)
    assert registers(shell, 2) == []


# --------------------------------------------------------------------------- versions


def test_version_fallback_on_412_registers_at_once_with_the_lower_versions() -> None:
    shell = start(ServerAccount(1), lwm2m_version="1.2")
    assert shell.last().query[0] == "lwm2m=1.2"  # type: ignore[union-attr]
    shell.answer(PRECONDITION_FAILED)
    second = shell.last()
    assert isinstance(second, SendRegister) and second.lwm2m_version == "1.1"
    assert second.query[0] == "lwm2m=1.1"
    shell.answer(PRECONDITION_FAILED)
    third = shell.last()
    assert isinstance(third, SendRegister) and third.query[0] == "lwm2m=1.0"
    assert registers(shell) == [0.0, 0.0, 0.0]
    shell.answer(CREATED, LOCATION)
    machine = shell.coord.servers[1]
    assert machine.registered and machine.version == "1.0"
    assert RdEvent.REGISTRATION_FAILURE not in shell.kinds()
    assert shell.events[-1].kind is RdEvent.REGISTRATION_COMPLETE
    assert "LwM2M 1.0" in shell.events[-1].detail
    # the Updates stay on the accepted version, queue mode in b= as 1.0 wants it
    shell.apply(machine.queue_mode_changed(True, 1.0))
    update = shell.last()
    assert update.lwm2m_version == "1.0" and "b=UQ" in update.query  # type: ignore[union-attr]
    shell.answer(CHANGED)


def test_version_fallback_reports_failure_only_when_no_version_is_accepted() -> None:
    shell = start(ServerAccount(1, retry_count=3, retry_timer=10), lwm2m_version="1.1")
    shell.answer(PRECONDITION_FAILED)
    assert RdEvent.REGISTRATION_FAILURE not in shell.kinds()
    shell.answer(PRECONDITION_FAILED)  # 1.0 refused as well
    [failure] = [e for e in shell.events if e.kind is RdEvent.REGISTRATION_FAILURE]
    assert "4.12" in failure.detail and "none of LwM2M 1.1, 1.0" in failure.detail
    assert shell.timers == {(1, Timer.RETRY): 10.0}
    req = shell.next_request()
    assert isinstance(req, SendRegister) and req.query[0] == "lwm2m=1.1"  # from the top again


def test_a_1_0_client_has_nothing_to_fall_back_to() -> None:
    shell = start(ServerAccount(1), lwm2m_version="1.0")
    shell.answer(PRECONDITION_FAILED)
    assert [e.kind for e in shell.events] == [RdEvent.REGISTRATION_FAILURE]


@pytest.mark.parametrize("version", ["1.3", "2.0", ""])
def test_unknown_client_versions_are_refused(version: str) -> None:
    with pytest.raises(ValueError, match="LwM2M version"):
        ClientSettings(endpoint="dev", lwm2m_version=version)


def test_blocked_report_is_an_event() -> None:
    one = ServerAccount(1, priority=1, failure_block=True, retry_count=1)
    shell = start(one, ServerAccount(2, priority=2))
    shell.answer(SERVICE_UNAVAILABLE)
    assert any(isinstance(a, Event) and a.server is None for _, a in shell.actions)


# --------------------------------------------------------------------------- hold-off


def test_hold_off_opens_the_bootstrap_connection_and_waits() -> None:
    coord = RdCoordinator(procedure_settings(), bootstrap=True)
    assert coord.bootstrap is not None
    coord.bootstrap.hold_off = 30.0  # /0/x/11 of the Bootstrap-Server account
    shell = Shell(coord)
    out = shell.apply(coord.start(0.0))
    assert OpenConnection(None) in out
    assert shell.requests == [] and shell.timers == {(None, Timer.RETRY): 30.0}
    shell.advance(30.0)
    assert isinstance(shell.last(), SendBootstrapRequest)

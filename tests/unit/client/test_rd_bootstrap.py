"""Bootstrap state machine and the multi-server coordinator on a fake clock."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path as FsPath

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared rd_harness module
from rd_harness import (
    BAD_REQUEST,
    CHANGED,
    CREATED,
    DELETED,
    INTERNAL_ERROR,
    LOCATION,
    NOT_ACCEPTABLE,
    NOT_FOUND,
    SERVICE_UNAVAILABLE,
    Shell,
    settings,
)

from lwm2m.client.events import RdEvent
from lwm2m.client.rd import (
    BOOTSTRAP_TABLE,
    BOOTSTRAP_TIMERS,
    AnswerFinish,
    BootstrapMachine,
    BsState,
    CloseConnection,
    RdCoordinator,
    RegState,
    RestoreConfig,
    RetryPolicy,
    SaveConfig,
    SendBootstrapRequest,
    SendDeregister,
    SendRegister,
    ServerAccount,
    Timer,
)

EXCHANGE = 93.0

BS_SECURITY = {0: {0: "coap://bs.example", 1: True, 2: 3, 10: 0}}
GOOD_SECURITY = {
    **BS_SECURITY,
    1: {0: "coap://lwm2m.example:5683", 1: False, 2: 3, 10: 101},
}
GOOD_SERVER = {0: {0: 101, 1: 120, 7: "U"}}
BAD_SERVER = {0: {0: 102, 1: 120, 7: "U"}}  # no Security instance with id 102


def bootstrap_shell(**kw: object) -> tuple[Shell, RdCoordinator]:
    coord = RdCoordinator(settings(**kw), bootstrap=True)
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    return shell, coord


def bs(coord: RdCoordinator) -> BootstrapMachine:
    assert coord.bootstrap is not None
    return coord.bootstrap


def test_table_steps_exist() -> None:
    for (state, _inp), rule in BOOTSTRAP_TABLE.items():
        assert callable(getattr(BootstrapMachine, "_step_" + rule.step, None)), rule.step
        assert rule.targets and all(isinstance(t, BsState) for t in rule.targets)
        assert isinstance(state, BsState)
    assert set(BOOTSTRAP_TIMERS) == set(BsState)


def test_int_0_bootstrap_success_then_registration() -> None:
    shell, coord = bootstrap_shell(preferred_format=112)
    assert isinstance(shell.actions[0][1], SaveConfig)
    req = shell.last()
    assert isinstance(req, SendBootstrapRequest)
    assert req.path == ("bs",) and req.query == ("ep=dev-1", "pct=112") and req.server is None
    shell.answer(CHANGED)
    assert shell.kinds() == [RdEvent.BOOTSTRAP_REG_COMPLETE]
    assert bs(coord).state is BsState.BOOTSTRAPPING and bs(coord).accepts_operations
    assert shell.timers == {(None, Timer.BOOTSTRAP_FINISH): 247.0}
    # each bootstrap operation restarts the wait for Finish
    shell.advance(100.0)
    shell.apply(coord.bootstrap_activity(100.0))
    assert shell.timers == {(None, Timer.BOOTSTRAP_FINISH): 347.0}
    out = shell.apply(coord.bootstrap_finish(GOOD_SECURITY, GOOD_SERVER, 120.0))
    answers = [a for a in out if isinstance(a, AnswerFinish)]
    assert answers == [AnswerFinish(CHANGED)]
    assert out.index(answers[0]) < next(
        i for i, a in enumerate(out) if isinstance(a, CloseConnection)
    )
    assert RdEvent.BOOTSTRAP_TRANSFER_COMPLETE in shell.kinds()
    assert bs(coord).state is BsState.DONE and not bs(coord).accepts_operations
    # registration with the written server starts at once
    reg = shell.last()
    assert isinstance(reg, SendRegister) and reg.server == 101
    assert reg.query == ("lwm2m=1.1", "ep=dev-1", "lt=120")
    assert (None, Timer.BOOTSTRAP_FINISH) not in shell.timers
    shell.answer(CREATED, LOCATION)
    assert coord.servers[101].state is RegState.REGISTERED


def test_bootstrap_request_query_without_pct() -> None:
    shell, _ = bootstrap_shell()
    assert shell.last().query == ("ep=dev-1",)  # type: ignore[union-attr]


def test_hold_off_delays_the_request() -> None:
    shell, coord = bootstrap_shell(bootstrap_hold_off=7.0)
    assert shell.requests == [] and bs(coord).state is BsState.WAIT_REQUEST
    shell.next_request()
    assert shell.now == 7.0


def test_bootstrap_request_unanswered_is_retried_with_backoff() -> None:
    shell, coord = bootstrap_shell()
    sends = [0.0]
    for _ in range(3):
        shell.time_out(after=EXCHANGE)
        assert shell.kinds()[-1] is RdEvent.BOOTSTRAP_REG_FAILURE
        assert bs(coord).state is BsState.WAIT_REQUEST
        shell.next_request()
        sends.append(shell.now)
    # The back-off (15, 30, 45 s) runs from the start of each attempt, and each one
    # already waited 93 s for its retransmissions: the next request follows at once.
    gaps = [b - a - EXCHANGE for a, b in itertools.pairwise(sends)]
    assert gaps == [0.0, 0.0, 0.0]


def test_bootstrap_request_refused_is_retried_with_backoff() -> None:
    shell, _ = bootstrap_shell()
    sends = [0.0]
    for _ in range(4):
        shell.answer(INTERNAL_ERROR)
        shell.next_request()
        sends.append(shell.now)
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    assert gaps == [15.0, 30.0, 45.0, 45.0]


def test_bootstrap_request_refused_4xx_and_5xx() -> None:
    for code in (BAD_REQUEST, NOT_FOUND, INTERNAL_ERROR, 0x45):
        shell, _ = bootstrap_shell()
        shell.answer(code)
        assert shell.kinds() == [RdEvent.BOOTSTRAP_REG_FAILURE]
        assert shell.timers == {(None, Timer.RETRY): 15.0}
        assert isinstance(shell.next_request(), SendBootstrapRequest)


def test_bootstrap_network_error() -> None:
    shell, _ = bootstrap_shell()
    shell.unreachable()
    assert shell.kinds() == [RdEvent.NETWORK_ERROR, RdEvent.BOOTSTRAP_REG_FAILURE]


def test_finish_never_comes_restores_and_retries() -> None:
    shell, coord = bootstrap_shell()
    shell.answer(CHANGED)
    shell.apply(coord.bootstrap_activity(0.0))
    shell.advance(247.0)
    assert shell.of_type(RestoreConfig)
    assert shell.kinds()[-1] is RdEvent.BOOTSTRAP_REG_FAILURE
    assert "Bootstrap-Finish" in shell.events[-1].detail
    assert bs(coord).state is BsState.WAIT_REQUEST
    req = shell.next_request()
    assert isinstance(req, SendBootstrapRequest) and shell.now == 262.0


def test_int_9_inconsistent_configuration_is_refused_with_406() -> None:
    shell, coord = bootstrap_shell()
    shell.answer(CHANGED)
    out = shell.apply(coord.bootstrap_finish(GOOD_SECURITY, BAD_SERVER, 10.0))
    assert [a for a in out if isinstance(a, AnswerFinish)] == [AnswerFinish(NOT_ACCEPTABLE)]
    assert any(isinstance(a, RestoreConfig) for a in out)
    assert shell.kinds()[-1] is RdEvent.BOOTSTRAP_REG_FAILURE
    assert "102" in shell.events[-1].detail
    assert coord.servers == {}
    # a new attempt later succeeds
    shell.next_request()
    shell.answer(CHANGED)
    out = shell.apply(coord.bootstrap_finish(GOOD_SECURITY, GOOD_SERVER, shell.now))
    assert AnswerFinish(CHANGED) in out and 101 in coord.servers


def test_finish_outside_a_bootstrap_is_bad_request() -> None:
    coord = RdCoordinator(settings(), [ServerAccount(1)], bootstrap=True)
    assert coord.bootstrap_finish(GOOD_SECURITY, GOOD_SERVER, 0.0) == [AnswerFinish(BAD_REQUEST)]
    plain = RdCoordinator(settings(), [ServerAccount(1)])
    assert plain.bootstrap_finish(GOOD_SECURITY, GOOD_SERVER, 0.0) == [AnswerFinish(BAD_REQUEST)]
    assert plain.bootstrap_activity(0.0) == []


def test_operations_overtaking_the_answer_and_the_late_answer() -> None:
    shell, coord = bootstrap_shell()
    req = shell.last()
    shell.apply(coord.bootstrap_activity(0.2))  # a Bootstrap-Write before the 2.04
    assert bs(coord).state is BsState.BOOTSTRAPPING
    assert shell.kinds() == [RdEvent.BOOTSTRAP_REG_COMPLETE]
    assert shell.answer(CHANGED, request=req) == []  # the late 2.04: ignored


def test_server_initiated_bootstrap_while_waiting() -> None:
    shell, coord = bootstrap_shell(bootstrap_hold_off=30.0)
    shell.apply(coord.bootstrap_activity(1.0))
    assert bs(coord).state is BsState.BOOTSTRAPPING
    assert len(shell.of_type(SaveConfig)) == 1 and shell.requests == []
    out = shell.apply(coord.bootstrap_finish(GOOD_SECURITY, GOOD_SERVER, 2.0))
    assert AnswerFinish(CHANGED) in out


def test_stop_during_bootstrap_restores_the_configuration() -> None:
    shell, coord = bootstrap_shell()
    shell.answer(CHANGED)
    shell.apply(coord.stop(5.0))
    assert shell.of_type(RestoreConfig) and shell.timers == {}
    assert bs(coord).state is BsState.IDLE


def test_bootstrap_answers_that_make_no_sense_are_ignored() -> None:
    _, coord = bootstrap_shell()
    machine = bs(coord)
    assert machine.timer_fired(Timer.BOOTSTRAP_FINISH, 1.0) == []
    assert machine.response(machine.pending_token or 0, 0xFFFF, 1.0) != []  # garbage code
    assert machine.state is BsState.WAIT_REQUEST
    assert machine.response(12345, CHANGED, 1.0) == []
    assert machine.activity(1.0) != []  # server-initiated from WAIT_REQUEST is allowed
    idle = BootstrapMachine(settings())
    assert idle.activity(0.0) == [] and idle.stop(0.0) == []


# --------------------------------------------------------------------------- coordinator


def test_factory_bootstrapped_client_registers_without_bootstrap() -> None:
    coord = RdCoordinator(settings(), [ServerAccount(1)], bootstrap=True)
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    assert [type(r) for _, r in shell.requests] == [SendRegister]


def test_no_account_and_no_bootstrap_is_reported() -> None:
    coord = RdCoordinator(settings())
    out = coord.start(0.0)
    assert [e.kind for e in out] == [RdEvent.REGISTRATION_FAILURE]  # type: ignore[union-attr]


def test_int_7_fall_back_to_bootstrap_after_registration_failures() -> None:
    policy = RetryPolicy(attempts=2, random=lambda: 0.0)
    coord = RdCoordinator(settings(retry=policy), [ServerAccount(1)], bootstrap=True)
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    shell.answer(SERVICE_UNAVAILABLE)
    assert bs(coord).state is BsState.IDLE
    shell.next_request()
    shell.time_out(after=EXCHANGE)
    req = shell.last()
    assert isinstance(req, SendBootstrapRequest)
    assert coord.servers[1].state is RegState.IDLE
    assert RdEvent.DISCONNECT in shell.kinds_for(1)
    assert next(e.detail for e in shell.events if e.server is None).startswith("every server")
    assert shell.kinds_for(1).count(RdEvent.REGISTRATION_FAILURE) == 1
    shell.answer(CHANGED)
    shell.apply(coord.bootstrap_finish(GOOD_SECURITY, GOOD_SERVER, shell.now))
    assert set(coord.servers) == {101}
    assert isinstance(shell.last(), SendRegister) and shell.last().server == 101


def test_no_fall_back_while_another_server_works() -> None:
    policy = RetryPolicy(attempts=1, random=lambda: 0.0)
    accounts = [ServerAccount(1), ServerAccount(2)]
    coord = RdCoordinator(settings(retry=policy), accounts, bootstrap=True)
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    reg1, reg2 = (r for _, r in shell.requests)
    shell.answer(CREATED, LOCATION, request=reg2)
    shell.answer(SERVICE_UNAVAILABLE, request=reg1)
    assert coord.servers[1].exhausted
    assert bs(coord).state is BsState.IDLE
    assert coord.servers[2].state is RegState.REGISTERED
    # server 1 keeps trying on its own
    assert isinstance(shell.next_request(limit=20.0), SendRegister)


def test_no_fall_back_when_the_account_forbids_it() -> None:
    policy = RetryPolicy(attempts=1, random=lambda: 0.0)
    account = ServerAccount(1, bootstrap_on_failure=False)
    coord = RdCoordinator(settings(retry=policy), [account], bootstrap=True)
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    shell.answer(SERVICE_UNAVAILABLE)
    assert not coord.servers[1].exhausted and bs(coord).state is BsState.IDLE
    assert shell.kinds() == [RdEvent.REGISTRATION_FAILURE]


def test_bootstrap_request_trigger_deregisters_and_bootstraps() -> None:
    coord = RdCoordinator(settings(), [ServerAccount(1)], bootstrap=True)
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    shell.answer(CREATED, LOCATION)
    shell.apply(coord.bootstrap_trigger(10.0))
    kinds = [type(r) for _, r in shell.requests]
    assert kinds == [SendRegister, SendDeregister, SendBootstrapRequest]
    dereg = shell.requests[1][1]
    shell.answer(DELETED, request=dereg)
    assert coord.servers[1].state is RegState.IDLE
    assert coord.bootstrap_trigger(11.0) == []  # already bootstrapping


def test_bootstrap_trigger_without_bootstrap_account_is_ignored() -> None:
    coord = RdCoordinator(settings(), [ServerAccount(1)])
    coord.start(0.0)
    assert coord.bootstrap_trigger(1.0) == []


def test_several_servers_each_with_their_own_timers() -> None:
    accounts = [ServerAccount(1, lifetime=300), ServerAccount(2, lifetime=1000)]
    coord = RdCoordinator(settings(), accounts)
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    for _, req in list(shell.requests):
        shell.answer(CREATED, ["rd", str(req.server)], request=req)
    assert shell.timers[(1, Timer.UPDATE)] == 207.0
    assert shell.timers[(2, Timer.UPDATE)] == 907.0
    shell.apply(coord.objects_changed(5.0))
    updates = shell.requests[2:]
    assert {r.server for _, r in updates} == {1, 2}
    assert all(r.object_links for _, r in updates)  # type: ignore[union-attr]
    shell.apply(coord.stop(6.0, deregister=False))
    assert shell.timers == {}

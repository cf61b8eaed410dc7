"""Random input sequences: the machines never raise and keep their invariants."""

from __future__ import annotations

import sys
from pathlib import Path as FsPath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared rd_harness module
from rd_harness import Shell
from rd_harness import settings as client_settings

from lwm2m.client.rd import (
    BOOTSTRAP_TIMERS,
    REGISTRATION_TIMERS,
    RdCoordinator,
    RegState,
    ServerAccount,
    Timer,
)

CODES = st.sampled_from([0x41, 0x42, 0x44, 0x45, 0x80, 0x84, 0x86, 0xA0, 0xA3, -1, 300])
LOCATIONS = st.sampled_from([[], ["rd", "1"], ["rd", ""], [b"\xff"], ["a/b"], ["rd", "9"]])
SERVERS = st.sampled_from([1, 2, None])

STEP = st.one_of(
    st.tuples(st.just("respond"), SERVERS, CODES, LOCATIONS),
    st.tuples(st.just("respond_stale"), SERVERS, CODES, LOCATIONS),
    st.tuples(st.just("timeout"), SERVERS),
    st.tuples(st.just("network_error"), SERVERS),
    st.tuples(st.just("advance"), st.floats(0, 5000)),
    st.tuples(st.just("fire_any"), SERVERS, st.sampled_from(list(Timer))),
    st.tuples(
        st.just("server_input"),
        st.sampled_from([1, 2]),
        st.sampled_from(
            [
                "update_trigger",
                "objects_changed",
                "address_changed",
                "server_activity",
                "wake_up",
                "disable",
                "lifetime",
                "binding",
                "queue_on",
                "queue_off",
            ]
        ),
    ),
    st.tuples(
        st.just("client"),
        st.sampled_from(["start", "stop", "stop_silent", "bs_trigger", "bs_activity", "finish"]),
    ),
)

GOOD_SECURITY = {0: {0: "coap://bs", 1: True, 2: 3}, 1: {0: "coap://s", 1: False, 2: 3, 10: 1}}
GOOD_SERVER = {0: {0: 1, 1: 100}}


def _pending(shell: Shell, server: int | None) -> int | None:
    machine = shell.coord.machine(server)
    return None if machine is None else machine.pending_token


def run(steps: list[tuple[Any, ...]]) -> None:
    accounts = [ServerAccount(1, lifetime=100), ServerAccount(2, lifetime=50, queue_mode=True)]
    coord = RdCoordinator(client_settings(), accounts, bootstrap=True)
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    for step in steps:
        kind = step[0]
        now = shell.now
        if kind == "respond":
            token = _pending(shell, step[1])
            if token is not None:
                shell.apply(coord.response(step[1], token, step[2], now, step[3]))
        elif kind == "respond_stale":
            shell.apply(coord.response(step[1], 10_000, step[2], now, step[3]))
        elif kind == "timeout":
            token = _pending(shell, step[1])
            if token is not None:
                shell.apply(coord.timeout(step[1], token, now))
        elif kind == "network_error":
            shell.apply(coord.network_error(step[1], _pending(shell, step[1]), now, "x"))
        elif kind == "advance":
            shell.advance(now + step[1])
        elif kind == "fire_any":  # a timer fires early, or a stale one after its cancel
            shell.timers.pop((step[1], step[2]), None)
            shell.apply(coord.timer_fired(step[1], step[2], now))
        elif kind == "server_input":
            server_input(shell, step[1], step[2])
        else:
            client_input(shell, step[1])
        check_invariants(shell)


def server_input(shell: Shell, server: int, what: str) -> None:
    machine = shell.coord.servers.get(server)
    if machine is None:
        return
    now = shell.now
    calls = {
        "update_trigger": lambda: machine.update_trigger(now),
        "objects_changed": lambda: machine.objects_changed(now),
        "address_changed": lambda: machine.address_changed(now),
        "server_activity": lambda: machine.server_activity(now),
        "wake_up": lambda: machine.wake_up(now),
        "disable": lambda: machine.disable(now, 200),
        "lifetime": lambda: machine.lifetime_changed(70, now),
        "binding": lambda: machine.binding_changed("UT", now),
        "queue_on": lambda: machine.queue_mode_changed(True, now),
        "queue_off": lambda: machine.queue_mode_changed(False, now),
    }
    shell.apply(calls[what]())


def client_input(shell: Shell, what: str) -> None:
    coord, now = shell.coord, shell.now
    if what == "start":
        shell.apply(coord.start(now))
    elif what == "stop":
        shell.apply(coord.stop(now))
    elif what == "stop_silent":
        shell.apply(coord.stop(now, deregister=False))
    elif what == "bs_trigger":
        shell.apply(coord.bootstrap_trigger(now))
    elif what == "bs_activity":
        shell.apply(coord.bootstrap_activity(now))
    else:
        shell.apply(coord.bootstrap_finish(GOOD_SECURITY, GOOD_SERVER, now))


def check_invariants(shell: Shell) -> None:
    coord = shell.coord
    running: dict[tuple[int | None, Timer], float] = {}
    for sid, machine in coord.servers.items():
        assert set(machine.deadlines) <= REGISTRATION_TIMERS[machine.state]
        running.update({(sid, t): d for t, d in machine.deadlines.items()})
        if machine.state in (RegState.IDLE, RegState.WAIT_REGISTER, RegState.DISABLED):
            assert machine.location is None and machine.pending_token is None
        if machine.registered:
            assert machine.location is not None
    assert coord.bootstrap is not None
    assert set(coord.bootstrap.deadlines) <= BOOTSTRAP_TIMERS[coord.bootstrap.state]
    running.update({(None, t): d for t, d in coord.bootstrap.deadlines.items()})
    # the shell's timers are exactly the machines' timers (old machines' timers cancelled)
    assert shell.timers == running


@settings(max_examples=150, deadline=None)
@given(st.lists(STEP, max_size=40))
def test_random_inputs_never_raise_and_keep_invariants(steps: list[tuple[Any, ...]]) -> None:
    run(steps)


@pytest.mark.slow
@settings(max_examples=5000, deadline=None)
@given(st.lists(STEP, max_size=120))
def test_random_inputs_long(steps: list[tuple[Any, ...]]) -> None:
    run(steps)

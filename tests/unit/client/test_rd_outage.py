"""A server outage on a fake clock: the default retry policy finds the server again in time.

The registration machine is driven as the asyncio shell drives it, and the
CoAP message layer is modelled with the RFC 7252 default transmission
parameters: a confirmable request goes out at 0, t, 3t, 7t and 15t (t, the
first ACK timeout, is between 2 and 3 s) and gives up at 31t. The server is
absent from ``down`` to ``up``. An absent server either makes the request
fail at once (ICMP port unreachable, the usual case for a server process that
died) or never answers (a host that is gone). The first transmission after
``up`` is answered; the client must be registered again within 60 s of ``up``,
whatever the outage length, and must not send more than a few attempts a
minute meanwhile.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path as FsPath

import pytest

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared rd_harness module
from rd_harness import CHANGED, CREATED, LOCATION, NOT_FOUND, Shell

from lwm2m.client.events import RdEvent
from lwm2m.client.rd import (
    ClientSettings,
    RdCoordinator,
    RetryPolicy,
    SendRegister,
    SendUpdate,
    ServerAccount,
)

BOUND = 60.0
MAX_RETRANSMIT = 4
LIFETIME = 300
FIRST_UPDATE = 207.0  # max(300 - 93, 150) after the Register at t=0


@dataclass
class Outcome:
    recovered_after: float  # seconds from the server's return to the next registration
    attempts: list[float]  # start times of the requests sent while the server was away


def _retransmissions(start: float, t: float) -> tuple[list[float], float]:
    """When a confirmable request sent at ``start`` goes out, and when it gives up."""
    sends = [start + t * ((1 << k) - 1) for k in range(MAX_RETRANSMIT + 1)]
    return sends, start + t * ((1 << (MAX_RETRANSMIT + 1)) - 1)


def run_outage(
    outage: float,
    *,
    icmp: bool,
    ack_timeout: float = 2.0,
    draw: Callable[[], float] = lambda: 0.5,
    kept: bool = False,
    down: float = FIRST_UPDATE - 1.0,
) -> Outcome:
    """Register at 0, lose the server from ``down`` for ``outage`` seconds; see the docstring.

    ``kept``: the returning server still has the registration (a persistent store), so
    the Update is accepted; otherwise it answers 4.04 and the client registers again.
    """
    up = down + outage
    # The client's settings are the defaults; only the jitter draws are injected.
    settings = ClientSettings(endpoint="dev-1", default_retry=RetryPolicy(random=draw))
    coord = RdCoordinator(settings, [ServerAccount(1, lifetime=LIFETIME)])
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    shell.answer(CREATED, LOCATION)
    attempts: list[float] = []
    handled = len(shell.requests)
    while True:
        if len(shell.requests) == handled:
            shell.next_request()
        sent, request = shell.requests[handled]
        handled += 1
        assert isinstance(request, SendRegister | SendUpdate)
        if down <= sent < up:
            attempts.append(sent)
            if icmp:
                shell.unreachable(request)
                continue
            sends, give_up = _retransmissions(sent, ack_timeout)
            answered_at = next((s for s in sends if s >= up), None)
            if answered_at is None:
                shell.advance(give_up)
                shell.time_out(request=request)
                continue
            shell.advance(answered_at)
        if isinstance(request, SendRegister):
            shell.answer(CREATED, ["rd", "again"], request=request)
        else:
            shell.answer(CHANGED if kept or sent < down else NOT_FOUND, request=request)
        last = shell.events[-1]
        if shell.now >= up and last.kind in (
            RdEvent.REGISTRATION_COMPLETE,
            RdEvent.REG_UPDATE_COMPLETE,
        ):
            return Outcome(shell.now - up, attempts)
        assert shell.now < up + 10 * BOUND, "the client never came back"


def _busiest_minute(attempts: list[float], after: float) -> int:
    """The most attempts started within one 60 s window that begins after ``after``."""
    later = [a for a in attempts if a >= after]
    return max((sum(1 for b in later if a <= b < a + 60) for a in later), default=0)


@pytest.mark.parametrize("outage", [10.0, 120.0, 600.0], ids=["10s", "2min", "10min"])
@pytest.mark.parametrize("icmp", [True, False], ids=["unreachable", "silent"])
@pytest.mark.parametrize("kept", [True, False], ids=["store-kept", "store-lost"])
def test_registered_again_within_a_minute_of_the_return(
    outage: float, icmp: bool, kept: bool
) -> None:
    worst = 0.0
    for seed in range(10):
        rng = random.Random(seed)
        ack_timeout = 2.0 + rng.random()  # RFC 7252: ACK_TIMEOUT x [1, ACK_RANDOM_FACTOR]
        result = run_outage(outage, icmp=icmp, ack_timeout=ack_timeout, draw=rng.random, kept=kept)
        worst = max(worst, result.recovered_after)
        assert result.attempts, "the outage went unnoticed: the model is wrong"
        assert result.recovered_after <= BOUND, (
            f"seed {seed}: registered {result.recovered_after:.1f} s after the server's "
            f"return (outage {outage:.0f} s, attempts at {result.attempts})"
        )
    assert worst > 0.0


@pytest.mark.parametrize("draw", [0.0, 0.999], ids=["no-jitter", "full-jitter"])
@pytest.mark.parametrize("ack_timeout", [2.0, 3.0], ids=["t2", "t3"])
@pytest.mark.parametrize("icmp", [True, False], ids=["unreachable", "silent"])
def test_the_bound_holds_for_every_return_time(icmp: bool, ack_timeout: float, draw: float) -> None:
    """Returns sweeping across every phase of the retry schedule, up to half an hour."""
    worst = (0.0, 0.0)
    for outage in [x * 6.1 for x in range(1, 300)]:
        result = run_outage(outage, icmp=icmp, ack_timeout=ack_timeout, draw=lambda: draw)
        worst = max(worst, (result.recovered_after, outage))
    assert worst[0] <= BOUND, f"{worst[0]:.1f} s to register again after an outage of {worst[1]} s"


@pytest.mark.parametrize("icmp", [True, False], ids=["unreachable", "silent"])
def test_an_absent_server_is_not_hammered(icmp: bool) -> None:
    result = run_outage(1800.0, icmp=icmp, draw=lambda: 0.999)  # the shortest waits
    gaps = [b - a for a, b in zip(result.attempts, result.attempts[1:], strict=False)]
    if icmp:
        # 15, 30, 45 s less a quarter of jitter, then 45 s less a quarter at most; once,
        # the Update retried at the end of the lifetime comes earlier (then Registers)
        assert min(gaps) >= 0.75 * 15.0 - 0.01, gaps
        assert sum(1 for gap in gaps[2:] if gap < 0.75 * 45.0 - 0.01) <= 1, gaps
        assert _busiest_minute(result.attempts, result.attempts[0] + 120) <= 2
    else:
        # a silent server: one request at a time, each spending its 62 s of retransmissions
        assert min(gaps) >= 31 * 2.0, gaps
        assert _busiest_minute(result.attempts, result.attempts[0]) <= 1
    assert len(result.attempts) <= 1800 / 33.75 + 3


def test_a_long_outage_is_noticed_and_survived_with_the_lifetime_over() -> None:
    """Ten minutes is longer than the lifetime: the client's Updates turn into Registers."""
    settings = ClientSettings(endpoint="dev-1", retry=RetryPolicy(random=lambda: 0.0))
    coord = RdCoordinator(settings, [ServerAccount(1, lifetime=LIFETIME)])
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    shell.answer(CREATED, LOCATION)
    back = FIRST_UPDATE + 600
    kinds: list[type] = []
    while True:
        request = shell.next_request()
        kinds.append(type(request))
        if shell.now >= back:
            break
        shell.unreachable()
    assert kinds[0] is SendUpdate and kinds[-1] is SendRegister
    assert RdEvent.REG_TIMEOUT in shell.kinds()
    assert shell.now - back <= 45.0
    shell.answer(CREATED, ["rd", "back"])
    assert shell.kinds()[-1] is RdEvent.REGISTRATION_COMPLETE

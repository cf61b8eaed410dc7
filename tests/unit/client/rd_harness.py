"""A fake shell for the registration/bootstrap machines: fake clock, no sockets.

It executes the actions an :class:`RdCoordinator` returns the way the asyncio
shell does: it keeps the timers (one per server and name), fires them in
deadline order when the test advances the clock, and records every request,
event and other action with the time it was produced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lwm2m.client.events import Event, RdEvent
from lwm2m.client.rd import (
    Action,
    CancelTimer,
    ClientSettings,
    RdCoordinator,
    RetryPolicy,
    SendBootstrapRequest,
    SendDeregister,
    SendRegister,
    SendUpdate,
    ServerAccount,
    SetTimer,
    Timer,
)

Request = SendRegister | SendUpdate | SendDeregister | SendBootstrapRequest

CREATED, DELETED, CHANGED = 0x41, 0x42, 0x44
BAD_REQUEST, FORBIDDEN, NOT_FOUND, NOT_ACCEPTABLE = 0x80, 0x83, 0x84, 0x86
INTERNAL_ERROR, SERVICE_UNAVAILABLE = 0xA0, 0xA3
LOCATION = ["rd", "5a3f"]


def no_jitter() -> float:
    return 0.0


def settings(**kw: object) -> ClientSettings:
    """Client settings with a deterministic retry policy unless given."""
    kw.setdefault("retry", RetryPolicy(random=no_jitter))
    kw.setdefault("bootstrap_retry", RetryPolicy(random=no_jitter))
    return ClientSettings(endpoint="dev-1", **kw)  # type: ignore[arg-type]


@dataclass
class Shell:
    coord: RdCoordinator
    now: float = 0.0
    timers: dict[tuple[int | None, Timer], float] = field(default_factory=dict)
    requests: list[tuple[float, Request]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    actions: list[tuple[float, Action]] = field(default_factory=list)

    def apply(self, actions: Sequence[Action]) -> list[Action]:
        for action in actions:
            self.actions.append((self.now, action))
            if isinstance(action, SetTimer):
                self.timers[(action.server, action.timer)] = action.deadline
            elif isinstance(action, CancelTimer):
                self.timers.pop((action.server, action.timer), None)
            elif isinstance(action, Event):
                self.events.append(action)
            elif isinstance(action, Request):
                self.requests.append((self.now, action))
        return list(actions)

    # -- clock

    def advance(self, until: float) -> None:
        """Fire every timer due up to ``until`` in deadline order; the clock ends at ``until``."""
        while self.timers:
            key, deadline = min(self.timers.items(), key=lambda kv: kv[1])
            if deadline > until:
                break
            del self.timers[key]
            self.now = max(self.now, deadline)
            self.apply(self.coord.timer_fired(key[0], key[1], self.now))
        self.now = max(self.now, until)

    def next_request(self, limit: float = 1e9) -> Request:
        """Advance until a new request is sent (or fail at ``limit``)."""
        count = len(self.requests)
        while len(self.requests) == count:
            if not self.timers:
                raise AssertionError("no request and no timer running")
            deadline = min(self.timers.values())
            if deadline > limit:
                raise AssertionError(f"no request before {limit}")
            self.advance(deadline)
        return self.requests[-1][1]

    # -- answers

    def last(self) -> Request:
        return self.requests[-1][1]

    def answer(
        self, code: int, location: Sequence[object] = (), request: Request | None = None
    ) -> list[Action]:
        req = request or self.last()
        return self.apply(self.coord.response(req.server, req.token, code, self.now, location))

    def time_out(self, after: float = 0.0, request: Request | None = None) -> list[Action]:
        req = request or self.last()
        self.now += after
        return self.apply(self.coord.timeout(req.server, req.token, self.now))

    def unreachable(self, request: Request | None = None) -> list[Action]:
        req = request or self.last()
        return self.apply(self.coord.network_error(req.server, req.token, self.now, "ICMP"))

    def kinds(self) -> list[RdEvent]:
        return [e.kind for e in self.events]

    def kinds_for(self, server: int | None) -> list[RdEvent]:
        return [e.kind for e in self.events if e.server == server]

    def of_type(self, kind: type) -> list[Action]:
        return [a for _, a in self.actions if isinstance(a, kind)]


def registered_shell(
    account: ServerAccount | None = None, **settings_kw: object
) -> tuple[Shell, RdCoordinator]:
    """A coordinator with one server account (default: id 1, lifetime 300), registered at t=0."""
    coord = RdCoordinator(settings(**settings_kw), [account or ServerAccount(1, lifetime=300)])
    shell = Shell(coord)
    shell.apply(coord.start(0.0))
    shell.answer(CREATED, LOCATION)
    return shell, coord

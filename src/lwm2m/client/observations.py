"""Observation timing and notification storing of the client (the asyncio side of observe).

An observation is accepted by the endpoint (RFC 7641) when the engine answers
a GET/FETCH carrying Observe=0; the endpoint then reports it here, and from
then on :class:`ObservationManager` owns its timing: every store change is
matched against the observed paths and run through the observation's
:class:`~lwm2m.client.notify_rules.NotifyRule` of that path (pmin, pmax, gt,
lt, st, epmin, epmax with the server's attributes, inherited object ->
instance -> resource, and the Server object's defaults /1/x/2 and /1/x/3).
An Observe-Composite has one rule per path, each with that path's own
attributes: a change honours the pmin of the path it concerns, and the
earliest pmax of the paths brings the next notification of the whole
composite. A timer per observation fires at the earliest deadline. A
notification is rendered by answering the observation's request again. One
due while the server is not reachable (disabled, queue mode asleep, not
registered) is stored when Notification Storing /1/x/6 is true and sent, in
order, after the next successful Register/Update (:meth:`flush_stored`);
otherwise it is dropped. An asleep server is woken up by a due notification.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lwm2m.client.accounts import SRV_PMAX, SRV_PMIN, SRV_STORING
from lwm2m.client.attributes import Attributes
from lwm2m.client.connections import Connection
from lwm2m.client.engine import ServerContext
from lwm2m.client.notify_rules import NotifyRule
from lwm2m.client.store import ObjectStore
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.coap.observe import ServerObservation
from lwm2m.errors import ModelError, NotFound
from lwm2m.model import Path, Value

__all__ = ["ObservationHost", "ObservationManager", "Observed"]


@dataclass(slots=True)
class Observed:
    """The client's state for one accepted observation: a rule per observed path."""

    server: int
    observation: ServerObservation
    paths: list[Path]
    rules: dict[Path, NotifyRule]
    timer: asyncio.TimerHandle | None = None
    stored: list[Message] = field(default_factory=list)

    def deadline(self) -> float | None:
        found = [d for rule in self.rules.values() if (d := rule.deadline()) is not None]
        return min(found) if found else None


class ObservationHost(Protocol):
    """What the client answers for its observations (one object per client)."""

    def render(self, request: Message, context: ServerContext) -> Awaitable[Message]:
        """Answer ``request`` again: the content of a notification."""

    def connection(self, server: int) -> Connection | None:
        """The open connection to ``server``, if any."""

    def server_value(self, server: int, rid: int, default: Any = None) -> Any:
        """A resource of that server's Server instance (``default`` if absent)."""

    def reachable(self, server: int) -> bool:
        """Whether a notification can be sent to ``server`` now."""

    def wake_up(self, server: int) -> None:
        """Queue mode: wake the client up to send a due notification."""

    def loop(self) -> asyncio.AbstractEventLoop: ...

    def spawn(self, coro: Awaitable[Any]) -> None: ...


class ObservationManager:
    """The observations of one client's servers, and their stored notifications.

    What it needs from the client: ``store`` (the observed values);
    ``render(request, context)``, the engine's answer to a request;
    ``connection(ssid)``, the open connection to a server (None: none);
    ``server_value(ssid, rid, default)``, a resource of that server's Server
    instance; ``reachable(ssid)``, whether a notification may be sent now;
    ``wake_up(ssid)``, leave queue-mode sleep if asleep; ``loop()`` for time
    and timers; ``spawn(coroutine)`` to run a sending task.
    """

    def __init__(self, store: ObjectStore, host: ObservationHost) -> None:
        self._store = store
        self._host = host
        #: id(ServerObservation) -> state
        self.observed: dict[int, Observed] = {}

    # ------------------------------------------------------------ inputs
    def on_observation(self, conn: Connection, obs: ServerObservation, active: bool) -> None:
        """The endpoint's observation listener: ``obs`` started (True) or ended (False)."""
        key = id(obs)
        if not active:
            state = self.observed.pop(key, None)
            if state is not None and state.timer is not None:
                state.timer.cancel()
            return
        if conn.key is None:
            return
        paths = _observation_paths(obs)
        ssid = conn.key
        conn.context.attributes.on_change = lambda: self.attributes_changed(ssid)
        now = self._now()
        rules: dict[Path, NotifyRule] = {}
        for path in paths or [Path()]:
            rule = NotifyRule(self._effective_attributes(ssid, conn.context, path))
            rule.sent(now, self._value(path))
            rules[path] = rule
        state = Observed(ssid, obs, paths, rules)
        self.observed[key] = state
        self._arm(state)

    def attributes_changed(self, ssid: int | None) -> None:
        """Server ``ssid``'s attributes (or its Server instance's defaults) changed.

        Write-Attributes applies to observations already running (Core TS 1.1
        5.1.2): each rule of that server takes the attributes now in force, and
        its timer is armed again (a new pmax counts from the last notification).
        """
        conn = None if ssid is None else self._host.connection(ssid)
        if conn is None:
            return
        for state in list(self.observed.values()):
            if state.server == ssid:
                for path, rule in state.rules.items():
                    rule.attrs = self._effective_attributes(ssid, conn.context, path)
                self._arm(state)

    def changed(self, changed: list[Path], now: float) -> None:
        """The store's values under ``changed`` changed: re-run the affected rules."""
        if any(p and p[0] == 1 for p in changed):  # Server instances: default pmin/pmax
            for ssid in {state.server for state in self.observed.values()}:
                self.attributes_changed(ssid)
        for state in list(self.observed.values()):
            due = False
            for path, rule in state.rules.items():
                if path in state.paths and _overlaps([path], changed):
                    due = rule.on_change(now, self._value(path)) is not None or due
            if due:
                self._arm(state)

    def flush_stored(self, ssid: int) -> None:
        """Send what was stored for server ``ssid`` (it is reachable again)."""
        conn = self._host.connection(ssid)
        if conn is None:
            return
        for state in self.observed.values():
            if state.server == ssid and state.stored:
                self._host.spawn(self._deliver_stored(conn, state))

    def forget(self, ssid: int | None) -> None:
        """Drop the observations of server ``ssid`` (its connection is closed)."""
        for k, state in list(self.observed.items()):
            if state.server == ssid:
                if state.timer is not None:
                    state.timer.cancel()
                del self.observed[k]

    def clear(self) -> None:
        for state in self.observed.values():
            if state.timer is not None:
                state.timer.cancel()
        self.observed.clear()

    # ------------------------------------------------------------ timing
    def _now(self) -> float:
        return self._host.loop().time()

    def _effective_attributes(self, ssid: int, context: ServerContext, path: Path) -> Attributes:
        """The attributes in force at ``path`` for server ``ssid`` (Core TS 1.1 5.1.2):
        the Server object's defaults, then the object's, instance's, resource's own."""
        defaults: Attributes = {}
        pmin = self._host.server_value(ssid, SRV_PMIN, None)
        pmax = self._host.server_value(ssid, SRV_PMAX, None)
        if isinstance(pmin, int):
            defaults["pmin"] = float(pmin)
        if isinstance(pmax, int):
            defaults["pmax"] = float(pmax)
        if not path:
            return defaults
        return context.attributes.effective(path, defaults)

    def _value(self, path: Path) -> Value | dict[int, Value]:
        """The value at a resource (a dict for a multiple resource) or resource instance."""
        if len(path) >= 3:
            with contextlib.suppress(NotFound, ModelError):
                value: Value | dict[int, Value] = self._store.get(path)
                return value
        return None

    def _arm(self, state: Observed) -> None:
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        deadline = state.deadline()
        if deadline is None:
            return
        loop = self._host.loop()
        state.timer = loop.call_at(max(deadline, loop.time()), self._due, state)

    def _due(self, state: Observed) -> None:
        state.timer = None
        if id(state.observation) not in self.observed:
            return
        now = self._now()
        notify = False
        for path, rule in state.rules.items():
            what = rule.due(now)
            if what == "notify":
                notify = True
            elif what == "sample":
                due = rule.on_change(now, self._value(path))
                notify = notify or (due is not None and due <= now)
        if notify:
            self._host.spawn(self._send_notification(state))
        self._arm(state)

    # ------------------------------------------------------------ sending
    async def _send_notification(self, state: Observed) -> None:
        conn = self._host.connection(state.server)
        if conn is None:
            return
        obs = state.observation
        response = await self._host.render(obs.request, conn.context)
        now = self._now()
        for path, rule in state.rules.items():
            rule.sent(now, self._value(path))
        self._arm(state)
        if not self._host.reachable(state.server):
            if self._host.server_value(state.server, SRV_STORING, False) is True:
                state.stored.append(response)
            self._host.wake_up(state.server)
            return
        if state.stored:
            state.stored.append(response)  # behind the stored ones still being delivered
            return
        conn.endpoint.push_notification(obs, response)

    async def _deliver_stored(self, conn: Connection, state: Observed) -> None:
        """Stored notifications in order, one CON at a time: while one is unacknowledged
        the endpoint would keep only the newest (RFC 7641 4.5.2)."""
        obs = state.observation
        while state.stored:
            while obs.in_flight is not None:
                if conn.endpoint.closed or obs not in conn.endpoint.observations():
                    return
                await asyncio.sleep(0.01)
            conn.endpoint.push_notification(obs, state.stored.pop(0), confirmable=True)


def _observation_paths(obs: ServerObservation) -> list[Path]:
    """The paths an observation covers: its Uri-Path, or the paths of an Observe-Composite."""
    request = obs.request
    if request.code == Code.FETCH:
        from lwm2m.formats import senml_cbor, senml_json

        decode = (
            senml_json.decode_paths
            if request.content_format == ContentFormat.SENML_JSON
            else senml_cbor.decode_paths
        )
        try:
            return list(decode(request.payload))
        except Exception:
            return []
    try:
        return [Path.from_segments(obs.path)]
    except ModelError:
        return []


def _overlaps(observed: list[Path], changed: list[Path]) -> bool:
    return any(p.is_prefix_of(c) or c.is_prefix_of(p) for p in observed for c in changed)

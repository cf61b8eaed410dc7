"""Observe (RFC 7641): the server's list of observers and the client's observation.

Server role: :class:`ObservationRegistry` holds one :class:`ServerObservation`
per (client endpoint, token) (4.1). Each keeps the registration request and the
handler, so a notification is produced by running the handler again. The
registry hands out 24-bit sequence numbers (4.4, one increasing counter for all
observations, so a re-registration never goes backwards) and decides when a
notification must be confirmable: at least every ``con_every``-th one and at
least once per ``con_interval`` seconds (4.5). It counts the observers per
peer: :meth:`ObservationRegistry.refusal` tells whether one more would pass
``per_peer`` or ``total``; the endpoint then answers the GET without the
Observe option (4.1: the request "falls back to a normal GET request").

Client role: :func:`is_fresh` is the reordering rule of 3.4, and
:class:`Observation` is the asynchronous iterator handed to the application.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from lwm2m.transport.base import Address

from .message import Message
from .numbers import Type

__all__ = [
    "Observation",
    "ObservationRegistry",
    "ServerObservation",
    "is_fresh",
    "paths_overlap",
]

SEQUENCE_MODULUS = 1 << 24
_HALF = 1 << 23
FRESHNESS_WINDOW = 128.0  # seconds, RFC 7641 3.4


def is_fresh(v1: int, t1: float, v2: int, t2: float) -> bool:
    """Is notification (v2, t2) newer than the newest seen so far (v1, t1)? (3.4)"""
    return (
        (v1 < v2 and v2 - v1 < _HALF) or (v1 > v2 and v1 - v2 > _HALF) or t2 > t1 + FRESHNESS_WINDOW
    )


def paths_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """True if one path is a prefix of the other (a change below or above an observed path)."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


class ServerObservation:
    """One observer: who (``remote``, ``token``), what (``request``) and delivery state."""

    __slots__ = (
        "handler",
        "in_flight",
        "last_con",
        "path",
        "pending",
        "remote",
        "request",
        "since_con",
        "token",
    )

    def __init__(self, remote: Address, request: Message, handler: Any, now: float) -> None:
        self.remote = remote
        self.token = request.token
        self.request = request
        self.path = request.uri_path
        self.handler = handler
        self.since_con = 0
        self.last_con = now
        self.in_flight: Any = None  # the layer exchange of an unacknowledged CON
        self.pending: Message | None = None  # newest notification waiting for that ACK

    def __repr__(self) -> str:
        return (
            f"<ServerObservation {'/'.join(self.path)} by {self.remote} token={self.token.hex()}>"
        )


class ObservationRegistry:
    """Observers keyed by (remote, token), with the confirmable-notification policy."""

    __slots__ = (
        "_by_key",
        "_per_peer",
        "_sequence",
        "con_every",
        "con_interval",
        "per_peer",
        "total",
    )

    def __init__(
        self,
        con_every: int = 20,
        con_interval: float = 86400.0,
        *,
        per_peer: int | None = None,
        total: int | None = None,
    ) -> None:
        if con_every < 1:
            raise ValueError("con_every must be >= 1")
        self.con_every = con_every
        self.con_interval = con_interval
        self.per_peer = per_peer
        self.total = total
        self._sequence = 0
        self._by_key: dict[tuple[Address, bytes], ServerObservation] = {}
        self._per_peer: dict[Address, int] = {}

    def count(self, remote: Address) -> int:
        """Observations of ``remote``."""
        return self._per_peer.get(remote, 0)

    def refusal(self, remote: Address, token: bytes) -> str | None:
        """Which bound a new observation (``remote``, ``token``) would pass, or None.

        Re-registering an existing observation replaces it and passes no bound.
        """
        if (remote, token) in self._by_key:
            return None
        if self.per_peer is not None and self._per_peer.get(remote, 0) >= self.per_peer:
            return "per peer"
        if self.total is not None and len(self._by_key) >= self.total:
            return "total"
        return None

    def _uncount(self, remote: Address) -> None:
        per_peer = self._per_peer
        left = per_peer.get(remote, 0) - 1
        if left > 0:
            per_peer[remote] = left
        else:
            per_peer.pop(remote, None)

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[ServerObservation]:
        return iter(list(self._by_key.values()))

    def add(self, remote: Address, request: Message, handler: Any, now: float) -> ServerObservation:
        """Register (or re-register, replacing) the observer of ``request`` (4.1)."""
        obs = ServerObservation(remote, request, handler, now)
        key = (remote, request.token)
        if key not in self._by_key:
            self._per_peer[remote] = self._per_peer.get(remote, 0) + 1
        self._by_key[key] = obs
        return obs

    def get(self, remote: Address, token: bytes) -> ServerObservation | None:
        return self._by_key.get((remote, token))

    def remove(self, obs: ServerObservation) -> bool:
        """Drop ``obs``; False if it was no longer registered."""
        key = (obs.remote, obs.token)
        if self._by_key.get(key) is obs:
            del self._by_key[key]
            self._uncount(obs.remote)
            return True
        return False

    def is_registered(self, obs: ServerObservation) -> bool:
        return self._by_key.get((obs.remote, obs.token)) is obs

    def remove_key(self, remote: Address, token: bytes) -> ServerObservation | None:
        obs = self._by_key.pop((remote, token), None)
        if obs is not None:
            self._uncount(remote)
        return obs

    def matching(self, path: tuple[str, ...]) -> list[ServerObservation]:
        """Observations whose path is ``path``, below it, or above it."""
        return [o for o in self._by_key.values() if paths_overlap(o.path, path)]

    def next_sequence(self) -> int:
        self._sequence = (self._sequence + 1) % SEQUENCE_MODULUS
        return self._sequence

    def notification_type(
        self, obs: ServerObservation, now: float, confirmable: bool | None
    ) -> Type:
        """CON or NON for the next notification of ``obs``; ``None`` applies the policy."""
        if confirmable is None:
            confirmable = (
                obs.since_con + 1 >= self.con_every or now - obs.last_con >= self.con_interval
            )
        if confirmable:
            obs.since_con = 0
            obs.last_con = now
            return Type.CON
        obs.since_con += 1
        return Type.NON


class Observation:
    """Client side of one observation: ``async for notification in obs``.

    The first response is yielded first. Notifications that arrive out of
    order are dropped (RFC 7641 3.4). Iteration ends after a response without
    the Observe option or with a non-2.xx code, after :meth:`cancel` or
    :meth:`forget`; it raises the :class:`~lwm2m.coap.errors.RequestError` if
    the observation failed.
    """

    def __init__(
        self,
        request: Message,
        remote: Address,
        clock: Callable[[], float],
        on_cancel: Callable[[Observation], Awaitable[Message | None]],
        on_forget: Callable[[Observation], None],
    ) -> None:
        self.request = request
        self.remote = remote
        self.exchange: Any = None
        self._clock = clock
        self._on_cancel = on_cancel
        self._on_forget = on_forget
        self._queue: deque[Message] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self._error: BaseException | None = None
        self._last: tuple[int, float] | None = None
        self.dropped_stale = 0

    @property
    def token(self) -> bytes:
        return self.request.token

    @property
    def active(self) -> bool:
        """True while notifications are still expected."""
        return not self._ended

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def accept(self, message: Message) -> bool:
        """Whether ``message`` is fresh; records it as the newest if so (3.4)."""
        value = message.observe
        if value is None:
            return True
        now = self._clock()
        last = self._last
        if last is not None and not is_fresh(last[0], last[1], value, now):
            self.dropped_stale += 1
            return False
        self._last = (value, now)
        return True

    def deliver(self, message: Message) -> None:
        """Queue a notification that already passed :meth:`accept`."""
        if self._ended:
            return
        self._queue.append(message)
        if message.observe is None or message.code >> 5 != 2:
            self.end()
        self._wake()

    def fail(self, error: BaseException) -> None:
        if not self._ended:
            self._error = error
            self.end()

    def end(self) -> None:
        """Stop iteration after the queued notifications."""
        if not self._ended:
            self._ended = True
            self._on_forget(self)
        self._wake()

    def forget(self) -> None:
        """Stop listening; the next notification will be answered with RST (3.6)."""
        self.end()

    async def cancel(self) -> Message | None:
        """Deregister actively with GET Observe=1 (3.6); returns that response, if any."""
        was_active = not self._ended
        self.end()
        if not was_active:
            return None
        return await self._on_cancel(self)

    async def wait_first(self) -> None:
        """Wait until the first response is queued; raise if the observation failed first."""
        while not self._queue:
            if self._ended:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            await self._wait()

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def __aiter__(self) -> Observation:
        return self

    async def __anext__(self) -> Message:
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._ended:
                if self._error is not None:
                    error, self._error = self._error, None
                    raise error
                raise StopAsyncIteration
            await self._wait()

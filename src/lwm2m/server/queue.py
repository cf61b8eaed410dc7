"""Queue mode, server side, without I/O (Core TS 1.1 section 6.5, 1.0.2 section 5.3.1.1).

A client in queue mode (``Q`` in 1.1, binding ``UQ`` in 1.0) switches its
receiver off after a while; the server must hold requests until the client is
reachable again, which it shows by sending a message (Register, Update, Send).
It then stays reachable for at least MAX_TRANSMIT_WAIT (93 s with the default
transmission parameters), so a request made within that window is sent at once.

:class:`RequestQueue` keeps, per endpoint name, when the client was last heard
from and a FIFO of waiting items, each with an expiry time. The shell decides
what an item is (a request and the future its caller awaits), feeds the clock,
and calls :meth:`RequestQueue.take` when the client wakes up and
:meth:`RequestQueue.expired` from a timer.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["DEFAULT_AWAKE_TIME", "RequestQueue"]

#: MAX_TRANSMIT_WAIT of RFC 7252 section 4.8.2 with the default parameters.
DEFAULT_AWAKE_TIME = 93.0

T = TypeVar("T")


@dataclass(slots=True)
class _Entry(Generic[T]):
    item: T
    deadline: float


class RequestQueue(Generic[T]):
    """Per-endpoint FIFO of waiting items plus the time each client was last heard from."""

    def __init__(self, awake_time: float = DEFAULT_AWAKE_TIME, expiry: float = 3600.0) -> None:
        if awake_time < 0 or expiry <= 0:
            raise ValueError("awake_time must be >= 0 and expiry > 0")
        self.awake_time = awake_time
        self.expiry = expiry
        self._last_seen: dict[str, float] = {}
        self._waiting: dict[str, deque[_Entry[T]]] = {}

    # --- reachability ----------------------------------------------------------
    def seen(self, endpoint: str, now: float) -> None:
        """The client sent something (or answered): it is awake from ``now`` on."""
        self._last_seen[endpoint] = now

    def awake(self, endpoint: str, now: float) -> bool:
        """True within ``awake_time`` after the client's last message."""
        last = self._last_seen.get(endpoint)
        return last is not None and now - last < self.awake_time

    # --- waiting items ---------------------------------------------------------
    def push(self, endpoint: str, item: T, now: float, expiry: float | None = None) -> float:
        """Queue ``item``; return its deadline."""
        deadline = now + (self.expiry if expiry is None else expiry)
        self._waiting.setdefault(endpoint, deque()).append(_Entry(item, deadline))
        return deadline

    def pending(self, endpoint: str) -> int:
        queue = self._waiting.get(endpoint)
        return 0 if queue is None else len(queue)

    def pop(self, endpoint: str) -> T | None:
        """The oldest waiting item of ``endpoint`` (None when there is none)."""
        queue = self._waiting.get(endpoint)
        if not queue:
            return None
        entry = queue.popleft()
        if not queue:
            del self._waiting[endpoint]
        return entry.item

    def expired(self, now: float) -> list[T]:
        """Remove and return every item whose deadline has passed, oldest first."""
        out: list[T] = []
        for endpoint in list(self._waiting):
            queue = self._waiting[endpoint]
            keep = deque(e for e in queue if e.deadline > now)
            out.extend(e.item for e in queue if e.deadline <= now)
            if keep:
                self._waiting[endpoint] = keep
            else:
                del self._waiting[endpoint]
        return out

    def next_deadline(self) -> float | None:
        return min((e.deadline for queue in self._waiting.values() for e in queue), default=None)

    def forget(self, endpoint: str) -> list[T]:
        """The client is gone: drop its state and return its waiting items."""
        self._last_seen.pop(endpoint, None)
        queue = self._waiting.pop(endpoint, None)
        return [] if queue is None else [e.item for e in queue]

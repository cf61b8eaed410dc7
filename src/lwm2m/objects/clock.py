"""A manual clock and scheduler for tests and simulations: time moves only when told."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True, slots=True)
class _Entry:
    deadline: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """Callable clock (``clock()`` gives the time) and scheduler (``call_later``).

    :meth:`advance` moves time forward and runs due callbacks in deadline
    order, with the clock set to each callback's deadline while it runs.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._queue: list[_Entry] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Entry:
        entry = _Entry(self.now + max(0.0, delay), next(self._seq), callback)
        heapq.heappush(self._queue, entry)
        return entry

    @property
    def pending(self) -> int:
        return sum(1 for e in self._queue if not e.cancelled)

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while self._queue and self._queue[0].deadline <= end:
            entry = heapq.heappop(self._queue)
            if entry.cancelled:
                continue
            self.now = max(self.now, entry.deadline)
            entry.callback()
        self.now = end

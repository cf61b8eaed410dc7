"""Background tasks that an owner starts and forgets until its stop.

asyncio keeps only a weak reference to a running task, so whoever starts one
with ``ensure_future`` must hold it until it ends; and at its stop the owner
cancels what is still running and waits for it. :class:`TaskSet` does both for
every owner of the package (client, endpoint, servers, fleet). It holds no set
while nothing runs: a fleet has thousands of idle owners.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

__all__ = ["TaskSet"]


class TaskSet:
    """The running tasks of one owner; ``on_failure`` gets the exception of a task
    that raised (a cancelled task is not a failure)."""

    __slots__ = ("_on_failure", "_tasks")

    def __init__(self, on_failure: Callable[[BaseException], None] | None = None) -> None:
        self._on_failure = on_failure
        self._tasks: set[asyncio.Task[Any]] | None = None

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task held until it ends."""
        task = asyncio.ensure_future(coro)
        self.keep(task)
        return task

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold ``task`` until it ends."""
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        tasks = self._tasks
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                self._tasks = None
        if self._on_failure is not None and not task.cancelled():
            exc = task.exception()
            if exc is not None:
                self._on_failure(exc)

    def __len__(self) -> int:
        return len(self._tasks or ())

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(list(self._tasks or ()))

    async def wait(self) -> None:
        """Wait until the tasks running now have ended (their errors are not raised)."""
        tasks = list(self._tasks or ())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def cancel(self) -> None:
        """Cancel the running tasks and wait until they have ended."""
        for task in list(self._tasks or ()):
            task.cancel()
        await self.wait()

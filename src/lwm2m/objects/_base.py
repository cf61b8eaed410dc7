"""What every object implementation shares: installation into a store, clocks, timers.

Convention: an object class installs itself in its constructor. It creates
its instance in the :class:`~lwm2m.client.store.ObjectStore`, sets the
initial resource values (callables for live readings), registers the
execute / validate / post-write callbacks it needs and then exposes a Python
API for the application. Time comes from an injectable clock and delayed
actions from an injectable :class:`Scheduler`, so tests drive them with
:class:`~lwm2m.objects.clock.ManualClock` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol, TypeAlias

from lwm2m.client.store import ObjectStore, call_maybe_async
from lwm2m.model import Path, Value

log = logging.getLogger(__name__)

Clock: TypeAlias = Callable[[], float]
"""Returns the current time in seconds (epoch seconds for wall clocks)."""

Hook: TypeAlias = Callable[[], "Awaitable[None] | None"]
"""An application hook without arguments, sync or async."""


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """Runs a callback after a delay (``asyncio`` loops and ManualClock both fit)."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle: ...


class LoopScheduler:
    """The running asyncio loop's ``call_later``, looked up when a timer is armed."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(delay, callback)


def default_clock() -> float:
    return time.time()


class ObjectInstance:
    """Base of the object implementations: one instance of ``object_id`` in a store."""

    object_id: ClassVar[int]

    def __init__(
        self,
        store: ObjectStore,
        instance_id: int | None = None,
        *,
        clock: Clock | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.store = store
        self.clock: Clock = clock if clock is not None else default_clock
        self.scheduler: Scheduler = scheduler if scheduler is not None else LoopScheduler()
        self.instance_id = store.create_instance(self.object_id, instance_id)
        self.path = Path(self.object_id, self.instance_id)

    # ------------------------------------------------------------ helpers
    def rpath(self, rid: int) -> Path:
        return self.path.child(rid)

    @property
    def installed(self) -> bool:
        """False once the instance was deleted (by a server or the application)."""
        return self.store.has_instance(self.object_id, self.instance_id)

    def has_resource(self, rid: int) -> bool:
        """Whether the object definition knows resource ``rid``."""
        return rid in self.store.object_def(self.object_id).resources

    def _set(self, rid: int, value: object) -> None:
        """Set a resource unless the instance is gone (a late timer must not recreate it)."""
        if self.installed:
            self.store.set(self.rpath(rid), value)

    def _get(self, rid: int) -> Any:
        return self.store.get(self.rpath(rid))

    def _live(
        self, rid: int, provider: Callable[[], Any], on_write: Callable[[Any], None] | None = None
    ) -> None:
        """Serve ``rid`` from ``provider``; a server write goes to ``on_write`` (which
        adjusts what the provider computes) and the provider is put back afterwards."""
        self._set(rid, provider)
        if on_write is not None:

            def written(value: Any) -> None:
                on_write(value)
                self._set(rid, provider)

            self._on_write(rid, written)

    def _add_executable(self, rid: int, action: Callable[[str], Any]) -> None:
        """Make executable ``rid`` present and call ``action(args)`` on Execute."""
        self.store.set(self.rpath(rid), None)

        async def on_execute(path: Path, args: str) -> None:
            await call_maybe_async(action, args)

        self.store.callbacks.execute[self.rpath(rid)] = on_execute

    def _on_validate(self, rid: int, check: Callable[[Any], bool | None]) -> None:
        """``check(value)`` runs before a server write; False (or an exception) rejects it."""

        def validate(path: Path, value: Value) -> bool | None:
            return check(value)

        self.store.callbacks.validate[self.rpath(rid)] = validate

    def _on_write(self, rid: int, action: Callable[[Any], Any]) -> None:
        """``action(value)`` runs after a server write of ``rid`` was applied."""

        async def post_write(path: Path, value: Value) -> None:
            await call_maybe_async(action, value)

        self.store.callbacks.post_write[self.rpath(rid)] = post_write


async def run_hook(hook: Hook | None, what: str) -> None:
    """Run an application hook, or log that none is installed (the safe default)."""
    if hook is None:
        log.warning("%s requested but no handler is installed; ignored", what)
        return
    await call_maybe_async(hook)


def non_negative(value: Any) -> bool:
    return isinstance(value, int | float) and value >= 0


class Stopwatch:
    """Whole seconds since :meth:`start`; 0 while stopped (On Time / Off Time counters)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._since: float | None = None

    @property
    def running(self) -> bool:
        return self._since is not None

    def start(self, from_seconds: float = 0.0) -> None:
        self._since = self._clock() - from_seconds

    def stop(self) -> None:
        self._since = None

    def set(self, seconds: float) -> None:
        """A written value: the counter continues from there (only while running)."""
        if self._since is not None:
            self.start(seconds)

    def read(self) -> int:
        return 0 if self._since is None else int(self._clock() - self._since)

"""What every object implementation shares: installation into a store, clocks, timers.

Convention: an object class installs itself in its constructor. It creates
its instance in the :class:`~lwm2m.client.store.ObjectStore`, sets the
initial resource values (callables for live readings) and then exposes a
Python API for the application; the methods handling Execute, validate and
post-write of its resources are named in class-level tables (see
:class:`ObjectInstance`). Time comes from an injectable clock and delayed
actions from an injectable :class:`Scheduler`, so tests drive them with
:class:`~lwm2m.objects.clock.ManualClock` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Protocol, TypeAlias, cast

from lwm2m.client.store import HandlerKind, ObjectStore, call_maybe_async
from lwm2m.model import Path

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


#: The default scheduler: it holds no state, so every instance shares this one.
LOOP_SCHEDULER = LoopScheduler()


def default_clock() -> float:
    return time.time()


Handlers: TypeAlias = "Mapping[int, str]"
"""Resource id -> name of the method that handles it (see :class:`ObjectInstance`)."""

_KINDS: tuple[HandlerKind, ...] = ("execute", "validate", "post_write")


class ObjectInstance:
    """Base of the object implementations: one instance of ``object_id`` in a store.

    A subclass names the methods that handle its resources in class-level
    tables instead of registering a callback per resource and instance (one
    closure and one Path each, per device): ``execute_handlers`` methods get
    the Execute argument string, ``validate_handlers`` methods the value of a
    server write before it is applied (False or an exception rejects it) and
    ``post_write_handlers`` methods the value after it was applied. Tables
    are merged with those of the base classes; the store consults them
    through the single entry the instance registers in
    ``store.callbacks.instances``, after the Path-keyed callback tables, so
    a callback the application registers for a path takes precedence.
    """

    object_id: ClassVar[int]
    execute_handlers: ClassVar[Handlers] = {}
    validate_handlers: ClassVar[Handlers] = {}
    post_write_handlers: ClassVar[Handlers] = {}
    # The three tables above merged along the MRO, by kind (built by __init_subclass__).
    _handlers: ClassVar[dict[HandlerKind, dict[int, str]]] = {kind: {} for kind in _KINDS}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        merged: dict[HandlerKind, dict[int, str]] = {kind: {} for kind in _KINDS}
        for klass in reversed(cls.__mro__):
            for kind in _KINDS:
                merged[kind].update(vars(klass).get(f"{kind}_handlers", {}))
        for kind, table in merged.items():
            for rid, name in table.items():
                if not callable(getattr(cls, name, None)):
                    # Fail at import, not at the first server request.
                    raise TypeError(
                        f"{cls.__name__}: {kind} handler {name!r} for {rid} is no method"
                    )
        cls._handlers = merged

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
        self.scheduler: Scheduler = scheduler if scheduler is not None else LOOP_SCHEDULER
        self.instance_id = store.create_instance(self.object_id, instance_id)
        if any(self._handlers.values()):
            store.callbacks.instances[self.object_id, self.instance_id] = self

    # ------------------------------------------------------------ helpers
    @property
    def path(self) -> Path:
        # Built on demand: a Path kept per instance costs every device memory.
        return Path(self.object_id, self.instance_id)

    def rpath(self, rid: int) -> Path:
        return Path(self.object_id, self.instance_id, rid)

    def handler(self, kind: HandlerKind, rid: int) -> Callable[[Any], Any] | None:
        """The bound method handling ``kind`` for resource ``rid``, or None (store protocol)."""
        name = self._handlers[kind].get(rid)
        return None if name is None else cast("Callable[[Any], Any]", getattr(self, name))

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

    def _add_executables(self) -> None:
        """Make the resources with an execute handler present (those the object defines)."""
        defined = self.store.object_def(self.object_id).resources
        for rid in self._handlers["execute"]:
            if rid in defined:
                self.store.set(self.rpath(rid), None)

    def _non_negative(self, value: Any) -> bool:
        """A validate handler: the written value is a number >= 0."""
        return non_negative(value)


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

    def written(self, owner: ObjectInstance, rid: int, seconds: float) -> None:
        """A server wrote ``seconds`` to ``rid`` of ``owner``, which this stopwatch serves:
        continue from there and serve ``rid`` from the stopwatch again."""
        self.set(seconds)
        owner._set(rid, self.read)

    def read(self) -> int:
        return 0 if self._since is None else int(self._clock() - self._since)

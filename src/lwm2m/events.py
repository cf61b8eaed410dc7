"""Event fan-out: callbacks, async-iterator subscriptions and waiting for one event.

The client, the server and the bootstrap server each hand their events to the
application the same three ways; :class:`EventHub` is that one mechanism:

* callbacks, sync or async (``add_callback``/``remove_callback``): a callback
  that raises is logged and the others still run; an async one runs as a task
  through the owner's ``spawn``, so the owner's shutdown cancels or awaits it
  with its other tasks, and its failure is logged too;
* subscriptions (``subscribe``): an async iterator over every event published
  after its creation, in order, until it is closed (by its consumer, or for
  everyone by :meth:`EventHub.close`); ``iterate`` is the same as an async
  generator that subscribes on its first step and unsubscribes when it ends;
* ``wait_for(predicate, timeout)``: the next matching event.

Publishing never blocks: subscriptions queue what their consumers have not read yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import Any, Final, Generic, TypeVar

__all__ = ["Callback", "EventHub", "HubClosed", "Spawn", "Subscription"]

T = TypeVar("T")

Callback = Callable[[T], "Awaitable[None] | None"]
"""An event callback: a plain function, or one returning a coroutine to run as a task."""

Spawn = Callable[[Coroutine[Any, Any, None]], object]
"""Runs a coroutine as a task the caller keeps track of (and cancels or awaits on shutdown)."""


class HubClosed(Exception):
    """:meth:`EventHub.close` ended a wait before a matching event came."""


class _End:
    """Queued after the last event of a subscription."""


_END: Final = _End()


class Subscription(Generic[T]):
    """``async for event in subscription``: every event published from its creation on.

    Iteration ends once :meth:`close` is called (here, or for every subscription
    by :meth:`EventHub.close`); events queued before that are still delivered.
    Also an async context manager that closes it on exit.
    """

    def __init__(self, hub: EventHub[T]) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[T | _End] = asyncio.Queue()

    def _put(self, item: T | _End) -> None:
        self._queue.put_nowait(item)

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        item = await self._queue.get()
        if isinstance(item, _End):
            self._queue.put_nowait(item)  # every later call ends too
            raise StopAsyncIteration
        return item

    def close(self) -> None:
        """Stop receiving; a waiting iteration ends."""
        self._hub._unsubscribe(self)
        self._put(_END)

    async def __aenter__(self) -> Subscription[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class EventHub(Generic[T]):
    """Hands every published event to the callbacks and the open subscriptions.

    ``spawn`` runs async callbacks as tasks the owner tracks; ``logger`` reports
    failing callbacks (default: this module's logger).
    """

    def __init__(self, spawn: Spawn, *, logger: logging.Logger | None = None) -> None:
        self._spawn = spawn
        self._log = logger if logger is not None else logging.getLogger(__name__)
        self._callbacks: list[Callback[T]] = []
        self._subscriptions: list[Subscription[T]] = []

    # ----------------------------------------------------------------- callbacks
    def add_callback(self, callback: Callback[T]) -> Callback[T]:
        """Call ``callback(event)`` for every event from now on; returns it (a decorator)."""
        self._callbacks.append(callback)
        return callback

    def remove_callback(self, callback: Callback[T]) -> None:
        """Stop calling ``callback``; one that was never added is ignored."""
        with contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    # ------------------------------------------------------------- subscriptions
    def subscribe(self) -> Subscription[T]:
        """A subscription receiving every event from now on (``close()`` it when done)."""
        subscription = Subscription(self)
        self._subscriptions.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription[T]) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)

    async def iterate(self) -> AsyncGenerator[T, None]:
        """Every event from the first step on, until the consumer stops or the hub closes."""
        async with self.subscribe() as subscription:
            async for event in subscription:
                yield event

    def wait_for(self, predicate: Callable[[T], bool], timeout: float) -> Coroutine[Any, Any, T]:
        """The next event ``predicate`` accepts, counting from this call on.

        Await the result; it raises :class:`TimeoutError` after ``timeout``
        seconds and :class:`HubClosed` when the hub closes first.
        """
        return self._wait(self.subscribe(), predicate, timeout)

    async def _wait(
        self, subscription: Subscription[T], predicate: Callable[[T], bool], timeout: float
    ) -> T:
        async with subscription, asyncio.timeout(timeout):
            async for event in subscription:
                if predicate(event):
                    return event
        raise HubClosed("the event source closed")

    def close(self) -> None:
        """End every open subscription and pending wait; later ones work as usual."""
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            subscription._put(_END)

    # ---------------------------------------------------------------- publishing
    def publish(self, event: T) -> None:
        """Queue ``event`` for every subscription, then call every callback."""
        for subscription in self._subscriptions:
            subscription._put(event)
        for callback in list(self._callbacks):  # a callback may remove itself
            try:
                result = callback(event)
            except Exception:
                self._log.exception("event callback %r failed", callback)
                continue
            if asyncio.iscoroutine(result):
                self._spawn(self._guarded(callback, result))

    async def _guarded(self, callback: Callback[T], coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except Exception:
            self._log.exception("event callback %r failed", callback)

"""EventHub: callbacks, subscriptions, wait_for and close."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import pytest

from lwm2m.events import EventHub, HubClosed


class Tasks:
    """The owner's task tracker that the hub spawns async callbacks through."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.ensure_future(coro))

    async def settle(self) -> None:
        await asyncio.gather(*self.tasks)


def new_hub() -> tuple[EventHub[int], Tasks]:
    tasks = Tasks()
    return EventHub(tasks.spawn), tasks


async def test_subscription_gets_later_events_in_order_until_closed() -> None:
    hub, _ = new_hub()
    hub.publish(0)  # before the subscription: not seen
    sub = hub.subscribe()
    for n in (1, 2, 3):
        hub.publish(n)
    sub.close()
    hub.publish(4)  # after closing: not seen
    assert [n async for n in sub] == [1, 2, 3]
    assert [n async for n in sub] == []  # stays ended


async def test_close_ends_every_subscription_and_the_hub_stays_usable() -> None:
    hub, _ = new_hub()
    first, second = hub.subscribe(), hub.subscribe()
    hub.publish(1)
    hub.close()
    assert [n async for n in first] == [1]
    assert [n async for n in second] == [1]
    later = hub.subscribe()
    hub.publish(2)
    async with asyncio.timeout(1):
        assert await anext(later) == 2
    later.close()  # closing one the hub already ended is harmless
    first.close()


async def test_cancelled_wait_loses_no_event() -> None:
    hub, _ = new_hub()
    async with hub.subscribe() as sub:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await anext(sub)
        hub.publish(7)
        async with asyncio.timeout(1):
            assert await anext(sub) == 7


async def test_iterate_subscribes_on_first_step_and_unsubscribes_when_closed() -> None:
    hub, _ = new_hub()
    stream = hub.iterate()
    hub.publish(1)  # before the first step: not seen
    step = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    hub.publish(2)
    hub.publish(3)
    assert await asyncio.wait_for(step, 1) == 2
    assert await anext(stream) == 3
    await stream.aclose()
    assert hub._subscriptions == []


async def test_iterate_ends_when_the_hub_closes() -> None:
    hub, _ = new_hub()

    async def consume() -> list[int]:
        return [n async for n in hub.iterate()]

    consumer = asyncio.ensure_future(consume())
    await asyncio.sleep(0)
    hub.publish(5)
    hub.close()
    assert await asyncio.wait_for(consumer, 1) == [5]


async def test_callbacks_sync_and_async_failures_logged(caplog: pytest.LogCaptureFixture) -> None:
    hub, tasks = new_hub()
    seen: list[str] = []

    def broken(n: int) -> None:
        raise ValueError("sync boom")

    async def later(n: int) -> None:
        seen.append(f"async {n}")

    async def broken_later(n: int) -> None:
        raise ValueError("async boom")

    hub.add_callback(broken)
    assert hub.add_callback(lambda n: seen.append(f"sync {n}")) is not None
    hub.add_callback(later)
    hub.add_callback(broken_later)
    with caplog.at_level(logging.ERROR, logger="lwm2m.events"):
        hub.publish(1)
        assert seen == ["sync 1"]  # the failing callback did not stop the next ones
        assert len(tasks.tasks) == 2  # async ones run as tasks of the owner
        await tasks.settle()  # the failure of one is caught and logged
    assert seen == ["sync 1", "async 1"]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("failed" in m for m in messages) == 2
    assert {str(r.exc_info[1]) for r in caplog.records if r.exc_info} == {
        "sync boom",
        "async boom",
    }


async def test_remove_callback_also_from_inside_a_callback() -> None:
    hub, _ = new_hub()
    seen: list[int] = []

    def once(n: int) -> None:
        seen.append(n)
        hub.remove_callback(once)

    hub.add_callback(once)
    hub.add_callback(lambda n: seen.append(n * 10))
    hub.publish(1)
    hub.publish(2)
    hub.remove_callback(once)  # not registered any more: ignored
    assert seen == [1, 10, 20]


async def test_wait_for_counts_from_the_call_and_skips_other_events() -> None:
    hub, _ = new_hub()
    hub.publish(4)  # before the call: not seen
    waiting = hub.wait_for(lambda n: n % 2 == 0, timeout=1)
    hub.publish(1)
    hub.publish(6)
    hub.publish(8)
    assert await waiting == 6
    assert hub._subscriptions == []  # the wait unsubscribed


async def test_wait_for_times_out_and_ends_with_the_hub() -> None:
    hub, _ = new_hub()
    with pytest.raises(TimeoutError):
        await hub.wait_for(lambda n: True, timeout=0.01)
    waiting = asyncio.ensure_future(hub.wait_for(lambda n: n > 100, timeout=5))
    await asyncio.sleep(0)
    hub.publish(1)
    hub.close()
    with pytest.raises(HubClosed):
        await asyncio.wait_for(waiting, 1)
    assert hub._subscriptions == []

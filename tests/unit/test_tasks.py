"""TaskSet: tasks held until they end, failures reported, cancelled and awaited at stop."""

from __future__ import annotations

import asyncio

import pytest

from lwm2m.tasks import TaskSet


async def test_tasks_are_held_until_they_end_and_failures_are_reported() -> None:
    failures: list[BaseException] = []
    tasks = TaskSet(failures.append)
    assert len(tasks) == 0 and tasks._tasks is None
    gate = asyncio.Event()

    async def waits() -> str:
        await gate.wait()
        return "done"

    async def fails() -> None:
        raise ValueError("broken")

    ok = tasks.spawn(waits())
    tasks.spawn(fails())
    assert len(tasks) == 2 and ok in list(tasks)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(tasks) == 1
    assert [type(e) for e in failures] == [ValueError]
    gate.set()
    await tasks.wait()
    assert ok.result() == "done"
    assert len(tasks) == 0 and tasks._tasks is None  # no empty set kept


async def test_cancel_ends_every_running_task_and_is_not_a_failure() -> None:
    failures: list[BaseException] = []
    tasks = TaskSet(failures.append)
    running = [tasks.spawn(asyncio.sleep(60)) for _ in range(3)]
    kept = asyncio.ensure_future(asyncio.sleep(60))
    tasks.keep(kept)
    await tasks.cancel()
    assert all(t.cancelled() for t in [*running, kept])
    assert failures == [] and len(tasks) == 0
    await tasks.cancel()  # nothing left: harmless


async def test_without_a_failure_callback_errors_stay_on_the_task() -> None:
    tasks = TaskSet()

    async def fails() -> None:
        raise KeyError("x")

    task = tasks.spawn(fails())
    await tasks.wait()  # wait() does not raise
    with pytest.raises(KeyError):
        task.result()

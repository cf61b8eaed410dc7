"""A node leaves the cluster in bounded time, whatever its heartbeat was doing.

On Python 3.11, ``asyncio.wait_for`` swallows a cancel that arrives after the
awaited reply is in. A heartbeat loop stopped only by ``cancel()`` then keeps
beating, and ``stop()`` (which waits for it) never returns: the node's shutdown
hangs. The heartbeat below swallows every cancel the same way.
"""

from __future__ import annotations

import asyncio

from cluster_support import cluster


async def test_stop_ends_a_heartbeat_that_swallowed_its_cancel(redis_url: str) -> None:
    async with cluster(redis_url, ["a"]) as nodes:
        node = nodes[0].cluster
        inside = asyncio.Event()
        swallowed = 0

        async def stubborn_beat() -> None:
            nonlocal swallowed
            inside.set()
            try:
                await asyncio.sleep(0.3)
            except asyncio.CancelledError:
                swallowed += 1  # as wait_for does when its reply is already in
            inside.clear()

        node._beat = stubborn_beat  # type: ignore[method-assign]
        node.heartbeat = 0.001
        await asyncio.wait_for(inside.wait(), 3.0)
        await asyncio.wait_for(node.stop(), 3.0)  # returns: no hang
        assert swallowed == 1  # the cancel was indeed lost inside the beat
        task = node._heartbeat_task
        assert task is not None and task.done()

"""Server nodes as child processes (``python -m lwm2m server --store redis://...``),
for the tests that kill one with SIGKILL. Each is stopped by its pid."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # the shared server_process module
from server_process import HOST, ServerProcess


class NodeProcess(ServerProcess):
    """One ``lwm2m server`` node on a Redis store, named ``name``."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        super().__init__(proc)
        self.name = name

    @classmethod
    async def start(cls, redis_url: str, name: str, *extra: str) -> NodeProcess:
        args = ("--coap-port", "0", "--http-port", "0", "--no-dtls", "--store", redis_url)
        return cls(name, await cls.spawn(*args, "--node-id", name, *extra))

    async def ready(self, timeout: float = 30.0) -> None:
        """Wait for the listeners and the cluster line."""

        def joined(lines: list[str]) -> bool:
            return any(line.startswith("cluster node ") for line in lines)

        await self.wait_until(
            lambda lines: (
                joined(lines) and any(line.startswith("http listening on ") for line in lines)
            ),
            timeout,
        )
        assert joined(self.lines) and "http" in self.listening(), (
            f"node {self.name} did not start:\n" + "\n".join(self.lines)
        )

    @property
    def http(self) -> str:
        return f"http://{HOST}:{self.listening()['http']}"

    @property
    def coap_uri(self) -> str:
        return f"coap://{HOST}:{self.listening()['coap']}"

    async def close(self, *, graceful: bool = True) -> None:
        """SIGTERM (a clean stop), SIGKILL after 10 s; reaped either way."""
        await super().close(graceful=graceful)


@contextlib.asynccontextmanager
async def node_processes(redis_url: str, names: list[str]) -> AsyncIterator[list[NodeProcess]]:
    nodes: list[NodeProcess] = []
    try:
        for name in names:
            nodes.append(await NodeProcess.start(redis_url, name))
        await asyncio.gather(*(node.ready() for node in nodes))
        yield nodes
    finally:
        for node in nodes:
            await node.close()

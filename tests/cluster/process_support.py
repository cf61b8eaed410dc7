"""Server nodes as child processes (``python -m lwm2m server --store redis://...``),
for the tests that kill one with SIGKILL. Each is stopped by its pid."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator

HOST = "127.0.0.1"
_LISTENING = re.compile(r"^(coaps?|http) listening on (\S+):(\d+)$")


class NodeProcess:
    """One ``lwm2m server`` node; its output lines are collected in :attr:`lines`."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.lines: list[str] = []
        self.ports: dict[str, int] = {}
        self._changed = asyncio.Event()
        assert proc.stdout is not None
        self._reader = asyncio.ensure_future(self._read(proc.stdout))

    @classmethod
    async def start(cls, redis_url: str, name: str, *extra: str) -> NodeProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lwm2m",
            "server",
            "--host",
            HOST,
            "--coap-port",
            "0",
            "--http-port",
            "0",
            "--no-dtls",
            "--store",
            redis_url,
            "--node-id",
            name,
            *extra,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        return cls(name, proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace").rstrip())
            self._changed.set()
        self._changed.set()

    async def ready(self, timeout: float = 30.0) -> None:
        """Wait for the listeners and the cluster line; fills :attr:`ports`."""
        try:
            async with asyncio.timeout(timeout):
                while not (
                    any(line.startswith("cluster node ") for line in self.lines)
                    and any(line.startswith("http listening on ") for line in self.lines)
                ):
                    if self._reader.done():
                        break
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pass
        for line in self.lines:
            if match := _LISTENING.match(line):
                self.ports[match.group(1)] = int(match.group(3))
        joined = any(line.startswith("cluster node ") for line in self.lines)
        assert joined and "http" in self.ports, f"node {self.name} did not start:\n" + "\n".join(
            self.lines
        )

    @property
    def http(self) -> str:
        return f"http://{HOST}:{self.ports['http']}"

    @property
    def coap_uri(self) -> str:
        return f"coap://{HOST}:{self.ports['coap']}"

    def kill9(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)

    async def close(self) -> None:
        """SIGTERM (a clean stop), SIGKILL after 10 s; reaped either way."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except TimeoutError:
                self.kill9()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


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

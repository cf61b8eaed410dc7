"""``python -m lwm2m ...`` as a child process, for the tests that run the CLI, kill a
server or start it again: its output lines are collected, and it is stopped by its pid."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Callable
from typing import Self

HOST = "127.0.0.1"
_LISTENING = re.compile(r"^(coaps?|http) listening on (\S+):(\d+)$")


class Lwm2mProcess:
    """One ``python -m lwm2m COMMAND ARGS`` process; its output is in :attr:`lines`."""

    #: The words before the arguments given to :meth:`spawn`.
    command: tuple[str, ...] = ()

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._changed = asyncio.Event()
        assert proc.stdout is not None
        self._reader = asyncio.ensure_future(self._read(proc.stdout))

    @classmethod
    async def spawn(cls, *args: str) -> asyncio.subprocess.Process:
        """Start ``python -m lwm2m COMMAND ARGS`` with unbuffered output (stderr in it)."""
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lwm2m",
            *cls.command,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )

    @classmethod
    async def start(cls, *args: str) -> Self:
        return cls(await cls.spawn(*args))

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace").rstrip())
            self._changed.set()
        self._changed.set()

    async def wait_until(self, done: Callable[[list[str]], bool], timeout: float) -> None:
        """Wait until ``done(lines)`` holds, the process ends or ``timeout`` passes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not done(self.lines) and not self._reader.done():
                    self._changed.clear()
                    await self._changed.wait()

    async def wait_line(self, pattern: str, timeout: float = 15.0) -> re.Match[str] | None:
        """The first output line matching ``pattern``, or None once it ended or timed out."""
        regex = re.compile(pattern)

        def found(lines: list[str]) -> re.Match[str] | None:
            return next((m for line in lines if (m := regex.search(line))), None)

        await self.wait_until(lambda lines: found(lines) is not None, timeout)
        return found(self.lines)

    def listening(self) -> dict[str, int]:
        """``{"coap": port, "coaps": port, "http": port}`` as the server printed them."""
        found: dict[str, int] = {}
        for line in self.lines:
            if match := _LISTENING.match(line):
                found[match.group(1)] = int(match.group(3))
        return found

    async def ports(self, timeout: float = 20.0) -> dict[str, int]:
        """The listening ports, once the HTTP listener is up."""
        await self.wait_until(
            lambda lines: any(line.startswith("http listening on ") for line in lines), timeout
        )
        found = self.listening()
        assert "http" in found, "the server did not start:\n" + "\n".join(self.lines)
        return found

    def kill9(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)

    async def stop(self, sig: int, timeout: float = 10.0) -> int:
        """Send ``sig``; the exit status (TimeoutError if it does not end in time)."""
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        async with asyncio.timeout(timeout):
            status = await self.proc.wait()
        await self._reader
        return status

    async def close(self, *, graceful: bool = False) -> None:
        """Stop the process by its pid and reap it: SIGTERM first when ``graceful`` (then
        SIGKILL after 10 s), else SIGKILL at once."""
        if graceful and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await self.proc.wait()
        self.kill9()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class ServerProcess(Lwm2mProcess):
    """``lwm2m server`` on loopback."""

    command = ("server", "--host", HOST)

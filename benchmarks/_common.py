"""Shared pieces of the benchmarks: the bare asyncio UDP echo baseline and output helpers.

The baseline is what every network benchmark compares against: two asyncio datagram
protocols on loopback in the same event loop, one echoing what it receives, the other
sending small datagrams to it and waiting for them to come back. It is the cost of the
event loop and the kernel alone, with no protocol work. Both sockets are unconnected,
like a CoAP endpoint's socket, so every send names its peer::

    async with UdpEcho() as echo:
        rate = await measure_rate(5000, echo.ping)              # sequential
        rate = await measure_rate(5000, echo.ping, window=50)   # 50 in flight
    rate = await echo_round_trips(5000)                         # all in one call

Machines running other work make single figures noisy; :func:`interleaved_best`
alternates the measurements it compares and keeps the best run of each, so every
contender sees the same background load. Every benchmark ends with one line built by
:func:`result_line`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType

__all__ = [
    "UdpEcho",
    "echo_round_trips",
    "interleaved_best",
    "measure_rate",
    "result_line",
]

HOST = "127.0.0.1"
# About the size of a small CoAP GET (header, token, one Uri-Path option).
ECHO_PAYLOAD_SIZE = 16

Operation = Callable[[int], Awaitable[object]]


class _Echo(asyncio.DatagramProtocol):
    """Server side: send every datagram straight back."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)


class _Pinger(asyncio.DatagramProtocol):
    """Client side: one future per outstanding sequence number."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[bytes, asyncio.Future[None]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        future = self.waiting.pop(data[:4], None)
        if future is not None and not future.done():
            future.set_result(None)


class UdpEcho:
    """A bare UDP echo server and a client on loopback; ``await echo.ping(i)`` is one trip."""

    def __init__(self) -> None:
        self._server: asyncio.DatagramTransport | None = None
        self._client: asyncio.DatagramTransport | None = None
        self._pinger = _Pinger()
        self._address: tuple[str, int] = (HOST, 0)
        self._filler = bytes(ECHO_PAYLOAD_SIZE - 4)

    async def __aenter__(self) -> UdpEcho:
        loop = asyncio.get_running_loop()
        self._server, _ = await loop.create_datagram_endpoint(_Echo, local_addr=(HOST, 0))
        sockname = self._server.get_extra_info("sockname")
        self._address = (str(sockname[0]), int(sockname[1]))
        self._client, _ = await loop.create_datagram_endpoint(
            lambda: self._pinger, local_addr=(HOST, 0)
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for transport in (self._client, self._server):
            if transport is not None:
                transport.close()

    async def ping(self, seq: int) -> None:
        """Send one datagram tagged with ``seq`` and wait until it comes back."""
        assert self._client is not None, "use UdpEcho as an async context manager"
        key = (seq & 0xFFFFFFFF).to_bytes(4, "big")
        future = asyncio.get_running_loop().create_future()
        self._pinger.waiting[key] = future
        self._client.sendto(key + self._filler, self._address)
        await future


async def measure_rate(n: int, one: Operation, window: int = 1) -> float:
    """Run ``one(i)`` for i in 0..n-1, ``window`` at a time; operations per second."""
    start = time.perf_counter()
    if window <= 1:
        for i in range(n):
            await one(i)
    else:
        for base in range(0, n, window):
            await asyncio.gather(*(one(i) for i in range(base, min(base + window, n))))
    elapsed = time.perf_counter() - start
    return n / elapsed if elapsed > 0 else float("inf")


async def interleaved_best(
    n: int,
    operations: Sequence[Operation],
    *,
    window: int = 1,
    warmup: int = 200,
    repeats: int = 3,
) -> list[float]:
    """Best rate of each operation over ``repeats`` alternating runs of ``n``, after a warm-up."""
    for one in operations:
        if warmup > 0:
            await measure_rate(warmup, one, window)
    best = [0.0] * len(operations)
    for _ in range(max(1, repeats)):
        for index, one in enumerate(operations):
            best[index] = max(best[index], await measure_rate(n, one, window))
    return best


async def echo_round_trips(
    n: int, *, window: int = 1, warmup: int = 200, repeats: int = 3
) -> float:
    """Round trips per second through a bare asyncio UDP echo on loopback (same loop)."""
    async with UdpEcho() as echo:
        (rate,) = await interleaved_best(
            n, [echo.ping], window=window, warmup=warmup, repeats=repeats
        )
    return rate


def result_line(**fields: object) -> str:
    """``RESULT key=value ...``: the last line every benchmark prints."""
    return "RESULT " + " ".join(f"{key}={value}" for key, value in fields.items())


class ServeChild:
    """A benchmark script run again as a child process in its ``--serve`` mode: it reads
    one command per line on stdin and answers each with one line of words on stdout,
    the first line (its ready line) before any command."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def spawn(cls, script: str, *args: str) -> tuple[asyncio.subprocess.Process, list[str]]:
        """Start ``script --serve ARGS``; the process and the words of its ready line."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            script,
            "--serve",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return proc, await cls(proc)._answer()

    async def _answer(self) -> list[str]:
        assert self.proc.stdout is not None
        async with asyncio.timeout(300):
            line = (await self.proc.stdout.readline()).decode().split()
        if not line:
            raise RuntimeError("the child process ended")
        return line

    async def ask(self, command: str) -> list[str]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        return await self._answer()

    async def close(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(RuntimeError, ConnectionError):
                await self.ask("quit")
            try:
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def serve_commands(answers: Mapping[str, Callable[[], Awaitable[str] | str]]) -> None:
    """The ``--serve`` side of :class:`ServeChild`: answer each command read on stdin
    with the one line its function returns, until ``quit`` or the end of stdin."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while (line := (await reader.readline()).decode().strip()) and line != "quit":
        answer_of = answers.get(line)
        if answer_of is None:
            print(f"error unknown command {line!r}", flush=True)
            continue
        answer = answer_of()
        print(await answer if inspect.isawaitable(answer) else answer, flush=True)

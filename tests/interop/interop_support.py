"""Shared pieces of the interop tests: our demo server, a recording transport, peer processes.

:class:`DemoServer` is our :class:`~lwm2m.coap.Endpoint` serving a small fixed set of
resources that the independent peers (aiocoap, libcoap's command line tools) exercise:

========== ==================================================================
``/text``  GET: ``TEXT`` as text/plain
``/big``   GET: ``BIG`` (4 KiB, no repeating pattern) as application/octet-stream
``/store`` PUT stores the body and its Content-Format (2.04), POST too (2.01 with
           Location-Path ``store/1``), GET returns them (2.05), DELETE empties (2.02)
``/obs``   observable counter as text/plain; :meth:`DemoServer.bump` changes it
``/bigobs`` observable, 4 KiB: one changing byte then ``BIG[1:]``
========== ==================================================================

:class:`RecordingTransport` wraps a UDP transport and keeps every datagram (decoded)
so that tests can check what really went over the wire (block sizes, options).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import socket
from collections.abc import Awaitable, Callable, Sized
from dataclasses import dataclass, field

import pytest

from lwm2m.coap import BlockOption, Code, ContentFormat, Endpoint, Message, OptionNumber
from lwm2m.errors import DecodeError
from lwm2m.transport.base import Address, TransportWrapper
from lwm2m.transport.udp import UdpTransport

HOST = "127.0.0.1"
TEXT = b"hello from lwm2m"
BIG = random.Random(7252).randbytes(4096)
LOCATION = ("store", "1")


def free_udp_port() -> int:
    """A UDP port on the loopback interface that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll ``predicate`` every 5 ms; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.005)


def at_least(items: Sized, count: int) -> Callable[[], bool]:
    """A ``wait_until`` predicate: ``items`` holds ``count`` or more entries."""
    return lambda: len(items) >= count


# ------------------------------------------------------------------ the wire


@dataclass(slots=True)
class Datagram:
    outgoing: bool
    remote: Address
    message: Message | None  # None: did not decode
    raw: bytes


class RecordingTransport(TransportWrapper[UdpTransport]):
    """A UDP transport that keeps every datagram it sends and receives."""

    def __init__(self, inner: UdpTransport) -> None:
        super().__init__(inner)
        self.log: list[Datagram] = []

    @classmethod
    async def create(cls, host: str = HOST, port: int = 0) -> RecordingTransport:
        return cls(await UdpTransport.create(host, port))

    @staticmethod
    def _decode(data: bytes) -> Message | None:
        try:
            return Message.decode(data)
        except DecodeError:
            return None

    def _received(self, data: bytes, remote: Address) -> None:
        self.log.append(Datagram(False, remote, self._decode(data), data))
        self._on_datagram(data, remote)

    def send(self, data: bytes, remote: Address) -> None:
        self.log.append(Datagram(True, remote, self._decode(data), data))
        self.inner.send(data, remote)

    def messages(self, *, outgoing: bool) -> list[Message]:
        return [d.message for d in self.log if d.outgoing == outgoing and d.message is not None]

    def blocks(self, number: OptionNumber, *, outgoing: bool) -> list[BlockOption]:
        """Every Block1 or Block2 option value sent (or received), in order."""
        found = []
        for msg in self.messages(outgoing=outgoing):
            raw = msg.get_option(number)
            if raw is not None:
                found.append(BlockOption.decode(raw))
        return found

    def undecodable(self) -> list[bytes]:
        return [d.raw for d in self.log if d.message is None]


async def recording_endpoint(**kwargs: object) -> tuple[Endpoint, RecordingTransport]:
    transport = await RecordingTransport.create()
    return Endpoint(transport, **kwargs), transport  # type: ignore[arg-type]


ClientFactory = Callable[..., Awaitable[tuple[Endpoint, RecordingTransport]]]


# ---------------------------------------------------------- our demo server


@dataclass(slots=True)
class Stored:
    payload: bytes = b""
    content_format: int | None = None
    requests: list[Message] = field(default_factory=list)


class DemoServer:
    """Our Endpoint serving the resources listed in the module docstring."""

    def __init__(
        self, endpoint: Endpoint, transport: RecordingTransport, block_size: int = 1024
    ) -> None:
        self.endpoint = endpoint
        self.endpoint_block_size = block_size
        self.transport = transport
        self.store = Stored()
        self.counter = 0
        endpoint.add_resource("/text", self._text)
        endpoint.add_resource("/big", self._big)
        endpoint.add_resource("/store", self._store)
        endpoint.add_resource("/obs", self._obs)
        endpoint.add_resource("/bigobs", self._bigobs)

    @classmethod
    async def start(cls, block_size: int = 1024) -> DemoServer:
        endpoint, transport = await recording_endpoint(block_size=block_size)
        return cls(endpoint, transport, block_size)

    @property
    def address(self) -> Address:
        return self.endpoint.local_address

    @property
    def uri(self) -> str:
        host, port = self.address
        return f"coap://{host}:{port}"

    def bump(self, path: str = "/obs", *, confirmable: bool | None = None) -> int:
        """Change the observable state and notify; returns the number of observers."""
        self.counter += 1
        return self.endpoint.notify(path, confirmable=confirmable)

    async def close(self) -> None:
        await self.endpoint.close()

    # handlers

    async def _text(self, request: Message, remote: Address) -> Message:
        if request.code != Code.GET:
            return Message.response_to(request, Code.METHOD_NOT_ALLOWED)
        return Message.response_to(
            request, Code.CONTENT, TEXT, content_format=ContentFormat.TEXT_PLAIN
        )

    async def _big(self, request: Message, remote: Address) -> Message:
        return Message.response_to(
            request, Code.CONTENT, BIG, content_format=ContentFormat.OCTET_STREAM
        )

    async def _store(self, request: Message, remote: Address) -> Message:
        store = self.store
        store.requests.append(request)
        if request.code in (Code.PUT, Code.POST):
            store.payload = request.payload
            store.content_format = request.content_format
            if request.code == Code.PUT:
                return Message.response_to(request, Code.CHANGED)
            location = [(int(OptionNumber.LOCATION_PATH), seg.encode()) for seg in LOCATION]
            return Message.response_to(request, Code.CREATED, options=location)
        if request.code == Code.DELETE:
            store.payload, store.content_format = b"", None
            return Message.response_to(request, Code.DELETED)
        return Message.response_to(
            request, Code.CONTENT, store.payload, content_format=store.content_format
        )

    async def _obs(self, request: Message, remote: Address) -> Message:
        return Message.response_to(
            request,
            Code.CONTENT,
            str(self.counter).encode(),
            content_format=ContentFormat.TEXT_PLAIN,
            observe=0,
        )

    async def _bigobs(self, request: Message, remote: Address) -> Message:
        return Message.response_to(
            request,
            Code.CONTENT,
            big_state(self.counter),
            content_format=ContentFormat.OCTET_STREAM,
            observe=0,
        )


def big_state(counter: int) -> bytes:
    """The 4 KiB body of ``/bigobs`` for a counter value."""
    return bytes([counter & 0xFF]) + BIG[1:]


# ------------------------------------------------------------ peer processes


def require_binary(name: str) -> str:
    """Path of a libcoap tool; fail (never skip) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found on PATH: install Debian libcoap3-bin (`make deps` does it)",
            pytrace=False,
        )
    return path


@dataclass(slots=True)
class ToolRun:
    returncode: int
    stdout: bytes
    stderr: bytes

    def describe(self) -> str:
        return f"rc={self.returncode} stdout={self.stdout[-400:]!r} stderr={self.stderr[-400:]!r}"


async def run_tool(
    argv: list[str], *, stdin: bytes | None = None, timeout: float = 20.0
) -> ToolRun:
    """Run a command line peer to completion, killing it if it overruns ``timeout``."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        pytest.fail(f"{argv} did not finish within {timeout} s")
    finally:
        await stop_process(proc)
    assert proc.returncode is not None
    return ToolRun(proc.returncode, out, err)


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    """Kill ``proc`` if it still runs and reap it (bounded)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), 5.0)

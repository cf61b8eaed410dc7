"""Helpers of the chaos tests (no tests here): a hostile UDP relay, server processes, RSS.

:class:`Relay` sits between one client and one server on loopback. Each
direction has its own probabilities of losing, duplicating and reordering
(delaying) a datagram, all drawn from one seeded :class:`random.Random`; the
relay can black-hole everything and can change the source port the server
sees for the client (a NAT rebinding). :class:`ServerProcess` runs ``lwm2m
server`` as a child process and reads its ports from its startup lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from lwm2m.transport.base import Address
from server_process import ServerProcess

HOST = "127.0.0.1"


def rss_mb(pid: int | None = None) -> float:
    """VmRSS of ``pid`` (this process when None), in MB."""
    path = f"/proc/{pid if pid is not None else 'self'}/status"
    with open(path) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS in {path}")


async def poll(predicate: Callable[[], bool], timeout: float, what: str = "condition") -> float:
    """Wait until ``predicate()`` holds; returns how long it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        if loop.time() - start > timeout:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.01)
    return loop.time() - start


# --------------------------------------------------------------------------- relay


@dataclass
class Direction:
    """What happens to the datagrams going one way, and what happened to them."""

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    #: A reordered datagram is held back this long (seconds, drawn uniformly).
    delay: tuple[float, float] = (0.005, 0.05)
    seen: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0

    def summary(self) -> str:
        return (
            f"{self.seen} seen, {self.lost} lost, {self.duplicated} duplicated, "
            f"{self.reordered} reordered"
        )


class _Side(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Address], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str | Any, ...]) -> None:
        self._on_datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP from a peer that went away: the relay is as dumb as the network


@dataclass
class Relay:
    """A lossy, duplicating, reordering UDP relay between one client and ``server``.

    The client sends to :meth:`start`'s address (the front socket); the relay
    forwards from its back socket, whose port is the client's source port as the
    server sees it. ``to_server`` and ``to_client`` set each direction's
    behaviour; ``black_hole`` drops everything; :meth:`rebind` moves the back
    socket to a new port, as a NAT that forgot its mapping.
    """

    server: Address
    seed: int = 0
    to_server: Direction = field(default_factory=Direction)
    to_client: Direction = field(default_factory=Direction)
    black_hole: bool = False
    rebinds: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._front: asyncio.DatagramTransport | None = None
        self._back: asyncio.DatagramTransport | None = None
        self._client: Address | None = None
        self._closed = False

    async def start(self) -> Address:
        loop = asyncio.get_running_loop()
        self._front, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_client), local_addr=(HOST, 0)
        )
        await self._open_back()
        return self.front_address

    async def _open_back(self) -> None:
        loop = asyncio.get_running_loop()
        self._back, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_server), local_addr=(HOST, 0), remote_addr=self.server
        )

    @property
    def front_address(self) -> Address:
        assert self._front is not None
        host, port = self._front.get_extra_info("sockname")[:2]
        return (str(host), int(port))

    @property
    def source_port(self) -> int:
        """The client's port as the server sees it."""
        assert self._back is not None
        return int(self._back.get_extra_info("sockname")[1])

    async def rebind(self) -> int:
        """From now on the server sees the client come from a new port; returns it."""
        old = self._back
        await self._open_back()
        if old is not None:
            old.close()
        self.rebinds += 1
        return self.source_port

    def _from_client(self, data: bytes, remote: Address) -> None:
        self._client = remote
        self._forward(data, self.to_server, lambda d: self._send_back(d))

    def _from_server(self, data: bytes, remote: Address) -> None:
        self._forward(data, self.to_client, lambda d: self._send_front(d))

    def _send_back(self, data: bytes) -> None:
        if self._back is not None and not self._back.is_closing():
            self._back.sendto(data)

    def _send_front(self, data: bytes) -> None:
        if self._front is not None and self._client is not None:
            self._front.sendto(data, self._client)

    def _forward(self, data: bytes, way: Direction, send: Callable[[bytes], None]) -> None:
        way.seen += 1
        if self.black_hole or self.rng.random() < way.loss:
            way.lost += 1
            return
        copies = 1
        if self.rng.random() < way.duplicate:
            way.duplicated += 1
            copies = 2
        loop = asyncio.get_running_loop()
        for _ in range(copies):
            if self.rng.random() < way.reorder:
                way.reordered += 1
                loop.call_later(self.rng.uniform(*way.delay), self._late, send, data)
            else:
                send(data)

    def _late(self, send: Callable[[bytes], None], data: bytes) -> None:
        if not self._closed:
            send(data)

    def summary(self) -> str:
        return f"to server: {self.to_server.summary()}; to client: {self.to_client.summary()}"

    def close(self) -> None:
        self._closed = True
        for transport in (self._front, self._back):
            if transport is not None:
                transport.close()


#: The ``make_relay`` fixture: ``relay, front = await make_relay(server, seed=..., ...)``.
RelayFactory = Callable[..., Awaitable[tuple[Relay, Address]]]


# --------------------------------------------------------------------------- processes


@contextlib.asynccontextmanager
async def server_process(*args: str) -> AsyncIterator[ServerProcess]:
    process = await ServerProcess.start(*args)
    try:
        yield process
    finally:
        await process.close()


# --------------------------------------------------------------------------- REST


class EventStream:
    """A ``/api/event`` server-sent event stream, parsed into (name, data) pairs."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.seen: list[tuple[str, Any]] = []

    async def next(self, name: str, timeout: float) -> Any:
        """The data of the next event called ``name``; the others are kept in ``seen``."""
        async with asyncio.timeout(timeout):
            event = ""
            while True:
                line = (await self.response.content.readline()).decode().rstrip("\r\n")
                if not line and self.response.content.at_eof():
                    raise AssertionError("event stream ended")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    self.seen.append((event, data))
                    if event == name:
                        return data

    def names(self) -> list[str]:
        return [name for name, _ in self.seen]


@contextlib.asynccontextmanager
async def event_stream(http: aiohttp.ClientSession, url: str) -> AsyncIterator[EventStream]:
    async with http.get(url) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.content.readline()).startswith(b":")  # open from now on
        yield EventStream(resp)


async def get_json(http: aiohttp.ClientSession, url: str, method: str = "GET") -> Any:
    async with http.request(method, url) as resp:
        text = await resp.text()
        assert resp.status == 200, f"{method} {url}: {resp.status} {text}"
        return json.loads(text)


# --------------------------------------------------------------------------- flooding


class Flooder(asyncio.DatagramProtocol):
    """One flooding socket; what comes back is queued."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, ...]) -> None:
        self.answers.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        pass

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.sendto(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_flooder(target: Address, host: str = HOST) -> Flooder:
    loop = asyncio.get_running_loop()
    _, flooder = await loop.create_datagram_endpoint(
        Flooder, local_addr=(host, 0), remote_addr=target
    )
    return flooder


async def captured_client_hello() -> bytes:
    """The first ClientHello (PSK) our DTLS client sends, caught by a socket that never
    answers."""
    from lwm2m.transport.dtls import DtlsClientTransport, DtlsHandshakeError

    loop = asyncio.get_running_loop()
    transport, catcher = await loop.create_datagram_endpoint(Flooder, local_addr=(HOST, 0))
    try:
        host, port = transport.get_extra_info("sockname")[:2]
        with contextlib.suppress(DtlsHandshakeError):
            await DtlsClientTransport.connect(
                (str(host), int(port)), psk=(b"flood", b"flood-key"), handshake_timeout=0.2
            )
        return await asyncio.wait_for(catcher.answers.get(), 1)
    finally:
        transport.close()


_RECORD, _HANDSHAKE_HEADER = 13, 12


def hello_verify_cookie(datagram: bytes) -> bytes | None:
    """The cookie of a HelloVerifyRequest (RFC 6347 4.2.1), None for anything else."""
    start = _RECORD + _HANDSHAKE_HEADER
    if len(datagram) < start + 3 or datagram[0] != 22 or datagram[_RECORD] != 3:
        return None
    length = datagram[start + 2]
    return datagram[start + 3 : start + 3 + length]


def hello_with_cookie(hello: bytes, cookie: bytes) -> bytes:
    """``hello`` (a first ClientHello, without cookie) sent again with ``cookie``: message
    and record sequence number 1, lengths fixed."""
    body = hello[_RECORD + _HANDSHAKE_HEADER :]
    at = 34  # client_version, random
    at += 1 + body[at]  # session id
    rest = body[at + 1 + body[at] :]  # after the (empty) cookie
    new = body[:at] + bytes([len(cookie)]) + cookie + rest
    size = len(new).to_bytes(3, "big")
    handshake = b"\x01" + size + b"\x00\x01" + b"\x00\x00\x00" + size + new
    header = hello[:3] + b"\x00\x00" + (1).to_bytes(6, "big")
    return header + len(handshake).to_bytes(2, "big") + handshake

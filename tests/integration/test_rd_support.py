"""Helpers of the RD-client integration tests: a scripted LwM2M server and an event log.

:class:`ScriptedServer` is a raw CoAP :class:`~lwm2m.coap.endpoint.Endpoint`
playing the registration interface. By default it answers Register (POST /rd)
with 2.01 and Location ``rd/<n>``, Update with 2.04 and De-register with 2.02;
a test queues :class:`Reply` objects to answer the next requests otherwise:
another code, another Location-Path, a datagram of garbage instead of the
response, or nothing at all. Every request is recorded with its arrival time,
so back-off is visible in the timing. The server can also send requests to the
client (Execute /1/0/4, Write /1/0/1 ...) from the socket the client registered to.

This module holds no tests; it is named so that it belongs with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from lwm2m.client.client import Client
from lwm2m.client.events import Event, RdEvent
from lwm2m.client.rd import RetryPolicy
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.objects import Device
from lwm2m.transport.base import Address
from lwm2m.transport.udp import UdpTransport

HOST = "127.0.0.1"
#: A lost message is retransmitted after 0.1 s, given up after ~0.3 s.
FAST = TransmissionParams(
    ack_timeout=0.1, ack_random_factor=1.0, max_retransmit=1, exchange_lifetime_override=1.0
)
#: Back-off of 0.2 s, 0.4 s, 0.8 s (capped), no jitter: the timing is predictable.
TINY_RETRY = RetryPolicy(initial_delay=0.2, factor=2.0, max_delay=0.8, jitter=0.0, attempts=3)


@dataclass(frozen=True, slots=True)
class Reply:
    """How to answer one request; the defaults give the normal answer."""

    code: int | None = None  # None: 2.01 / 2.04 / 2.02 by operation
    location: tuple[str, ...] | None = None  # Register: None gives rd/<n>
    raw: bytes | None = None  # send these bytes instead of the response
    drop: bool = False  # never answer (nor acknowledge)


@dataclass(slots=True)
class Seen:
    """One request as the server received it."""

    message: Message
    remote: Address
    time: float

    @property
    def kind(self) -> str:
        m = self.message
        if m.code == Code.DELETE:
            return "deregister"
        if tuple(m.uri_path) == ("rd",):
            return "register"
        return "update"


class _TapTransport(UdpTransport):
    """UDP transport whose outgoing datagrams of chosen Message IDs are replaced or dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.replace: dict[int, bytes | None] = {}

    def send(self, data: bytes, remote: Address) -> None:
        if len(data) >= 4:
            mid = int.from_bytes(data[2:4], "big")
            if mid in self.replace:
                substitute = self.replace[mid]
                if substitute is not None:
                    super().send(substitute, remote)
                return
        super().send(data, remote)


@dataclass
class ScriptedServer:
    """A registration interface whose answers a test scripts (see the module docstring)."""

    endpoint: Endpoint
    transport: _TapTransport
    replies: list[Reply] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    client_address: Address | None = None
    fallback: Reply = field(default_factory=Reply)  # the answer once ``replies`` is empty
    _registers: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    async def start(cls, *, port: int = 0, replies: list[Reply] | None = None) -> ScriptedServer:
        transport = await _TapTransport.create(HOST, port)
        assert isinstance(transport, _TapTransport)
        # The server never acknowledges on its own: a dropped answer stays unanswered.
        params = TransmissionParams(ack_timeout=0.1, ack_random_factor=1.0, empty_ack_delay=60)
        endpoint = Endpoint(transport, params=params)
        server = cls(endpoint, transport, list(replies or []))
        endpoint.add_resource("/rd", server._on_rd)
        return server

    @property
    def uri(self) -> str:
        return f"coap://{HOST}:{self.endpoint.local_address[1]}"

    @property
    def port(self) -> int:
        return self.endpoint.local_address[1]

    def of(self, kind: str) -> list[Seen]:
        return [s for s in self.seen if s.kind == kind]

    async def _on_rd(self, request: Message, remote: Address) -> Message:
        loop = asyncio.get_running_loop()
        seen = Seen(request, remote, loop.time())
        self.seen.append(seen)
        self._arrived.set()
        reply = self.replies.pop(0) if self.replies else self.fallback
        if reply.drop:
            self.transport.replace[request.mid] = None
            await asyncio.Event().wait()  # never answers; cancelled when the server closes
        if reply.raw is not None:
            self.transport.replace[request.mid] = reply.raw
        if seen.kind == "register":
            self.client_address = remote
            self._registers += 1
            resp = Message.response_to(request, reply.code or Code.CREATED)
            if reply.location is None:
                resp.location_path = ("rd", f"c{self._registers}")
            else:
                resp.location_path = reply.location
            return resp
        self.client_address = remote
        default = Code.DELETED if seen.kind == "deregister" else Code.CHANGED
        return Message.response_to(request, reply.code or default)

    async def wait_requests(self, kind: str, count: int, timeout: float = 5.0) -> list[Seen]:
        """Wait until ``count`` requests of ``kind`` arrived; return them."""
        async with asyncio.timeout(timeout):
            while len(self.of(kind)) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.of(kind)

    async def request(
        self, code: int, path: str, *, payload: bytes = b"", content_format: int | None = None
    ) -> Message:
        """Send a request to the client (to the address it registered from)."""
        assert self.client_address is not None
        msg = Message.request(code, path, payload=payload, content_format=content_format)
        return await self.endpoint.request(msg, remote=self.client_address, timeout=3.0)

    async def close(self) -> None:
        await self.endpoint.close()


class EventLog:
    """Every event of one client, with the time it was reported."""

    def __init__(self, client: Client) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        client.on_event(self._record)

    def _record(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def kinds(self, server: int | str | None = "any") -> list[RdEvent]:
        return [e.kind for e in self.events if server == "any" or e.server == server]

    def of(self, kind: RdEvent) -> list[Event]:
        return [e for e in self.events if e.kind is kind]

    async def wait(self, kind: RdEvent, count: int = 1, timeout: float = 5.0) -> list[Event]:
        """Wait until ``kind`` was reported ``count`` times in all; return those events."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.of(kind)) < count:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pytest.fail(f"{kind.name} x{count} not reported within {timeout} s: {self.kinds()}")
        return self.of(kind)


def make_client(
    *servers: tuple[str, int],
    lifetime: int = 300,
    name: str = "rd-client",
    **options: Any,
) -> tuple[Client, EventLog]:
    """A client with a Device object and one account per ``(uri, short_server_id)``."""
    options.setdefault("transmission", FAST)
    options.setdefault("retry", TINY_RETRY)
    client = Client(name, **options)
    for uri, ssid in servers:
        client.add_server(uri, short_server_id=ssid, lifetime=lifetime)
    Device(client.store, manufacturer="Acme", model="M1", serial="SN-1")
    return client, EventLog(client)


@contextlib.asynccontextmanager
async def running(client: Client, log: EventLog, registrations: int = 1) -> AsyncIterator[None]:
    """Start ``client`` and wait for ``registrations`` completed Registers; stop it on exit."""
    await client.start()
    try:
        await log.wait(RdEvent.REGISTRATION_COMPLETE, registrations)
        yield
    finally:
        await client.stop()


@contextlib.asynccontextmanager
async def registered_client(server: ScriptedServer) -> AsyncIterator[tuple[Client, EventLog]]:
    """A client of ``server`` (short server id 101), started and registered; stopped on exit."""
    client, log = make_client((server.uri, 101))
    async with running(client, log):
        yield client, log


def free_port() -> int:
    """A UDP port on loopback where nothing listens (for now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


def gaps(times: list[float]) -> list[float]:
    """Differences between consecutive times."""
    return [b - a for a, b in itertools.pairwise(times)]


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll ``predicate`` every 5 ms; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.005)

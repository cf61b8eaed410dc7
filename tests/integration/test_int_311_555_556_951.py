"""ETS 311 (Send on command), 555/556 (Server object Disable and Registration Update
Trigger) and 951 (attributes per server), our Client over loopback.

555 and 556 run against :class:`WireServer`, a registration interface that logs
every datagram it receives in arrival order, so that the order of the client's
answer and its next request is visible. 311 and 951 run against our Server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from server_support import Recorder, make_server, registered
from server_support import make_device as make_server_device
from test_rd_support import FAST, HOST, EventLog, eventually, make_client, running

from lwm2m.client.access_control import Right
from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.client.rd import RegState
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.errors import DecodeError
from lwm2m.model import Path, ResourceNode
from lwm2m.objects.ipso import Temperature
from lwm2m.server import Notification, SendReceived, Server
from lwm2m.transport.base import Address, TransportWrapper
from lwm2m.transport.udp import UdpTransport

RIGHTS = Right.READ | Right.WRITE | Right.EXECUTE


# --- a registration interface that logs the wire ----------------------------------------


@dataclass(slots=True)
class Arrival:
    time: float
    message: Message

    @property
    def kind(self) -> str:
        """register / update / deregister / answer / other."""
        m = self.message
        if m.code >= 0x40:
            return "answer"
        if m.uri_path[:1] != ("rd",):
            return "other"
        if m.code == Code.DELETE:
            return "deregister"
        return "register" if tuple(m.uri_path) == ("rd",) else "update"


class _Tap(TransportWrapper[UdpTransport]):
    """Logs each datagram before the endpoint sees it."""

    def __init__(self, inner: UdpTransport, log: list[Arrival]) -> None:
        self._log = log
        super().__init__(inner)

    def _received(self, data: bytes, remote: Address) -> None:
        with contextlib.suppress(DecodeError):
            now = asyncio.get_running_loop().time()
            self._log.append(Arrival(now, Message.decode(data)))
        super()._received(data, remote)


@dataclass
class WireServer:
    """Register 2.01 rd/<n>, Update 2.04, De-register 2.02; every datagram logged."""

    endpoint: Endpoint
    arrivals: list[Arrival] = field(default_factory=list)
    client_address: Address | None = None
    _count: int = 0

    @classmethod
    async def start(cls) -> WireServer:
        arrivals: list[Arrival] = []
        tap = _Tap(await UdpTransport.create(HOST, 0), arrivals)
        server = cls(Endpoint(tap, params=FAST), arrivals)
        server.endpoint.add_resource("/rd", server._on_rd)
        return server

    @property
    def uri(self) -> str:
        return f"coap://{HOST}:{self.endpoint.local_address[1]}"

    def _on_rd(self, request: Message, remote: Address) -> Message:
        self.client_address = remote
        if request.code == Code.DELETE:
            return Message.response_to(request, Code.DELETED)
        if tuple(request.uri_path) == ("rd",):
            self._count += 1
            response = Message.response_to(request, Code.CREATED)
            response.location_path = ("rd", str(self._count))
            return response
        return Message.response_to(request, Code.CHANGED)

    def of(self, kind: str) -> list[Arrival]:
        return [a for a in self.arrivals if a.kind == kind]

    def index(self, match: Callable[[Arrival], bool]) -> int:
        return next(i for i, a in enumerate(self.arrivals) if match(a))

    async def request(self, code: int, path: str) -> Message:
        """A request to the client, at the address it registered from."""
        assert self.client_address is not None
        msg = Message.request(code, path)
        return await self.endpoint.request(msg, remote=self.client_address, timeout=3.0)

    def answered_before(self, answer: Message, kind: str) -> bool:
        """Whether the answer ``answer`` arrived before the first request of ``kind``."""
        first = self.index(lambda a: a.kind == kind)
        got = self.index(lambda a: a.kind == "answer" and a.message.token == answer.token)
        return got < first


@pytest.fixture
async def wire() -> AsyncIterator[tuple[WireServer, WireServer]]:
    first, second = await WireServer.start(), await WireServer.start()
    try:
        yield first, second
    finally:
        await first.endpoint.close()
        await second.endpoint.close()


def two_server_client(a: WireServer | str, b: WireServer | str) -> tuple[Client, EventLog]:
    """Accounts 101 (/1/0) and 102 (/1/1); with two servers access control applies
    (Core TS 1.1 7.3), so each server gets rights on its own Server instance."""
    uris = [x.uri if isinstance(x, WireServer) else x for x in (a, b)]
    client, log = make_client((uris[0], 101), (uris[1], 102))
    access = client.engine.access
    access.grant(1, 0, owner=101, acl={101: RIGHTS})
    access.grant(1, 1, owner=102, acl={102: RIGHTS})
    access.grant(3, 0, owner=101, acl={101: Right.READ, 102: Right.READ})
    return client, log


# --- 555: Disable ------------------------------------------------------------------------


async def test_int_555_disable_answers_then_deregisters_for_the_disable_timeout(
    wire: tuple[WireServer, WireServer],
) -> None:
    server, _ = wire
    client, log = make_client((server.uri, 101))
    client.set("1/0/5", 1)  # Disable Timeout: 1 s
    async with running(client, log):
        answer = await server.request(Code.POST, "/1/0/4")
        assert answer.code == Code.CHANGED
        await eventually(lambda: bool(server.of("deregister")), what="De-register")
        # On the wire: the 2.04 to Disable first, then DELETE /rd/1 (Core TS 1.1 E.2).
        assert server.answered_before(answer, "deregister")
        [dereg] = server.of("deregister")
        assert tuple(dereg.message.uri_path) == ("rd", "1")
        await log.wait(RdEvent.DEREGISTER_COMPLETE)
        assert client.state(101) is RegState.DISABLED and client.registered_servers == []
        # Disable Timeout honoured: no Register before it ends, one right after.
        await eventually(lambda: len(server.of("register")) == 2, timeout=3.0)
        again = server.of("register")[1]
        assert again.time - dereg.time >= 0.95
        await log.wait(RdEvent.REGISTRATION_COMPLETE, 2)
        assert client.registered_servers == [101]
        kinds = log.kinds(101)
        assert kinds.index(RdEvent.SERVER_DISABLED) < kinds.index(RdEvent.DEREGISTER_COMPLETE)


async def test_int_555_disable_of_one_server_leaves_the_other_registered(
    wire: tuple[WireServer, WireServer],
) -> None:
    first, second = wire
    client, log = two_server_client(first, second)
    client.set("1/1/5", 60)
    async with running(client, log, 2):
        answer = await second.request(Code.POST, "/1/1/4")
        assert answer.code == Code.CHANGED
        await eventually(lambda: bool(second.of("deregister")), what="De-register")
        assert second.answered_before(answer, "deregister")
        await log.wait(RdEvent.DEREGISTER_COMPLETE)
        assert client.state(102) is RegState.DISABLED
        assert client.registered_servers == [101] and first.of("deregister") == []


# --- 556: Registration Update Trigger ------------------------------------------------------


async def test_int_556_update_trigger_updates_only_that_server(
    wire: tuple[WireServer, WireServer],
) -> None:
    first, second = wire
    client, log = two_server_client(first, second)
    async with running(client, log, 2):
        answer = await first.request(Code.POST, "/1/0/8")
        assert answer.code == Code.CHANGED
        await eventually(lambda: bool(first.of("update")), what="Update to 101")
        assert first.answered_before(answer, "update")
        [update] = first.of("update")
        # Nothing changed: an empty Update to the registration's Location.
        assert tuple(update.message.uri_path) == ("rd", "1")
        assert update.message.uri_query == () and update.message.payload == b""
        await log.wait(RdEvent.REG_UPDATE_COMPLETE)
        assert [e.server for e in log.of(RdEvent.REG_UPDATE_COMPLETE)] == [101]
        # The other way round, through the other server's instance.
        answer = await second.request(Code.POST, "/1/1/8")
        assert answer.code == Code.CHANGED
        await log.wait(RdEvent.REG_UPDATE_COMPLETE, 2)
        assert [e.server for e in log.of(RdEvent.REG_UPDATE_COMPLETE)] == [101, 102]
        assert len(first.of("update")) == 1 and len(second.of("update")) == 1
        # A server without rights on another server's instance cannot trigger it.
        refused = await first.request(Code.POST, "/1/1/8")
        assert refused.code == Code.UNAUTHORIZED
        await asyncio.sleep(0.1)
        assert len(second.of("update")) == 1


# --- 311: Send triggered on command ---------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with make_server() as srv:
        yield srv


async def test_int_311_send_triggered_by_an_execute(server: Server) -> None:
    rec = Recorder(server)
    client = make_server_device(server, battery_level=87)
    temperature = Temperature(client.store, 21.5)
    reset = client.store.callbacks.find("execute", Path(3303, 0, 5605))
    assert reset is not None
    codes: list[int] = []

    async def reset_and_report(path: Path, args: str) -> None:
        # The application's command handler: do the work, then report with Send.
        await reset(path, args)
        codes.append(await client.send(["3/0/9", "3303/0/5700"]))

    async with registered(server, client):
        temperature.update(23.0)
        client.on_execute("3303/0/5605", reset_and_report)
        assert rec.of(SendReceived) == []  # nothing is sent without the command
        await server.execute("dev1", "/3303/0/5605")
        event = await rec.next(SendReceived)
        assert event.endpoint == "dev1" and event.content_format == ContentFormat.SENML_CBOR
        assert event.records == {Path(3, 0, 9): 87, Path(3303, 0, 5700): 23.0}
        await eventually(lambda: codes == [Code.CHANGED], what="Send answered")
        assert temperature.min_measured == temperature.max_measured == 23.0  # the reset ran


# --- 951: attributes per server -------------------------------------------------------------


@pytest.fixture
async def two_servers() -> AsyncIterator[tuple[Server, Server]]:
    async with make_server() as first, make_server() as second:
        yield first, second


async def next_notification(handle: Any, timeout: float) -> Notification:
    async with asyncio.timeout(timeout):
        notification: Notification = await anext(handle)
        return notification


async def test_int_951_attributes_per_server(two_servers: tuple[Server, Server]) -> None:
    first, second = two_servers
    uris = [f"coap://{HOST}:{s.coap_address[1]}" for s in two_servers]
    client, log = two_server_client(*uris)
    temperature = Temperature(client.store, 21.5)
    client.engine.access.grant(3303, 0, owner=101, acl={101: Right.READ, 102: Right.READ})
    async with running(client, log, 2):
        path = "/3303/0/5700"
        await first.write_attributes("rd-client", path, pmax=1)
        await second.write_attributes("rd-client", path, pmin=60)
        # Discover from each server shows that server's attributes only.
        [mine] = await first.discover("rd-client", path)
        [theirs] = await second.discover("rd-client", path)
        assert mine.path == theirs.path == Path(3303, 0, 5700)
        assert mine.attributes == {"pmax": 1}
        assert theirs.attributes == {"pmin": 60}
        watch_first = await first.observe("rd-client", path)
        watch_second = await second.observe("rd-client", path)
        assert watch_first.initial == watch_second.initial == ResourceNode(5700, 21.5)
        temperature.update(25.0)
        # First server: pmin 0, so at once; then again after pmax without a change.
        changed = await next_notification(watch_first, 0.9)
        assert changed.content == ResourceNode(5700, 25.0)
        periodic = await next_notification(watch_first, 2.0)
        assert periodic.content == ResourceNode(5700, 25.0)
        # Second server: pmin 60, so nothing yet, though the value changed.
        with pytest.raises(TimeoutError):
            await next_notification(watch_second, 0.05)

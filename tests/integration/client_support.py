"""A test LwM2M server on a raw CoAP Endpoint and a real :class:`~lwm2m.client.client.Client`.

:class:`TestServer` answers Register (POST /rd) with 2.01 and Location-Path
``rd/<n>``, Update with 2.04, De-register with 2.02, Send (POST /dp) with
2.04, and records every request it received. Everything else a test does
goes over loopback through :meth:`ClientRig.request` / :meth:`ClientRig.observe`,
exactly as a management server would.

:func:`make_rig` builds a client with the objects of the conformance tests
installed: Device, Connectivity Monitoring, Firmware Update (with a fake
updater that keeps the image in memory), Location, Temperature, Light Control
and Connectivity Statistics.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.coap.observe import Observation
from lwm2m.formats import encode
from lwm2m.model import (
    Node,
    ObjectDef,
    Operations,
    Registry,
    ResourceDef,
    ResourceType,
    default_registry,
)
from lwm2m.objects import (
    ConnectivityMonitor,
    ConnectivityStatistics,
    Device,
    FirmwareUpdate,
    FirmwareUpdater,
    Location,
)
from lwm2m.objects.ipso import LightControl, Temperature
from lwm2m.transport.base import Address

HOST = "127.0.0.1"
CF = ContentFormat
#: Short timers: a lost message is retried after ~0.2 s, given up after ~3 s.
FAST = TransmissionParams(ack_timeout=0.2, ack_random_factor=1.0, max_retransmit=2)


#: A test object with what the standard objects lack: writable multiple resources.
TEST_OBJECT = 10300


def test_registry() -> Registry:
    """The built-in definitions plus :data:`TEST_OBJECT`."""
    registry = default_registry().copy()
    rw, t = Operations.RW, ResourceType
    registry.add(
        ObjectDef(
            TEST_OBJECT,
            "Test Values",
            {
                0: ResourceDef(0, "Name", t.STRING, rw, mandatory=True, range_text="0..32"),
                1: ResourceDef(1, "Levels", t.INTEGER, rw, multiple=True, range_text="0..100"),
                2: ResourceDef(2, "Labels", t.STRING, rw, multiple=True),
                3: ResourceDef(3, "Ratio", t.FLOAT, rw),
                4: ResourceDef(4, "Blob", t.OPAQUE, rw),
                5: ResourceDef(5, "Reset", t.NONE, Operations.E),
            },
        )
    )
    return registry


class MemoryUpdater(FirmwareUpdater):
    """A firmware updater that keeps the image in memory and installs nothing."""

    def __init__(self) -> None:
        self.image = bytearray()
        self.applied = 0

    async def open_sink(self) -> None:
        self.image.clear()

    async def write(self, chunk: bytes) -> None:
        self.image += chunk

    async def apply(self) -> None:
        self.applied += 1


@dataclass(slots=True)
class TestServer:
    """The management server side: one Endpoint with an /rd and a /dp handler."""

    endpoint: Endpoint
    requests: list[tuple[Message, Address]] = field(default_factory=list)
    client_address: Address | None = None
    registered: asyncio.Event = field(default_factory=asyncio.Event)
    sends: list[Message] = field(default_factory=list)
    update_code: int = Code.CHANGED
    _count: int = 0

    __test__ = False  # not a test class

    @classmethod
    async def start(cls) -> TestServer:
        endpoint = await Endpoint.create_udp(HOST, 0, params=FAST)
        server = cls(endpoint)
        endpoint.add_resource("/rd", server._on_rd)
        endpoint.add_resource("/dp", server._on_send)
        return server

    @property
    def uri(self) -> str:
        host, port = self.endpoint.local_address[:2]
        return f"coap://{host}:{port}"

    def _on_rd(self, req: Message, remote: Address) -> Message:
        self.requests.append((req, remote))
        if req.code == Code.POST and tuple(req.uri_path) == ("rd",):
            self._count += 1
            self.client_address = remote
            self.registered.set()
            resp = Message.response_to(req, Code.CREATED)
            resp.location_path = ("rd", f"c{self._count}")
            return resp
        if req.code == Code.POST:
            return Message.response_to(req, self.update_code)
        if req.code == Code.DELETE:
            return Message.response_to(req, Code.DELETED)
        return Message.response_to(req, Code.METHOD_NOT_ALLOWED)

    def _on_send(self, req: Message, remote: Address) -> Message:
        self.sends.append(req)
        return Message.response_to(req, Code.CHANGED)

    def count(self, code: int, first_segment: str = "rd") -> int:
        """How many requests with ``code`` arrived under ``/first_segment``."""
        return sum(
            1 for r, _ in self.requests if r.code == code and r.uri_path[:1] == (first_segment,)
        )

    async def close(self) -> None:
        await self.endpoint.close()


@dataclass(slots=True)
class ClientRig:
    """A registered client and the test server it registered to."""

    server: TestServer
    client: Client
    device: Device
    firmware: FirmwareUpdate
    updater: MemoryUpdater
    location: Location
    temperature: Temperature
    light: LightControl
    monitor: ConnectivityMonitor
    stats: ConnectivityStatistics
    reboots: list[str] = field(default_factory=list)
    factory_resets: list[str] = field(default_factory=list)
    events: list[RdEvent] = field(default_factory=list)

    def count_events(self, kind: RdEvent) -> int:
        return self.events.count(kind)

    async def wait_event(self, kind: RdEvent, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``kind`` was reported ``count`` times since the client started."""
        await wait_until(lambda: self.events.count(kind) >= count, timeout, kind.name)

    @property
    def remote(self) -> Address:
        assert self.server.client_address is not None
        return self.server.client_address

    async def request(
        self,
        code: int,
        path: str,
        *,
        payload: bytes = b"",
        content_format: int | None = None,
        accept: int | None = None,
        query: list[str] | None = None,
        server: TestServer | None = None,
    ) -> Message:
        """Send one request from the test server to the client and return the response."""
        srv = server or self.server
        remote = srv.client_address
        assert remote is not None
        msg = Message.request(
            code, path, payload=payload, content_format=content_format, accept=accept, query=query
        )
        return await srv.endpoint.request(msg, remote=remote, timeout=5.0)

    async def write(
        self,
        code: int,
        path: str,
        node: Node,
        content_format: int = ContentFormat.LWM2M_TLV,
        registry: Registry | None = None,
    ) -> Message:
        """Send ``node``, encoded for ``path`` in ``content_format``, with ``code`` (PUT/POST)."""
        payload = encode(content_format, node, path, registry)
        return await self.request(code, path, payload=payload, content_format=content_format)

    async def observe(
        self, path: str | Message, *, accept: int | None = None, server: TestServer | None = None
    ) -> Observation:
        srv = server or self.server
        assert srv.client_address is not None
        return await srv.endpoint.observe(
            path, remote=srv.client_address, accept=accept, timeout=5.0
        )

    def snapshot(self) -> dict[str, Any]:
        """Every stored value (callables resolved), to assert that nothing changed."""
        store = self.client.store
        out: dict[str, Any] = {}
        for oid in store.object_ids():
            for iid in store.instance_ids(oid):
                for rid in store.resource_ids(oid, iid):
                    key = f"{oid}/{iid}/{rid}"
                    if key not in _LIVE:
                        out[key] = store.get(key)
        return out


#: Values computed at read time (clock, on-time counter) are left out of snapshots.
_LIVE = frozenset({"3/0/13", "3311/0/5852"})


async def make_rig(
    server: TestServer,
    *,
    lwm2m_version: str = "1.1",
    notification_storing: bool = True,
    extra_servers: Sequence[tuple[TestServer, int]] = (),
    setup: Callable[[Client], None] | None = None,
    **client_options: Any,
) -> ClientRig:
    """A client with the conformance objects, registered to ``server`` (and extra servers)."""
    client = Client(
        "int-client",
        registry=test_registry(),
        lwm2m_version=lwm2m_version,
        transmission=FAST,
        **client_options,
    )
    client.add_server(
        server.uri, short_server_id=101, lifetime=300, notification_storing=notification_storing
    )
    for extra, ssid in extra_servers:
        client.add_server(extra.uri, short_server_id=ssid, lifetime=300)
    store = client.store
    rig_reboots: list[str] = []
    rig_resets: list[str] = []
    device = Device(
        store,
        manufacturer="Open Mobile Alliance",
        model="Lightweight M2M Client",
        serial="345000123",
        firmware_version="1.0",
        battery_level=87,
        memory_free=15,
        supported_binding="U",
        on_reboot=lambda: rig_reboots.append("reboot"),
        on_factory_reset=lambda: rig_resets.append("factory-reset"),
    )
    monitor = ConnectivityMonitor(store, radio_signal_strength=-70, ip_addresses=["192.0.2.7"])
    updater = MemoryUpdater()
    downloader = MemoryDownloader(b"pulled image")
    firmware = FirmwareUpdate(store, updater, downloaders={"coap": downloader})
    location = Location(store, latitude=48.85, longitude=2.35)
    temperature = Temperature(store, 21.5)
    light = LightControl(store)
    stats = ConnectivityStatistics(store)
    store.create_instance(TEST_OBJECT, 0)
    store.set(f"{TEST_OBJECT}/0/0", "first")
    store.set(f"{TEST_OBJECT}/0/1", {0: 10, 1: 20})
    store.set(f"{TEST_OBJECT}/0/3", 0.5)
    events: list[RdEvent] = []
    client.on_event(lambda ev: events.append(ev.kind))
    if setup is not None:
        setup(client)
    await client.start()
    servers = [server, *(s for s, _ in extra_servers)]
    async with asyncio.timeout(5.0):
        for srv in servers:
            await srv.registered.wait()
        while len(client.registered_servers) < len(servers):
            await asyncio.sleep(0.005)
    return ClientRig(
        server,
        client,
        device,
        firmware,
        updater,
        location,
        temperature,
        light,
        monitor,
        stats,
        rig_reboots,
        rig_resets,
        events,
    )


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll ``predicate`` every 5 ms; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.005)


async def next_notification(obs: Observation, timeout: float = 3.0) -> Message:
    async with asyncio.timeout(timeout):
        return await anext(obs)


async def no_notification(obs: Observation, within: float) -> bool:
    """True when no notification arrives within ``within`` seconds."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            await anext(obs)
            return False
    return True


async def close_rig(rig: ClientRig) -> None:
    await rig.client.stop(deregister=False, timeout=1.0)


__all__ = [
    "CF",
    "FAST",
    "HOST",
    "TEST_OBJECT",
    "ClientRig",
    "MemoryDownloader",
    "MemoryUpdater",
    "RdEvent",
    "TestServer",
    "close_rig",
    "make_rig",
    "next_notification",
    "no_notification",
    "wait_until",
]


class MemoryDownloader:
    """A firmware downloader that serves one image from memory, for any URI."""

    def __init__(self, image: bytes) -> None:
        self.image = image
        self.uris: list[str] = []

    async def fetch(self, uri: str, sink: Any) -> None:
        self.uris.append(uri)
        sink.set_total(len(self.image))
        await sink.write(self.image)

"""Helpers of the cluster tests: server nodes in this process (each a Server on its
own CoAP port with its own RedisStore and REST API), devices, REST and SSE access."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
from aiohttp import web

from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.client.rd import RetryPolicy
from lwm2m.coap.layer import TransmissionParams
from lwm2m.objects import Device
from lwm2m.objects.ipso import Temperature
from lwm2m.server import Server
from lwm2m.server.cluster.node import ClusterNode
from lwm2m.server.rest import create_app
from lwm2m.server.store.redis import RedisStore

HOST = "127.0.0.1"
#: A lost message is retried after 0.2 s and given up after ~0.6 s.
FAST = TransmissionParams(ack_timeout=0.2, ack_random_factor=1.0, max_retransmit=1)


@dataclass
class Node:
    """One server node: its store, server and REST API (``http`` is the base URL)."""

    name: str
    store: RedisStore
    server: Server
    runner: web.AppRunner
    http: str

    @property
    def coap_uri(self) -> str:
        host, port = self.server.coap_address
        return f"coap://{host}:{port}"

    @property
    def cluster(self) -> ClusterNode:
        node = self.server._cluster
        assert node is not None
        return node

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.server.stop()
        self.store.close()


async def start_node(
    redis_url: str,
    name: str,
    *,
    heartbeat: float = 0.2,
    dead_after: float = 1.0,
    **server_options: Any,
) -> Node:
    store = RedisStore(redis_url, node_id=name)
    server_options.setdefault("transmission", FAST)
    server_options.setdefault("default_timeout", 5.0)
    server = Server(HOST, 0, store=store, **server_options)
    ClusterNode(server, heartbeat=heartbeat, dead_after=dead_after)
    await server.start()
    runner = web.AppRunner(create_app(server, heartbeat=0.5))
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    port = runner.addresses[0][1]
    return Node(name, store, server, runner, f"http://{HOST}:{port}")


@contextlib.asynccontextmanager
async def cluster(redis_url: str, names: list[str], **options: Any) -> AsyncIterator[list[Node]]:
    nodes: list[Node] = []
    try:
        for name in names:
            nodes.append(await start_node(redis_url, name, **options))
        # every node has seen every other's heartbeat
        await poll(
            lambda: all(len(n.cluster.live_nodes()) == len(names) for n in nodes),
            5.0,
            "heartbeats",
        )
        yield nodes
    finally:
        for node in nodes:
            with contextlib.suppress(Exception):
                await node.stop()


def make_device(
    name: str,
    server_uri: str | None,
    *,
    lifetime: int = 60,
    retry: RetryPolicy | None = None,
    queue_mode: bool = False,
    **client_options: Any,
) -> Client:
    client = Client(
        name,
        transmission=FAST,
        retry=retry,
        queue_mode=queue_mode,
        lwm2m_version="1.1",
        **client_options,
    )
    if server_uri is not None:
        client.add_server(server_uri, short_server_id=101, lifetime=lifetime)
    Device(client.store, manufacturer="Acme", model="M1", serial=name, firmware_version="1.0")
    Temperature(client.store, 20.0)
    return client


async def start_devices(clients: list[Client], timeout: float = 20.0, window: int = 20) -> None:
    limit = asyncio.Semaphore(window)

    async def one(client: Client) -> None:
        async with limit:
            await client.start()
            await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=timeout)

    await asyncio.gather(*(one(c) for c in clients))


async def stop_devices(clients: list[Client]) -> None:
    for client in clients:
        with contextlib.suppress(Exception):
            await client.stop(deregister=False, timeout=1.0)


async def poll(predicate: Callable[[], bool], timeout: float, what: str = "condition") -> float:
    """Wait until ``predicate()`` holds; how long it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        if loop.time() - start > timeout:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.02)
    return loop.time() - start


async def rest(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, str, bytes]:
    """(status, content type, body bytes) of one REST call."""
    async with http.request(method, url, **kwargs) as resp:
        return resp.status, resp.content_type, await resp.read()


@dataclass
class EventStream:
    """A ``/api/event`` stream parsed into (name, data) pairs as they come."""

    response: aiohttp.ClientResponse
    seen: list[tuple[str, Any]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        event = ""
        with contextlib.suppress(aiohttp.ClientError, asyncio.CancelledError):
            while True:
                line = (await self.response.content.readline()).decode().rstrip("\r\n")
                if not line and self.response.content.at_eof():
                    return
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    self.seen.append((event, json.loads(line[6:])))

    def named(self, name: str) -> list[Any]:
        return [data for event, data in self.seen if event == name]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@contextlib.asynccontextmanager
async def event_stream(http: aiohttp.ClientSession, url: str) -> AsyncIterator[EventStream]:
    async with http.get(url, timeout=aiohttp.ClientTimeout(total=None)) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.content.readline()).startswith(b":")  # open from now on
        stream = EventStream(resp)
        stream.start()
        try:
            yield stream
        finally:
            await stream.stop()


def load_suite(name: str, path: Path) -> ModuleType:
    """A test module of another directory, loaded under ``name``, so that its tests run
    here again on the fixtures of this directory (the store contract on Redis)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module

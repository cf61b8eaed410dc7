"""What the browser tests talk to: real servers and clients on an event loop in a thread.

The browser is driven from the test's thread (Playwright's sync API); the LwM2M
server (``lwm2m.cli.server.serve``, the code behind ``lwm2m server``), the
bootstrap server (``lwm2m.cli.bootstrap_server.serve``) and the sample clients
(``lwm2m.sample``) run on one asyncio loop in a thread of their own, so that
the tests can also look at them directly (a device's reboots, the image it
installed). Everything listens on loopback with ports picked by the system, and
every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from lwm2m.cli._http import HttpOptions
from lwm2m.cli.bootstrap_server import serve as serve_bootstrap
from lwm2m.cli.server import ServerOptions, serve
from lwm2m.client.events import RdEvent
from lwm2m.sample import SampleDevice, build_sample_client
from lwm2m.server.rest.auth import AuthConfig

HOST = "127.0.0.1"
T = TypeVar("T")
_PORT = re.compile(r"(coaps?|https?) listening on \S+:(\d+)$", re.M)
_BS_PORT = re.compile(r"listening on (coaps?|https?)://\S+:(\d+)$", re.M)
#: CoAP request codes as COAPLOG writes them.
REQUEST_CODES = frozenset({"GET", "POST", "PUT", "DELETE", "FETCH", "PATCH", "IPATCH"})


@dataclass
class RunningServer:
    """A running ``lwm2m server`` (or bootstrap server): its ports and how to stop it."""

    ports: dict[str, int]
    stop: asyncio.Event
    task: asyncio.Future[None]
    out: io.StringIO

    @property
    def http(self) -> str:
        return f"http://{HOST}:{self.ports['http']}"

    @property
    def coap_uri(self) -> str:
        return f"coap://{HOST}:{self.ports['coap']}"

    @property
    def coaps_uri(self) -> str:
        return f"coaps://{HOST}:{self.ports['coaps']}"

    async def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 10)


async def _wait_listening(
    task: asyncio.Future[None], out: io.StringIO, pattern: re.Pattern[str], timeout: float = 10.0
) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while "http" not in {m.group(1) for m in pattern.finditer(out.getvalue())}:
        if task.done():
            task.result()  # raises what stopped it
            raise RuntimeError(f"the server stopped at start:\n{out.getvalue()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server did not start:\n{out.getvalue()}")
        await asyncio.sleep(0.02)
    return {m.group(1): int(m.group(2)) for m in pattern.finditer(out.getvalue())}


async def start_server(token: str | None = None) -> RunningServer:
    """``lwm2m server`` in this loop: CoAP, CoAPs and HTTP on loopback, free ports."""
    out = io.StringIO()
    stop = asyncio.Event()
    options = ServerOptions(
        host=HOST,
        coap_port=0,
        coaps_port=0,
        http_port=0,
        http=HttpOptions(HOST, AuthConfig(token=token), None),
    )
    task = asyncio.ensure_future(serve(options, out=out, stop=stop))
    ports = await _wait_listening(task, out, _PORT)
    return RunningServer(ports, stop, task, out)


async def start_bootstrap_server() -> RunningServer:
    """``lwm2m bootstrap-server`` in this loop, with its REST API, on loopback."""
    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.ensure_future(serve_bootstrap(None, HOST, 0, 0, out=out, stop=stop, http_port=0))
    ports = await _wait_listening(task, out, _BS_PORT)
    return RunningServer(ports, stop, task, out)


async def start_device(
    endpoint: str,
    server_uri: str,
    firmware_dir: Path,
    *,
    psk_identity: str | None = None,
    psk_key: bytes | None = None,
    drift: float | None = None,
) -> SampleDevice:
    """The sample client, registered (its temperature drifts every ``drift`` s)."""
    device = build_sample_client(
        endpoint=endpoint,
        server_uri=server_uri,
        lifetime=120,
        psk_identity=psk_identity,
        psk_key=psk_key,
        firmware_dir=str(firmware_dir),
    )
    await device.client.start()
    await device.client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=10.0)
    if drift is not None:
        device.start_drift(period=drift, seed=7)
    return device


async def stop_device(device: SampleDevice) -> None:
    await device.stop_drift()
    await device.client.stop(deregister=True, timeout=5.0)


@dataclass
class EventWatcher:
    """Reads ``/api/event[?ep=E]`` as a plain HTTP client and keeps every event."""

    url: str
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._read())
        await asyncio.wait_for(self.opened.wait(), 10)

    async def _read(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(self.url) as resp:
            name = ""
            self.opened.set()
            while line := (await resp.content.readline()).decode():
                if line.startswith("event: "):
                    name = line[7:].strip()
                elif line.startswith("data: "):
                    self.events.append((name, json.loads(line[6:])))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def requests_sent(self, since: int = 0) -> list[dict[str, Any]]:
        """The CoAP requests the server sent to the device (COAPLOG, outgoing)."""
        return [
            data
            for name, data in self.events[since:]
            if name == "COAPLOG" and not data["incoming"] and data.get("code") in REQUEST_CODES
        ]


class Stack:
    """An asyncio loop in a thread; :meth:`call` runs a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="ui-stack", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.call(cancel_rest(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()

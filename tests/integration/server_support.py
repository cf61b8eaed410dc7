"""Helpers of the server integration tests: our Server and real Clients over loopback.

:func:`make_device` builds a :class:`~lwm2m.client.client.Client` with a Device
object pointed at a :class:`~lwm2m.server.Server`; :func:`registered` runs it until
the test is done (it de-registers on the way out). Transmission parameters are
short so that a lost or unanswered message fails within a second, never after the
default 2 s ACK timer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.client.rd import RetryPolicy
from lwm2m.coap.layer import TransmissionParams
from lwm2m.objects import Device
from lwm2m.server import Registration, Server, ServerEvent

HOST = "127.0.0.1"
#: A lost message is retried after 0.1 s and given up after ~0.3 s.
FAST = TransmissionParams(ack_timeout=0.1, ack_random_factor=1.0, max_retransmit=1)
#: Registration and bootstrap retries of the clients: twice, 0.1 s then 0.3 s apart.
RETRY = RetryPolicy(initial_delay=0.1, max_delay=0.3, jitter=0.0, attempts=2)


def make_server(port: int = 0, **kwargs: Any) -> Server:
    kwargs.setdefault("transmission", FAST)
    kwargs.setdefault("default_timeout", 5.0)
    return Server(HOST, port, **kwargs)


def make_device(
    server: Server,
    name: str = "dev1",
    *,
    version: str = "1.1",
    lifetime: int = 300,
    queue_mode: bool = False,
    **device: Any,
) -> Client:
    client = Client(name, lwm2m_version=version, queue_mode=queue_mode, transmission=FAST)
    host, port = server.coap_address
    client.add_server(f"coap://{host}:{port}", short_server_id=101, lifetime=lifetime)
    device.setdefault("manufacturer", "Acme")
    device.setdefault("model", "M1")
    device.setdefault("serial", "SN-1")
    device.setdefault("firmware_version", "1.0.3")
    Device(client.store, **device)
    return client


async def start_registered(server: Server, client: Client, timeout: float = 5.0) -> Registration:
    """Start ``client`` and return its registration once the server has it."""
    await client.start()
    await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=timeout)
    reg = server.get_registration(client.endpoint_name)
    assert reg is not None
    return reg


@contextlib.asynccontextmanager
async def registered(
    server: Server, client: Client, timeout: float = 5.0
) -> AsyncIterator[Registration]:
    """Run ``client`` registered to ``server`` for the duration of the block."""
    try:
        yield await start_registered(server, client, timeout)
    finally:
        await client.stop()


class Recorder:
    """Collects every server event; ``await rec.next(kind)`` waits for the next one."""

    def __init__(self, server: Server) -> None:
        self.events: list[ServerEvent] = []
        self._changed = asyncio.Event()
        self._seen: dict[type[Any], int] = {}
        server.on_event(self._on_event)

    def _on_event(self, event: ServerEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def next(self, kind: type[Any], timeout: float = 5.0) -> Any:
        """The first event of ``kind`` not returned by an earlier call for ``kind``."""
        async with asyncio.timeout(timeout):
            while True:
                for i in range(self._seen.get(kind, 0), len(self.events)):
                    if isinstance(self.events[i], kind):
                        self._seen[kind] = i + 1
                        return self.events[i]
                self._changed.clear()
                await self._changed.wait()

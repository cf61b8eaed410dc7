"""Client Hold Off Time (/0/x/11 of the Bootstrap-Server account, Core TS 1.1 E.1).

The client waits that long before its Bootstrap-Request; meanwhile its connection to
the Bootstrap-Server is open, so that a server-initiated bootstrap reaches it (the
LwM2M 1.0 behaviour of the hold-off).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from server_support import FAST, HOST, RETRY, make_server
from test_rd_support import EventLog, eventually

from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.objects import Device
from lwm2m.server import Server
from lwm2m.server.bootstrap import (
    BootstrapEvent,
    BootstrapFinished,
    BootstrapServer,
    BootstrapStarted,
)
from lwm2m.server.bootstrap_config import EndpointConfig, SecurityConfig, ServerConfig


@pytest.fixture
async def lwm2m_server() -> AsyncIterator[Server]:
    async with make_server() as srv:
        yield srv


def configure(bs: BootstrapServer, server: Server) -> None:
    bs.set_endpoint(
        "hold-dev",
        EndpointConfig(
            security=[
                SecurityConfig(f"coap://{HOST}:{server.coap_address[1]}", short_server_id=101)
            ],
            servers=[ServerConfig(101, lifetime=60)],
        ),
    )


def device(bs: BootstrapServer, **kw: object) -> tuple[Client, EventLog]:
    client = Client("hold-dev", transmission=FAST, retry=RETRY, bootstrap_timeout=3.0, **kw)  # type: ignore[arg-type]
    client.add_server(f"coap://{HOST}:{bs.addresses[0][1]}", bootstrap=True, instance_id=0)
    Device(client.store, manufacturer="Acme")
    return client, EventLog(client)


async def test_int_5_server_initiated_bootstrap_during_the_hold_off(
    bs_server: BootstrapServer, lwm2m_server: Server
) -> None:
    configure(bs_server, lwm2m_server)
    events: list[BootstrapEvent] = []
    bs_server.on_event(events.append)
    client, log = device(bs_server)
    client.set("0/0/11", 2)  # Client Hold Off Time: 2 s
    await client.start()
    try:
        # The connection to the Bootstrap-Server is open at once, without a request.
        await eventually(lambda: client.local_address(None) is not None, what="connection")
        address = client.local_address(None)
        assert address is not None
        result = await bs_server.bootstrap("hold-dev", address)
        assert isinstance(result, BootstrapFinished), result
        await log.wait(RdEvent.REGISTRATION_COMPLETE)
        assert client.registered_servers == [101]
        starts = [e for e in events if isinstance(e, BootstrapStarted)]
        assert [s.server_initiated for s in starts] == [True]  # no Bootstrap-Request sent
        await asyncio.sleep(2.1)  # past the hold-off: still no Bootstrap-Request
        assert [s.server_initiated for s in events if isinstance(s, BootstrapStarted)] == [True]
    finally:
        await client.stop(deregister=False)


@pytest.mark.parametrize("source", ["security object", "client option"])
async def test_int_0_bootstrap_request_waits_for_the_hold_off(
    bs_server: BootstrapServer, lwm2m_server: Server, source: str
) -> None:
    configure(bs_server, lwm2m_server)
    starts: list[float] = []
    loop = asyncio.get_running_loop()
    bs_server.on_event(
        lambda e: starts.append(loop.time()) if isinstance(e, BootstrapStarted) else None
    )
    if source == "security object":
        client, log = device(bs_server)
        client.set("0/0/11", 1)
    else:
        client, log = device(bs_server, bootstrap_hold_off=1.0)
    began = loop.time()
    await client.start()
    try:
        await log.wait(RdEvent.REGISTRATION_COMPLETE, timeout=10)
        assert len(starts) == 1 and starts[0] - began >= 0.95
    finally:
        await client.stop(deregister=False)


def test_a_negative_hold_off_is_refused() -> None:
    with pytest.raises(ValueError, match="bootstrap_hold_off"):
        Client("x", bootstrap_hold_off=-1)

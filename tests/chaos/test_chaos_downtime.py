"""The server goes away, then comes back: a client with default settings finds it in time.

The client has the default retry policy and transmission parameters. The
server stops (its port is closed, so the client's requests fail with ICMP
port unreachable), the client notices at its next Update and backs off; the
server comes back on the same port without the registration (memory store),
and the client must be registered again within 60 s of the return.

The silent variant (long version only) black-holes the path instead: nothing
answers, not even ICMP, so each attempt runs out its CoAP retransmissions
(62 to 93 s) before the next one; the same bound holds once the path is back.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from chaos_support import HOST, RelayFactory

from lwm2m.client.client import Client
from lwm2m.client.events import Event, RdEvent
from lwm2m.model import ResourceNode
from lwm2m.objects import Device
from lwm2m.server import Server

EP = "chaos-downtime"
BOUND = 60.0
FAILURES = (RdEvent.REG_UPDATE_FAILURE, RdEvent.REGISTRATION_FAILURE, RdEvent.NETWORK_ERROR)


def logged_device(uri: str) -> tuple[Client, list[tuple[float, Event]]]:
    """A client with the default retry policy and transmission parameters, and the log of
    its events with their times."""
    client = Client(EP)
    client.add_server(uri, short_server_id=101, lifetime=300)
    Device(client.store, manufacturer="Acme", model="M1", serial="SN-1", firmware_version="1.0")
    log: list[tuple[float, Event]] = []
    client.on_event(lambda event: log.append((time.monotonic(), event)))
    return client, log


async def scenario(downtime: float) -> None:
    server = Server(HOST, 0)
    await server.start()
    port = server.coap_address[1]
    client, log = logged_device(f"coap://{HOST}:{port}")
    try:
        await client.start()
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=10)
        await server.stop()
        down_at = time.monotonic()
        client.set("1/0/1", 301)  # a new lifetime: an Update at once, into the void
        await client.wait_for(RdEvent.REG_UPDATE_FAILURE, timeout=10)
        await asyncio.sleep(max(0.0, downtime - (time.monotonic() - down_at)))

        server = Server(HOST, port)
        await server.start()
        back_at = time.monotonic()
        done = await client.wait_for(
            RdEvent.REGISTRATION_COMPLETE, RdEvent.REG_UPDATE_COMPLETE, timeout=BOUND + 15
        )
        recovered = time.monotonic() - back_at
        node = await server.read(EP, "/3/0/0", timeout=5)
        during = [e for t, e in log if down_at <= t < back_at]
        attempts = sum(1 for e in during if e.kind is RdEvent.REG_UPDATE_FAILURE)
        failures = [t - down_at for t, e in log if down_at <= t < back_at and e.kind in FAILURES]
        figures = (
            f"server down {back_at - down_at:.1f} s: {attempts} failed Updates meanwhile "
            f"(failure events at {[round(t, 1) for t in failures]} s); registered again "
            f"{recovered:.1f} s after its return ({done.kind.name}; bound {BOUND:.0f} s)"
        )
        print("\n" + figures)
        assert recovered <= BOUND, figures
        assert done.kind is RdEvent.REGISTRATION_COMPLETE, figures  # the new server said 4.04
        assert node == ResourceNode(0, "Acme"), figures
        assert server.get_registration(EP) is not None, figures
    finally:
        await client.stop(deregister=False)
        await server.stop()


@pytest.mark.timeout(90)
async def test_server_down_ten_seconds() -> None:
    await scenario(10.0)


@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_server_down_two_minutes() -> None:
    await scenario(120.0)


@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_server_silent_two_minutes(make_relay: RelayFactory) -> None:
    server = Server(HOST, 0)
    await server.start()
    relay, front = await make_relay(server.coap_address)
    client, log = logged_device(f"coap://{front[0]}:{front[1]}")
    try:
        await client.start()
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=10)
        relay.black_hole = True
        down_at = time.monotonic()
        client.set("1/0/1", 301)  # an Update at once, into the black hole
        await asyncio.sleep(120.0)
        relay.black_hole = False
        back_at = time.monotonic()
        done = await client.wait_for(
            RdEvent.REGISTRATION_COMPLETE, RdEvent.REG_UPDATE_COMPLETE, timeout=BOUND + 15
        )
        recovered = time.monotonic() - back_at
        failures = [round(t - down_at, 1) for t, e in log if t >= down_at and e.kind in FAILURES]
        figures = (
            f"path black-holed {back_at - down_at:.1f} s: failures at {failures} s; "
            f"{relay.to_server.lost} datagrams to the server swallowed; back "
            f"{recovered:.1f} s after the path returned ({done.kind.name}; bound {BOUND:.0f} s)"
        )
        print("\n" + figures)
        assert recovered <= BOUND, figures
        assert await server.read(EP, "/3/0/0", timeout=5) == ResourceNode(0, "Acme"), figures
    finally:
        await client.stop(deregister=False)
        await server.stop()

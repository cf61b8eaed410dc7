"""A NAT rebinding: the client's source port, as the server sees it, changes mid-session.

The relay opens a new socket towards the server, as a NAT that lost its
mapping. The server's requests to the old address go nowhere until the client
speaks again. Over UDP its next Update moves the registration to the new
address; over DTLS the old session is useless from the new address, so the
client handshakes again and the registration (same id) follows it there.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path as FsPath

import pytest
from chaos_support import HOST, RelayFactory, poll

sys.path.insert(0, str(FsPath(__file__).parents[1] / "integration"))
from dtls_lwm2m_support import PSK_STORE, EventLog, coaps_uri, dtls_device, dtls_server

from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.coap.errors import RequestError
from lwm2m.coap.layer import TransmissionParams
from lwm2m.model import ResourceNode
from lwm2m.objects import Device
from lwm2m.server import Server, Updated

pytestmark = pytest.mark.timeout(60)

#: A lost message is retried after 0.1 s and given up after ~0.3 s.
FAST = TransmissionParams(ack_timeout=0.1, ack_random_factor=1.0, max_retransmit=1)
ACME = ResourceNode(0, "Acme")


async def test_nat_rebinding_over_udp_moves_the_registration(make_relay: RelayFactory) -> None:
    server = Server(HOST, 0, transmission=FAST, default_timeout=5.0)
    await server.start()
    relay, front = await make_relay(server.coap_address)
    client = Client("chaos-nat", transmission=FAST)
    client.add_server(f"coap://{front[0]}:{front[1]}", short_server_id=101, lifetime=300)
    Device(client.store, manufacturer="Acme", model="M1", serial="SN-1", firmware_version="1.0")
    updates = server.events()
    try:
        await client.start()
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=5)
        before = server.get_registration("chaos-nat")
        assert before is not None and before.address == (HOST, relay.source_port)
        assert await server.read("chaos-nat", "/3/0/0") == ACME
        observed = await server.observe("chaos-nat", "/3/0/14")

        new_port = await relay.rebind()
        with pytest.raises(RequestError):  # sent to the old mapping: nobody answers
            await server.read("chaos-nat", "/3/0/0", timeout=2.0)
        started = time.monotonic()
        client.set("1/0/1", 301)  # the client's next Update, from the new port
        async for event in updates:
            if isinstance(event, Updated):
                break
        moved_in = time.monotonic() - started
        after = server.get_registration("chaos-nat")
        assert after is not None
        node = await server.read("chaos-nat", "/3/0/0")
        client.set("3/0/14", "+09:00")  # the observation follows the client to its new port
        async with asyncio.timeout(5):
            note = await anext(observed)
        figures = (
            f"NAT rebinding over UDP: source port {before.address[1]} -> {new_port}; "
            f"a read lost before the Update; registration {before.id} -> {after.id} "
            f"at {after.address} {moved_in * 1000:.0f} ms after the Update was triggered"
        )
        print("\n" + figures)
        assert after.id == before.id and after.address == (HOST, new_port), figures
        assert node == ACME, figures
        assert note.content == ResourceNode(14, "+09:00"), figures
    finally:
        updates.close()
        await client.stop(deregister=False)
        await server.stop()


async def test_nat_rebinding_over_dtls_keeps_the_registration(make_relay: RelayFactory) -> None:
    server, transport = await dtls_server(psk_store=PSK_STORE)
    relay, front = await make_relay(transport.local_address)
    client = dtls_device(coaps_uri(front))
    log = EventLog(client)
    try:
        await client.start()
        await log.wait(RdEvent.REGISTRATION_COMPLETE)
        before = server.get_registration("dev1")
        assert before is not None and before.address == (HOST, relay.source_port)
        assert await server.read("dev1", "/3/0/0") == ACME
        dropped_before = transport.dropped

        new_port = await relay.rebind()
        started = time.monotonic()
        client.set("1/0/1", 301)  # an Update, in the old session, from the new port
        await poll(
            lambda: bool(
                log.of(RdEvent.REG_UPDATE_COMPLETE)
                or len(log.of(RdEvent.REGISTRATION_COMPLETE)) > 1
            ),
            timeout=20,
            what="the client back on the server",
        )
        back_in = time.monotonic() - started
        after = server.get_registration("dev1")
        assert after is not None
        node = await server.read("dev1", "/3/0/0")
        figures = (
            f"NAT rebinding over DTLS: source port {before.address[1]} -> {new_port}; "
            f"{transport.dropped - dropped_before} records from the new port dropped (no "
            f"session there), session re-established and registration {before.id} -> "
            f"{after.id} at {after.address} {back_in:.2f} s after the Update was triggered; "
            f"events: {[e.kind.name for _, e in log.events][-6:]}"
        )
        print("\n" + figures)
        assert after.id == before.id and after.address == (HOST, new_port), figures
        assert len(log.of(RdEvent.REGISTRATION_COMPLETE)) == 1, figures  # no new Register
        assert (HOST, new_port) in transport.sessions(), figures
        assert node == ACME, figures
    finally:
        await client.stop(deregister=False)
        await server.stop()

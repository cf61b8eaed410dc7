"""The server loses the client's DTLS session: the client handshakes again and re-registers.

The server restarts on the same port with an empty session table (and an empty
registration store). Either its close_notify reached the client (a graceful
stop) or the client never heard of it (a crash: the relay drops it); in both
cases the client's next Update fails or is refused and it registers again over
a new session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from dtls_lwm2m_support import (
    PSK_IDENTITY,
    PSK_STORE,
    EventLog,
    Relay,
    coaps_uri,
    dtls_device,
    dtls_server,
    is_dtls_record,
    poll,
)

from lwm2m.client.events import RdEvent
from lwm2m.model import InstanceNode, ResourceNode
from lwm2m.server import Server
from lwm2m.transport.dtls import DtlsServerTransport


@pytest.fixture
async def servers() -> AsyncIterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        await server.stop()


async def _restart(servers: list[Server], port: int) -> tuple[Server, DtlsServerTransport]:
    await servers[-1].stop()
    server, transport = await dtls_server(port=port, psk_store=PSK_STORE)
    servers.append(server)
    return server, transport


async def _registers_again(
    server: Server, transport: DtlsServerTransport, log: EventLog, client_port: int
) -> None:
    await log.wait(RdEvent.REGISTRATION_COMPLETE, count=2, timeout=10)
    reg = server.get_registration("dev1")
    assert reg is not None and reg.identity == PSK_IDENTITY.decode()
    assert reg.address[1] == client_port  # same socket, new session
    assert transport.sessions() == [reg.address]
    node = await server.read("dev1", "/3/0")
    assert isinstance(node, InstanceNode) and node.resources[0] == ResourceNode(0, "Acme")


async def test_server_restart_after_close_notify(servers: list[Server]) -> None:
    server, transport = await dtls_server(psk_store=PSK_STORE)
    servers.append(server)
    port = transport.local_address[1]
    client = dtls_device(coaps_uri(transport.local_address))
    log = EventLog(client)
    await client.start()
    try:
        await log.wait(RdEvent.REGISTRATION_COMPLETE)
        first = server.get_registration("dev1")
        assert first is not None
        server, transport = await _restart(servers, port)
        client.set("1/0/1", 301)  # lifetime changed: Update now
        # The new server does not know the registration: 4.04, then a full Register.
        await log.wait(RdEvent.REG_UPDATE_FAILURE, timeout=5)
        await _registers_again(server, transport, log, first.address[1])
        assert transport.dropped == 0  # nothing was sent in the old session
    finally:
        await client.stop()


async def test_server_crash_silent_session_loss(servers: list[Server]) -> None:
    server, transport = await dtls_server(psk_store=PSK_STORE)
    servers.append(server)
    port = transport.local_address[1]
    relay = Relay(transport.local_address)
    front = await relay.start()
    client = dtls_device(coaps_uri(front))
    log = EventLog(client)
    await client.start()
    try:
        await log.wait(RdEvent.REGISTRATION_COMPLETE)
        first = server.get_registration("dev1")
        assert first is not None
        # The server goes away without its close_notify reaching the client.
        relay.drop_to_client = lambda n, data: True
        server, transport = await _restart(servers, port)
        relay.drop_to_client = lambda n, data: False
        sent_before = len(relay.to_server)
        client.set("1/0/1", 301)
        # The Update leaves in the dead session: dropped unanswered, it fails ...
        await log.wait(RdEvent.REG_UPDATE_FAILURE, timeout=5)
        assert transport.dropped >= 1
        # ... and after a few unanswered messages the client handshakes again.
        await _registers_again(server, transport, log, first.address[1])
        assert all(is_dtls_record(d) for d in relay.to_server[sent_before:])
    finally:
        await client.stop()
        relay.close()
    await poll(lambda: transport.session_count == 0, timeout=3)  # close_notify on stop

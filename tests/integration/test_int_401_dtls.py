"""ETS int-401: LwM2M over UDP with DTLS in pre-shared-key mode (our Client <-> our Server).

Also the failure cases around it: wrong key, unknown identity, Security modes
the stack cannot serve, plaintext CoAP to the DTLS port, close_notify on stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from dtls_lwm2m_support import (
    FAST,
    OTHER_IDENTITY,
    OTHER_KEY,
    PSK_IDENTITY,
    PSK_KEY,
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
from lwm2m.client.rd import RegState
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.model import InstanceNode, ResourceNode
from lwm2m.server import Server
from lwm2m.transport.dtls import PSK_CIPHERS, DtlsClientTransport, DtlsServerTransport


@pytest.fixture
async def psk_server() -> AsyncIterator[tuple[Server, DtlsServerTransport]]:
    server, transport = await dtls_server(psk_store=PSK_STORE)
    try:
        yield server, transport
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("listed", "suite"),
    [(None, "TLS_PSK_WITH_AES_128_CCM_8"), (0x00AE, "TLS_PSK_WITH_AES_128_CBC_SHA256")],
    ids=["default_suites", "ciphersuite_resource_cbc"],
)
async def test_int_401_register_and_read_over_dtls_psk(
    psk_server: tuple[Server, DtlsServerTransport],
    record_property: Any,
    listed: int | None,
    suite: str,
) -> None:
    server, transport = psk_server
    client = dtls_device(coaps_uri(transport.local_address))
    if listed is not None:
        client.set("0/0/16/0", listed)  # DTLS/TLS Ciphersuite (1.1)
    await client.start()
    try:
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=5)
        reg = server.get_registration("dev1")
        assert reg is not None
        assert reg.identity == PSK_IDENTITY.decode()
        info = transport.peer_info(reg.address)
        assert info is not None and info.psk_identity == PSK_IDENTITY
        assert info.cipher_suite == suite
        assert suite in PSK_CIPHERS  # both LwM2M 1.0 mandatory PSK suites
        print(f"int-401 negotiated cipher suite: {info.cipher_suite}")
        record_property("cipher_suite", info.cipher_suite)
        # The server's request travels over the client's session and is served.
        node = await server.read("dev1", "/3/0")
        assert isinstance(node, InstanceNode)
        assert node.resources[0] == ResourceNode(0, "Acme")
        assert transport.sessions() == [reg.address]
    finally:
        await client.stop()


async def test_int_401_endpoint_bound_to_its_identity(
    psk_server: tuple[Server, DtlsServerTransport],
) -> None:
    server, transport = psk_server
    client = dtls_device(coaps_uri(transport.local_address))
    await client.start()
    imposter_transport = await DtlsClientTransport.connect(
        transport.local_address, psk=(OTHER_IDENTITY, OTHER_KEY)
    )
    imposter = Endpoint(imposter_transport, params=FAST)
    try:
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=5)
        reg = server.get_registration("dev1")
        assert reg is not None
        remote = transport.local_address
        register = Message.request(
            Code.POST, ["rd"], query=["lwm2m=1.1", "ep=dev1", "lt=300"], payload=b"</3/0>"
        )
        answer = await imposter.request(register, remote=remote)
        assert answer.code == Code.FORBIDDEN
        update = Message.request(Code.POST, list(reg.location))
        answer = await imposter.request(update, remote=remote)
        assert answer.code == Code.NOT_FOUND  # another identity's registration is not found
        # dev1 is still registered under its own identity and address
        assert server.get_registration("dev1") == reg
        # the identity bound to dev2 may register dev2
        register = Message.request(
            Code.POST, ["rd"], query=["lwm2m=1.1", "ep=dev2", "lt=300"], payload=b"</3/0>"
        )
        answer = await imposter.request(register, remote=remote)
        assert answer.code == Code.CREATED
    finally:
        await imposter.close()
        await client.stop()


async def test_int_401_close_notify_on_client_stop(
    psk_server: tuple[Server, DtlsServerTransport],
) -> None:
    server, transport = psk_server
    client = dtls_device(coaps_uri(transport.local_address))
    await client.start()
    await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=5)
    assert transport.session_count == 1
    await client.stop(deregister=False)
    # No De-register was sent: only the close_notify can have ended the session.
    await poll(lambda: transport.session_count == 0, timeout=3)
    assert server.get_registration("dev1") is not None


async def _failing_client_run(
    transport: DtlsServerTransport, identity: bytes, key: bytes
) -> tuple[EventLog, Relay, RegState | None]:
    relay = Relay(transport.local_address)
    front = await relay.start()
    client = dtls_device(coaps_uri(front), identity=identity, secret=key)
    log = EventLog(client)
    await client.start()
    try:
        await log.wait(RdEvent.NETWORK_ERROR, count=2, timeout=10)
        state = client.state(101)
    finally:
        await client.stop()
        relay.close()
    return log, relay, state


@pytest.mark.parametrize(
    ("identity", "key", "reason"),
    [
        (PSK_IDENTITY, b"not-the-right-key", "wrong key"),
        (b"nobody", PSK_KEY, "unknown_psk_identity"),
    ],
    ids=["wrong_key", "unknown_identity"],
)
async def test_int_401_bad_psk_network_error_and_back_off(
    psk_server: tuple[Server, DtlsServerTransport], identity: bytes, key: bytes, reason: str
) -> None:
    server, transport = psk_server
    log, relay, state = await _failing_client_run(transport, identity, key)
    (t1, first), (t2, _) = log.of(RdEvent.NETWORK_ERROR)[:2]
    assert "handshake failed" in first.detail and reason in first.detail
    print(f"{identity!r}: {first.detail}")
    assert t2 - t1 >= 0.15  # the RetryPolicy's back-off (0.2 s) between the attempts
    assert state is RegState.WAIT_REGISTER
    assert not log.of(RdEvent.REGISTRATION_COMPLETE)
    assert server.get_registration("dev1") is None
    assert transport.sessions() == []
    # Nothing but DTLS records left the client: no plaintext Register.
    assert relay.to_server
    assert all(is_dtls_record(d) for d in relay.to_server)
    assert not any(b"ep=dev1" in d or b"rd" in d[13:20] for d in relay.to_server)


@pytest.mark.parametrize(("mode", "reason"), [(1, "raw public key"), (4, "EST")])
async def test_int_401_unsupported_security_mode_is_a_clear_event(
    psk_server: tuple[Server, DtlsServerTransport], mode: int, reason: str
) -> None:
    server, transport = psk_server
    relay = Relay(transport.local_address)
    front = await relay.start()
    client = dtls_device(coaps_uri(front), mode=mode, server_key=b"srv-key")
    log = EventLog(client)
    await client.start()
    try:
        event = await log.wait(RdEvent.NETWORK_ERROR, timeout=5)
        assert reason in event.detail and "not supported" in event.detail
        # the client keeps running and retries after its back-off
        assert client.state(101) in (RegState.WAIT_REGISTER, RegState.REGISTERING)
        await log.wait(RdEvent.NETWORK_ERROR, count=2, timeout=5)
        print(f"security mode {mode}: {event.detail}")
    finally:
        await client.stop()
        relay.close()
    assert relay.to_server == []  # not even a ClientHello was sent
    assert server.get_registration("dev1") is None


async def test_int_401_plaintext_register_to_dtls_port_gets_no_answer(
    psk_server: tuple[Server, DtlsServerTransport],
) -> None:
    server, transport = psk_server
    loop = asyncio.get_running_loop()
    received: list[bytes] = []

    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            received.append(data)

    sock, _ = await loop.create_datagram_endpoint(Sink, remote_addr=transport.local_address)
    try:
        register = Message.request(
            Code.POST,
            ["rd"],
            query=["lwm2m=1.1", "ep=dev1", "lt=300"],
            payload=b"</3/0>",
            token=b"\x01\x02",
        )
        register.mid = 0x1234
        dropped = transport.dropped
        for _ in range(3):
            sock.sendto(register.encode())
        await poll(lambda: transport.dropped >= dropped + 3, timeout=2)
        await asyncio.sleep(0.3)
        assert received == []
        assert server.get_registration("dev1") is None
        assert transport.session_count == 0
    finally:
        sock.close()


async def test_int_401_silent_server_handshake_times_out() -> None:
    loop = asyncio.get_running_loop()
    hellos: list[bytes] = []

    class Silent(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            hellos.append(data)

    sock, _ = await loop.create_datagram_endpoint(Silent, local_addr=("127.0.0.1", 0))
    client = dtls_device(coaps_uri(sock.get_extra_info("sockname")[:2]))
    log = EventLog(client)
    await client.start()
    try:
        # Bounded like one CoAP request of the client (at least 2 s), then a back-off.
        event = await log.wait(RdEvent.NETWORK_ERROR, timeout=6)
        assert "timed out" in event.detail
        assert client.state(101) in (RegState.WAIT_REGISTER, RegState.REGISTERING)
        # RFC 6347 4.2.4: the ClientHello flight was retransmitted, all DTLS records
        assert len(hellos) >= 2
        assert all(is_dtls_record(d) for d in hellos)
    finally:
        await client.stop()
        sock.close()

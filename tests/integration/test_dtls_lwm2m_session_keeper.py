"""SessionKeeper: the client's DTLS transport handshakes again when the server goes silent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from dtls_lwm2m_support import FAST, HOST, PSK_IDENTITY, PSK_KEY, PSK_STORE, poll

from lwm2m.client.dtls import SessionKeeper, open_dtls_endpoint
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.transport.base import Address, DatagramTransport, TransportWrapper
from lwm2m.transport.dtls import (
    DtlsClientTransport,
    DtlsHandshakeError,
    DtlsPeerInfo,
    DtlsServerTransport,
)


class Peer:
    """What a silent DTLS server saw: application datagrams and session changes."""

    def __init__(self, transport: DtlsServerTransport) -> None:
        self.datagrams: list[bytes] = []
        self.sessions: list[DtlsPeerInfo | None] = []
        transport.set_callbacks(lambda data, remote: self.datagrams.append(data), _ignore)
        transport.set_session_callback(lambda remote, info: self.sessions.append(info))


def _ignore(exc: OSError, remote: Address | None) -> None:
    return None


def _coap(mid: int, confirmable: bool) -> bytes:
    msg = Message.request(Code.POST, "/rd/1", confirmable=confirmable, token=bytes([mid]))
    msg.mid = mid
    return msg.encode()


@pytest.fixture
async def silent_server() -> AsyncIterator[DtlsServerTransport]:
    server = await DtlsServerTransport.create(HOST, 0, psk_store=PSK_STORE)
    yield server
    server.close()


async def _keeper(server: DtlsServerTransport, limit: int = 3) -> SessionKeeper:
    inner = await DtlsClientTransport.connect(
        server.local_address, psk=(PSK_IDENTITY, PSK_KEY), handshake_timeout=2.0
    )
    return SessionKeeper(inner, silent_limit=limit)


async def test_unanswered_confirmables_start_a_new_handshake(
    silent_server: DtlsServerTransport,
) -> None:
    peer = Peer(silent_server)
    keeper = await _keeper(silent_server)
    try:
        remote = silent_server.local_address
        for mid in (1, 2):
            keeper.send(_coap(mid, True), remote)
        await poll(lambda: len(peer.datagrams) == 2)
        assert keeper.rehandshakes == 0
        keeper.send(_coap(3, True), remote)  # the third in a row with no answer
        await poll(lambda: len(peer.datagrams) == 3)
        assert keeper.rehandshakes == 1
        # a new session was established before the third message left in it
        assert [info is not None for info in peer.sessions] == [True, False, True]
        assert peer.datagrams[2] == _coap(3, True)
        assert keeper.inner.handshakes == 2
    finally:
        keeper.close()


async def test_non_confirmables_and_answers_do_not_count(
    silent_server: DtlsServerTransport,
) -> None:
    peer = Peer(silent_server)
    keeper = await _keeper(silent_server)
    received: list[bytes] = []
    keeper.set_callbacks(lambda data, remote: received.append(data), _ignore)
    try:
        remote = silent_server.local_address
        for mid in range(10, 16):  # NON notifications are never answered
            keeper.send(_coap(mid, False), remote)
        keeper.send(_coap(20, True), remote)
        keeper.send(_coap(21, True), remote)
        await poll(lambda: len(peer.datagrams) == 8)
        client = keeper.local_address
        silent_server.send(b"\x60\x44\x00\x15", client)  # any answer resets the count
        await poll(lambda: received == [b"\x60\x44\x00\x15"])
        keeper.send(_coap(22, True), remote)
        keeper.send(_coap(23, True), remote)
        await poll(lambda: len(peer.datagrams) == 10)
        assert keeper.rehandshakes == 0
        assert len(peer.sessions) == 1
    finally:
        keeper.close()


async def test_failed_new_handshake_is_reported(silent_server: DtlsServerTransport) -> None:
    keeper = await _keeper(silent_server, limit=1)
    errors: list[OSError] = []
    keeper.set_callbacks(lambda data, remote: None, lambda exc, remote: errors.append(exc))
    remote = silent_server.local_address
    silent_server.close()  # gone: the new handshake meets ICMP port unreachable
    await asyncio.sleep(0.05)
    try:
        keeper.send(_coap(1, True), remote)
        await poll(lambda: bool(errors), timeout=4)
        assert isinstance(errors[0], DtlsHandshakeError)
        assert keeper.rehandshakes == 1
    finally:
        keeper.close()
    assert keeper.is_closed


class CountingGate(TransportWrapper[DatagramTransport]):
    """A layer between the session and the Endpoint that counts what passes."""

    def __init__(self, inner: DatagramTransport) -> None:
        super().__init__(inner)
        self.sent = 0
        self.received = 0

    def _received(self, data: bytes, remote: Address) -> None:
        self.received += 1
        super()._received(data, remote)

    def send(self, data: bytes, remote: Address) -> None:
        self.sent += 1
        super().send(data, remote)


async def test_open_dtls_endpoint_from_security_values_with_a_wrapper() -> None:
    server = await DtlsServerTransport.create(HOST, 0, psk_store=PSK_STORE)
    answering = Endpoint(server, params=FAST)
    answering.add_resource("/ping", lambda req, remote: Message(code=Code.CONTENT, payload=b"pong"))
    gates: list[CountingGate] = []

    def wrap(transport: DatagramTransport) -> DatagramTransport:
        gates.append(CountingGate(transport))
        return gates[-1]

    security = {0: "coaps://x", 2: 0, 3: PSK_IDENTITY, 4: b"", 5: PSK_KEY}
    endpoint = await open_dtls_endpoint(
        HOST, server.local_address, security, params=FAST, wrap=wrap
    )
    try:
        answer = await endpoint.get("/ping", remote=server.local_address)
        assert answer.payload == b"pong"
        assert (gates[0].sent, gates[0].received) == (1, 1)
        assert isinstance(gates[0].inner, SessionKeeper)
        assert server.peer_identity(endpoint.local_address) == PSK_IDENTITY
    finally:
        await endpoint.close()
        await answering.close()
    await poll(lambda: server.session_count == 0)

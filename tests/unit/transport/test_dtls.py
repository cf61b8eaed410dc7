"""DTLS client and server transports against each other over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.transport.base import Address
from lwm2m.transport.dtls import (
    CertificateCredentials,
    DtlsClientTransport,
    DtlsError,
    DtlsHandshakeError,
    DtlsPeerInfo,
    DtlsServerTransport,
    PskCredentials,
    SecurityMode,
    available_cipher_suites,
    credentials_for_security_mode,
)

PSK_STORE = {b"client-1": b"key-one", b"client-2": b"key-two", b"client-3": b"key-three"}
DTLS_CONTENT_TYPES = {20, 21, 22, 23}


@pytest.fixture
async def server() -> AsyncIterator[DtlsServerTransport]:
    srv = await DtlsServerTransport.create("127.0.0.1", 0, psk_store=PSK_STORE)
    yield srv
    srv.close()


# ---------------------------------------------------------------- PSK


@pytest.mark.parametrize("suite", ["TLS_PSK_WITH_AES_128_CCM_8", "TLS_PSK_WITH_AES_128_CBC_SHA256"])
async def test_psk_handshake_and_datagrams_both_ways(
    server: DtlsServerTransport, suite: str, kit: Any
) -> None:
    rec = kit.recorder()
    kit.echo(server, rec)
    client = await DtlsClientTransport.connect(
        server.local_address, psk=(b"client-1", b"key-one"), ciphers=[suite]
    )
    try:
        assert client.cipher_suite == suite
        assert await kit.roundtrip(client, b"hello") == b"echo:hello"
        assert rec.datagrams == [(b"hello", client.local_address)]
        info = server.peer_info(client.local_address)
        assert info == DtlsPeerInfo(suite, b"client-1", None, None)
        assert server.peer_identity(client.local_address) == b"client-1"
        assert server.sessions() == [client.local_address]
    finally:
        client.close()


async def test_datagram_boundaries_are_kept(server: DtlsServerTransport, kit: Any) -> None:
    rec = kit.recorder()
    kit.echo(server, rec)
    client = await DtlsClientTransport.connect(server.local_address, psk=(b"client-1", b"key-one"))
    try:
        for size in (1, 100, 1400, 4000):
            client.send(bytes([size % 251]) * size, client.remote_address)
        await rec.wait(lambda r: len(r.datagrams) == 4)
        assert [len(d) for d, _ in rec.datagrams] == [1, 100, 1400, 4000]
    finally:
        client.close()


async def test_several_clients_at_once(server: DtlsServerTransport, kit: Any) -> None:
    rec = kit.recorder()
    kit.echo(server, rec)
    credentials = [
        (b"client-1", b"key-one"),
        (b"client-2", b"key-two"),
        (b"client-3", b"key-three"),
    ]
    clients = await asyncio.gather(
        *(
            DtlsClientTransport.connect(server.local_address, psk=credentials[i % 3])
            for i in range(12)
        )
    )
    try:
        assert server.session_count == 12
        answers = await asyncio.gather(
            *(kit.roundtrip(c, f"from {i}".encode()) for i, c in enumerate(clients))
        )
        assert answers == [f"echo:from {i}".encode() for i in range(12)]
        for i, c in enumerate(clients):
            assert server.peer_identity(c.local_address) == credentials[i % 3][0]
    finally:
        for c in clients:
            c.close()
    await kit.poll(lambda: server.session_count == 0)  # close_notify ends them


async def test_psk_store_callable_and_session_callback() -> None:
    asked: list[bytes] = []

    def lookup(identity: bytes) -> bytes | None:
        asked.append(identity)
        return b"k" * 16 if identity.startswith(b"urn:imei:") else None

    events: list[tuple[Address, DtlsPeerInfo | None]] = []
    srv = await DtlsServerTransport.create(psk_store=lookup)
    srv.set_session_callback(lambda remote, info: events.append((remote, info)))
    try:
        client = await DtlsClientTransport.connect(
            srv.local_address, psk=PskCredentials(b"urn:imei:123", b"k" * 16)
        )
        assert asked == [b"urn:imei:123"]
        assert events[0][0] == client.local_address
        assert events[0][1] is not None and events[0][1].psk_identity == b"urn:imei:123"
        client.close()
        await asyncio.sleep(0.05)
        assert events[-1] == (client.local_address, None)
        with pytest.raises(DtlsHandshakeError):
            await DtlsClientTransport.connect(
                srv.local_address, psk=(b"someone-else", b"k" * 16), handshake_timeout=3
            )
    finally:
        srv.close()


async def test_wrong_key_fails_with_clear_error_and_no_plaintext(
    server: DtlsServerTransport, kit: Any
) -> None:
    relay, front = await kit.relay(server.local_address)
    try:
        with pytest.raises(DtlsHandshakeError, match="handshake failed"):
            await DtlsClientTransport.connect(
                front, psk=(b"client-1", b"wrong-key"), handshake_timeout=3
            )
        assert relay.to_server, "the client tried"
        assert all(d[0] in DTLS_CONTENT_TYPES for d in relay.to_server + relay.to_client)
        assert server.session_count == 0
        assert server.failed_handshakes == 1
    finally:
        relay.close()


async def test_unknown_identity_fails(server: DtlsServerTransport) -> None:
    with pytest.raises(DtlsHandshakeError, match="handshake failed"):
        await DtlsClientTransport.connect(
            server.local_address, psk=(b"stranger", b"key-one"), handshake_timeout=3
        )
    assert server.session_count == 0


async def test_application_data_is_never_sent_in_plaintext(
    server: DtlsServerTransport, kit: Any
) -> None:
    kit.echo(server)
    relay, front = await kit.relay(server.local_address)
    client = await DtlsClientTransport.connect(front, psk=(b"client-2", b"key-two"))
    try:
        assert await kit.roundtrip(client, b"SECRET-PAYLOAD") == b"echo:SECRET-PAYLOAD"
        # Sent while a new handshake runs: queued, and encrypted once it completes.
        rehandshake = asyncio.create_task(client.rehandshake())
        await asyncio.sleep(0)
        assert not client.is_established
        answer = asyncio.create_task(kit.roundtrip(client, b"SECRET-AGAIN"))
        await rehandshake
        assert await answer == b"echo:SECRET-AGAIN"
        assert server.session_count == 1
        wire = relay.to_server + relay.to_client
        assert all(d[0] in DTLS_CONTENT_TYPES for d in wire)
        assert not any(b"SECRET" in d for d in wire)
    finally:
        client.close()
        relay.close()


async def test_client_rehandshakes_after_close_notify(
    server: DtlsServerTransport, kit: Any
) -> None:
    kit.echo(server)
    client = await DtlsClientTransport.connect(server.local_address, psk=(b"client-1", b"key-one"))
    try:
        assert client.handshakes == 1
        server.close_session(client.local_address)
        await kit.poll(lambda: not client.is_established)
        assert server.session_count == 0
        # The next datagram waits for a new handshake, then goes out encrypted.
        assert await kit.roundtrip(client, b"after") == b"echo:after"
        assert client.handshakes == 2 and server.session_count == 1
    finally:
        client.close()


async def test_rehandshake_after_server_lost_the_session(kit: Any) -> None:
    srv = await DtlsServerTransport.create(psk_store=PSK_STORE)
    port = srv.local_address[1]
    client = await DtlsClientTransport.connect(srv.local_address, psk=(b"client-1", b"key-one"))
    srv2: DtlsServerTransport | None = None
    try:
        # The server restarts without state: records of the old session are dropped.
        srv._udp.close()  # type: ignore[union-attr]  # the socket vanishes, no close_notify
        srv2 = await DtlsServerTransport.create("127.0.0.1", port, psk_store=PSK_STORE)
        rec = kit.recorder()
        srv2.set_callbacks(rec.on_datagram, rec.on_error)
        client.send(b"lost", client.remote_address)
        await asyncio.sleep(0.1)
        assert rec.datagrams == [] and srv2.dropped == 1
        await client.rehandshake()  # what the layer above does when requests time out
        client.send(b"found", client.remote_address)
        await rec.wait(lambda r: bool(r.datagrams))
        assert rec.datagrams == [(b"found", client.local_address)]
        assert srv2.peer_identity(client.local_address) == b"client-1"
    finally:
        client.close()
        srv.close()
        if srv2 is not None:
            srv2.close()


async def test_server_close_ends_client_session(kit: Any) -> None:
    srv = await DtlsServerTransport.create(psk_store=PSK_STORE)
    client = await DtlsClientTransport.connect(
        srv.local_address, psk=(b"client-1", b"key-one"), handshake_timeout=1
    )
    rec = kit.recorder()
    client.set_callbacks(rec.on_datagram, rec.on_error)
    try:
        srv.close()  # close_notify, then the port is gone
        await kit.poll(lambda: not client.is_established)
        client.send(b"anyone?", client.remote_address)  # the new handshake fails
        await rec.wait(lambda r: bool(r.errors), timeout=3)
        assert isinstance(rec.errors[0][0], DtlsHandshakeError)
        assert rec.datagrams == []
    finally:
        client.close()


async def test_send_to_other_peer_or_after_close_reports_error(
    server: DtlsServerTransport, kit: Any
) -> None:
    client = await DtlsClientTransport.connect(server.local_address, psk=(b"client-1", b"key-one"))
    rec = kit.recorder()
    client.set_callbacks(rec.on_datagram, rec.on_error)
    client.send(b"x", ("127.0.0.1", 9))
    client.close()
    client.close()
    client.send(b"x", client.remote_address)
    assert client.is_closed
    assert len(rec.errors) == 2
    srv_rec = kit.recorder()
    server.set_callbacks(srv_rec.on_datagram, srv_rec.on_error)
    server.send(b"x", ("127.0.0.1", 9))
    assert isinstance(srv_rec.errors[0][0], DtlsError)


# ------------------------------------------------------ retransmission


async def test_handshake_retransmits_lost_flights(server: DtlsServerTransport, kit: Any) -> None:
    kit.echo(server)
    relay, front = await kit.relay(server.local_address)
    relay.drop_to_server = lambda n, data: n == 0  # the first ClientHello
    relay.drop_to_client = lambda n, data: n == 1  # the server's first real flight
    try:
        client = await DtlsClientTransport.connect(
            front, psk=(b"client-1", b"key-one"), retransmit_initial=0.1, retransmit_max=0.8
        )
        assert len(relay.to_server) >= 4  # hello, hello again, hello+cookie (twice) ...
        assert await kit.roundtrip(client, b"ok") == b"echo:ok"
        client.close()
    finally:
        relay.close()


async def test_handshake_gives_up_on_rfc6347_timer_schedule(kit: Any) -> None:
    silent, received = await kit.raw_socket()
    address = silent.get_extra_info("sockname")[:2]
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        with pytest.raises(DtlsHandshakeError, match="timed out after"):
            await DtlsClientTransport.connect(
                address, psk=(b"a", b"b"), retransmit_initial=0.05, retransmit_max=0.2
            )
        elapsed = loop.time() - start
        # 0.05 + 0.1 + 0.2 (+0.2): doubling up to the maximum, then failure
        assert 0.3 <= elapsed < 3
        assert 3 <= len(received) <= 6
        assert all(d[:3] == b"\x16\xfe\xfd" or d[:3] == b"\x16\xfe\xff" for d, _ in received)
    finally:
        silent.close()


async def test_handshake_timeout_bounds_the_whole_handshake(kit: Any) -> None:
    silent, received = await kit.raw_socket()
    address = silent.get_extra_info("sockname")[:2]
    try:
        with pytest.raises(DtlsHandshakeError, match=r"timed out after 0.3 s"):
            await DtlsClientTransport.connect(address, psk=(b"a", b"b"), handshake_timeout=0.3)
        assert len(received) == 1  # the first retransmission would be at 1 s
    finally:
        silent.close()


async def test_unreachable_server_fails_fast(kit: Any) -> None:
    sock, _ = await kit.raw_socket()
    address = sock.get_extra_info("sockname")[:2]
    sock.close()  # nothing listens: ICMP port unreachable
    with pytest.raises(DtlsHandshakeError, match="unreachable"):
        await DtlsClientTransport.connect(address, psk=(b"a", b"b"), handshake_timeout=5)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_client_socket_follows_the_server_family(kit: Any, host: str) -> None:
    """Without ``local_addr`` the client binds the server's family and connects to it."""
    srv = await DtlsServerTransport.create(host, psk_store=PSK_STORE)
    kit.echo(srv)
    client = await DtlsClientTransport.connect(srv.local_address, psk=(b"client-1", b"key-one"))
    try:
        assert client.remote_address == srv.local_address
        assert client.local_address[0] == host  # connect() chose the loopback source
        assert await kit.roundtrip(client, b"v") == b"echo:v"
    finally:
        client.close()
        srv.close()
    assert client.is_closed


# ---------------------------------------------------------- certificates


async def test_certificate_mutual_authentication(pki: Any, kit: Any) -> None:
    srv = await DtlsServerTransport.create(certificate=pki.server_credentials())
    kit.echo(srv)
    try:
        client = await DtlsClientTransport.connect(
            srv.local_address,
            certificate=(pki.client.cert, pki.client.key, pki.ca.cert),
        )
        assert client.cipher_suite == "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"
        assert await kit.roundtrip(client, b"cert") == b"echo:cert"
        info = srv.peer_info(client.local_address)
        assert info is not None and info.certificate == pki.client.cert
        assert srv.peer_identity(client.local_address) == "CN=urn:dev:ops:test-client"
        assert client.peer_identity(client.remote_address) == "CN=localhost"
        client.close()
    finally:
        srv.close()


async def test_certificate_cbc_suite(pki: Any) -> None:
    srv = await DtlsServerTransport.create(certificate=pki.server_credentials())
    try:
        client = await DtlsClientTransport.connect(
            srv.local_address,
            certificate=pki.client_credentials(),
            ciphers=["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"],
        )
        assert client.cipher_suite == "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"
        client.close()
    finally:
        srv.close()


async def test_server_with_psk_and_certificates(pki: Any) -> None:
    srv = await DtlsServerTransport.create(
        psk_store=PSK_STORE, certificate=pki.server_credentials()
    )
    try:
        a = await DtlsClientTransport.connect(srv.local_address, psk=(b"client-3", b"key-three"))
        b = await DtlsClientTransport.connect(
            srv.local_address, certificate=pki.client_credentials()
        )
        assert srv.peer_identity(a.local_address) == b"client-3"
        assert srv.peer_identity(b.local_address) == "CN=urn:dev:ops:test-client"
        a.close()
        b.close()
    finally:
        srv.close()


async def test_client_certificate_from_untrusted_ca_is_rejected(pki: Any) -> None:
    srv = await DtlsServerTransport.create(certificate=pki.server_credentials())
    try:
        rogue = CertificateCredentials(pki.rogue_client.cert, pki.rogue_client.key, (pki.ca.cert,))
        with pytest.raises(DtlsHandshakeError):
            await DtlsClientTransport.connect(
                srv.local_address, certificate=rogue, handshake_timeout=3
            )
        assert srv.session_count == 0
    finally:
        srv.close()


async def test_server_certificate_not_matching_trust_is_rejected(pki: Any) -> None:
    srv = await DtlsServerTransport.create(certificate=pki.server_credentials())
    try:
        wrong_trust = CertificateCredentials(pki.client.cert, pki.client.key, (pki.rogue_ca.cert,))
        with pytest.raises(DtlsHandshakeError):
            await DtlsClientTransport.connect(
                srv.local_address, certificate=wrong_trust, handshake_timeout=3
            )
    finally:
        srv.close()


async def test_pinned_server_certificate(pki: Any) -> None:
    srv = await DtlsServerTransport.create(certificate=pki.server_credentials())
    try:
        pinned = CertificateCredentials(
            pki.client.cert, pki.client.key, (pki.server.cert,), pin_peer=True
        )
        client = await DtlsClientTransport.connect(srv.local_address, certificate=pinned)
        assert client.peer_info is not None and client.peer_info.certificate == pki.server.cert
        client.close()
        other_pin = CertificateCredentials(
            pki.client.cert, pki.client.key, (pki.self_signed_server.cert,), pin_peer=True
        )
        with pytest.raises(DtlsHandshakeError, match="pinned"):
            await DtlsClientTransport.connect(srv.local_address, certificate=other_pin)
    finally:
        srv.close()


async def test_self_signed_server_certificate_trusted_directly(pki: Any) -> None:
    own = pki.self_signed_server
    srv = await DtlsServerTransport.create(
        certificate=CertificateCredentials(own.cert, own.key, (pki.ca.cert,))
    )
    try:
        client = await DtlsClientTransport.connect(
            srv.local_address, certificate=(pki.client.cert, pki.client.key, own.cert)
        )
        assert client.is_established
        client.close()
    finally:
        srv.close()


# ------------------------------------------------------- configuration


def test_security_mode_mapping() -> None:
    assert credentials_for_security_mode(0, b"id", b"", b"key") == PskCredentials(b"id", b"key")
    cert = credentials_for_security_mode(SecurityMode.CERTIFICATE, b"c", b"s", b"k")
    assert cert == CertificateCredentials(b"c", b"k", (b"s",))
    assert credentials_for_security_mode(3, b"", b"", b"") is None
    with pytest.raises(NotImplementedError, match="raw public key"):
        credentials_for_security_mode(1, b"pub", b"srv", b"priv")
    with pytest.raises(NotImplementedError, match="EST"):
        credentials_for_security_mode(4, b"", b"", b"")
    with pytest.raises(ValueError, match="unknown security mode"):
        credentials_for_security_mode(9, b"", b"", b"")


def test_mandatory_suites_are_available() -> None:
    suites = available_cipher_suites()
    for name in (
        "TLS_PSK_WITH_AES_128_CCM_8",
        "TLS_PSK_WITH_AES_128_CBC_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
    ):
        assert name in suites


async def test_bad_configuration_is_rejected(pki: Any) -> None:
    addr = ("127.0.0.1", 9)
    with pytest.raises(ValueError, match="exactly one"):
        await DtlsClientTransport.connect(addr)
    with pytest.raises(ValueError, match="not available"):
        await DtlsClientTransport.connect(addr, psk=(b"a", b"b"), ciphers=["TLS_NOPE"])
    with pytest.raises(ValueError, match="UTF-8"):
        PskCredentials(b"\xff\xfe", b"k")
    with pytest.raises(ValueError, match="empty"):
        PskCredentials(b"id", b"")
    with pytest.raises(ValueError, match=r"DER X\.509"):
        await DtlsClientTransport.connect(addr, certificate=(b"junk", pki.client.key, pki.ca.cert))
    with pytest.raises(ValueError, match="private key"):
        await DtlsClientTransport.connect(addr, certificate=(pki.client.cert, b"junk", pki.ca.cert))
    with pytest.raises(ValueError, match="cookie"):
        await DtlsServerTransport.create(psk_store=PSK_STORE, cookie=False)
    with pytest.raises(ValueError, match="psk_store"):
        await DtlsServerTransport.create()
    with pytest.raises(ValueError, match="retransmission"):
        await DtlsServerTransport.create(psk_store=PSK_STORE, retransmit_initial=0)


# ------------------------------------------------------- CoAP over DTLS


async def test_coap_endpoints_over_dtls(server: DtlsServerTransport) -> None:
    seen: list[bytes | str | None] = []

    def handler(request: Message, remote: Address) -> Message:
        seen.append(server.peer_identity(remote))
        return Message.response_to(request, Code.CONTENT, b"value over dtls")

    server_ep = Endpoint(server)
    server_ep.add_resource("/3/0", handler)
    client = await DtlsClientTransport.connect(server.local_address, psk=(b"client-2", b"key-two"))
    client_ep = Endpoint(client)
    try:
        response = await client_ep.get("/3/0/0", remote=client.remote_address, timeout=5)
        assert response.code == Code.CONTENT
        assert response.payload == b"value over dtls"
        assert seen == [b"client-2"]
        # The server role works on the client's session too (LwM2M server -> client requests).
        client_ep.add_resource("/1/0", lambda req, remote: Message.response_to(req, Code.CHANGED))
        back = await server_ep.request(Code.PUT, "/1/0/1", remote=client.local_address, timeout=5)
        assert back.code == Code.CHANGED
    finally:
        await client_ep.close()
        await server_ep.close()
    assert client.is_closed

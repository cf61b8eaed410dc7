"""ETS int-1 and int-2: client-initiated bootstrap over DTLS, then registration over DTLS.

int-1 uses pre-shared keys on both legs (the bootstrap server's coaps listener
and the LwM2M server), int-2 certificates on both. The bootstrap writes the
LwM2M server's ``coaps://`` account (mode and key material) into /0 and /1;
the client then registers with it and the server reads /3/0 over the session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from dtls_lwm2m_support import (
    FAST,
    HOST,
    PSK_IDENTITY,
    PSK_KEY,
    PSK_STORE,
    EventLog,
    coaps_uri,
    dtls_device,
    dtls_server,
    pki_fixture,  # noqa: F401 -- the pki fixture
)

from lwm2m.client.events import RdEvent
from lwm2m.model import InstanceNode, Path, ResourceNode
from lwm2m.server import Server
from lwm2m.server.bootstrap import BootstrapFinished, BootstrapRejected, BootstrapServer
from lwm2m.server.bootstrap_config import (
    BootstrapPsk,
    EndpointConfig,
    SecurityConfig,
    ServerConfig,
)
from lwm2m.transport.dtls import CertificateCredentials, DtlsServerTransport

BS_IDENTITY = b"dev1-bootstrap"
BS_KEY = bytes.fromhex("0a0b0c0d0e0f10111213141516171819")


@pytest.fixture
async def closing() -> AsyncIterator[list[Server | BootstrapServer]]:
    """Servers to stop at the end of the test."""
    opened: list[Server | BootstrapServer] = []
    yield opened
    for item in reversed(opened):
        await (item.stop() if isinstance(item, Server) else item.close())


async def _bootstrap_server(
    config: EndpointConfig, certificate: CertificateCredentials | None = None
) -> tuple[BootstrapServer, list[Any]]:
    bootstrap = BootstrapServer(transmission=FAST, request_timeout=5.0)
    bootstrap.set_endpoint("dev1", config)
    events: list[Any] = []
    bootstrap.on_event(events.append)
    await bootstrap.start(HOST, coap_port=None, coaps_port=0, coaps_certificate=certificate)
    assert [scheme for scheme, _ in bootstrap.listening] == ["coaps"]
    return bootstrap, events


async def _bootstrap_then_register(
    bootstrap: BootstrapServer,
    bs_events: list[Any],
    server: Server,
    transport: DtlsServerTransport,
    make_client: Callable[[str], Any],
) -> Any:
    """Run the client through bootstrap and registration; the registration."""
    client = make_client(coaps_uri(bootstrap.addresses[0]))
    log = EventLog(client)
    await client.start()
    try:
        await log.wait(RdEvent.BOOTSTRAP_TRANSFER_COMPLETE, timeout=10)
        await log.wait(RdEvent.REGISTRATION_COMPLETE, timeout=10)
        assert any(isinstance(e, BootstrapFinished) for e in bs_events)
        assert not [e for e in bs_events if isinstance(e, BootstrapRejected)]
        reg = server.get_registration("dev1")
        assert reg is not None
        info = transport.peer_info(reg.address)
        assert info is not None
        print(f"registration after bootstrap: cipher suite {info.cipher_suite}")
        node = await server.read("dev1", "/3/0")
        assert isinstance(node, InstanceNode)
        assert node.resources[0] == ResourceNode(0, "Acme")
        written = [
            iid
            for iid in client.store.instance_ids(0)
            if client.store.get(Path(0, iid, 0)) == coaps_uri(transport.local_address)
        ]
        assert len(written) == 1
        return client, written[0], reg
    except BaseException:
        await client.stop()
        raise


async def test_int_1_bootstrap_and_register_over_dtls_psk(
    closing: list[Server | BootstrapServer],
) -> None:
    server, transport = await dtls_server(psk_store=PSK_STORE)
    closing.append(server)
    account = SecurityConfig(
        uri=coaps_uri(transport.local_address),
        short_server_id=101,
        security_mode=0,
        public_key_or_identity=PSK_IDENTITY,
        secret_key=PSK_KEY,
    )
    config = EndpointConfig(
        security=[account],
        servers=[ServerConfig(101, lifetime=300)],
        bootstrap_psk=BootstrapPsk(BS_IDENTITY, BS_KEY),
    )
    bootstrap, bs_events = await _bootstrap_server(config)
    closing.append(bootstrap)

    def make_client(bs_uri: str) -> Any:
        return dtls_device(bs_uri, bootstrap=True, identity=BS_IDENTITY, secret=BS_KEY)

    client, iid, reg = await _bootstrap_then_register(
        bootstrap, bs_events, server, transport, make_client
    )
    try:
        assert client.store.get(Path(0, iid, 2)) == 0
        assert client.store.get(Path(0, iid, 3)) == PSK_IDENTITY
        assert reg.identity == PSK_IDENTITY.decode()
    finally:
        await client.stop()


async def test_int_1_wrong_bootstrap_psk_is_refused(
    closing: list[Server | BootstrapServer],
) -> None:
    config = EndpointConfig(
        security=[], servers=[], bootstrap_psk=BootstrapPsk(BS_IDENTITY, BS_KEY)
    )
    bootstrap, bs_events = await _bootstrap_server(config)
    closing.append(bootstrap)
    client = dtls_device(
        coaps_uri(bootstrap.addresses[0]), bootstrap=True, identity=BS_IDENTITY, secret=b"wrong"
    )
    log = EventLog(client)
    await client.start()
    try:
        event = await log.wait(RdEvent.NETWORK_ERROR, timeout=5)
        assert "handshake" in event.detail
        assert not log.of(RdEvent.BOOTSTRAP_TRANSFER_COMPLETE)
    finally:
        await client.stop()
    assert bs_events == []  # no Bootstrap-Request ever reached the server


async def test_int_2_bootstrap_and_register_over_dtls_certificates(
    closing: list[Server | BootstrapServer], pki: Any
) -> None:
    server, transport = await dtls_server(certificate=pki.server_credentials())
    closing.append(server)
    account = SecurityConfig(
        uri=coaps_uri(transport.local_address),
        short_server_id=101,
        security_mode=2,
        public_key_or_identity=pki.client.cert,
        server_public_key=pki.server.cert,
        secret_key=pki.client.key,
    )
    config = EndpointConfig(security=[account], servers=[ServerConfig(101, lifetime=300)])
    bootstrap, bs_events = await _bootstrap_server(config, pki.server_credentials())
    closing.append(bootstrap)

    def make_client(bs_uri: str) -> Any:
        return dtls_device(
            bs_uri,
            bootstrap=True,
            mode=2,
            identity=pki.client.cert,
            server_key=pki.server.cert,
            secret=pki.client.key,
        )

    client, iid, reg = await _bootstrap_then_register(
        bootstrap, bs_events, server, transport, make_client
    )
    try:
        assert client.store.get(Path(0, iid, 2)) == 2
        assert client.store.get(Path(0, iid, 4)) == pki.server.cert
        assert reg.identity == "CN=urn:dev:ops:test-client"
    finally:
        await client.stop()

"""LwM2M over DTLS with X.509 certificates (Security Mode 2): our Client <-> our Server.

The client's Security instance holds its certificate (/0/x/3), the server's
certificate (/0/x/4) and its private key (/0/x/5), all DER; Certificate Usage
(/0/x/15) decides whether /0/x/4 pins the server certificate (3, the default)
or is the trust anchor of its chain (2). The test PKI is made at test time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from dtls_lwm2m_support import (
    FAST,
    EventLog,
    coaps_uri,
    dtls_device,
    dtls_server,
    pki_fixture,  # noqa: F401 -- the pki fixture
)

from lwm2m.client.dtls import DtlsSecurityError, dtls_cipher_suites, dtls_credentials
from lwm2m.client.events import RdEvent
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.model import InstanceNode, ResourceNode
from lwm2m.server import Server
from lwm2m.transport.dtls import (
    CERTIFICATE_CIPHERS,
    CertificateCredentials,
    DtlsClientTransport,
    DtlsServerTransport,
    PskCredentials,
)

CLIENT_SUBJECT = "CN=urn:dev:ops:test-client"


@pytest.fixture
async def cert_server(pki: Any) -> AsyncIterator[tuple[Server, DtlsServerTransport]]:
    server, transport = await dtls_server(certificate=pki.server_credentials())
    try:
        yield server, transport
    finally:
        await server.stop()


def _cert_device(transport: DtlsServerTransport, pki: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("server_key", pki.server.cert)
    return dtls_device(
        coaps_uri(transport.local_address),
        mode=2,
        identity=pki.client.cert,
        secret=pki.client.key,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("usage", "listed", "suite"),
    [
        (None, None, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"),
        (3, None, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"),
        (2, 0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    ],
    ids=["default_usage", "pinned", "trust_anchor_cbc"],
)
async def test_register_and_read_with_certificates(
    cert_server: tuple[Server, DtlsServerTransport],
    pki: Any,
    usage: int | None,
    listed: int | None,
    suite: str,
) -> None:
    server, transport = cert_server
    # Usage 2 makes /0/x/4 the trust anchor: the CA certificate goes there.
    client = _cert_device(transport, pki, server_key=pki.ca.cert if usage == 2 else pki.server.cert)
    if usage is not None:
        client.set("0/0/15", usage)
    if listed is not None:
        client.set("0/0/16/0", listed)
    await client.start()
    try:
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=5)
        reg = server.get_registration("dev1")
        assert reg is not None
        assert reg.identity == CLIENT_SUBJECT
        info = transport.peer_info(reg.address)
        assert info is not None and info.certificate == pki.client.cert
        assert info.cipher_suite == suite
        assert suite in CERTIFICATE_CIPHERS
        print(f"certificate mode negotiated cipher suite: {info.cipher_suite}")
        node = await server.read("dev1", "/3/0")
        assert isinstance(node, InstanceNode)
        assert node.resources[0] == ResourceNode(0, "Acme")
    finally:
        await client.stop()


async def test_server_certificate_not_the_pinned_one(
    cert_server: tuple[Server, DtlsServerTransport], pki: Any
) -> None:
    server, transport = cert_server
    client = _cert_device(transport, pki, server_key=pki.self_signed_server.cert)
    log = EventLog(client)
    await client.start()
    try:
        event = await log.wait(RdEvent.NETWORK_ERROR, timeout=5)
        assert "pinned" in event.detail
    finally:
        await client.stop()
    assert server.get_registration("dev1") is None


async def test_client_certificate_of_unknown_ca_is_refused(
    cert_server: tuple[Server, DtlsServerTransport], pki: Any
) -> None:
    server, transport = cert_server
    client = dtls_device(
        coaps_uri(transport.local_address),
        mode=2,
        identity=pki.rogue_client.cert,
        secret=pki.rogue_client.key,
        server_key=pki.server.cert,
    )
    log = EventLog(client)
    await client.start()
    try:
        event = await log.wait(RdEvent.NETWORK_ERROR, timeout=5)
        assert "handshake" in event.detail
    finally:
        await client.stop()
    assert transport.failed_handshakes >= 1
    assert server.get_registration("dev1") is None


async def test_certificate_subject_bound_to_its_endpoint(
    cert_server: tuple[Server, DtlsServerTransport], pki: Any
) -> None:
    _, transport = cert_server
    dtls = await DtlsClientTransport.connect(
        transport.local_address,
        certificate=CertificateCredentials(
            pki.client.cert, pki.client.key, (pki.server.cert,), pin_peer=True
        ),
    )
    endpoint = Endpoint(dtls, params=FAST)
    try:
        for ep, code in (("dev2", Code.FORBIDDEN), ("dev1", Code.CREATED)):
            register = Message.request(
                Code.POST, ["rd"], query=["lwm2m=1.1", f"ep={ep}", "lt=300"], payload=b"</3/0>"
            )
            answer = await endpoint.request(register, remote=transport.local_address)
            assert answer.code == code, ep
    finally:
        await endpoint.close()


def test_security_instance_to_credentials(pki: Any) -> None:
    psk = dtls_credentials({2: 0, 3: b"id", 4: b"", 5: b"key"})
    assert psk == PskCredentials(b"id", b"key")
    cert = {2: 2, 3: pki.client.cert, 4: pki.server.cert, 5: pki.client.key}
    pinned = dtls_credentials(cert)
    assert isinstance(pinned, CertificateCredentials) and pinned.pin_peer
    assert pinned.trusted == (pki.server.cert,)
    anchor = dtls_credentials({**cert, 15: 2})
    assert isinstance(anchor, CertificateCredentials) and not anchor.pin_peer
    assert dtls_cipher_suites(cert, pinned) is None
    assert dtls_cipher_suites({16: {}}, pinned) is None
    assert dtls_cipher_suites({16: {0: 0xC0A8, 1: 0xC023}}, pinned) == [
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"
    ]
    with pytest.raises(DtlsSecurityError, match="0xC0A8"):
        dtls_cipher_suites({16: {0: 0xC0A8}}, pinned)  # a PSK suite for certificates
    for values, reason in (
        ({2: 3}, "NoSec"),
        ({3: b"id"}, "missing"),
        ({2: 7, 3: b"", 4: b"", 5: b""}, "unknown security mode"),
        ({**cert, 4: b""}, "/0/x/4"),
        ({**cert, 15: 9}, "Certificate Usage"),
        ({2: 0, 3: b"id", 5: b""}, "key"),
    ):
        with pytest.raises(DtlsSecurityError, match=reason):
            dtls_credentials(values)

"""Credentials set through the REST API apply to the next DTLS handshake; deleting one
closes the sessions it authenticated.

Our Server listens on UDP and DTLS on loopback as ``lwm2m server`` builds it: the DTLS
listener looks each PSK up in the server's store during the handshake, and an endpoint
with a PSK must register under that identity. The REST app is the server's own
(:func:`lwm2m.server.rest.create_app`). Leshan's demo does the same: its
``SecurityServlet.doDelete`` removes the info as compromised, and its connection cleaner
then drops the DTLS connections of that PSK identity (or certificate CN).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession, ClientTimeout, test_utils
from dtls_lwm2m_support import (
    FAST,
    HOST,
    EventLog,
    coaps_uri,
    dtls_device,
    dtls_server,
    pki_fixture,  # noqa: F401 -- the pki fixture
    poll,
)

from lwm2m.cli.server import ServerOptions, _binding, _psk_lookup, serve
from lwm2m.client.events import RdEvent
from lwm2m.server import MemoryStore, Server
from lwm2m.server.rest import create_app
from lwm2m.transport.dtls import DtlsClientTransport, DtlsHandshakeError, DtlsServerTransport
from lwm2m.transport.mixed import UdpAndDtlsTransport, identity_text
from lwm2m.transport.udp import UdpTransport

IDENTITY = "dev1-rest-identity"
KEY = bytes.fromhex("0102030405060708090a0b0c0d0e0f10")
PSK_BODY = {
    "endpoint": "dev1",
    "tls": {"mode": "psk", "details": {"identity": IDENTITY, "key": KEY.hex()}},
}
pytestmark = pytest.mark.timeout(60)


@contextlib.asynccontextmanager
async def udp_and_dtls_server() -> AsyncIterator[tuple[Server, DtlsServerTransport]]:
    """A started Server on UDP + DTLS with the store-backed PSK lookup and binding."""
    store = MemoryStore()
    udp = await UdpTransport.create(HOST, 0)
    dtls = await DtlsServerTransport.create(HOST, 0, psk_store=_psk_lookup(store))
    transport = UdpAndDtlsTransport(udp, dtls)
    server = Server(
        HOST,
        0,
        store=store,
        transport=transport,
        identity_of=lambda remote: identity_text(transport.peer_identity(remote)),
        authorize=_binding(store),
        transmission=FAST,
        default_timeout=5.0,
    )
    await server.start()
    try:
        yield server, dtls
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def rest(server: Server) -> AsyncIterator[test_utils.TestClient]:
    app = create_app(server)
    async with test_utils.TestClient(test_utils.TestServer(app, host=HOST)) as client:
        yield client


async def handshake_refused(address: Any, identity: str, key: bytes) -> bool:
    try:
        transport = await DtlsClientTransport.connect(
            address, psk=(identity.encode(), key), handshake_timeout=2.0
        )
    except DtlsHandshakeError:
        return True
    transport.close()
    return False


async def test_put_psk_then_register_then_delete_closes_the_session() -> None:
    async with udp_and_dtls_server() as (server, dtls), rest(server) as http:
        coaps = dtls.local_address
        assert await handshake_refused(coaps, IDENTITY, KEY)  # unknown before the PUT

        async with http.put("/api/security/clients/", json=PSK_BODY) as resp:
            assert (resp.status, await resp.text()) == (200, "")
        async with http.get("/api/server/endpoint") as resp:
            uris = [e["uri"]["full"] for e in await resp.json()]
        assert uris == [f"coap://{HOST}:{server.coap_address[1]}", f"coaps://{HOST}:{coaps[1]}"]

        # no restart: the next handshake finds the key in the store
        client = dtls_device(
            coaps_uri(coaps), "dev1", identity=IDENTITY.encode(), secret=KEY, lifetime=300
        )
        log = EventLog(client)
        await client.start()
        try:
            await log.wait(RdEvent.REGISTRATION_COMPLETE, timeout=10)
            reg = server.get_registration("dev1")
            assert reg is not None and reg.identity == IDENTITY
            assert dtls.sessions() == [reg.address]
            failed = dtls.failed_handshakes

            async with http.delete("/api/security/clients/dev1") as resp:
                assert (resp.status, await resp.text()) == (200, "")
            assert dtls.session_count == 0  # closed before the answer
            assert server.store.get_security("dev1") is None

            # The client's next exchange needs a new handshake, which the key's absence fails.
            client.set("1/0/1", 301)  # lifetime changed: Update
            await poll(lambda: dtls.failed_handshakes > failed, timeout=15)
            await log.wait(RdEvent.REG_UPDATE_FAILURE, timeout=15)
            assert dtls.sessions() == []
            assert len(log.of(RdEvent.REGISTRATION_COMPLETE)) == 1
            assert await handshake_refused(coaps, IDENTITY, KEY)
        finally:
            await client.stop(deregister=False)


async def test_identity_of_another_endpoint_is_refused_and_changes_nothing() -> None:
    async with udp_and_dtls_server() as (server, dtls), rest(server) as http:
        async with http.put("/api/security/clients/", json=PSK_BODY) as resp:
            assert resp.status == 200
        other = {**PSK_BODY, "endpoint": "dev2"}
        async with http.put("/api/security/clients/", json=other) as resp:
            assert resp.status == 400 and IDENTITY in await resp.text()
        assert [i.endpoint for i in server.store.list_security()] == ["dev1"]
        # the key still works for dev1's identity
        assert not await handshake_refused(dtls.local_address, IDENTITY, KEY)


async def test_delete_x509_credential_closes_the_certificate_session(pki: Any) -> None:
    """An X.509 credential names the endpoint that must be the certificate's CN; deleting it
    closes the session of that CN (the server's only listener is DTLS: one coaps URI)."""
    endpoint = "urn:dev:ops:test-client"  # the CN of the test client certificate
    server, transport = await dtls_server(certificate=pki.server_credentials(), authorize=None)
    try:
        async with rest(server) as http:
            body = {"endpoint": endpoint, "tls": {"mode": "x509", "details": {}}}
            async with http.put("/api/security/clients/", json=body) as resp:
                assert resp.status == 200
            async with http.get("/api/server/endpoint") as resp:
                assert [e["uri"]["scheme"] for e in await resp.json()] == ["coaps"]
            client = dtls_device(
                coaps_uri(transport.local_address),
                endpoint,
                mode=2,
                identity=pki.client.cert,
                server_key=pki.server.cert,
                secret=pki.client.key,
            )
            log = EventLog(client)
            await client.start()
            try:
                await log.wait(RdEvent.REGISTRATION_COMPLETE, timeout=10)
                assert len(transport.sessions()) == 1
                async with http.delete("/api/security/clients/" + endpoint) as resp:
                    assert resp.status == 200
                assert transport.session_count == 0
            finally:
                await client.stop(deregister=False)
    finally:
        await server.stop()


async def test_lwm2m_server_command_applies_rest_credentials() -> None:
    """``lwm2m server`` end to end: its REST API adds a PSK that the DTLS listener of the
    running process accepts at once, and deleting it ends the client's session."""
    out = io.StringIO()
    stop = asyncio.Event()
    options = ServerOptions(host=HOST, coap_port=0, coaps_port=0, http_port=0)
    task = asyncio.create_task(serve(options, out=out, stop=stop))
    try:
        await poll(lambda: "http listening" in out.getvalue() or task.done(), timeout=10)
        ports = dict(re.findall(r"(\w+) listening on [\d.]+:(\d+)", out.getvalue()))
        coaps = (HOST, int(ports["coaps"]))
        timeout = ClientTimeout(total=10)
        async with ClientSession(f"http://{HOST}:{ports['http']}", timeout=timeout) as http:
            async with http.put("/api/security/clients/", json=PSK_BODY) as resp:
                assert resp.status == 200
            client = dtls_device(coaps_uri(coaps), "dev1", identity=IDENTITY.encode(), secret=KEY)
            log = EventLog(client)
            await client.start()
            try:
                await log.wait(RdEvent.REGISTRATION_COMPLETE, timeout=10)
                assert "REGISTRATION dev1" in out.getvalue()
                async with http.delete("/api/security/clients/dev1") as resp:
                    assert resp.status == 200
                async with http.get("/api/security/clients") as resp:
                    assert await resp.json() == []
                client.set("1/0/1", 301)
                await log.wait(RdEvent.REG_UPDATE_FAILURE, timeout=15)
                assert len(log.of(RdEvent.REGISTRATION_COMPLETE)) == 1
            finally:
                await client.stop(deregister=False)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)

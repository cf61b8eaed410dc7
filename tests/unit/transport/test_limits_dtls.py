"""Bounds on DTLS handshakes and sessions, and the expiry of half-open handshakes.

A half-open handshake is made by hand: our client's first ClientHello is sent
from a fresh socket, the HelloVerifyRequest's cookie is put into a copy of it
(RFC 6347 4.2.1), and that second ClientHello makes the server create state;
then the socket stays silent. Each costs the server tens of kilobytes until
it is dropped. The figures are printed for ``pytest -s``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from typing import Any

import pytest
from mbedtls import tls as mtls

from lwm2m.coap.limits import Limits
from lwm2m.transport.dtls import DtlsClientTransport, DtlsHandshakeError, DtlsServerTransport
from lwm2m.transport.dtls_session import DtlsSession

PSK_STORE = {b"dev": b"device-key"}
PSK = (b"dev", b"device-key")
RECORD, HANDSHAKE_HEADER = 13, 12


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def first_client_hello() -> bytes:
    config = mtls.DTLSConfiguration(
        pre_shared_key=("dev", b"device-key"),
        ciphers=("TLS-PSK-WITH-AES-128-CCM-8",),
        validate_certificates=False,
    )
    session = DtlsSession(
        mtls.ClientContext(config).wrap_buffers(None), retransmit_initial=1, retransmit_max=60
    )
    out, _ = session.handshake()
    return out[0]


def with_cookie(hello: bytes, verify_request: bytes) -> bytes:
    """``hello`` (no cookie) with the cookie of ``verify_request``, as message 1."""
    at = RECORD + HANDSHAKE_HEADER + 2  # server_version, then the cookie
    cookie = verify_request[at + 1 : at + 1 + verify_request[at]]
    body = hello[RECORD + HANDSHAKE_HEADER :]
    cookie_at = 2 + 32 + 1 + body[34]  # version, random, session id
    assert body[cookie_at] == 0
    body = body[:cookie_at] + bytes([len(cookie)]) + cookie + body[cookie_at + 1 :]
    length = len(body).to_bytes(3, "big")
    handshake = b"\x01" + length + b"\x00\x01" + b"\x00\x00\x00" + length + body
    return (
        hello[:3]
        + b"\x00\x00"
        + (1).to_bytes(6, "big")
        + len(handshake).to_bytes(2, "big")
        + handshake
    )


class _Socket(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.put_nowait(data)


async def half_open(server: DtlsServerTransport, count: int) -> list[asyncio.DatagramTransport]:
    """Open ``count`` sockets that each complete the cookie exchange, then stay silent."""
    loop = asyncio.get_running_loop()
    hello = first_client_hello()
    sockets: list[tuple[asyncio.DatagramTransport, _Socket]] = []
    for _ in range(count):
        transport, protocol = await loop.create_datagram_endpoint(
            _Socket, remote_addr=server.local_address
        )
        sockets.append((transport, protocol))
    for transport, _ in sockets:
        transport.sendto(hello)
        await asyncio.sleep(0)
    for transport, protocol in sockets:
        verify = await asyncio.wait_for(protocol.received.get(), 2)
        transport.sendto(with_cookie(hello, verify))
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)
    return [t for t, _ in sockets]


def close_all(sockets: list[asyncio.DatagramTransport]) -> None:
    for transport in sockets:
        transport.close()


async def test_half_open_handshakes_per_address_are_bounded_and_expire(
    kit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = await DtlsServerTransport.create(
        psk_store=PSK_STORE,
        handshake_timeout=0.5,
        max_handshakes_per_address=20,
        max_handshakes=1000,
    )
    sockets: list[asyncio.DatagramTransport] = []
    try:
        before = rss_mb()
        with caplog.at_level(logging.WARNING, logger="lwm2m.transport.dtls_server"):
            sockets = await half_open(server, 60)
        during = rss_mb()
        assert server.handshake_count == 20 and server.session_count == 20
        assert server.refused_handshakes == 40
        lines = [r for r in caplog.records if "bound on handshakes per address" in r.getMessage()]
        assert len(lines) == 1 and lines[0].levelno == logging.WARNING
        loop = asyncio.get_running_loop()
        start = loop.time()
        await kit.poll(lambda: server.session_count == 0, timeout=3)
        print(
            f"\n60 half-open handshakes from one address: {20} held, "
            f"{server.refused_handshakes} refused; gone {loop.time() - start:.2f} s later "
            f"with no traffic; RSS {before:.1f} -> {during:.1f} -> {rss_mb():.1f} MB"
        )
        assert server.handshake_count == 0
        # A real client gets in afterwards.
        client = await DtlsClientTransport.connect(server.local_address, psk=PSK)
        kit.echo(server)
        assert await kit.roundtrip(client, b"hi") == b"echo:hi"
        client.close()
    finally:
        close_all(sockets)
        server.close()


async def test_half_open_handshakes_in_total_are_bounded(kit: Any) -> None:
    options = Limits(
        dtls_handshakes_total=30, dtls_handshakes_per_address=1000, dtls_handshake_timeout=0.5
    ).dtls_options()
    server = await DtlsServerTransport.create(psk_store=PSK_STORE, **options)
    sockets: list[asyncio.DatagramTransport] = []
    try:
        sockets = await half_open(server, 50)
        assert server.handshake_count == 30 and server.refused_handshakes == 20
        # While the table is full of handshakes, a new client is refused too...
        with pytest.raises(DtlsHandshakeError):
            await DtlsClientTransport.connect(server.local_address, psk=PSK, handshake_timeout=0.2)
        await kit.poll(lambda: server.handshake_count == 0, timeout=3)
        # ...and gets in once the half-open ones expired.
        client = await DtlsClientTransport.connect(server.local_address, psk=PSK)
        assert server.session_count == 1 and server.handshake_count == 0
        client.close()
    finally:
        close_all(sockets)
        server.close()


async def test_sessions_per_address_are_bounded(kit: Any) -> None:
    server = await DtlsServerTransport.create(psk_store=PSK_STORE, max_sessions_per_address=2)
    clients: list[DtlsClientTransport] = []
    try:
        for _ in range(2):
            clients.append(await DtlsClientTransport.connect(server.local_address, psk=PSK))
        with pytest.raises(DtlsHandshakeError):
            await DtlsClientTransport.connect(server.local_address, psk=PSK, handshake_timeout=0.3)
        assert server.session_count == 2 and server.refused_handshakes >= 1
        assert server.handshake_count == 0
        clients.pop().close()
        await kit.poll(lambda: server.session_count == 1)
        clients.append(await DtlsClientTransport.connect(server.local_address, psk=PSK))
        assert server.session_count == 2
    finally:
        for client in clients:
            client.close()
        server.close()


async def test_a_client_rehandshaking_from_its_address_is_not_refused(kit: Any) -> None:
    # One entry per address at most: a new handshake from an address with a session
    # replaces it, so the per-address bound of 1 does not lock the client out.
    server = await DtlsServerTransport.create(
        psk_store=PSK_STORE, max_sessions_per_address=1, max_handshakes_per_address=1
    )
    kit.echo(server)
    client = await DtlsClientTransport.connect(server.local_address, psk=PSK)
    try:
        await client.rehandshake()
        assert await kit.roundtrip(client, b"again") == b"echo:again"
        assert server.session_count == 1 and server.refused_handshakes == 0
    finally:
        client.close()
        server.close()


@pytest.mark.slow
async def test_three_thousand_half_open_handshakes(kit: Any) -> None:
    """The flood that used to hold ~94 MB: now bounded, and the memory goes back."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 3500:
        if hard != resource.RLIM_INFINITY and hard < 3500:
            pytest.skip("needs 3,500 file descriptors")
        resource.setrlimit(resource.RLIMIT_NOFILE, (3500, hard))
    results = []
    for name, options in (
        (
            "without bounds",
            {
                "max_handshakes": 10_000,
                "max_handshakes_per_address": 10_000,
                "max_sessions_per_address": 10_000,
            },
        ),
        ("default bounds", {}),
    ):
        server = await DtlsServerTransport.create(
            psk_store=PSK_STORE, handshake_timeout=2.0, **options
        )
        sockets: list[asyncio.DatagramTransport] = []
        try:
            before = rss_mb()
            sockets = await half_open(server, 3000)
            held, during = server.handshake_count, rss_mb()
            await kit.poll(lambda s=server: s.session_count == 0, timeout=10)
            await asyncio.sleep(3)  # the sweep after the expiry trims the heap
            results.append((name, held, server.refused_handshakes, before, during, rss_mb()))
        finally:
            close_all(sockets)
            server.close()
    for name, held, refused, before, during, after in results:
        print(
            f"\n3000 half-open handshakes, {name}: {held} held, {refused} refused; "
            f"RSS {before:.1f} MB before, {during:.1f} MB held, {after:.1f} MB after expiry"
        )
    assert results[0][1] == 3000
    assert results[1][1] == Limits().dtls_handshakes_per_address

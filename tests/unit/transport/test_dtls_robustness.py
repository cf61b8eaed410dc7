"""Hostile and broken input to the DTLS transports: nothing crashes, nothing leaks."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest

from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, Type
from lwm2m.transport.dtls import DtlsClientTransport, DtlsHandshakeError, DtlsServerTransport

PSK_STORE = {b"dev": b"device-key"}
PSK = (b"dev", b"device-key")
HANDSHAKE, ALERT = 22, 21
HELLO_VERIFY_REQUEST = 3


async def captured_client_hello(kit: Any) -> bytes:
    """The first ClientHello our client sends (to a socket that never answers)."""
    silent, received = await kit.raw_socket()
    with pytest.raises(DtlsHandshakeError):
        await DtlsClientTransport.connect(
            silent.get_extra_info("sockname")[:2], psk=PSK, handshake_timeout=0.1
        )
    return received[0][0]


def hostile_datagrams(rng: random.Random, hello: bytes, count: int) -> list[bytes]:
    """Random bytes, DTLS-looking headers with random bodies, truncated and mutated hellos."""
    out: list[bytes] = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            out.append(rng.randbytes(rng.randrange(0, 1500)))
        elif kind == 1:
            # Passes the ClientHello pre-filter, so Mbed TLS parses the rest.
            body = rng.randbytes(rng.randrange(13, 400))
            out.append(b"\x16\xfe\xfd\x00\x00" + rng.randbytes(8) + b"\x01" + body)
        elif kind == 2:
            out.append(hello[: rng.randrange(0, len(hello))])
        elif kind == 3:
            mutated = bytearray(hello)
            for _ in range(rng.randrange(1, 8)):
                mutated[rng.randrange(13, len(mutated))] = rng.randrange(256)
            out.append(bytes(mutated))
        else:
            header = bytes([rng.choice((20, 21, 22, 23)), 0xFE, 0xFD])
            out.append(header + rng.randbytes(rng.randrange(0, 200)))
    return out


async def flood(kit: Any, server: DtlsServerTransport, count: int, seed: int) -> list[bytes]:
    """Send ``count`` hostile datagrams from 8 sockets; returns what came back."""
    rng = random.Random(seed)
    hello = await captured_client_hello(kit)
    sockets = [await kit.raw_socket(server.local_address) for _ in range(8)]
    for i, data in enumerate(hostile_datagrams(rng, hello, count)):
        sockets[i % 8][0].sendto(data)
        await asyncio.sleep(0)  # the listener reads one datagram per loop iteration
    await asyncio.sleep(0.2)
    return [d for _, received in sockets for d, _ in received]


async def check_flood(kit: Any, count: int, caplog: pytest.LogCaptureFixture) -> None:
    server = await DtlsServerTransport.create(psk_store=PSK_STORE)
    kit.echo(server)
    client = await DtlsClientTransport.connect(server.local_address, psk=PSK)
    try:
        with caplog.at_level(logging.WARNING):
            answers = await flood(kit, server, count, seed=count)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        # Only the established client holds an entry: unverified senders leave no state.
        assert server.session_count == 1
        assert server.dropped > 0  # junk without a ClientHello header
        assert server.failed_handshakes > 0  # junk that reached Mbed TLS
        # The listener really processed them (paced sending, nothing lost in the kernel).
        assert server.dropped + server.failed_handshakes + len(answers) >= count * 0.8
        print(
            f"{count} datagrams: {server.dropped} dropped before Mbed TLS, "
            f"{server.failed_handshakes} rejected by it, {len(answers)} answers"
        )
        # Answers are HelloVerifyRequests or alerts, never larger than a ClientHello.
        for data in answers:
            assert data[0] in (HANDSHAKE, ALERT)
            if data[0] == HANDSHAKE:
                assert data[13] == HELLO_VERIFY_REQUEST
            assert len(data) <= 120
        assert await kit.roundtrip(client, b"still here") == b"echo:still here"
    finally:
        client.close()
        server.close()


async def test_random_datagrams_do_not_crash_or_leak(
    kit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await check_flood(kit, 500, caplog)


@pytest.mark.slow
async def test_ten_thousand_random_datagrams(kit: Any, caplog: pytest.LogCaptureFixture) -> None:
    await check_flood(kit, 10_000, caplog)


async def test_plaintext_coap_is_not_served(kit: Any) -> None:
    server = await DtlsServerTransport.create(psk_store=PSK_STORE)
    rec = kit.recorder()
    server.set_callbacks(rec.on_datagram, rec.on_error)
    sock, received = await kit.raw_socket(server.local_address)
    try:
        get = Message(Type.CON, Code.GET, 0x1234, b"tk", [(11, b"3")], b"").encode()
        for _ in range(3):
            sock.sendto(get)
        await asyncio.sleep(0.1)
        assert rec.datagrams == [] and received == []
        assert server.dropped == 3 and server.session_count == 0
    finally:
        server.close()


async def test_garbage_on_an_established_session_is_dropped(kit: Any) -> None:
    server = await DtlsServerTransport.create(psk_store=PSK_STORE)
    rec = kit.recorder()
    kit.echo(server, rec)
    client = await DtlsClientTransport.connect(server.local_address, psk=PSK)
    rng = random.Random(7)
    try:
        assert await kit.roundtrip(client, b"one") == b"echo:one"
        raw = client._transport  # the client's own socket: same source address
        record = client._session.encrypt(b"to be cut")
        for data in (
            record[:-3],  # truncated record
            record[:10],
            record[:-1] + bytes([record[-1] ^ 1]),  # bad MAC
            b"\x17\xfe\xfd" + rng.randbytes(60),
            rng.randbytes(300),
            b"",
        ):
            raw.send(data, client.remote_address)
        # And the client gets junk from the server's address.
        for _ in range(20):
            server._udp.send(rng.randbytes(rng.randrange(1, 200)), client.local_address)
        await asyncio.sleep(0.1)
        assert [d for d, _ in rec.datagrams] == [b"one"]
        assert await kit.roundtrip(client, b"two") == b"echo:two"
        assert server.session_count == 1 and client.is_established
    finally:
        client.close()
        server.close()


async def test_failing_handshake_does_not_disturb_others(kit: Any) -> None:
    server = await DtlsServerTransport.create(psk_store=PSK_STORE)
    kit.echo(server)
    good = await DtlsClientTransport.connect(server.local_address, psk=PSK)
    try:
        bad = [
            DtlsClientTransport.connect(
                server.local_address, psk=(b"dev", b"wrong"), handshake_timeout=2
            )
            for _ in range(5)
        ]
        results = await asyncio.gather(*bad, return_exceptions=True)
        assert all(isinstance(r, DtlsHandshakeError) for r in results)
        assert server.failed_handshakes == 5 and server.session_count == 1
        assert await kit.roundtrip(good, b"fine") == b"echo:fine"
    finally:
        good.close()
        server.close()


async def test_peer_vanishing_mid_handshake_expires(kit: Any) -> None:
    server = await DtlsServerTransport.create(psk_store=PSK_STORE, handshake_timeout=0.3)
    relay, front = await kit.relay(server.local_address)
    relay.drop_to_server = lambda n, data: n >= 2  # hello, hello+cookie, then silence
    try:
        with pytest.raises(DtlsHandshakeError):
            await DtlsClientTransport.connect(front, psk=PSK, handshake_timeout=0.2)
        assert server.session_count == 1  # the cookie verified: a handshake in progress
        await kit.poll(lambda: server.session_count == 0, timeout=2)
        assert server.sessions() == []
    finally:
        server.close()


async def test_idle_sessions_expire(kit: Any) -> None:
    server = await DtlsServerTransport.create(psk_store=PSK_STORE, idle_timeout=0.3)
    ended: list[Any] = []
    server.set_session_callback(lambda remote, info: info is None and ended.append(remote))
    kit.echo(server)
    client = await DtlsClientTransport.connect(server.local_address, psk=PSK)
    try:
        assert server.session_count == 1
        await kit.poll(lambda: server.session_count == 0, timeout=2)
        assert ended == [client.local_address]
        await kit.poll(lambda: not client.is_established)  # it got the close_notify
        await asyncio.sleep(0.4)
        assert client.handshakes == 1  # nothing to send, no new handshake
        # The idle client's next datagram goes out after a fresh handshake.
        assert await kit.roundtrip(client, b"back") == b"echo:back"
        assert client.handshakes == 2
    finally:
        client.close()
        server.close()


async def test_session_table_is_bounded(kit: Any) -> None:
    server = await DtlsServerTransport.create(psk_store=PSK_STORE, max_sessions=2)
    try:
        a = await DtlsClientTransport.connect(server.local_address, psk=PSK)
        b = await DtlsClientTransport.connect(server.local_address, psk=PSK)
        with pytest.raises(DtlsHandshakeError):
            await DtlsClientTransport.connect(server.local_address, psk=PSK, handshake_timeout=0.3)
        assert server.session_count == 2
        a.close()
        await kit.poll(lambda: server.session_count == 1)
        c = await DtlsClientTransport.connect(server.local_address, psk=PSK)
        assert server.session_count == 2
        b.close()
        c.close()
    finally:
        server.close()


async def test_many_concurrent_handshakes(kit: Any) -> None:
    server = await DtlsServerTransport.create(psk_store=PSK_STORE)
    try:
        clients = await asyncio.gather(
            *(DtlsClientTransport.connect(server.local_address, psk=PSK) for _ in range(40))
        )
        assert server.session_count == 40
        assert all(server.peer_identity(c.local_address) == b"dev" for c in clients)
        for c in clients:
            c.close()
        await kit.poll(lambda: server.session_count == 0)
    finally:
        server.close()

"""The RD client shell under failure: bad answers, silence, ICMP, DTLS, address change, stop.

Every failure must become events and a back-off visible in the timing of the
next attempts, never an exception out of the client (no ERROR log either).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from test_rd_support import (
    FAST,
    HOST,
    Reply,
    ScriptedServer,
    eventually,
    free_port,
    gaps,
    make_client,
    registered_client,
    running,
)

from lwm2m.client.events import RdEvent
from lwm2m.client.rd import RegState, RetryPolicy
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.errors import RequestError
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.server import Server
from lwm2m.transport.dtls import DtlsServerTransport

#: Two failed Registers are enough to report REGISTRATION_FAILURE.
TWO_ATTEMPTS = RetryPolicy(initial_delay=0.2, factor=2.0, max_delay=0.8, jitter=0.0, attempts=2)


@pytest.fixture(autouse=True)
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> object:
    """Whatever the peer does, nothing in the client fails with an ERROR log line."""
    caplog.set_level(logging.WARNING, logger="lwm2m")
    yield None
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


BAD_ANSWERS = {
    "garbage datagram": (Reply(raw=b"\x00\xffnot CoAP at all"), "no answer"),
    "no Location-Path": (Reply(location=()), "Location-Path missing"),
    "dot segment in Location-Path": (Reply(location=("rd", "..")), "dot segment"),
    "unexpected 2.05": (Reply(code=Code.CONTENT), "2.05"),
    "5.03 Service Unavailable": (Reply(code=Code.SERVICE_UNAVAILABLE), "5.03"),
    "nothing at all": (Reply(drop=True), "no answer"),
}


@pytest.mark.parametrize("answer", list(BAD_ANSWERS), ids=list(BAD_ANSWERS))
async def test_register_bad_answers_back_off_then_recover(
    server: ScriptedServer, answer: str
) -> None:
    reply, detail = BAD_ANSWERS[answer]
    server.replies = [reply, reply]
    client, log = make_client((server.uri, 101), retry=TWO_ATTEMPTS)
    await client.start()
    try:
        [failure] = await log.wait(RdEvent.REGISTRATION_FAILURE)
        assert failure.server == 101 and detail in failure.detail
        await log.wait(RdEvent.REGISTRATION_COMPLETE, timeout=5.0)
        regs = server.of("register")
        assert len(regs) == 3
        first, second = gaps([r.time for r in regs])
        # Back-off 0.2 s then 0.4 s, counted from the start of each attempt; seen at the
        # server, one datagram's delay more or less (a loaded machine: tens of ms).
        assert first >= 0.15 and second >= 0.35 and second > first
        assert client.state(101) is RegState.REGISTERED
        assert log.kinds(101).count(RdEvent.REGISTRATION_COMPLETE) == 1
    finally:
        await client.stop()


async def test_failure_reported_on_every_attempt_after_the_policy_is_used_up(
    server: ScriptedServer,
) -> None:
    server.replies = [Reply(code=Code.SERVICE_UNAVAILABLE)] * 5
    client, log = make_client((server.uri, 101), retry=TWO_ATTEMPTS)
    await client.start()
    try:
        failures = await log.wait(RdEvent.REGISTRATION_FAILURE, 3, timeout=5.0)
        assert all("5.03" in f.detail for f in failures)
        assert "attempt 2" in failures[0].detail  # not before the attempts are used up
        times = [r.time for r in server.of("register")][1:]  # the attempts that failed
        assert all(g >= 0.35 for g in gaps(times))  # never hammering: 0.4 s, then 0.8 s
        assert client.state(101) is not RegState.IDLE  # never gives up by itself
    finally:
        await client.stop()


async def test_explicit_rejection_is_reported_at_once_and_still_retried(
    server: ScriptedServer,
) -> None:
    # Core TS 1.1 E.2 /1/x/16: an explicit rejection fails the registration at once;
    # without a Bootstrap-Server the attempts go on as the procedure says.
    server.replies = [Reply(code=Code.FORBIDDEN)] * 3
    client, log = make_client((server.uri, 101), retry=TWO_ATTEMPTS)
    await client.start()
    try:
        failures = await log.wait(RdEvent.REGISTRATION_FAILURE, 2, timeout=5.0)
        assert "4.03" in failures[0].detail and "attempt 1" in failures[0].detail
        sent = [r.time for r in server.of("register")]
        assert gaps(sent)[0] >= 0.15  # the back-off, from the start of each attempt
        assert client.state(101) is not RegState.IDLE
    finally:
        await client.stop()


async def test_icmp_port_unreachable_is_a_network_error_then_recovery() -> None:
    port = free_port()  # nothing listens: every Register gets ICMP port unreachable
    client, log = make_client((f"coap://{HOST}:{port}", 101), retry=TWO_ATTEMPTS)
    await client.start()
    try:
        errors = await log.wait(RdEvent.NETWORK_ERROR, 2)
        assert all("refused" in e.detail.lower() for e in errors)  # not a timeout
        assert errors[1].time - errors[0].time >= 0.15  # back-off between attempts
        await log.wait(RdEvent.REGISTRATION_FAILURE)
        server = await ScriptedServer.start(port=port)  # the server comes up
        try:
            await log.wait(RdEvent.REGISTRATION_COMPLETE, timeout=5.0)
            assert client.registered_servers == [101]
        finally:
            await client.stop()
            await server.close()
    finally:
        await client.stop()


async def test_icmp_during_update_keeps_the_registration_and_retries(
    server: ScriptedServer,
) -> None:
    async with registered_client(server) as (client, log):
        port = server.port
        await server.close()  # the server goes away
        client.set("1/0/1", 400)  # lifetime changed: an Update is due at once
        [error] = await log.wait(RdEvent.NETWORK_ERROR)
        assert "refused" in error.detail.lower()
        await log.wait(RdEvent.REG_UPDATE_FAILURE)
        assert client.state(101) is RegState.UPDATE_BACKOFF
        assert client.registered_servers == [101]  # still registered until the lifetime ends
        back = await ScriptedServer.start(port=port)
        try:
            [done] = await log.wait(RdEvent.REG_UPDATE_COMPLETE, timeout=3.0)
            assert done.time - error.time >= 0.19
            assert back.of("update")[0].message.uri_query == ("lt=400",)
        finally:
            await client.stop()
            await back.close()


async def test_address_changed_registers_again_from_the_new_port(server: ScriptedServer) -> None:
    async with registered_client(server) as (client, log):
        old = server.client_address
        client.address_changed()  # the application saw a network switch
        [_, again] = await log.wait(RdEvent.REGISTRATION_COMPLETE, 2)
        assert again.detail == "/rd/c2"
        regs = server.of("register")
        assert regs[1].remote != old and regs[1].message.uri_query == regs[0].message.uri_query
        r = await server.request(Code.GET, "/3/0/1")  # the server reaches the new address
        assert r.code == Code.CONTENT and r.payload == b"M1"


async def test_reopened_socket_turns_the_update_into_a_register(server: ScriptedServer) -> None:
    async with registered_client(server) as (client, log):
        old = server.client_address
        await client._connections[101].endpoint.close()  # the socket is lost under the client
        client.set("1/0/1", 500)
        await log.wait(RdEvent.REGISTRATION_COMPLETE, 2)
        assert server.of("update") == []  # never an Update from an address the server lacks
        regs = server.of("register")
        assert regs[1].remote != old and "lt=500" in regs[1].message.uri_query


async def _dtls_server(key: bytes) -> tuple[Server, DtlsServerTransport]:
    dtls = await DtlsServerTransport.create(HOST, 0, psk_store={b"dev-1": key})
    server = Server(transport=dtls, transmission=FAST, default_timeout=5.0)
    await server.start()
    return server, dtls


async def test_dtls_psk_registration() -> None:
    server, dtls = await _dtls_server(b"0123456789abcdef")
    client, log = make_client()
    client.add_server(
        f"coaps://{HOST}:{dtls.local_address[1]}",
        short_server_id=101,
        lifetime=300,
        psk_identity="dev-1",
        psk_key=b"0123456789abcdef",
    )
    await client.start()
    try:
        await log.wait(RdEvent.REGISTRATION_COMPLETE)
        assert [r.endpoint for r in server.registrations()] == ["rd-client"]
        assert await server.read("rd-client", "/3/0/0") is not None
    finally:
        await client.stop()
        await server.stop()


async def test_dtls_wrong_psk_is_a_network_error_and_backs_off() -> None:
    server, dtls = await _dtls_server(b"0123456789abcdef")
    client, log = make_client(retry=TWO_ATTEMPTS)
    client.add_server(
        f"coaps://{HOST}:{dtls.local_address[1]}",
        short_server_id=101,
        lifetime=300,
        psk_identity="dev-1",
        psk_key=b"not the right key",
    )
    # When each attempt starts (opens its connection): the back-off runs from there.
    starts: list[float] = []
    connect = client._conns.connect

    async def timed_connect(key: int | None) -> Any:
        starts.append(asyncio.get_running_loop().time())
        return await connect(key)

    client._conns.connect = timed_connect  # type: ignore[method-assign]
    await client.start()
    try:
        await log.wait(RdEvent.NETWORK_ERROR, 2, timeout=10.0)
        assert starts[1] - starts[0] >= 0.19  # 0.2 s back-off, whatever the handshakes took
        await log.wait(RdEvent.REGISTRATION_FAILURE)
        assert server.registrations() == []
        assert dtls.failed_handshakes >= 2
        assert dtls.dropped == 0  # nothing but handshakes reached it: no plaintext fallback
        assert client.registered_servers == []
    finally:
        await client.stop()
        await server.stop()


async def test_stop_while_register_in_flight(server: ScriptedServer) -> None:
    server.replies = [Reply(drop=True)]
    client, log = make_client((server.uri, 101))
    await client.start()
    await server.wait_requests("register", 1)
    async with asyncio.timeout(2.0):
        await client.stop()  # nothing to De-register: no Location yet
    assert server.of("deregister") == []
    assert log.kinds() == [RdEvent.DISCONNECT]
    assert client.state(101) is RegState.IDLE


async def test_stop_deregisters_while_update_in_flight(server: ScriptedServer) -> None:
    client, log = make_client((server.uri, 101))
    await client.start()
    await log.wait(RdEvent.REGISTRATION_COMPLETE)
    server.replies = [Reply(drop=True)]  # the Update stays unanswered
    client.set("1/0/1", 400)
    await server.wait_requests("update", 1)
    async with asyncio.timeout(2.0):
        await client.stop()
    [dereg] = server.of("deregister")
    assert tuple(dereg.message.uri_path) == ("rd", "c1")
    assert log.kinds()[-2:] == [RdEvent.DEREGISTER_COMPLETE, RdEvent.DISCONNECT]
    assert log.of(RdEvent.REG_UPDATE_COMPLETE) == []  # the abandoned Update reports nothing


async def test_stop_without_deregister_while_update_in_flight(server: ScriptedServer) -> None:
    client, log = make_client((server.uri, 101))
    await client.start()
    await log.wait(RdEvent.REGISTRATION_COMPLETE)
    server.replies = [Reply(drop=True)]
    client.set("1/0/1", 400)
    await server.wait_requests("update", 1)
    async with asyncio.timeout(2.0):
        await client.stop(deregister=False)
    assert server.of("deregister") == []
    assert log.kinds()[-1] is RdEvent.DISCONNECT
    assert server.client_address is not None
    with pytest.raises(RequestError):  # the client's socket is closed
        await server.endpoint.request(Code.GET, "/3/0/0", remote=server.client_address, timeout=0.5)


async def test_stop_with_unanswered_deregister(server: ScriptedServer) -> None:
    client, log = make_client((server.uri, 101))
    await client.start()
    await log.wait(RdEvent.REGISTRATION_COMPLETE)
    server.replies = [Reply(drop=True)]  # the De-register is never answered
    async with asyncio.timeout(3.0):
        await client.stop(timeout=2.0)
    [failed] = log.of(RdEvent.DEREGISTER_FAILURE)
    assert "no answer" in failed.detail
    assert log.kinds()[-1] is RdEvent.DISCONNECT


async def test_queue_mode_stored_notifications_follow_the_wake_up_update(
    server: ScriptedServer,
) -> None:
    client, log = make_client((server.uri, 101), queue_mode=True, queue_rx_time=0.3)
    client.set("3/0/9", 50)
    async with running(client, log):
        assert server.client_address is not None
        obs = await server.endpoint.observe(
            "/3/0/9", remote=server.client_address, accept=ContentFormat.TEXT_PLAIN, timeout=2.0
        )
        arrivals: list[tuple[float, bytes]] = []

        async def collect() -> None:
            async for note in obs:
                arrivals.append((asyncio.get_running_loop().time(), note.payload))

        collector = asyncio.ensure_future(collect())
        await log.wait(RdEvent.QUEUE_MODE_RX_OFF)
        client.set("3/0/9", 40)  # while offline: stored (/1/0/6 true), the client wakes up
        await log.wait(RdEvent.REG_UPDATE_COMPLETE)
        await eventually(lambda: len(arrivals) >= 2, what="stored notification")
        [update] = server.of("update")
        values = [payload for _, payload in arrivals]
        assert values[0] == b"50" and values[-1] == b"40"
        assert all(t >= update.time for t, _ in arrivals[1:])  # after the Update, never before
        collector.cancel()


async def test_datagrams_from_strangers_never_reach_the_client(server: ScriptedServer) -> None:
    # A stranger that knows the port cannot talk to the client: the socket is
    # connected to its server, so datagrams from elsewhere never reach it.
    async with registered_client(server) as _:
        assert server.client_address is not None
        stranger = await Endpoint.create_udp(HOST, 0, params=FAST)
        try:
            with pytest.raises(RequestError):
                await stranger.request(
                    Code.GET, "/3/0/0", remote=server.client_address, timeout=0.5
                )
        finally:
            await stranger.close()

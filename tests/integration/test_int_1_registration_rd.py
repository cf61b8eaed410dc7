"""ETS int-101 .. int-109 through the client shell, against a scripted server over loopback."""

from __future__ import annotations

import asyncio

import pytest
from test_rd_support import (
    FAST,
    HOST,
    ScriptedServer,
    eventually,
    gaps,
    make_client,
    registered_client,
    running,
)

from lwm2m.client.events import RdEvent
from lwm2m.client.rd import RegState
from lwm2m.coap.errors import RequestTimeout
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.formats.link import parse_links
from lwm2m.model import ResourceNode
from lwm2m.server import Server, Updated


async def test_int_101_initial_registration(server: ScriptedServer) -> None:
    client, log = make_client((server.uri, 101))
    await client.start()
    try:
        [done] = await log.wait(RdEvent.REGISTRATION_COMPLETE)
        assert done.server == 101 and done.detail == "/rd/c1"
        [seen] = server.of("register")
        reg = seen.message
        assert reg.code == Code.POST and tuple(reg.uri_path) == ("rd",)
        # Uri-Query in the order lwm2m, ep, lt; b= absent for the default binding U.
        assert reg.uri_query == ("lwm2m=1.1", "ep=rd-client", "lt=300")
        assert reg.content_format == ContentFormat.LINK_FORMAT
        links = [link.target for link in parse_links(reg.payload)]
        assert links[0] == "/"  # </>;rt="oma.lwm2m" first
        assert "/1/0" in links and "/3/0" in links
        assert not any(t == "/0" or t.startswith("/0/") for t in links)  # no Security
        assert client.registered_servers == [101]
        assert client.state(101) is RegState.REGISTERED
    finally:
        await client.stop()
    assert [s.kind for s in server.seen] == ["register", "deregister"]
    assert tuple(server.seen[-1].message.uri_path) == ("rd", "c1")


async def test_int_101_binding_and_version_10(server: ScriptedServer) -> None:
    client, log = make_client((server.uri, 101), lwm2m_version="1.0", queue_mode=True)
    client.set("1/0/7", "U")
    async with running(client, log):
        # LwM2M 1.0 carries queue mode in the binding: b=UQ, no Q parameter.
        assert server.of("register")[0].message.uri_query == (
            "lwm2m=1.0",
            "ep=rd-client",
            "lt=300",
            "b=UQ",
        )


async def test_int_102_update_after_lifetime_write(server: ScriptedServer) -> None:
    async with registered_client(server) as (_client, log):
        r = await server.request(
            Code.PUT, "/1/0/1", payload=b"600", content_format=ContentFormat.TEXT_PLAIN
        )
        assert r.code == Code.CHANGED
        [update] = await server.wait_requests("update", 1)
        assert tuple(update.message.uri_path) == ("rd", "c1")
        assert update.message.uri_query == ("lt=600",)  # only what changed
        assert update.message.payload == b""
        await log.wait(RdEvent.REG_UPDATE_COMPLETE)
        assert len(server.of("register")) == 1


async def test_int_103_disable_then_register_after_timeout(server: ScriptedServer) -> None:
    client, log = make_client((server.uri, 101))
    client.set("1/0/5", 1)  # Disable Timeout: 1 s
    async with running(client, log):
        r = await server.request(Code.POST, "/1/0/4")
        assert r.code == Code.CHANGED  # the answer goes out before the De-register
        [dereg] = await server.wait_requests("deregister", 1)
        assert tuple(dereg.message.uri_path) == ("rd", "c1")
        await log.wait(RdEvent.DEREGISTER_COMPLETE)
        assert client.state(101) is RegState.DISABLED
        assert client.registered_servers == []
        regs = await server.wait_requests("register", 2, timeout=3.0)
        assert regs[1].time - dereg.time >= 0.95  # not before the Disable Timeout
        await log.wait(RdEvent.REGISTRATION_COMPLETE, 2)
        kinds = log.kinds(101)
        assert kinds.index(RdEvent.SERVER_DISABLED) < kinds.index(RdEvent.DEREGISTER_COMPLETE)
        assert client.state(101) is RegState.REGISTERED


async def test_int_104_update_on_registration_update_trigger(server: ScriptedServer) -> None:
    async with registered_client(server) as (_client, log):
        r = await server.request(Code.POST, "/1/0/8")
        assert r.code == Code.CHANGED
        [update] = await server.wait_requests("update", 1)
        assert update.message.uri_query == () and update.message.payload == b""
        await log.wait(RdEvent.REG_UPDATE_COMPLETE)


async def test_int_105_update_answered_not_found_registers_again(server: ScriptedServer) -> None:
    from test_rd_support import Reply

    async with registered_client(server) as (_client, log):
        server.replies.append(Reply(code=Code.NOT_FOUND))  # the server lost the registration
        await server.request(Code.POST, "/1/0/8")
        [failed] = await log.wait(RdEvent.REG_UPDATE_FAILURE)
        assert "4.04" in failed.detail
        regs = await server.wait_requests("register", 2)
        # A full Register: every parameter and the object links again.
        assert regs[1].message.uri_query == regs[0].message.uri_query
        assert regs[1].message.payload == regs[0].message.payload
        [_, again] = await log.wait(RdEvent.REGISTRATION_COMPLETE, 2)
        assert again.detail == "/rd/c2"
        # Later Updates go to the new Location.
        await server.request(Code.POST, "/1/0/8")
        updates = await server.wait_requests("update", 2)
        assert tuple(updates[1].message.uri_path) == ("rd", "c2")


async def test_int_107_updates_before_the_lifetime_ends(server: ScriptedServer) -> None:
    # Lifetime 2 s, margin 1 s: an Update every max(2 - 1, 2 / 2) = 1 s after the last success.
    client, log = make_client((server.uri, 101), lifetime=2, update_margin=1.0)
    async with running(client, log):
        updates = await server.wait_requests("update", 2, timeout=4.0)
        times = [server.of("register")[0].time, *(u.time for u in updates)]
        for gap in gaps(times):
            assert 0.9 <= gap < 2.0  # before the registration expires on the server
        assert all(u.message.uri_query == () for u in updates)  # nothing changed
        assert log.of(RdEvent.REG_TIMEOUT) == []


async def test_int_108_queue_mode_receive_window(server: ScriptedServer) -> None:
    client, log = make_client((server.uri, 101), queue_mode=True, queue_rx_time=0.4)
    async with running(client, log):
        assert server.of("register")[0].message.uri_query[-1] == "Q"
        await asyncio.sleep(0.2)
        r = await server.request(Code.GET, "/3/0/0")  # within the window: answered
        assert r.code == Code.CONTENT and r.payload == b"Acme"
        answered = asyncio.get_running_loop().time()
        [off] = await log.wait(RdEvent.QUEUE_MODE_RX_OFF)
        assert off.time - answered >= 0.35  # the request restarted the window
        assert client.state(101) is RegState.SLEEPING
        assert server.client_address is not None
        with pytest.raises(RequestTimeout):  # the receiver is off: no answer, not even an ACK
            await server.endpoint.request(
                Code.GET, "/3/0/0", remote=server.client_address, timeout=0.5
            )
        assert server.of("update") == []


async def test_int_109_queued_request_arrives_after_the_wake_up_update() -> None:
    server = Server(HOST, 0, transmission=FAST, default_timeout=5.0, queue_awake_time=0.3)
    await server.start()
    host, port = server.coap_address
    client, log = make_client((f"coap://{host}:{port}", 101), queue_mode=True, queue_rx_time=0.3)
    reads: list[float] = []
    loop = asyncio.get_running_loop()

    def battery() -> int:
        reads.append(loop.time())
        return 55

    client.set("3/0/9", battery)
    updates: list[float] = []
    server.on_event(lambda e: updates.append(loop.time()) if isinstance(e, Updated) else None)
    await client.start()
    try:
        await log.wait(RdEvent.REGISTRATION_COMPLETE)
        await log.wait(RdEvent.QUEUE_MODE_RX_OFF)
        queued = asyncio.ensure_future(server.read("rd-client", "/3/0/9"))
        await eventually(lambda: server.pending_requests("rd-client") == 1, what="queued")
        await asyncio.sleep(0.2)
        assert reads == []  # the client sleeps; the server holds the request
        status = await client.send(["3/0/0"])  # the application wakes the client up
        assert status == Code.CHANGED
        await log.wait(RdEvent.REG_UPDATE_COMPLETE)
        async with asyncio.timeout(3):
            assert await queued == ResourceNode(9, 55)
        assert len(updates) == 1 and len(reads) == 1
        assert reads[0] >= updates[0]  # the wake-up Update reached the server first
        await log.wait(RdEvent.QUEUE_MODE_RX_OFF, 2)  # and the client sleeps again
    finally:
        await client.stop()
        await server.stop()

"""ETS 551 (access control with two servers) and 560 (notification storing while offline)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from client_support import (
    CF,
    TEST_OBJECT,
    ClientRig,
    RdEvent,
    TestServer,
    close_rig,
    next_notification,
    no_notification,
    wait_until,
)

from lwm2m import formats
from lwm2m.client.access_control import OBJECT_LEVEL, Right
from lwm2m.client.client import Client
from lwm2m.coap.numbers import Code
from lwm2m.model import ObjectNode, Path

T = TEST_OBJECT
R, W, E, D, C = Right.READ, Right.WRITE, Right.EXECUTE, Right.DELETE, Right.CREATE


def instances(rig: ClientRig, payload: bytes) -> list[int]:
    node = formats.decode(CF.LWM2M_TLV, payload, f"/{T}", rig.client.store.registry)
    assert isinstance(node, ObjectNode)
    return list(node.instances)


def acl_setup(client: Client) -> None:
    access = client.engine.access
    access.grant(3, 0, owner=101, acl={101: R | W | E, 102: R})
    access.grant(T, 0, owner=101)  # no ACL: the owner has every right, others none
    access.grant(T, OBJECT_LEVEL, owner=101, acl={102: C})
    for iid in client.store.instance_ids(1):
        ssid = client.store.get(Path(1, iid, 0))
        access.grant(1, iid, owner=ssid, acl={ssid: R | W | E})


@pytest.fixture
async def two_servers(client_server: TestServer) -> AsyncIterator[tuple[ClientRig, TestServer]]:
    second = await TestServer.start()
    rig = await make_two(client_server, second)
    try:
        yield rig, second
    finally:
        await close_rig(rig)
        await second.close()


async def make_two(first: TestServer, second: TestServer) -> ClientRig:
    from client_support import make_rig

    return await make_rig(first, extra_servers=[(second, 102)], setup=acl_setup)


async def test_int_551_access_control_with_two_servers(
    two_servers: tuple[ClientRig, TestServer],
) -> None:
    rig, s2 = two_servers
    before = rig.snapshot()

    async def code(server: TestServer | None, method: int, path: str, **kw: object) -> int:
        r = await rig.request(method, path, server=server, **kw)  # type: ignore[arg-type]
        return int(r.code)

    text = {"payload": b"Europe/Paris", "content_format": CF.TEXT_PLAIN}
    # /3/0: 101 may read, write, execute; 102 only read.
    assert await code(None, Code.GET, "/3/0/0", accept=CF.TEXT_PLAIN) == Code.CONTENT
    assert await code(s2, Code.GET, "/3/0/0", accept=CF.TEXT_PLAIN) == Code.CONTENT
    assert await code(s2, Code.PUT, "/3/0/15", **text) == Code.UNAUTHORIZED
    assert await code(s2, Code.POST, "/3/0/4") == Code.UNAUTHORIZED
    assert rig.reboots == [] and rig.snapshot() == before
    assert await code(None, Code.PUT, "/3/0/15", **text) == Code.CHANGED
    # No Access Control instance for /3303/0: nobody may read, discover, observe it.
    for server in (None, s2):
        assert await code(server, Code.GET, "/3303/0/5700") == Code.UNAUTHORIZED
        assert await code(server, Code.GET, "/3303/0", accept=CF.LINK_FORMAT) == 129
        assert await code(server, Code.PUT, "/3303/0/5700", query=["pmin=5"]) == 129
    r = await rig.request(Code.GET, "/3303/0/5700", server=s2)
    assert r.code == Code.UNAUTHORIZED
    # Object-level Read shows only the readable instances.
    r = await rig.request(Code.GET, f"/{T}", accept=CF.LWM2M_TLV, server=s2)
    assert r.code == Code.CONTENT and instances(rig, r.payload) == []
    r = await rig.request(Code.GET, f"/{T}", accept=CF.LWM2M_TLV)
    assert instances(rig, r.payload) == [0]
    # Create: only 102 holds the Create right on the test object.
    body = b'[{"bn":"/%d/4/","n":"0","vs":"by-102"}]' % T
    senml = {"payload": body, "content_format": CF.SENML_JSON}
    assert await code(None, Code.POST, f"/{T}", **senml) == Code.UNAUTHORIZED
    assert await code(s2, Code.POST, f"/{T}", **senml) == Code.CREATED
    access = rig.client.engine.access
    assert access.owner(T, 4) == 102  # the creator owns the new instance
    assert await code(None, Code.GET, f"/{T}/4/0") == Code.UNAUTHORIZED
    assert await code(s2, Code.GET, f"/{T}/4/0", accept=CF.TEXT_PLAIN) == Code.CONTENT
    assert await code(None, Code.DELETE, f"/{T}/4") == Code.UNAUTHORIZED
    assert await code(s2, Code.DELETE, f"/{T}/4") == Code.DELETED
    assert access.find(T, 4) is None
    # The Access Control instances: readable by all, writable by their owner only.
    aco = access.find(3, 0)
    assert aco is not None
    acl = {"payload": b"31", "content_format": CF.TEXT_PLAIN}
    assert await code(s2, Code.PUT, f"/2/{aco}/2/102", **acl) == Code.UNAUTHORIZED
    assert await code(s2, Code.GET, f"/2/{aco}/3", accept=CF.TEXT_PLAIN) == Code.CONTENT
    assert await code(None, Code.PUT, f"/2/{aco}/2/102", **acl) == Code.CHANGED
    assert await code(s2, Code.PUT, "/3/0/15", **text) == Code.CHANGED  # now granted


async def test_int_560_notification_storing_while_disabled(client_rig: ClientRig) -> None:
    client, server = client_rig.client, client_rig.server
    client.set("1/0/5", 1)  # Disable Timeout: 1 s
    obs = await client_rig.observe("/3/0/9", accept=CF.TEXT_PLAIN)
    assert (await next_notification(obs)).payload == b"87"
    registers = server.count(Code.POST)
    r = await client_rig.request(Code.POST, "/1/0/4")
    assert r.code == Code.CHANGED
    await client_rig.wait_event(RdEvent.SERVER_DISABLED)
    await wait_until(lambda: server.count(Code.DELETE) == 1, what="De-register")
    for level in (11, 12, 13):
        client.set("3/0/9", level)
        await asyncio.sleep(0.02)  # separate changes, each one notified
    assert await no_notification(obs, 0.3)  # nothing while disabled
    await client_rig.wait_event(RdEvent.REGISTRATION_COMPLETE, 2)
    assert server.count(Code.POST) == registers + 1
    got = [(await next_notification(obs)).payload for _ in range(3)]
    assert got == [b"11", b"12", b"13"]  # every stored one, in order
    client.set("3/0/9", 14)  # and live notifications continue
    assert (await next_notification(obs)).payload == b"14"


async def test_int_560_no_storing_drops_notifications(client_server: TestServer) -> None:
    from client_support import make_rig

    rig = await make_rig(client_server, notification_storing=False)
    try:
        rig.client.set("1/0/5", 1)
        obs = await rig.observe("/3/0/9", accept=CF.TEXT_PLAIN)
        await next_notification(obs)
        await rig.request(Code.POST, "/1/0/4")
        await rig.wait_event(RdEvent.SERVER_DISABLED)
        rig.client.set("3/0/9", 11)
        await rig.wait_event(RdEvent.REGISTRATION_COMPLETE, 2)
        assert await no_notification(obs, 0.3)
    finally:
        await close_rig(rig)


async def test_int_560_notification_storing_while_offline_in_queue_mode(
    client_server: TestServer,
) -> None:
    from client_support import make_rig

    rig = await make_rig(client_server, queue_mode=True, queue_rx_time=0.3)
    try:
        obs = await rig.observe("/3/0/9", accept=CF.TEXT_PLAIN)
        await next_notification(obs)
        await rig.wait_event(RdEvent.QUEUE_MODE_RX_OFF)
        updates = client_server.count(Code.POST)
        rig.client.set("3/0/9", 21)  # offline: stored, and the client wakes up
        await asyncio.sleep(0.02)
        rig.client.set("3/0/9", 22)
        await rig.wait_event(RdEvent.REG_UPDATE_COMPLETE)
        assert client_server.count(Code.POST) > updates
        got = [(await next_notification(obs)).payload for _ in range(2)]
        assert got == [b"21", b"22"]
    finally:
        await close_rig(rig)

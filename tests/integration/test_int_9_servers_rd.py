"""ETS int-950: registration with two servers at once, each with its own socket and state."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from test_rd_support import Reply, ScriptedServer, make_client

from lwm2m.client.access_control import Right
from lwm2m.client.events import RdEvent
from lwm2m.client.rd import RegState
from lwm2m.coap.numbers import Code, ContentFormat

RIGHTS = Right.READ | Right.WRITE | Right.EXECUTE


@pytest.fixture
async def servers() -> AsyncIterator[tuple[ScriptedServer, ScriptedServer]]:
    first, second = await ScriptedServer.start(), await ScriptedServer.start()
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_int_950_registration_with_two_servers(
    servers: tuple[ScriptedServer, ScriptedServer],
) -> None:
    first, second = servers
    second.replies = [Reply(code=Code.SERVICE_UNAVAILABLE)]  # the second one fails once
    client, log = make_client((first.uri, 101), (second.uri, 102))
    client.set("1/1/1", 600)  # each account its own lifetime
    access = client.engine.access  # with two servers, access control applies (Core TS 7.3)
    access.grant(1, 0, owner=101, acl={101: RIGHTS})
    access.grant(1, 1, owner=102, acl={102: RIGHTS})
    access.grant(3, 0, owner=101, acl={101: Right.READ, 102: Right.READ})
    await client.start()
    try:
        done = await log.wait(RdEvent.REGISTRATION_COMPLETE, 2)
        assert {e.server for e in done} == {101, 102}
        assert log.kinds(101) == [RdEvent.REGISTRATION_COMPLETE]  # not held up by 102
        assert first.of("register")[0].message.uri_query[2] == "lt=300"
        assert [r.message.uri_query[2] for r in second.of("register")] == ["lt=600"] * 2
        # One socket per server: each server sees its own client port.
        assert first.client_address is not None and second.client_address is not None
        assert first.client_address[1] != second.client_address[1]
        assert sorted(client.registered_servers) == [101, 102]
        # A lifetime write through one server updates that registration only.
        r = await second.request(
            Code.PUT, "/1/1/1", payload=b"900", content_format=ContentFormat.TEXT_PLAIN
        )
        assert r.code == Code.CHANGED
        [update] = await second.wait_requests("update", 1)
        assert update.message.uri_query == ("lt=900",)
        assert first.of("update") == []
        # Disabling one server leaves the other registered.
        client.set("1/0/5", 60)
        assert (await first.request(Code.POST, "/1/0/4")).code == Code.CHANGED
        await first.wait_requests("deregister", 1)
        await log.wait(RdEvent.DEREGISTER_COMPLETE)
        assert client.state(101) is RegState.DISABLED
        assert client.state(102) is RegState.REGISTERED
        r = await second.request(Code.GET, "/3/0/0")
        assert r.code == Code.CONTENT and r.payload == b"Acme"
    finally:
        await client.stop()
    # stop() de-registers from the server still registered, not from the disabled one.
    assert len(second.of("deregister")) == 1 and len(first.of("deregister")) == 1

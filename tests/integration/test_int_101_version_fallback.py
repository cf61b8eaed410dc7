"""ETS 101 against a server of an older LwM2M version: Register answered 4.12 Precondition Failed.

The client tries again at once with the next lower version it supports, its payload
encoded for that version; once accepted, it answers that server as that version
(TLV by default for 1.0). REGISTRATION_FAILURE comes only when no version is accepted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from test_rd_support import Reply, ScriptedServer, make_client, running

from lwm2m.client.events import RdEvent
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.formats import link as linkfmt


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    srv = await ScriptedServer.start()
    yield srv
    await srv.close()


def query_version(seen: object) -> str:
    return next(q for q in seen.message.uri_query if q.startswith("lwm2m="))  # type: ignore[attr-defined]


async def test_int_101_register_falls_back_to_a_version_the_server_accepts(
    server: ScriptedServer,
) -> None:
    refused = Reply(code=Code.PRECONDITION_FAILED)
    server.replies = [refused, refused]  # 1.2 and 1.1 refused, 1.0 accepted
    client, log = make_client((server.uri, 101), lwm2m_version="1.2")
    async with running(client, log):
        registers = server.of("register")
        assert [query_version(r) for r in registers] == ["lwm2m=1.2", "lwm2m=1.1", "lwm2m=1.0"]
        assert registers[2].time - registers[0].time < 1.0  # at once, no back-off
        assert log.of(RdEvent.REGISTRATION_FAILURE) == []
        assert client.registered_version(101) == "1.0"
        links = {
            link.target: link.params
            for link in linkfmt.parse_links(registers[2].message.payload.decode())
        }
        assert "/" not in links  # no SenML CBOR announced to a 1.0 server
        assert all("ver" not in links.get(t, {}) for t in ("/1", "/3"))
        first = {
            link.target: link.params
            for link in linkfmt.parse_links(registers[0].message.payload.decode())
        }
        assert first["/3"].get("ver") == "1.1"  # what the 1.2 Register had declared
        # The server is answered as a 1.0 server: TLV when it asks for no format.
        read = await server.request(Code.GET, "/3/0")
        assert read.code == Code.CONTENT and read.content_format == ContentFormat.LWM2M_TLV


async def test_int_101_no_version_accepted_is_a_registration_failure(
    server: ScriptedServer,
) -> None:
    server.fallback = Reply(code=Code.PRECONDITION_FAILED)
    client, log = make_client((server.uri, 101), lwm2m_version="1.1")
    await client.start()
    try:
        [failure] = await log.wait(RdEvent.REGISTRATION_FAILURE)
        assert "4.12" in failure.detail and "none of LwM2M 1.1, 1.0" in failure.detail
        assert [query_version(r) for r in server.of("register")[:2]] == ["lwm2m=1.1", "lwm2m=1.0"]
        await asyncio.sleep(0.05)
    finally:
        await client.stop(deregister=False)

"""Bootstrap through the client shell against a scripted bootstrap server (ETS int-7, int-9).

The bootstrap server here is a raw CoAP endpoint driven step by step by the
test: it answers the Bootstrap-Request, then sends exactly the Bootstrap-Write,
Delete and Finish requests a branch needs, so every answer of the client can
be checked, and the client's configuration after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from test_rd_support import (
    FAST,
    HOST,
    EventLog,
    Reply,
    ScriptedServer,
    eventually,
    make_client,
    running,
)

from lwm2m import formats
from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.client.rd import RetryPolicy
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.errors import RequestError
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.model import InstanceNode, ResourceNode, default_registry
from lwm2m.transport.base import Address

RETRY = RetryPolicy(initial_delay=0.2, factor=2.0, max_delay=0.4, jitter=0.0, attempts=2)


@dataclass
class BootstrapPeer:
    """A bootstrap server the test drives: /bs answered 2.04, then requests on demand."""

    endpoint: Endpoint
    requests: list[Message] = field(default_factory=list)
    client_address: Address | None = None
    requested: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def uri(self) -> str:
        return f"coap://{HOST}:{self.endpoint.local_address[1]}"

    def _on_bs(self, request: Message, remote: Address) -> Message:
        self.requests.append(request)
        self.client_address = remote
        self.requested.set()
        return Message.response_to(request, Code.CHANGED)

    async def send(self, code: int, path: str, payload: bytes = b"") -> int:
        assert self.client_address is not None
        cf = ContentFormat.LWM2M_TLV if payload else None
        msg = Message.request(code, path, payload=payload, content_format=cf)
        resp = await self.endpoint.request(msg, remote=self.client_address, timeout=3.0)
        return int(resp.code)

    async def write(self, path: str, resources: dict[int, Any], *, cut: int = 0) -> int:
        """Bootstrap-Write of one instance (TLV); ``cut`` drops that many bytes at the end."""
        iid = int(path.rsplit("/", 1)[1])
        node = InstanceNode(iid, {rid: ResourceNode(rid, v) for rid, v in resources.items()})
        payload = formats.encode(ContentFormat.LWM2M_TLV, node, path, default_registry())
        return await self.send(Code.PUT, path, payload[: len(payload) - cut])

    async def finish(self) -> int:
        return await self.send(Code.POST, "/bs")


@pytest.fixture
async def bs_peer() -> AsyncIterator[BootstrapPeer]:
    endpoint = await Endpoint.create_udp(HOST, 0, params=FAST)
    peer = BootstrapPeer(endpoint)
    endpoint.add_resource("/bs", peer._on_bs)
    try:
        yield peer
    finally:
        await endpoint.close()


def security(uri: str, ssid: int, *, mode: int = 3) -> dict[int, Any]:
    return {0: uri, 1: False, 2: mode, 3: b"", 4: b"", 5: b"", 10: ssid}


def config(client: Client) -> tuple[dict[int, Any], dict[int, Any]]:
    return client._config_values()


def bootstrap_client(bs: BootstrapPeer, *servers: tuple[str, int]) -> tuple[Client, EventLog]:
    client, log = make_client(*servers, retry=RETRY, bootstrap_timeout=3.0)
    client.add_server(bs.uri, bootstrap=True)
    return client, log


@pytest.mark.parametrize(
    ("refusal", "registers"),
    [
        # An explicit rejection fails the registration at once: Bootstrap on Registration
        # Failure (/1/x/16, true by default) bootstraps (Core TS 1.1 E.2, 6.2.1.1).
        (Code.FORBIDDEN, 1),
        # A server error is retried: only once the attempts are used up, never before.
        (Code.SERVICE_UNAVAILABLE, RETRY.attempts),
    ],
    ids=["4.03", "5.03"],
)
async def test_int_7_fall_back_to_bootstrap_when_every_registration_fails(
    bs_peer: BootstrapPeer, server: ScriptedServer, refusal: Code, registers: int
) -> None:
    refusing = await ScriptedServer.start()
    refusing.fallback = Reply(code=refusal)
    client, log = bootstrap_client(bs_peer, (refusing.uri, 101))
    await client.start()
    try:
        async with asyncio.timeout(5):
            await bs_peer.requested.wait()
        assert len(refusing.of("register")) == registers
        fell_back = [e for e in log.of(RdEvent.REGISTRATION_FAILURE) if e.server is None]
        assert len(fell_back) == 1 and "bootstrap" in fell_back[0].detail
        assert bs_peer.requests[0].uri_query == ("ep=rd-client",)
        # The bootstrap server moves the device to a working server.
        assert await bs_peer.send(Code.DELETE, "/0") == Code.DELETED  # keeps its own account
        assert await bs_peer.send(Code.DELETE, "/1") == Code.DELETED
        assert await bs_peer.write("/0/5", security(server.uri, 7)) == Code.CHANGED
        assert await bs_peer.write("/1/5", {0: 7, 1: 120, 6: False, 7: "U"}) == Code.CHANGED
        assert await bs_peer.finish() == Code.CHANGED
        [done] = await log.wait(RdEvent.REGISTRATION_COMPLETE)
        assert done.server == 7
        assert "lt=120" in server.of("register")[0].message.uri_query
        assert log.kinds(None)[-2:] == [
            RdEvent.BOOTSTRAP_REG_COMPLETE,
            RdEvent.BOOTSTRAP_TRANSFER_COMPLETE,
        ]
        registers = len(refusing.of("register"))
        await asyncio.sleep(0.5)
        assert len(refusing.of("register")) == registers  # the old account is gone
    finally:
        await client.stop()
        await refusing.close()


async def test_int_9_inconsistent_finish_is_refused_and_the_old_configuration_restored(
    bs_peer: BootstrapPeer, server: ScriptedServer
) -> None:
    client, log = bootstrap_client(bs_peer, (server.uri, 101))
    async with running(client, log):
        before = config(client)
        r = await server.request(Code.POST, "/1/0/9")  # Bootstrap-Request Trigger
        assert r.code == Code.CHANGED
        async with asyncio.timeout(5):
            await bs_peer.requested.wait()
        assert server.of("deregister") != []  # left the server before bootstrapping
        # A Server instance whose short server id no Security instance carries.
        assert await bs_peer.write("/1/0", {0: 55, 1: 60, 6: False, 7: "U"}) == Code.CHANGED
        assert await bs_peer.finish() == Code.NOT_ACCEPTABLE
        [failed] = await log.wait(RdEvent.BOOTSTRAP_REG_FAILURE)
        assert "inconsistent" in failed.detail
        await eventually(lambda: config(client) == before, what="configuration restored")
        assert log.of(RdEvent.BOOTSTRAP_TRANSFER_COMPLETE) == []


async def test_bootstrap_writes_of_invalid_instances_change_nothing(
    bs_peer: BootstrapPeer, server: ScriptedServer
) -> None:
    client, log = bootstrap_client(bs_peer)
    await client.start()
    try:
        async with asyncio.timeout(5):
            await bs_peer.requested.wait()
        before = config(client)
        bad_mode = security(server.uri, 7, mode=9)  # Security Mode is 0..4
        assert await bs_peer.write("/0/5", bad_mode) == Code.BAD_REQUEST
        server_5 = {0: 7, 1: 60, 6: False, 7: "U"}
        assert await bs_peer.write("/1/5", server_5, cut=1) == Code.BAD_REQUEST  # truncated TLV
        assert config(client) == before  # nothing of either write stayed
        # Core TS 1.1 5.2.7.4: resources the client does not support are ignored in a
        # Bootstrap-Write of an instance (no resource 99 in the Security object).
        unknown = {**security(server.uri, 7), 99: 1}
        assert await bs_peer.write("/0/5", unknown) == Code.CHANGED
        assert 99 not in config(client)[0][5]
        assert await bs_peer.write("/0/5", security(server.uri, 7)) == Code.CHANGED
        assert await bs_peer.write("/1/5", server_5) == Code.CHANGED
        assert await bs_peer.finish() == Code.CHANGED
        [done] = await log.wait(RdEvent.REGISTRATION_COMPLETE)
        assert done.server == 7
        # Once bootstrapped, the client no longer listens to the bootstrap server.
        with pytest.raises(RequestError):
            await bs_peer.finish()
    finally:
        await client.stop()


async def test_bootstrap_finish_before_any_write_is_refused(bs_peer: BootstrapPeer) -> None:
    client, log = bootstrap_client(bs_peer)
    await client.start()
    try:
        async with asyncio.timeout(5):
            await bs_peer.requested.wait()
        assert await bs_peer.finish() == Code.NOT_ACCEPTABLE  # no server account at all
        [failed] = await log.wait(RdEvent.BOOTSTRAP_REG_FAILURE)
        assert "no LwM2M server account" in failed.detail
        # It asks again after the back-off.
        await eventually(lambda: len(bs_peer.requests) >= 2, what="second Bootstrap-Request")
    finally:
        await client.stop()

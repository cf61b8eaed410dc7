"""Server-initiated bootstrap (ETS int-5) and the whole bootstrap sequence (int-6).

Our Client, our BootstrapServer and our Server over loopback. For int-5 the
client runs with ``server_initiated_bootstrap``: its connection to the
Bootstrap-Server stays open (from the start when it registers without a
bootstrap, or after a client-initiated one), and bootstrap operations arriving
on it start a session (Core TS 1.1 6.1.3). Operations from anyone else never
reach the bootstrap interface.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from server_support import FAST, HOST, RETRY, Recorder, make_server
from test_rd_support import EventLog, eventually

from lwm2m.client.client import Client
from lwm2m.client.events import Event, RdEvent
from lwm2m.client.rd import (
    AnswerFinish,
    BsState,
    ClientSettings,
    RdCoordinator,
    RestoreConfig,
    SaveConfig,
    SendBootstrapRequest,
    ServerAccount,
    SetTimer,
    Timer,
)
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.errors import RequestTimeout
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.model import InstanceNode, ObjectNode, ResourceNode
from lwm2m.objects import Device
from lwm2m.server import Registered, Server
from lwm2m.server.bootstrap import (
    BootstrapDiscovered,
    BootstrapEvent,
    BootstrapFailed,
    BootstrapFinished,
    BootstrapReadDone,
    BootstrapServer,
    BootstrapStarted,
    bootstrap_accounts,
)
from lwm2m.server.bootstrap_config import EndpointConfig, SecurityConfig, ServerConfig


@pytest.fixture
async def server_a() -> AsyncIterator[Server]:
    async with make_server() as srv:
        yield srv


@pytest.fixture
async def server_b() -> AsyncIterator[Server]:
    async with make_server() as srv:
        yield srv


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        await client.stop(deregister=False)


def uri(where: Server | BootstrapServer) -> str:
    port = where.coap_address[1] if isinstance(where, Server) else where.addresses[0][1]
    return f"coap://{HOST}:{port}"


def account(server: Server, ssid: int, **kw: Any) -> EndpointConfig:
    return EndpointConfig(
        security=[SecurityConfig(uri(server), short_server_id=ssid)],
        servers=[ServerConfig(ssid, lifetime=60)],
        **kw,
    )


def new_client(
    clients: list[Client], bs: BootstrapServer, *, server_initiated: bool = True
) -> tuple[Client, EventLog]:
    """A client with its Bootstrap-Server account (and a Device), not started."""
    client = Client(
        "dev1",
        transmission=FAST,
        retry=RETRY,
        bootstrap_timeout=3.0,
        server_initiated_bootstrap=server_initiated,
    )
    client.add_server(uri(bs), bootstrap=True, instance_id=0)
    Device(client.store, manufacturer="Acme", model="M1", serial="SN-1")
    clients.append(client)
    return client, EventLog(client)


def config(client: Client) -> tuple[dict[int, Any], dict[int, Any]]:
    return client._config_values()


def short_ids(client: Client) -> list[int]:
    security, _ = config(client)
    return sorted(v[10] for v in security.values() if v.get(1) is False)


async def factory_client(
    clients: list[Client], bs: BootstrapServer, server: Server
) -> tuple[Client, EventLog]:
    """A client provisioned with server 101 and the Bootstrap-Server, registered to 101."""
    client, log = new_client(clients, bs)
    client.add_server(uri(server), short_server_id=101, lifetime=60)
    await client.start()
    await log.wait(RdEvent.REGISTRATION_COMPLETE)
    await eventually(lambda: client.local_address(None) is not None, what="bootstrap connection")
    return client, log


# --- int-5: server-initiated bootstrap ----------------------------------------------------


async def test_int_5_server_initiated_bootstrap_moves_a_registered_client(
    bs_server: BootstrapServer, server_a: Server, server_b: Server, clients: list[Client]
) -> None:
    client, log = await factory_client(clients, bs_server, server_a)
    assert server_a.get_registration("dev1") is not None
    bs_server.set_endpoint("dev1", account(server_b, 202, discover="/"))
    events: list[BootstrapEvent] = []
    bs_server.on_event(events.append)
    address = client.local_address(None)
    assert address is not None
    # The client never sent a Bootstrap-Request: the Bootstrap-Server starts the session.
    result = await bs_server.bootstrap("dev1", address)
    assert isinstance(result, BootstrapFinished), result
    started = next(e for e in events if isinstance(e, BootstrapStarted))
    assert started.server_initiated and started.address == address
    discovered = next(e for e in events if isinstance(e, BootstrapDiscovered))
    assert bootstrap_accounts(discovered.links) == {0}  # the account it came through
    # After Bootstrap-Finish the client registers with the accounts just written.
    done = await log.wait(RdEvent.REGISTRATION_COMPLETE, 2)
    assert done[-1].server == 202
    assert client.registered_servers == [202]
    assert short_ids(client) == [202]
    assert config(client)[0][0][1] is True  # the Bootstrap-Server account stays
    assert await server_b.read("dev1", "/3/0/0") == ResourceNode(0, "Acme")
    assert len(log.of(RdEvent.BOOTSTRAP_TRANSFER_COMPLETE)) == 1
    # The bootstrap connection is still open: the Bootstrap-Server can come back.
    assert client.local_address(None) == address


async def test_int_5_server_initiated_bootstrap_after_a_client_initiated_one(
    bs_server: BootstrapServer, server_a: Server, server_b: Server, clients: list[Client]
) -> None:
    bs_server.set_endpoint("dev1", account(server_a, 101))
    client, log = new_client(clients, bs_server)
    first = bs_server.wait_for(BootstrapStarted, endpoint="dev1")
    await client.start()
    started = await first
    assert isinstance(started, BootstrapStarted) and not started.server_initiated
    await log.wait(RdEvent.REGISTRATION_COMPLETE)
    assert client.registered_servers == [101]
    # The Bootstrap-Server reaches the client where its Bootstrap-Request came from.
    bs_server.set_endpoint("dev1", account(server_b, 202))
    result = await bs_server.bootstrap("dev1", started.address)
    assert isinstance(result, BootstrapFinished), result
    await log.wait(RdEvent.REGISTRATION_COMPLETE, 2)
    assert client.registered_servers == [202]
    assert server_b.get_registration("dev1") is not None


async def test_int_5_failed_server_initiated_bootstrap_keeps_the_registration(
    bs_server: BootstrapServer, server_a: Server, clients: list[Client]
) -> None:
    client, log = await factory_client(clients, bs_server, server_a)
    before = config(client)
    broken = EndpointConfig(
        security=[SecurityConfig(uri(server_a), short_server_id=303)],
        servers=[ServerConfig(304)],  # no Security instance carries 304
    )
    bs_server.set_endpoint("dev1", broken, check=False)
    requests: list[BootstrapStarted] = []
    bs_server.on_event(lambda e: requests.append(e) if isinstance(e, BootstrapStarted) else None)
    address = client.local_address(None)
    assert address is not None
    result = await bs_server.bootstrap("dev1", address)
    assert isinstance(result, BootstrapFailed)
    assert result.step == "Bootstrap-Finish" and result.code == Code.NOT_ACCEPTABLE
    [failure] = await log.wait(RdEvent.BOOTSTRAP_REG_FAILURE)
    assert "previous configuration kept" in failure.detail
    await eventually(lambda: config(client) == before, what="configuration restored")
    assert client.registered_servers == [101]
    assert server_a.get_registration("dev1") is not None
    # The client was not asking for a bootstrap: it does not start one of its own.
    await asyncio.sleep(0.4)  # longer than the bootstrap back-off
    assert [r.server_initiated for r in requests] == [True]
    assert client.registered_servers == [101]


async def test_int_5_only_the_bootstrap_server_account_may_bootstrap(
    bs_server: BootstrapServer, server_a: Server, clients: list[Client]
) -> None:
    client, _ = await factory_client(clients, bs_server, server_a)
    before = config(client)
    reg = server_a.get_registration("dev1")
    assert reg is not None
    # The LwM2M Server, on its own registration: Security is off limits and there is
    # no bootstrap interface (Core TS 1.1 6.1.3, 7.1).
    write = Message.request(
        Code.PUT, "/0/1/0", payload=b"coap://elsewhere", content_format=ContentFormat.TEXT_PLAIN
    )
    answer = await server_a.endpoint.request(write, remote=reg.address, timeout=2.0)
    assert answer.code == Code.UNAUTHORIZED
    finish = await server_a.endpoint.request(
        Message.request(Code.POST, "/bs"), remote=reg.address, timeout=2.0
    )
    assert finish.code != Code.CHANGED
    # Another peer sending to the client's bootstrap socket is not heard at all.
    address = client.local_address(None)
    assert address is not None
    stranger = await Endpoint.create_udp(HOST, 0, params=FAST)
    try:
        with pytest.raises(RequestTimeout):
            await stranger.request(Message.request(Code.DELETE, "/1"), remote=address)
    finally:
        await stranger.close()
    assert config(client) == before
    assert client.registered_servers == [101]


async def test_int_5_without_the_option_the_client_is_not_bootstrapped_by_the_server(
    bs_server: BootstrapServer, server_a: Server, server_b: Server, clients: list[Client]
) -> None:
    bs_server.set_endpoint("dev1", account(server_a, 101))
    client, log = new_client(clients, bs_server, server_initiated=False)
    first = bs_server.wait_for(BootstrapStarted, endpoint="dev1")
    await client.start()
    started = await first
    assert isinstance(started, BootstrapStarted)
    await log.wait(RdEvent.REGISTRATION_COMPLETE)
    await eventually(lambda: client.local_address(None) is None, what="bootstrap socket closed")
    bs_server.set_endpoint("dev1", account(server_b, 202))
    result = await bs_server.bootstrap("dev1", started.address)
    assert isinstance(result, BootstrapFailed)
    assert client.registered_servers == [101] and short_ids(client) == [101]


# --- int-6: the whole bootstrap sequence ---------------------------------------------------


async def test_int_6_whole_bootstrap_sequence_then_registration_and_read(
    bs_server: BootstrapServer, server_a: Server, clients: list[Client]
) -> None:
    bs_server.set_endpoint("dev1", account(server_a, 101, discover="/", read=["/1"], delete=["/"]))
    client, log = new_client(clients, bs_server, server_initiated=False)
    # Something for the Bootstrap-Read to see, and for the Bootstrap-Delete to remove.
    iid = client.create_instance(1, 0)
    client.set(f"1/{iid}/0", 7)
    client.set(f"1/{iid}/1", 99)
    events: list[BootstrapEvent] = []
    bs_server.on_event(events.append)
    recorder = Recorder(server_a)
    await client.start()
    reg = await recorder.next(Registered, timeout=10)
    kinds = [type(e) for e in events]
    assert kinds == [BootstrapStarted, BootstrapDiscovered, BootstrapReadDone, BootstrapFinished]
    started, discovered, read, finished = events
    assert isinstance(started, BootstrapStarted) and not started.server_initiated
    assert isinstance(discovered, BootstrapDiscovered) and discovered.lwm2m_version == "1.1"
    assert {link.target for link in discovered.links} >= {"/0/0", "/1/0", "/3/0"}
    assert isinstance(read, BootstrapReadDone) and isinstance(read.value, ObjectNode)
    assert list(read.value.instances) == [0]
    seen = read.value.instances[0]
    assert isinstance(seen, InstanceNode)
    assert seen.resources[0] == ResourceNode(0, 7) and seen.resources[1] == ResourceNode(1, 99)
    assert isinstance(finished, BootstrapFinished)
    assert finished.written == ("/0/1", "/1/0")  # /0/0 is the Bootstrap-Server account
    # Registered to the written server, with the written lifetime.
    assert reg.registration.lifetime == 60
    [done] = await log.wait(RdEvent.REGISTRATION_COMPLETE)
    assert done.server == 101 and client.registered_servers == [101]
    security, servers = config(client)
    assert sorted(security) == [0, 1] and security[1][0] == uri(server_a)
    assert list(servers) == [0] and servers[0][0] == 101  # the old /1/0 (ssid 7) is gone
    # The server manages the device.
    node = await server_a.read("dev1", "/3/0")
    assert isinstance(node, InstanceNode)
    assert node.resources[0] == ResourceNode(0, "Acme")
    assert node.resources[2] == ResourceNode(2, "SN-1")
    assert RdEvent.BOOTSTRAP_TRANSFER_COMPLETE in log.kinds()


# --- int-5: the state machine's part, on a fake clock --------------------------------------


def test_int_5_unanswered_server_initiated_session_goes_back_without_a_request() -> None:
    settings = ClientSettings("dev1", server_initiated_bootstrap=True)
    coord = RdCoordinator(settings, [ServerAccount(101)], bootstrap=True)
    coord.start(0.0)
    bs = coord.bootstrap
    assert bs is not None
    states = [bs.state]
    out = coord.bootstrap_activity(1.0)
    assert any(isinstance(a, SaveConfig) for a in out)
    assert SetTimer(None, Timer.BOOTSTRAP_FINISH, 1.0 + settings.bootstrap_timeout) in out
    states.append(bs.state)
    assert bs.accepts_operations
    out = coord.timer_fired(None, Timer.BOOTSTRAP_FINISH, 1.0 + settings.bootstrap_timeout)
    assert any(isinstance(a, RestoreConfig) for a in out)
    assert [a.kind for a in out if isinstance(a, Event)] == [RdEvent.BOOTSTRAP_REG_FAILURE]
    assert not any(isinstance(a, SetTimer | SendBootstrapRequest) for a in out)
    states.append(bs.state)
    assert states == [BsState.IDLE, BsState.BOOTSTRAPPING, BsState.IDLE]


def test_int_5_server_initiated_bootstrap_is_refused_unless_enabled() -> None:
    coord = RdCoordinator(ClientSettings("dev1"), [ServerAccount(101)], bootstrap=True)
    coord.start(0.0)
    assert coord.bootstrap_activity(1.0) == []
    assert coord.bootstrap is not None and not coord.bootstrap.accepts_operations
    assert coord.bootstrap_finish({}, {}, 2.0) == [AnswerFinish(Code.BAD_REQUEST)]

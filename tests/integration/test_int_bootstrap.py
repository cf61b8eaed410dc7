"""Our Client bootstrapping from our BootstrapServer over loopback (ETS int-0 .. int-9).

The LwM2M server the bootstrap writes is a small registration endpoint
(:class:`RegistrationPeer`): POST /rd answered 2.01 with Location rd/<n>,
Update 2.04, De-register 2.02 -- or every Register refused, to make a client
fall back to bootstrap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from server_support import RETRY

from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.model import InstanceNode, ObjectNode, Path, ResourceNode
from lwm2m.server.bootstrap import (
    BootstrapDiscovered,
    BootstrapFailed,
    BootstrapFinished,
    BootstrapReadDone,
    BootstrapServer,
    BootstrapStarted,
    bootstrap_accounts,
)
from lwm2m.server.bootstrap_config import (
    BootstrapPsk,
    EndpointConfig,
    SecurityConfig,
    ServerConfig,
)
from lwm2m.transport.base import Address

HOST = "127.0.0.1"
FAST = TransmissionParams(ack_timeout=0.2, ack_random_factor=1.0, max_retransmit=2)


@dataclass
class RegistrationPeer:
    """A minimal LwM2M server: the registration interface only."""

    endpoint: Endpoint
    refuse: bool = False
    registers: list[tuple[tuple[str, ...], bytes]] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"coap://{HOST}:{self.endpoint.local_address[1]}"

    def handle(self, request: Message, remote: Address) -> Message:
        path = tuple(request.uri_path)
        if request.code == Code.POST and path == ("rd",):
            if self.refuse:
                return Message.response_to(request, Code.FORBIDDEN)
            self.registers.append((tuple(request.uri_query), request.payload))
            response = Message.response_to(request, Code.CREATED)
            response.location_path = ("rd", str(len(self.registers)))
            return response
        if request.code == Code.DELETE:
            return Message.response_to(request, Code.DELETED)
        return Message.response_to(request, Code.CHANGED)


async def _peer(refuse: bool = False) -> RegistrationPeer:
    endpoint = await Endpoint.create_udp(HOST, 0, params=FAST)
    peer = RegistrationPeer(endpoint, refuse)
    endpoint.add_resource("/rd", peer.handle)
    return peer


@pytest.fixture
async def lwm2m_server() -> AsyncIterator[RegistrationPeer]:
    peer = await _peer()
    yield peer
    await peer.endpoint.close()


@pytest.fixture
async def refusing_server() -> AsyncIterator[RegistrationPeer]:
    peer = await _peer(refuse=True)
    yield peer
    await peer.endpoint.close()


@pytest.fixture
async def bs_server() -> AsyncIterator[BootstrapServer]:
    server = BootstrapServer(transmission=FAST, request_timeout=3.0)
    await server.start(HOST, coap_port=0)
    yield server
    await server.close()


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        await client.stop(deregister=False)


def account(uri: str, ssid: int = 101, **kw: Any) -> EndpointConfig:
    return EndpointConfig(
        security=[SecurityConfig(uri, short_server_id=ssid)],
        servers=[ServerConfig(ssid, lifetime=60)],
        **kw,
    )


def new_client(clients: list[Client], bs_uri: str, name: str = "dev1", **kw: Any) -> Client:
    client = Client(name, transmission=FAST, retry=RETRY, bootstrap_timeout=3.0)
    client.add_server(bs_uri, bootstrap=True, instance_id=0, **kw)
    client.create_instance(3, 0)
    clients.append(client)
    return client


def bs_uri(server: BootstrapServer, index: int = 0, scheme: str = "coap") -> str:
    return f"{scheme}://{HOST}:{server.addresses[index][1]}"


def security(client: Client) -> dict[int, dict[int, Any]]:
    values, _ = client._config_values()
    return values


def servers(client: Client) -> dict[int, dict[int, Any]]:
    _, values = client._config_values()
    return values


async def test_int_0_client_initiated_bootstrap(
    bs_server: BootstrapServer, lwm2m_server: RegistrationPeer, clients: list[Client]
) -> None:
    bs_server.set_endpoint("dev1", account(lwm2m_server.uri))
    client = new_client(clients, bs_uri(bs_server))
    finished = bs_server.wait_for(BootstrapFinished, BootstrapFailed, endpoint="dev1")
    await client.start()
    event = await finished
    assert isinstance(event, BootstrapFinished), event
    assert event.written == ("/0/1", "/1/0")
    await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=10)
    assert client.registered_servers == [101]
    query, _links = lwm2m_server.registers[0]
    assert "ep=dev1" in query and "lt=60" in query
    account_values = security(client)[1]
    assert account_values[0] == lwm2m_server.uri
    assert account_values[1] is False and account_values[10] == 101
    assert servers(client)[0][1] == 60


async def test_int_1_bootstrap_over_dtls_psk(
    lwm2m_server: RegistrationPeer, clients: list[Client]
) -> None:
    server = BootstrapServer(transmission=FAST, request_timeout=3.0)
    await server.start(HOST, coap_port=None, coaps_port=0)
    try:
        psk = BootstrapPsk(b"dev1-identity", bytes.fromhex("0102030405060708"))
        server.set_endpoint("dev1", account(lwm2m_server.uri, bootstrap_psk=psk))
        assert [scheme for scheme, _ in server.listening] == ["coaps"]
        client = new_client(
            clients,
            bs_uri(server, scheme="coaps"),
            psk_identity=psk.identity,
            psk_key=psk.key,
        )
        finished = server.wait_for(BootstrapFinished, BootstrapFailed, endpoint="dev1")
        await client.start()
        event = await finished
        assert isinstance(event, BootstrapFinished), event
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=10)
        assert client.registered_servers == [101]
    finally:
        await server.close()


async def test_int_1_dtls_identity_of_another_endpoint_is_refused(
    lwm2m_server: RegistrationPeer, clients: list[Client]
) -> None:
    server = BootstrapServer(transmission=FAST, request_timeout=3.0)
    await server.start(HOST, coap_port=None, coaps_port=0)
    try:
        mine = BootstrapPsk(b"dev1-identity", b"k1k1k1k1")
        theirs = BootstrapPsk(b"dev2-identity", b"k2k2k2k2")
        server.set_endpoint("dev1", account(lwm2m_server.uri, bootstrap_psk=mine))
        server.set_endpoint("dev2", account(lwm2m_server.uri, bootstrap_psk=theirs))
        events: list[Any] = []
        server.on_event(events.append)
        # dev2's credentials, dev1's endpoint name
        client = new_client(
            clients,
            bs_uri(server, scheme="coaps"),
            psk_identity=theirs.identity,
            psk_key=theirs.key,
        )
        failure = client.wait_for(RdEvent.BOOTSTRAP_REG_FAILURE, timeout=10)
        await client.start()
        await failure
        assert events and all(type(e).__name__ == "BootstrapRejected" for e in events)
        assert events[0].code == Code.FORBIDDEN
    finally:
        await server.close()


async def test_int_4_bootstrap_delete_removes_old_instances(
    bs_server: BootstrapServer, lwm2m_server: RegistrationPeer, clients: list[Client]
) -> None:
    bs_server.set_endpoint("dev1", account(lwm2m_server.uri))
    client = new_client(clients, bs_uri(bs_server))
    client.store.add_object(6)  # Location, with an instance the bootstrap must delete
    client.create_instance(6, 0)
    done = bs_server.wait_for(BootstrapFinished, BootstrapFailed)
    await client.start()
    assert isinstance(await done, BootstrapFinished)
    assert client.store.instance_ids(6) == []
    assert security(client)[1][0] == lwm2m_server.uri


async def test_int_4_bootstrap_delete_root_keeps_bootstrap_account_and_device(
    bs_server: BootstrapServer, lwm2m_server: RegistrationPeer, clients: list[Client]
) -> None:
    # Core TS 1.1 6.1.7.5 (1.0.2 5.2.7.5): Delete on "/" leaves the Bootstrap-Server
    # account and the Device object instance in place.
    bs_server.set_endpoint("dev1", account(lwm2m_server.uri))
    uri = bs_uri(bs_server)
    client = new_client(clients, uri)
    done = bs_server.wait_for(BootstrapFinished, BootstrapFailed)
    await client.start()
    assert isinstance(await done, BootstrapFinished)
    assert client.store.instance_ids(3) == [0]
    assert 0 in security(client)
    assert security(client)[0][0] == uri and security(client)[0][1] is True


async def test_int_9_inconsistent_configuration_then_fixed(
    bs_server: BootstrapServer, lwm2m_server: RegistrationPeer, clients: list[Client]
) -> None:
    broken = EndpointConfig(
        security=[SecurityConfig(lwm2m_server.uri, short_server_id=101)],
        servers=[ServerConfig(102)],  # no Security instance carries 102
    )
    bs_server.set_endpoint("dev1", broken, check=False)
    client = new_client(clients, bs_uri(bs_server))
    before = security(client)
    refused = bs_server.wait_for(BootstrapFailed, endpoint="dev1")
    await client.start()
    failed = await refused
    assert isinstance(failed, BootstrapFailed)
    assert failed.step == "Bootstrap-Finish" and failed.code == Code.NOT_ACCEPTABLE
    await client.wait_for(RdEvent.BOOTSTRAP_REG_FAILURE, timeout=5)
    await asyncio.sleep(0.05)  # the restore runs as a task
    assert security(client) == before  # the old configuration is back
    assert servers(client) == {}
    assert client.registered_servers == []
    # the client retries; with a consistent configuration it succeeds
    retried = bs_server.wait_for(BootstrapStarted, endpoint="dev1", timeout=10)
    bs_server.set_endpoint("dev1", account(lwm2m_server.uri))
    assert isinstance(await retried, BootstrapStarted)
    await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=10)
    assert client.registered_servers == [101]


async def test_int_8_bootstrap_read_of_server_object(
    bs_server: BootstrapServer, lwm2m_server: RegistrationPeer, clients: list[Client]
) -> None:
    bs_server.set_endpoint("dev1", account(lwm2m_server.uri, read=["/1"]))
    client = new_client(clients, bs_uri(bs_server))
    # a Server instance without its Security instance: no usable account, so bootstrap
    iid = client.create_instance(1, 0)
    client.set(f"1/{iid}/0", 7)
    client.set(f"1/{iid}/1", 99)
    client.set(f"1/{iid}/6", False)
    client.set(f"1/{iid}/7", "U")
    read = bs_server.wait_for(BootstrapReadDone, endpoint="dev1")
    finished = bs_server.wait_for(BootstrapFinished, BootstrapFailed, endpoint="dev1")
    await client.start()
    event = await read
    assert isinstance(event, BootstrapReadDone) and event.path == "/1"
    assert isinstance(event.value, ObjectNode)
    instance = event.value.instances[0]
    assert isinstance(instance, InstanceNode)
    assert instance.resources[0] == ResourceNode(0, 7)
    assert instance.resources[1] == ResourceNode(1, 99)
    done = await finished
    assert isinstance(done, BootstrapFinished) and done.reads["/1"] == event.value
    await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=10)


async def test_int_8_bootstrap_discover_root(
    bs_server: BootstrapServer, lwm2m_server: RegistrationPeer, clients: list[Client]
) -> None:
    # Core TS 1.1 6.1.7.3: Bootstrap-Discover on "/" lists the instances with the
    # client's version, the Short Server ID of server accounts, e.g.
    # lwm2m="1.1",</0/0>,</1/0>;ssid=7,</3/0>
    bs_server.set_endpoint("dev1", account(lwm2m_server.uri, discover="/"))
    client = new_client(clients, bs_uri(bs_server))
    iid = client.create_instance(1, 0)  # a Server instance without its Security instance
    client.set(f"1/{iid}/0", 7)
    client.set(f"1/{iid}/1", 99)
    discovered = bs_server.wait_for(BootstrapDiscovered, BootstrapFailed, endpoint="dev1")
    await client.start()
    event = await discovered
    assert isinstance(event, BootstrapDiscovered), event
    assert event.lwm2m_version == "1.1"
    targets = [link.target for link in event.links]
    assert "/0/0" in targets and "/3/0" in targets
    assert all(Path.parse(t).level <= 2 for t in targets)
    server_link = next(link for link in event.links if link.target == "/1/0")
    assert server_link.params.get("ssid") == "7"
    assert bootstrap_accounts(event.links) == {0}


async def test_int_7_fall_back_to_bootstrap_after_registration_failure(
    bs_server: BootstrapServer,
    lwm2m_server: RegistrationPeer,
    refusing_server: RegistrationPeer,
    clients: list[Client],
) -> None:
    bs_server.set_endpoint("dev1", account(lwm2m_server.uri, ssid=202))
    client = new_client(clients, bs_uri(bs_server))
    client.add_server(refusing_server.uri, short_server_id=101, lifetime=60)
    finished = bs_server.wait_for(BootstrapFinished, BootstrapFailed, endpoint="dev1")
    await client.start()
    event = await finished
    assert isinstance(event, BootstrapFinished), event
    await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=10)
    assert client.registered_servers == [202]
    assert refusing_server.registers == [] and len(lwm2m_server.registers) == 1

"""State that survives a restart, end to end: bootstrap once, then register after a reboot with
the Bootstrap-Server down (ETS int-0 followed by a power cycle)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path as FsPath

import pytest
from server_support import RETRY

from lwm2m.client.client import Client
from lwm2m.client.events import Event, RdEvent
from lwm2m.client.persistence import STATE_FILE, StateStore
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.server.bootstrap import BootstrapFinished, BootstrapServer
from lwm2m.server.bootstrap_config import EndpointConfig, SecurityConfig, ServerConfig
from lwm2m.transport.base import Address

HOST = "127.0.0.1"
FAST = TransmissionParams(ack_timeout=0.2, ack_random_factor=1.0, max_retransmit=2)


class Registrar:
    """The registration interface of an LwM2M server, counting what arrives."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.registers: list[tuple[str, ...]] = []

    @property
    def uri(self) -> str:
        return f"coap://{HOST}:{self.endpoint.local_address[1]}"

    def handle(self, request: Message, remote: Address) -> Message:
        if request.code == Code.POST and tuple(request.uri_path) == ("rd",):
            self.registers.append(tuple(request.uri_query))
            response = Message.response_to(request, Code.CREATED)
            response.location_path = ("rd", str(len(self.registers)))
            return response
        if request.code == Code.DELETE:
            return Message.response_to(request, Code.DELETED)
        return Message.response_to(request, Code.CHANGED)


@pytest.fixture
async def registrar() -> AsyncIterator[Registrar]:
    endpoint = await Endpoint.create_udp(HOST, 0, params=FAST)
    peer = Registrar(endpoint)
    endpoint.add_resource("/rd", peer.handle)
    yield peer
    await endpoint.close()


def device(bs_uri: str, state_dir: FsPath) -> Client:
    """The factory configuration: a Bootstrap-Server account only."""
    client = Client(
        "restart-dev", transmission=FAST, retry=RETRY, bootstrap_timeout=3.0, state_dir=state_dir
    )
    client.add_server(bs_uri, bootstrap=True, instance_id=0)
    client.create_instance(3, 0)
    return client


async def test_int_0_bootstrapped_device_registers_after_a_restart_without_bootstrap(
    registrar: Registrar, tmp_path: FsPath
) -> None:
    bs = BootstrapServer(transmission=FAST, request_timeout=3.0)
    await bs.start(HOST, coap_port=0)
    bs_uri = f"coap://{HOST}:{bs.addresses[0][1]}"
    bs.set_endpoint(
        "restart-dev",
        EndpointConfig(
            security=[SecurityConfig(registrar.uri, short_server_id=101)],
            servers=[ServerConfig(101, lifetime=90)],
        ),
    )
    first = device(bs_uri, tmp_path)
    try:
        finished = bs.wait_for(BootstrapFinished, endpoint="restart-dev")
        await first.start()
        await finished
        await first.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=10)
        assert registrar.registers and "lt=90" in registrar.registers[0]
    finally:
        await first.stop(deregister=True)
        await bs.close()  # the Bootstrap-Server is gone for good
    saved = StateStore(tmp_path).load()
    assert saved is not None and saved.objects[1][0][1] == 90

    # Power cycle: a new process with the same factory configuration and state directory.
    second = device(bs_uri, tmp_path)
    events: list[Event] = []
    second.on_event(events.append)
    await second.start()
    try:
        await second.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=5)
        assert len(registrar.registers) == 2 and "lt=90" in registrar.registers[1]
        assert second.registered_servers == [101]
        await asyncio.sleep(0.3)
        # no Bootstrap-Request was even tried: the bootstrap server was never contacted
        assert not any(e.server is None for e in events), events
        assert second.local_address(None) is None
    finally:
        await second.stop(deregister=False)


async def test_corrupt_state_falls_back_to_bootstrap_without_crashing(
    registrar: Registrar, tmp_path: FsPath
) -> None:
    (tmp_path / STATE_FILE).write_bytes(b'{"format": "lwm2m-client-state", "vers')
    bs = BootstrapServer(transmission=FAST, request_timeout=3.0)
    await bs.start(HOST, coap_port=0)
    bs.set_endpoint(
        "restart-dev",
        EndpointConfig(
            security=[SecurityConfig(registrar.uri, short_server_id=101)],
            servers=[ServerConfig(101, lifetime=90)],
        ),
    )
    client = device(f"coap://{HOST}:{bs.addresses[0][1]}", tmp_path)
    try:
        await client.start()
        await client.wait_for(RdEvent.BOOTSTRAP_TRANSFER_COMPLETE, timeout=10)
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=10)
        assert client.state_problem is not None
        assert "not a valid state file" in client.state_problem
        await asyncio.sleep(0.05)
        saved = StateStore(tmp_path).load()  # a good state replaced the corrupt one
        assert saved is not None and 101 in {v.get(0) for v in saved.objects[1].values()}
    finally:
        await client.stop(deregister=False)
        await bs.close()

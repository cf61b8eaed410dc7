"""ETS 701/901-910 with real traffic: Connectivity Statistics fed by the client's transport.

Our Server and our Client over loopback, plain UDP and DTLS-PSK. The server's
transport is wrapped in a CountingTransport too, so every figure the client
reports can be checked against what the other side really saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

import pytest
from dtls_lwm2m_support import BINDING, PSK_STORE, coaps_uri, dtls_device
from server_support import FAST, HOST, make_device

from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.model import InstanceNode, MultiResourceNode, ResourceNode
from lwm2m.objects.connectivity_monitor import ConnectivityMonitor, default_gateways
from lwm2m.objects.connectivity_stats import ConnectivityStatistics
from lwm2m.server import Server
from lwm2m.transport.base import Address, DatagramTransport
from lwm2m.transport.counting import CountingTransport, TrafficCounters
from lwm2m.transport.dtls import DtlsServerTransport
from lwm2m.transport.mixed import identity_text
from lwm2m.transport.udp import UdpTransport

ROUTER = "192.0.2.1"


@dataclass
class Link:
    server: Server
    client: Client
    stats: ConnectivityStatistics
    monitor: ConnectivityMonitor
    seen_by_server: TrafficCounters  # everything the server's transport sent and received

    @property
    def counters(self) -> TrafficCounters:
        return self.client.traffic

    async def read_stats(self) -> dict[int, Any]:
        node = await self.server.read("dev1", "/7/0")
        assert isinstance(node, InstanceNode)
        return {rid: r.value for rid, r in node.resources.items() if isinstance(r, ResourceNode)}

    async def make_traffic(self, tx_bytes: int) -> None:
        """Server reads of /3/0 until the client has sent ``tx_bytes`` more (bounded)."""
        goal = self.counters.tx_bytes + tx_bytes
        for _ in range(200):
            if self.counters.tx_bytes >= goal:
                return
            await self.server.read("dev1", "/3/0")
        pytest.fail(f"sent only {self.counters.tx_bytes} of {goal} bytes")


async def _server_transport(kind: str) -> DatagramTransport:
    if kind == "udp":
        return await UdpTransport.create(HOST, 0)
    return await DtlsServerTransport.create(HOST, 0, psk_store=PSK_STORE)


def _client(kind: str, server: Server) -> Client:
    host, port = server.coap_address
    if kind == "udp":
        return make_device(server, "dev1")
    return dtls_device(coaps_uri((host, port)), "dev1", transmission=FAST)


@pytest.fixture(params=["udp", "dtls"])
async def link(request: pytest.FixtureRequest) -> AsyncIterator[Link]:
    kind = str(request.param)
    inner = await _server_transport(kind)
    seen = TrafficCounters()
    counting = CountingTransport(inner, seen)
    server = Server(
        HOST,
        0,
        transport=counting,
        transmission=FAST,
        default_timeout=5.0,
        identity_of=lambda remote: identity_text(counting.peer_identity(remote)),
        authorize=BINDING if kind == "dtls" else None,
    )
    await server.start()
    client = _client(kind, server)
    stats = ConnectivityStatistics(client.store, client.traffic)
    monitor = ConnectivityMonitor(client.store, ip_addresses=["192.0.2.7"])
    monitor.track(client, routers=lambda: [ROUTER])
    try:
        await client.start()
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=5)
        yield Link(server, client, stats, monitor, seen)
    finally:
        await client.stop(timeout=1.0)
        await server.stop()


async def _poll(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)
    assert predicate(), what


async def test_int_901_counts_follow_a_server_read(link: Link) -> None:
    c = link.counters
    assert not link.stats.collecting
    await link.server.read("dev1", "/3/0")
    assert c.messages == 0  # nothing is collected before Start
    await link.server.execute("dev1", "/7/0/6")
    assert link.stats.collecting
    assert c.tx_messages == 1 and c.rx_messages == 0  # the 2.04 answering Start
    base_tx, base_rx = link.seen_by_server.tx_bytes, link.seen_by_server.rx_bytes
    base_client_tx = c.tx_bytes
    await link.make_traffic(2048)
    # Every CoAP datagram the client counted is one the server counted the other way.
    await _poll(
        lambda: (
            c.tx_bytes - base_client_tx == link.seen_by_server.rx_bytes - base_rx
            and c.rx_bytes == link.seen_by_server.tx_bytes - base_tx
        ),
        "client and server counts agree",
    )
    sent_before_read, max_before_read = c.tx_bytes, c.max_message_size
    values = await link.read_stats()
    assert values[0] == 0 and values[1] == 0  # no SMS binding
    # Computed after the Read request arrived and before the answer left.
    assert values[2] == sent_before_read // 1024 >= 2
    assert values[3] == c.rx_bytes // 1024
    assert values[4] == max_before_read > 0  # a /3/0 answer, larger than the Read request
    assert 0 < values[5] <= values[4]
    assert values[8] == 0


async def test_int_901_average_and_max_are_of_the_collected_messages(link: Link) -> None:
    await link.server.execute("dev1", "/7/0/6")
    await link.make_traffic(600)
    c = link.counters
    largest = c.max_message_size
    node = await link.server.read("dev1", "/7/0/4")
    assert isinstance(node, ResourceNode) and node.value == largest
    total, messages = c.tx_bytes + c.rx_bytes, c.messages
    server_sent = link.seen_by_server.tx_bytes
    node = await link.server.read("dev1", "/7/0/5")
    # The Read request was received (and counted) before the value was computed.
    request = link.seen_by_server.tx_bytes - server_sent
    assert isinstance(node, ResourceNode)
    assert node.value == (total + request) // (messages + 1)


async def test_int_905_start_resets_and_stop_freezes(link: Link) -> None:
    c = link.counters
    await link.server.execute("dev1", "/7/0/6")
    await link.make_traffic(1500)
    await link.server.execute("dev1", "/7/0/7")  # Stop
    assert not link.stats.collecting
    frozen = (c.tx_bytes, c.rx_bytes, c.tx_messages, c.rx_messages, c.max_message_size)
    first = await link.read_stats()
    for _ in range(5):
        await link.server.read("dev1", "/3/0")
    assert (c.tx_bytes, c.rx_bytes, c.tx_messages, c.rx_messages, c.max_message_size) == frozen
    assert await link.read_stats() == first  # still readable, unchanged
    assert first[2] == frozen[0] // 1024 >= 1
    # Start again: resources 0-5 back to 0, only what follows is counted.
    await link.server.execute("dev1", "/7/0/6")
    again = await link.read_stats()
    assert again[2] == 0 and again[3] == 0
    assert c.tx_messages == 2 and c.rx_messages == 1  # Start's 2.04, the Read and its answer
    assert 0 < again[4] < frozen[4]  # small messages only since the new Start


async def test_int_905_collection_period_stops_by_itself(link: Link) -> None:
    await link.server.write("dev1", "/7/0/8", 1)
    await link.server.execute("dev1", "/7/0/6")
    assert link.stats.collecting
    await _poll(lambda: not link.stats.collecting, "stopped after 1 s", timeout=3.0)
    frozen = link.counters.tx_bytes
    assert frozen > 0
    await link.server.read("dev1", "/3/0")
    assert link.counters.tx_bytes == frozen
    node = await link.server.read("dev1", "/7/0/8")
    assert isinstance(node, ResourceNode) and node.value == 1


async def test_int_910_observe_tx_data_notifies_as_traffic_grows(link: Link) -> None:
    await link.server.execute("dev1", "/7/0/6")
    await link.server.write_attributes("dev1", "/7/0/2", pmax=1)
    handle = await link.server.observe("dev1", "/7/0/2")
    assert isinstance(handle.initial, ResourceNode) and handle.initial.value == 0
    await link.make_traffic(2048)
    async with asyncio.timeout(5.0):
        async for notification in handle:
            content = notification.content
            assert isinstance(content, ResourceNode)
            if isinstance(content.value, int) and content.value >= 2:
                break
    assert link.counters.tx_bytes // 1024 >= 2
    await handle.cancel()


async def test_int_701_addresses_from_the_client_socket(link: Link) -> None:
    node = await link.server.read("dev1", "/4/0")
    assert isinstance(node, InstanceNode)
    ips = node.resources[4]
    routers = node.resources[5]
    assert isinstance(ips, MultiResourceNode) and isinstance(routers, MultiResourceNode)
    # The configured placeholder was replaced by the address the socket sends from.
    assert list(ips.values.values()) == ["127.0.0.1"] == link.client.local_addresses()
    assert list(routers.values.values()) == [ROUTER]


async def test_counters_survive_a_reconnect(link: Link) -> None:
    c = link.counters
    await link.server.execute("dev1", "/7/0/6")
    await link.server.read("dev1", "/3/0")
    before = c.tx_messages
    link.client.address_changed()  # a new socket, a new Register from it
    await link.client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=5)
    await link.server.read("dev1", "/3/0")
    assert c.tx_messages >= before + 2  # Register and the answer to the read
    assert link.stats.collecting


async def test_bootstrap_connection_is_counted() -> None:
    """The Bootstrap-Request goes out through the same counting transport."""
    seen = TrafficCounters()
    requests: list[Message] = []

    def on_bs(request: Message, remote: Address) -> Message:
        requests.append(request)
        return Message.response_to(request, Code.CHANGED)

    bs = Endpoint(CountingTransport(await UdpTransport.create(HOST, 0), seen), params=FAST)
    bs.add_resource("/bs", on_bs)
    client = Client("dev-bs", transmission=FAST, bootstrap_timeout=30.0)
    client.add_server(f"coap://{HOST}:{bs.local_address[1]}", bootstrap=True)
    try:
        await client.start()
        await _poll(lambda: bool(requests), "Bootstrap-Request received")
        await _poll(lambda: client.traffic.rx_messages >= 1, "2.04 received")
        assert client.traffic.tx_messages == seen.rx_messages >= 1
        assert client.traffic.tx_bytes == seen.rx_bytes
        assert client.traffic.rx_bytes == seen.tx_bytes > 0
    finally:
        await client.stop(deregister=False, timeout=1.0)
        await bs.close()


def test_default_gateways_from_proc_tables(tmp_path: FsPath) -> None:
    route4 = tmp_path / "route"
    route4.write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n"
        "garbage\n"
    )
    route6 = tmp_path / "ipv6_route"
    route6.write_text(
        "fd000000000000000000000000000000 40 "
        + "0" * 32
        + " 00 "
        + "0" * 32
        + " 0 1 0 1 eth0\n"
        + "0" * 32
        + " 00 "
        + "0" * 32
        + " 00 fd000000000000000000000000000001 0 2 0 3 eth0\n"
    )
    assert default_gateways(route4, route6) == ["192.0.2.1", "fd00::1"]
    assert default_gateways(tmp_path / "none", tmp_path / "none6") == []

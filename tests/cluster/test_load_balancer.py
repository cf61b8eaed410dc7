"""Nodes behind a UDP load balancer with source affinity instead of placement.

The balancer here is a small NAT-style relay: devices send to its one address;
it keeps each device on one node (affinity by source address) through a socket
of its own per device, and sends the node's datagrams back to the device from
the front address. What the nodes do behind it:

* the node that receives a device's Register owns it; any node serves any
  device (calls are forwarded to the owner, which answers through the balancer);
* when the balancer moves a device to another node (a rebalance), the device's
  next Update reaches that node, which takes the ownership over and observes
  the device's observations again; calls keep working from every node.

(DTLS is not shown: a session lives on the node that did the handshake, so a
device moved by the balancer must handshake again with the new node.)
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
from cluster_support import (
    HOST,
    cluster,
    event_stream,
    make_device,
    poll,
    rest,
    start_devices,
    stop_devices,
)

from lwm2m.client.events import RdEvent
from lwm2m.transport.base import Address


class _Side(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Any) -> None:
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        pass


class Balancer:
    """Front address -> one node per device source address, round robin at first sight."""

    def __init__(self, backends: list[Address]) -> None:
        self.backends = backends
        self.front: asyncio.DatagramTransport | None = None
        self.flows: dict[Address, tuple[asyncio.DatagramTransport, Address]] = {}
        self._next = 0
        self._opening: set[asyncio.Task[None]] = set()

    async def start(self) -> Address:
        loop = asyncio.get_running_loop()
        self.front, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_device), local_addr=(HOST, 0)
        )
        host, port = self.front.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def _flow(self, device: Address, backend: Address) -> None:
        loop = asyncio.get_running_loop()
        back, _ = await loop.create_datagram_endpoint(
            lambda: _Side(lambda data, _src: self._to_device(device, data)), local_addr=(HOST, 0)
        )
        self.flows[device] = (back, backend)

    def _from_device(self, data: bytes, device: Address) -> None:
        flow = self.flows.get(device)
        if flow is not None:
            flow[0].sendto(data, flow[1])
            return
        backend = self.backends[self._next % len(self.backends)]
        self._next += 1

        async def open_and_send() -> None:
            await self._flow(device, backend)
            self.flows[device][0].sendto(data, backend)

        task = asyncio.ensure_future(open_and_send())
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    def _to_device(self, device: Address, data: bytes) -> None:
        if self.front is not None:
            self.front.sendto(data, device)

    async def move(self, device: Address, backend: Address) -> None:
        """Rebalance: the device's datagrams go to ``backend`` from a new socket."""
        old = self.flows.pop(device, None)
        if old is not None:
            old[0].close()
        await self._flow(device, backend)

    def close(self) -> None:
        for back, _ in self.flows.values():
            back.close()
        if self.front is not None:
            self.front.close()


async def test_nodes_behind_a_balancer_with_affinity(redis_url: str) -> None:
    async with cluster(redis_url, ["a", "b"]) as nodes:
        a, b = nodes
        balancer = Balancer([a.server.coap_address, b.server.coap_address])
        host, port = await balancer.start()
        clients = [make_device(f"lb{i}", f"coap://{host}:{port}") for i in range(4)]
        try:
            for client in clients:  # one at a time: the round robin alternates nodes
                await start_devices([client])
            names = {c.endpoint_name for c in clients}
            for node in nodes:
                await poll(
                    lambda node=node: {r.endpoint for r in node.server.registrations()} == names,
                    5.0,
                    f"node {node.name} sees every registration",
                )
            owners = {reg.endpoint: a.store.owner_of(reg.id) for reg in a.server.registrations()}
            assert sorted(owners.values()) == ["a", "a", "b", "b"], owners
            timeout = aiohttp.ClientTimeout(total=20)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                for client in clients:  # every device through both nodes
                    for node in nodes:
                        url = f"{node.http}/api/clients/{client.endpoint_name}/3/0/0"
                        status, _, body = await rest(http, "GET", url)
                        assert status == 200 and b"Acme" in body, (node.name, body)
                moving = next(c for c in clients if owners[c.endpoint_name] == "a")
                ep = moving.endpoint_name
                url = f"{b.http}/api/clients/{ep}/3303/0/5700/observe"
                status, _, body = await rest(http, "POST", url)
                assert status == 200, body
                async with event_stream(http, f"{b.http}/api/event?ep={ep}") as stream:
                    # the balancer moves the device to node b; its next Update goes there
                    source = moving.local_address(101)
                    assert source is not None
                    await balancer.move((HOST, source[1]), b.server.coap_address)
                    moving.update()
                    await moving.wait_for(RdEvent.REG_UPDATE_COMPLETE, timeout=5)
                    reg = b.server.get_registration(ep)
                    assert reg is not None
                    await poll(lambda: b.store.owner_of(reg.id) == "b", 5.0, "owner b")
                    await poll(lambda: a.store.owner_of(reg.id) == "b", 5.0, "a knows")
                    for node in nodes:  # still served from both nodes, now by b
                        url = f"{node.http}/api/clients/{ep}/3/0/0"
                        status, _, body = await rest(http, "GET", url)
                        assert status == 200 and b"Acme" in body, (node.name, body)
                    # b observed it again: a new value notifies
                    await poll(lambda: ep_observed(b, reg.id), 5.0, "observed by b")
                    moving.set("3303/0/5700", 33.0)
                    await poll(
                        lambda: any(
                            n["val"]["value"] == 33.0 for n in stream.named("NOTIFICATION")
                        ),
                        5.0,
                        "notification through the balancer",
                    )
        finally:
            await stop_devices(clients)
            balancer.close()


def ep_observed(node: Any, reg_id: str) -> bool:
    with contextlib.suppress(Exception):
        return any(
            not type(h._coap).__name__.startswith("Remote")
            for h in node.server._observing_by_reg.get(reg_id, {}).values()
        )
    return False

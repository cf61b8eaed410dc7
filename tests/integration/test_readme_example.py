"""The README's client and server examples, run as written (with a free port)."""

from __future__ import annotations

import asyncio

import lwm2m
import lwm2m.server
from lwm2m.model import InstanceNode, ResourceNode
from lwm2m.objects.device import Device


async def test_readme_client_and_server_examples() -> None:
    server = lwm2m.Server("127.0.0.1", 0)
    await server.start()
    try:
        port = server.coap_address[1]
        client = lwm2m.Client(endpoint="unique-endpoint-name")
        client.add_server(f"coap://127.0.0.1:{port}", short_server_id=101, lifetime=300)
        Device(client.store, manufacturer="ACME", model="M1", serial="0001", firmware_version="1.0")
        reboots: list[str] = []

        @client.on_execute("3/0/4")
        def reboot(path: object, args: str) -> None:
            reboots.append(args)

        kinds: list[str] = []
        client.on_event(lambda ev: kinds.append(ev.kind.name))
        waiter = asyncio.ensure_future(server.wait_for(lwm2m.server.Registered))
        await asyncio.sleep(0)
        await client.start()
        await client.wait_for(lwm2m.RdEvent.REGISTRATION_COMPLETE, timeout=10)
        reg = await waiter
        assert reg.registration.endpoint == "unique-endpoint-name"  # type: ignore[union-attr]

        client.set("3/0/9", 87)
        node = await server.read("unique-endpoint-name", "/3/0")
        assert isinstance(node, InstanceNode)
        assert node.resources[0] == ResourceNode(0, "ACME")
        assert node.resources[9] == ResourceNode(9, 87)

        await server.write("unique-endpoint-name", "/1/0/1", 600)
        assert client.get("1/0/1") == 600

        handle = await server.observe("unique-endpoint-name", "/3/0/9")
        client.set("3/0/9", 80)
        async with asyncio.timeout(10):
            async for notification in handle:
                assert notification.content == ResourceNode(9, 80)
                break
        await server.execute("unique-endpoint-name", "/3/0/4", "0='now'")
        assert reboots == ["0='now'"]
        await client.stop(deregister=True)
        assert "REGISTRATION_COMPLETE" in kinds and "DEREGISTER_COMPLETE" in kinds
    finally:
        await server.stop()

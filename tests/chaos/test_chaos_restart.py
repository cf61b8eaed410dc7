"""``kill -9`` of a server process on sqlite, then a restart: nothing is lost.

The server runs as ``lwm2m server --db FILE`` and is driven through its REST
API; the client runs in this process and is not told about the crash. After
the restart on the same port and file the registration is there with the same
id, and the observation started before the crash delivers its next
notification to the new process's event stream at once (no Update needed).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path as FsPath

import aiohttp
import pytest
from chaos_support import HOST, event_stream, get_json, server_process

from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.objects import Device

EP = "chaos-crash"

pytestmark = pytest.mark.timeout(90)


def make_client(coap_port: int) -> Client:
    client = Client(EP)
    client.add_server(f"coap://{HOST}:{coap_port}", short_server_id=101, lifetime=300)
    Device(client.store, manufacturer="Acme", model="M1", serial="SN-1", firmware_version="1.0")
    return client


async def registration_of(http: aiohttp.ClientSession, base: str) -> dict[str, object]:
    clients = await get_json(http, f"{base}/api/clients")
    found = [c for c in clients if c["endpoint"] == EP]
    assert len(found) == 1, clients
    registration: dict[str, object] = found[0]
    return registration


async def test_kill_9_and_restart_on_sqlite(tmp_path: FsPath) -> None:
    db = os.fspath(tmp_path / "server.sqlite")
    common = ("--coaps-port", "0", "--http-port", "0", "--db", db)
    timeout = aiohttp.ClientTimeout(total=15)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        server_process("--coap-port", "0", *common) as first,
    ):
        ports = await first.ports()
        coap_port, base = ports["coap"], f"http://{HOST}:{ports['http']}"
        client = make_client(coap_port)
        await client.start()
        try:
            await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=10)
            before = await registration_of(http, base)
            async with event_stream(http, f"{base}/api/event?ep={EP}") as stream:
                body = await get_json(
                    http, f"{base}/api/clients/{EP}/3/0/14/observe?format=TEXT", "POST"
                )
                assert body["status"] == "CONTENT(205)", body
                client.set("3/0/14", "+01:00")
                note = await stream.next("NOTIFICATION", timeout=5)
                assert note["val"]["value"] == "+01:00"
            killed_at = time.monotonic()
            first.kill9()
            status = await asyncio.wait_for(first.proc.wait(), 10)
            assert status == -9

            async with server_process("--coap-port", str(coap_port), *common) as second:
                ports = await second.ports()
                up_after = time.monotonic() - killed_at
                assert ports["coap"] == coap_port
                base = f"http://{HOST}:{ports['http']}"
                after = await registration_of(http, base)
                async with event_stream(http, f"{base}/api/event?ep={EP}") as stream:
                    changed_at = time.monotonic()
                    client.set("3/0/14", "+09:00")
                    note = await stream.next("NOTIFICATION", timeout=2)
                    latency = time.monotonic() - changed_at
                    others = [n for n, _ in stream.seen if n not in ("NOTIFICATION", "COAPLOG")]
                read = await get_json(http, f"{base}/api/clients/{EP}/3/0/0")
                figures = (
                    f"kill -9 then restart on sqlite: back {up_after:.2f} s after the kill; "
                    f"registration {before['registrationId']} -> {after['registrationId']}; "
                    f"first notification {latency * 1000:.0f} ms after the change; "
                    f"other events before it: {others}"
                )
                print("\n" + figures)
                assert after["registrationId"] == before["registrationId"], figures
                assert after["address"] == before["address"], figures
                assert note["ep"] == EP and note["val"]["value"] == "+09:00", figures
                assert others == [], figures  # no Update, no new registration
                assert latency < 1.0, figures
                assert read["status"] == "CONTENT(205)" and read["content"]["value"] == "Acme"
        finally:
            await client.stop(deregister=False)

"""A server restarted on its sqlite store follows the stored observations at once.

The client is not told about the restart: it keeps notifying with the tokens
of the observations the first server process started. The new process adopts
them when it starts, so the next notification is published (and reaches the
REST event stream) without waiting for the client's next Update.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path as FsPath
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared server_support module
from server_support import HOST, Recorder, make_device, make_server, start_registered

from lwm2m.model import ResourceNode
from lwm2m.server import Notification, Registered, SqliteStore, Updated
from lwm2m.server.rest import create_app


@contextlib.asynccontextmanager
async def event_stream(server: Any, query: str) -> AsyncIterator[aiohttp.StreamReader]:
    """The REST API of ``server`` on a free port and its ``/api/event`` stream, opened."""
    runner = web.AppRunner(create_app(server, heartbeat=0.2))
    await runner.setup()
    try:
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        url = f"http://{HOST}:{runner.addresses[0][1]}/api/event{query}"
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as resp:
            assert resp.status == 200
            assert (await resp.content.readline()).startswith(b":")  # the stream is open
            yield resp.content
    finally:
        await runner.cleanup()


async def next_event(stream: aiohttp.StreamReader, name: str, timeout: float) -> Any:
    """The data of the next server-sent event called ``name``."""
    async with asyncio.timeout(timeout):
        event = ""
        while True:
            line = (await stream.readline()).decode().rstrip("\r\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == name:
                return json.loads(line[6:])


async def test_notification_after_restart_arrives_without_an_update(tmp_path: FsPath) -> None:
    db = os.fspath(tmp_path / "server.db")
    store = SqliteStore(db)
    server = make_server(store=store)
    await server.start()
    port = server.coap_address[1]
    client = make_device(server)  # lifetime 300: no Update during the test
    try:
        reg = await start_registered(server, client)
        first = await server.observe("dev1", "/3/0/14")
        client.set("3/0/14", "+01:00")
        assert (await anext(first)).content == ResourceNode(14, "+01:00")
        await server.stop()  # the client is not told
        store.close()

        store = SqliteStore(db)
        server = make_server(port, store=store)
        rec = Recorder(server)
        await server.start()
        async with event_stream(server, "?ep=dev1") as stream:
            loop = asyncio.get_running_loop()
            changed_at = loop.time()
            client.set("3/0/14", "+09:00")
            note = await rec.next(Notification, timeout=1.0)
            delay = loop.time() - changed_at
            assert note.token == first.token and note.content == ResourceNode(14, "+09:00")
            data = await next_event(stream, "NOTIFICATION", timeout=1.0)
            assert data["ep"] == "dev1" and data["res"] == "/3/0/14"
            assert data["val"]["value"] == "+09:00"
            assert delay < 1.0, f"notification {delay:.3f} s after the change"
        assert rec.of(Updated) == [] and rec.of(Registered) == []
        adopted = server.observation(first.token)
        assert adopted is not None and adopted.restored and adopted.active
        assert adopted.registration.id == reg.id
        # the adopted handle carries it too, and stays the one followed
        pushed = await asyncio.wait_for(anext(adopted), 1.0)
        assert pushed.content == ResourceNode(14, "+09:00")
        client.set("1/0/1", 250)  # an Update: the observation was heard, it is kept
        await rec.next(Updated)
        await asyncio.sleep(0.1)
        assert server.observation(first.token) is adopted
    finally:
        await client.stop()
        await server.stop()
        store.close()


async def test_adopted_observation_never_heard_is_observed_again_at_the_update(
    tmp_path: FsPath,
) -> None:
    """A notification the client sent while the server was away was lost (and may have
    ended the observation on the client): the next Update observes again."""
    db = os.fspath(tmp_path / "server.db")
    store = SqliteStore(db)
    server = make_server(store=store)
    await server.start()
    port = server.coap_address[1]
    client = make_device(server)
    try:
        await start_registered(server, client)
        first = await server.observe("dev1", "/3/0/14")
        await server.stop()
        store.close()
        client.set("3/0/14", "+02:00")  # notified to nobody
        await asyncio.sleep(0.2)

        store = SqliteStore(db)
        server = make_server(port, store=store)
        rec = Recorder(server)
        await server.start()
        adopted = server.observation(first.token)
        assert adopted is not None and adopted.restored
        client.set("1/0/1", 250)  # Update
        await rec.next(Updated)
        for _ in range(200):
            again = server.observation(first.token)
            if again is not None and again is not adopted:
                break
            await asyncio.sleep(0.01)
        again = server.observation(first.token)
        assert again is not None and again is not adopted and not again.restored
        assert again.initial == ResourceNode(14, "+02:00")  # the client's current value
        assert not adopted.active
        assert [o.token for o in server.observations("dev1")] == [first.token]
        client.set("3/0/14", "+05:00")
        note = await rec.next(Notification, timeout=2.0)
        assert note.token == first.token and note.content == ResourceNode(14, "+05:00")
    finally:
        await client.stop()
        await server.stop()
        store.close()

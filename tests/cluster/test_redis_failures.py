"""Redis restarted, Redis down, a wrong URL, damaged records: clear errors, nothing lost.

* Redis restarted (SIGTERM, then started again on its append-only file) while two
  nodes run: a device that registers while Redis is away is answered at once (the
  write waits in order), and afterwards every registration and observation is in
  Redis and in every node's copy; calls are forwarded as before.
* A Redis that is down or a URL that is not Redis: ``RedisStore`` and ``lwm2m
  server`` say which URL and why (exit status 1 or 2), within the connect timeout.
* While Redis is down a node keeps serving its own devices; a call for another
  node's device fails at once with 503 naming Redis.
* A damaged record is skipped and named; the node serves the others. Keys of the
  wrong type or a newer schema refuse the store at start. Garbage on the change
  feed and on the bus is skipped.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from cluster_support import cluster, make_device, poll, rest, start_devices, stop_devices
from redis_support import RedisServer, free_port

from lwm2m.client.events import RdEvent
from lwm2m.server.store import StoreCorrupt, StoreError
from lwm2m.server.store.redis import RedisStore


def _contents(store: RedisStore) -> tuple[list[object], list[object], list[object]]:
    return (
        sorted(store.list_registrations(), key=lambda r: r.id),
        sorted(store.list_observations(), key=lambda o: o.token),
        sorted(store.list_security(), key=lambda i: i.endpoint),
    )


async def test_redis_restart_loses_nothing(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    clients = []
    try:
        async with cluster(redis.url(), ["a", "b"]) as nodes:
            a, b = nodes
            clients = [make_device(f"r{i}", nodes[i % 2].coap_uri) for i in range(6)]
            await start_devices(clients)
            timeout = aiohttp.ClientTimeout(total=20)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                for i, client in enumerate(clients):  # observed through the other node
                    other = nodes[(i + 1) % 2]
                    url = f"{other.http}/api/clients/{client.endpoint_name}/3303/0/5700/observe"
                    status, _, body = await rest(http, "POST", url)
                    assert status == 200, body
                await poll(lambda: len(a.store.list_observations()) == 6, 5.0, "observations")
                before = _contents(a.store)

                redis.stop()  # SIGTERM: Redis writes its append-only file and exits
                await poll(lambda: not a.store.redis_up and not b.store.redis_up, 5.0, "noticed")
                # a device registers with node a while Redis is away: answered at once
                late = make_device("late", a.coap_uri)
                clients.append(late)
                await start_devices([late], timeout=10)
                # calls for b's devices fail at once from a, naming Redis
                status, _, body = await rest(http, "GET", f"{a.http}/api/clients/r1/3/0/0")
                assert status == 503 and b"Redis" in body, (status, body)
                # a's own devices are still served
                status, _, body = await rest(http, "GET", f"{a.http}/api/clients/r0/3/0/0")
                assert status == 200, body

                redis.start()
                await poll(lambda: a.store.redis_up and b.store.redis_up, 15.0, "reconnected")
                assert a.store.flush(10.0)
                for node in nodes:
                    assert await node.store.applied(10.0)
                await poll(lambda: b.server.get_registration("late") is not None, 10.0, "late")
                fresh = RedisStore(redis.url(), node_id="check")
                try:
                    after = _contents(fresh)
                    regs, obs, _sec = after
                    assert {r.endpoint for r in regs} == {c.endpoint_name for c in clients}
                    assert set(before[0]) <= set(regs)  # every registration is still there
                    assert before[1] == obs  # every observation too
                    assert _contents(a.store) == after == _contents(b.store)
                finally:
                    fresh.close()
                # and the cluster works as before: forwarded reads, notifications
                for i, client in enumerate(clients[:6]):
                    other = nodes[(i + 1) % 2]
                    url = f"{other.http}/api/clients/{client.endpoint_name}/3/0/0"
                    status, _, body = await rest(http, "GET", url)
                    assert status == 200, body
    finally:
        await stop_devices(clients)
        redis.stop()


def test_redis_down_or_wrong_url_is_a_clear_error() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(StoreError, match=rf"cannot reach Redis at redis://127\.0\.0\.1:{port}/0"):
        RedisStore(f"redis://127.0.0.1:{port}/0", node_id="a", connect_timeout=0.5)
    assert time.monotonic() - started < 3.0
    for url, words in [
        ("http://127.0.0.1:6379/0", "not a Redis URL"),
        ("redis://127.0.0.1:6379/zero", "must be a number"),
        ("redis://:secret@127.0.0.1:99999/0", "not a Redis URL"),
    ]:
        with pytest.raises(StoreError, match=words) as info:
            RedisStore(url, node_id="a")
        assert "secret" not in str(info.value)
    with pytest.raises(StoreError, match="node id"):
        RedisStore(f"redis://127.0.0.1:{port}/0", node_id="two words")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lwm2m", "server", "--host", "127.0.0.1", "--no-dtls", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_server_cli_refuses_a_missing_or_wrong_redis() -> None:
    port = free_port()
    down = _cli(
        "--coap-port",
        "0",
        "--http-port",
        "0",
        "--store",
        f"redis://127.0.0.1:{port}/0",
        "--node-id",
        "a",
    )
    assert down.returncode == 1, down
    assert f"cannot reach Redis at redis://127.0.0.1:{port}/0" in down.stderr
    wrong = _cli("--store", "http://127.0.0.1:1/0", "--node-id", "a")
    assert wrong.returncode == 2 and "not a Redis URL" in wrong.stderr, wrong
    nameless = _cli("--store", f"redis://127.0.0.1:{port}/0")
    assert nameless.returncode == 2 and "--node-id" in nameless.stderr, nameless
    both = _cli("--store", f"redis://127.0.0.1:{port}/0", "--node-id", "a", "--db", "x.db")
    assert both.returncode == 2 and "give one" in both.stderr, both


async def test_damaged_records_are_skipped_and_named(
    redis_url: str, redis_server: RedisServer
) -> None:
    async with cluster(redis_url, ["a"]) as (a,):
        client = make_device("good", a.coap_uri)
        try:
            await start_devices([client])
            assert a.store.flush()
            reg = a.server.get_registration("good")
            assert reg is not None
            redis_server.command("HSET", "lwm2m:reg", "broken", '{"id": "broken", "endpoint": 5}')
            redis_server.command("HSET", "lwm2m:obs", "zz", "not json")
            # garbage on the change feed, the bus and the events: skipped
            redis_server.command("PUBLISH", "lwm2m:changes", "garbage")
            redis_server.command("PUBLISH", "lwm2m:node:a", "garbage")
            redis_server.command("PUBLISH", "lwm2m:events", '{"t": "n", "reg": 1}')
            second = RedisStore(redis_url, node_id="b")
            try:
                assert [r.endpoint for r in second.list_registrations()] == ["good"]
                assert any(d.startswith("registration 'broken'") for d in second.damaged)
                assert any("observation zz" in d for d in second.damaged)
            finally:
                second.close()
            # node a still serves its device
            async with aiohttp.ClientSession() as http:
                status, _, body = await rest(http, "GET", f"{a.http}/api/clients/good/3/0/0")
                assert status == 200, body
            client.update()
            await client.wait_for(RdEvent.REG_UPDATE_COMPLETE, timeout=5)
        finally:
            await stop_devices([client])


def test_keys_of_another_kind_or_a_newer_schema_refuse_the_store(
    redis_url: str, redis_server: RedisServer
) -> None:
    redis_server.command("SET", "lwm2m:reg", "a string")
    with pytest.raises(StoreCorrupt, match="not a server store of this package"):
        RedisStore(redis_url, node_id="a")
    redis_server.flushall()
    redis_server.command("SET", "lwm2m:schema", "99")
    with pytest.raises(StoreError, match="schema version 99"):
        RedisStore(redis_url, node_id="a")
    assert redis_server.command("GET", "lwm2m:schema").endswith(b"99\r\n")  # left alone

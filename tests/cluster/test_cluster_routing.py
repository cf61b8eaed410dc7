"""Three server nodes on one Redis, in this process: any node serves any device.

* every device is read through the REST API of a node that is not its owner, and
  the answer is byte for byte the owner's;
* an observation made through node A delivers its notifications on node B's
  event stream (and on the others');
* a registration whose lifetime ran out is expired once: every node's event
  stream shows one DEREGISTRATION for it;
* a node that stops: calls for its devices fail at once with 503, until the
  device registers with another node.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from cluster_support import (
    cluster,
    event_stream,
    make_device,
    poll,
    rest,
    start_devices,
    stop_devices,
)

from lwm2m.server import Expired, ServerEvent


@pytest.mark.parametrize("devices", [30, pytest.param(300, marks=pytest.mark.slow)])
async def test_every_device_read_through_a_node_that_is_not_its_owner(
    redis_url: str, devices: int
) -> None:
    async with cluster(redis_url, ["a", "b", "c"]) as nodes:
        clients = [make_device(f"dev{i:03d}", nodes[i % 3].coap_uri) for i in range(devices)]
        try:
            await start_devices(clients)
            names = {c.endpoint_name for c in clients}
            for node in nodes:
                await poll(
                    lambda node=node: {r.endpoint for r in node.server.registrations()} >= names,
                    5.0,
                    f"node {node.name} sees every registration",
                )
            timeout = aiohttp.ClientTimeout(total=20)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                listed = [await rest(http, "GET", f"{node.http}/api/clients") for node in nodes]
                assert {len(json.loads(body)) for _, _, body in listed} == {devices}
                forwarded = 0
                for i, client in enumerate(clients):
                    ep = client.endpoint_name
                    owner, other = nodes[i % 3], nodes[(i + 1) % 3]
                    reg = other.server.get_registration(ep)
                    assert reg is not None
                    assert other.store.owner_of(reg.id) == owner.name
                    for path in ("3/0/0", "3303/0/5700", "3/0/2", "3303/7"):
                        url = f"/api/clients/{ep}/{path}"
                        direct = await rest(http, "GET", owner.http + url)
                        remote = await rest(http, "GET", other.http + url)
                        assert direct[0] == 200, direct  # 3303/7: NOT_FOUND(404) in it
                        assert remote == direct, (ep, path, direct, remote)
                        forwarded += 1
                    # the Python API of a third node too
                    third = nodes[(i + 2) % 3]
                    node = await third.server.read(ep, "/3/0/2")
                    assert getattr(node, "value", None) == ep
            assert forwarded == 4 * devices
            # each of those went to the owner and was answered there: 4 REST reads
            # and one Python read per device, nothing sent from a non-owner
            assert sum(n.cluster.stats["forwarded"] for n in nodes) == 5 * devices
            assert sum(n.cluster.stats["served"] for n in nodes) == 5 * devices
        finally:
            await stop_devices(clients)


async def test_observation_through_a_notifies_on_b(redis_url: str) -> None:
    async with cluster(redis_url, ["a", "b", "c"]) as nodes:
        a, b, c = nodes
        client = make_device("watched", c.coap_uri)  # owned by c
        try:
            await start_devices([client])
            await poll(lambda: a.server.get_registration("watched") is not None, 5.0)
            timeout = aiohttp.ClientTimeout(total=20)
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                event_stream(http, f"{b.http}/api/event?ep=watched") as on_b,
                event_stream(http, f"{a.http}/api/event?ep=watched") as on_a,
            ):
                url = f"{a.http}/api/clients/watched/3303/0/5700/observe"
                status, _, body = await rest(http, "POST", url)
                assert status == 200, body
                assert b'"success":true' in body
                assert len(c.store.list_observations()) == 1  # stored by the owner
                for value in (21.5, 22.5, 23.5):
                    client.set("3303/0/5700", value)
                    await poll(
                        lambda v=value: any(
                            n["val"]["value"] == v for n in on_b.named("NOTIFICATION")
                        ),
                        5.0,
                        f"notification {value} on node b",
                    )
                await poll(lambda: len(on_a.named("NOTIFICATION")) >= 3, 5.0, "on node a")
                # a cancel through b reaches the owner: no more notifications
                url = f"{b.http}/api/clients/watched/3303/0/5700/observe?active"
                status, _, body = await rest(http, "DELETE", url)
                assert status == 200, body
                await poll(lambda: not c.store.list_observations(), 5.0, "observation gone")
                seen = len(on_b.named("NOTIFICATION"))
                client.set("3303/0/5700", 30.0)
                await asyncio.sleep(0.5)
                assert len(on_b.named("NOTIFICATION")) == seen
        finally:
            await stop_devices([client])


async def test_expiry_happens_once_across_nodes(redis_url: str) -> None:
    async with cluster(redis_url, ["a", "b", "c"], expiry_grace=0.2) as nodes:
        expired: dict[str, list[ServerEvent]] = {n.name: [] for n in nodes}
        for node in nodes:
            node.server.on_event(
                lambda ev, name=node.name: (
                    expired[name].append(ev) if isinstance(ev, Expired) else None
                )
            )
        client = make_device("short", nodes[0].coap_uri, lifetime=1)
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            streams = [event_stream(http, f"{node.http}/api/event?ep=short") for node in nodes]
            opened = [await s.__aenter__() for s in streams]
            try:
                await start_devices([client])
                reg = nodes[0].server.get_registration("short")
                assert reg is not None
                await client.stop(deregister=False)
                start = time.time()
                await poll(lambda: all(len(v) == 1 for v in expired.values()), 10.0, "expiry")
                took = time.time() - start
                await asyncio.sleep(1.5)  # nothing more comes
                assert [len(v) for v in expired.values()] == [1, 1, 1]
                for stream in opened:
                    assert len(stream.named("DEREGISTRATION")) == 1, stream.seen
                # exactly at lifetime + grace, not at a polling tick
                assert reg.expires_at - 0.5 <= start + took <= reg.expires_at + 1.0
                for node in nodes:
                    assert node.server.get_registration("short") is None
                    assert node.store.get_registration(reg.id) is None
            finally:
                for s in streams:
                    await s.__aexit__(None, None, None)


async def test_calls_for_a_stopped_nodes_devices_fail_fast_with_503(redis_url: str) -> None:
    async with cluster(redis_url, ["a", "b"]) as nodes:
        a, b = nodes
        first = make_device("mover", a.coap_uri)
        again = make_device("mover", b.coap_uri)
        try:
            await start_devices([first])
            await poll(lambda: b.server.get_registration("mover") is not None, 5.0)
            await first.stop(deregister=False)
            await a.stop()
            timeout = aiohttp.ClientTimeout(total=20)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                started = time.monotonic()
                status, ctype, body = await rest(http, "GET", f"{b.http}/api/clients/mover/3/0/0")
                assert time.monotonic() - started < 1.0
                assert status == 503 and ctype == "text/plain", (status, body)
                assert b"served by node 'a'" in body, body
                # the device comes to node b: served again
                await start_devices([again])
                status, _, body = await rest(http, "GET", f"{b.http}/api/clients/mover/3/0/0")
                assert status == 200, body
        finally:
            await stop_devices([first, again])


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING")

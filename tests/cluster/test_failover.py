"""kill -9 of a server node: its devices bootstrap again and land on the live nodes.

Three ``lwm2m server --store redis://...`` processes, a bootstrap server on the
same Redis that places each device on the least-loaded live node (and sets
/1/x/16, Bootstrap on Registration Failure), and ``lwm2m.Client`` devices that
know only the bootstrap server. Every device is observed through the REST API
of a node that is not its owner. Then the node with devices on it is killed with
SIGKILL, and:

* calls for its devices fail at once with 503 once the heartbeats stop;
* every one of its devices registers with a live node within the bound its
  retry settings give: the lifetime (the Update that fails comes at most one
  lifetime after the last success), the Register attempts before the client
  gives up on the node (``attempts`` x ``max_delay``), the time the nodes need
  to see the dead one as dead, and a bootstrap;
* lost registrations 0: every device has exactly one registration, on a live node;
* lost observations 0: every observation moved with its device, was observed
  again by the new owner with its token, and notifies on a live node's stream.

The short version (30 devices) runs by default, 300 with ``-m slow``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import aiohttp
import pytest
from cluster_support import FAST, event_stream, make_device, poll, rest, start_devices
from process_support import HOST, node_processes

from lwm2m.client.rd import RetryPolicy
from lwm2m.server.bootstrap import BootstrapServer
from lwm2m.server.bootstrap_config import (
    BootstrapConfig,
    EndpointConfig,
    SecurityConfig,
    ServerConfig,
)
from lwm2m.server.cluster.placement import cluster_placement
from lwm2m.server.store.bootstrap_redis import RedisBootstrapStore
from lwm2m.server.store.redis import RedisStore, StoreChange

LIFETIME = 8
RETRY = RetryPolicy(initial_delay=0.5, factor=2.0, max_delay=1.0, jitter=0.25, attempts=2)
DEAD_AFTER = 3.0  # the nodes' default: three heartbeats of 1 s
BOUND = LIFETIME + RETRY.attempts * RETRY.max_delay + DEAD_AFTER + 4.0


async def _failover(redis_url: str, devices: int) -> None:
    async with node_processes(redis_url, ["n1", "n2", "n3"]) as nodes:
        by_name = {node.name: node for node in nodes}
        observer = RedisStore(redis_url, node_id="test-observer")
        bs_store = RedisBootstrapStore(redis_url)
        default = EndpointConfig(
            security=[SecurityConfig("coap://127.0.0.1:9", short_server_id=101)],
            servers=[ServerConfig(101, lifetime=LIFETIME)],
            delete=["/0", "/1"],  # the accounts only: the sensor stays
        )
        bs = BootstrapServer(BootstrapConfig(default=default), store=bs_store, transmission=FAST)
        bs.placement = cluster_placement(bs_store, dead_after=DEAD_AFTER)
        await bs.start(HOST, 0)
        clients = []
        for i in range(devices):
            client = make_device(f"fo{i:04d}", None, retry=RETRY)
            client.add_server(f"coap://{HOST}:{bs.addresses[0][1]}", bootstrap=True)
            clients.append(client)
        arrived: dict[str, tuple[float, str]] = {}

        def on_change(change: StoreChange) -> None:
            if change.kind == "registration" and change.registration is not None:
                arrived[change.registration.endpoint] = (time.monotonic(), change.node)

        loop = asyncio.get_running_loop()
        observer.add_listener(on_change, loop)
        try:
            await start_devices(clients, timeout=60)
            await observer.applied()

            def owners() -> dict[str, str | None]:
                return {
                    reg.endpoint: observer.owner_of(reg.id) for reg in observer.list_registrations()
                }

            spread = Counter(owners().values())
            print(f"placement of {devices} devices: {dict(spread)}")
            assert set(spread) == {"n1", "n2", "n3"}
            assert min(spread.values()) >= 0.9 * (devices // 3), spread  # balanced

            timeout = aiohttp.ClientTimeout(total=60)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                # every device observed through a node that is not its owner
                names = ["n1", "n2", "n3"]
                limit = asyncio.Semaphore(20)

                async def observe(ep: str, owner: str) -> None:
                    other = by_name[names[(names.index(owner) + 1) % 3]]
                    url = f"{other.http}/api/clients/{ep}/3303/0/5700/observe"
                    async with limit:
                        status, _, body = await rest(http, "POST", url)
                    assert status == 200 and b'"success":true' in body, (ep, status, body)

                async def read(ep: str, owner: str) -> None:
                    other = by_name[names[(names.index(owner) + 2) % 3]]
                    url = f"/api/clients/{ep}/3/0/2"
                    async with limit:
                        direct = await rest(http, "GET", by_name[owner].http + url)
                        remote = await rest(http, "GET", other.http + url)
                    assert direct[0] == 200 and remote == direct, (ep, direct, remote)

                current = owners()
                # every device read through a node that is not its owner, byte for byte
                await asyncio.gather(*(read(ep, str(o)) for ep, o in current.items()))
                await asyncio.gather(*(observe(ep, str(o)) for ep, o in current.items()))
                await poll(lambda: len(observer.list_observations()) == devices, 10.0, "stored")

                victim = by_name[max(spread, key=lambda name: spread[name])]
                survivors = [node for node in nodes if node is not victim]
                moved = sorted(ep for ep, owner in current.items() if owner == victim.name)
                async with event_stream(http, f"{survivors[0].http}/api/event") as stream:
                    victim.kill9()
                    killed_at = time.monotonic()
                    # once the heartbeats stop, calls for its devices fail at once with 503
                    probe = f"{survivors[1].http}/api/clients/{moved[0]}/3/0/0"
                    await asyncio.sleep(DEAD_AFTER + 0.5)
                    started = time.monotonic()
                    status, _, body = await rest(http, "GET", probe)
                    if status != 200:  # unless the device moved already
                        assert status == 503, (status, body)
                        assert f"node '{victim.name}'".encode() in body, body
                        assert time.monotonic() - started < 1.0

                    def landed() -> int:
                        live = {n.name for n in survivors}
                        now = owners()
                        return sum(1 for ep in moved if now.get(ep) in live)

                    await poll(
                        lambda: landed() == len(moved),
                        BOUND + 5,
                        f"{len(moved)} devices of the dead node registered elsewhere (they "
                        "bootstrap again once their registration fails: /1/x/16, Bootstrap on "
                        "Registration Failure, in lwm2m.client.rd); moved so far",
                    )
                    took = max(arrived[ep][0] for ep in moved) - killed_at
                    final = owners()
                    lost = [ep for ep in (c.endpoint_name for c in clients) if ep not in final]
                    dead_owned = [ep for ep, owner in final.items() if owner == victim.name]
                    print(
                        f"kill -9 of {victim.name}: {len(moved)} device(s) moved in {took:.1f} s "
                        f"(bound {BOUND:.1f} s: lifetime {LIFETIME} s, {RETRY.attempts} x "
                        f"{RETRY.max_delay} s retries, {DEAD_AFTER} s to declare the node dead); "
                        f"now {dict(Counter(final.values()))}"
                    )
                    assert lost == [] and dead_owned == []
                    assert len(observer.list_registrations()) == devices
                    assert took <= BOUND, (took, BOUND)

                    # observations: moved with their devices, observed again by the owner
                    def settled() -> bool:
                        stored = observer.list_observations()
                        regs = {r.id: r for r in observer.list_registrations()}
                        return len(stored) == devices and all(
                            o.registration_id in regs
                            and observer.owner_of(o.registration_id) != victim.name
                            for o in stored
                        )

                    await poll(settled, 10.0, "observations moved")
                    await asyncio.sleep(1.0)  # the new owners observe again
                    value = 40.0 + random.random()
                    for client in clients:
                        client.set("3303/0/5700", value)

                    def notified() -> set[str]:
                        return {
                            n["ep"]
                            for n in stream.named("NOTIFICATION")
                            if n.get("val", {}).get("value") == value
                        }

                    with_value = lambda: len(notified()) == devices  # noqa: E731
                    await poll(with_value, 15.0, "a notification from every device")
                    lost_observations = devices - len(notified())
                    print(f"lost registrations: 0, lost observations: {lost_observations}")
                    assert lost_observations == 0
        finally:
            for client in clients:
                with contextlib_suppress():
                    await client.stop(deregister=False, timeout=1.0)
            await bs.close()
            bs_store.close()
            observer.close()


class contextlib_suppress:
    """``contextlib.suppress(Exception)`` that an ``async with`` block may hold."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], Exception)  # type: ignore[arg-type]


async def test_kill_9_of_a_node_moves_its_devices(redis_url: str) -> None:
    await _failover(redis_url, 30)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_kill_9_of_a_node_moves_its_devices_300(redis_url: str) -> None:
    await _failover(redis_url, 300)

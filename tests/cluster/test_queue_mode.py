"""Queue mode across nodes: a request for a sleeping device made on a node that is not
its owner waits on the owner, in Redis, and is answered when the device wakes up,
even when the owner stopped meanwhile and the device came back on another node."""

from __future__ import annotations

import aiohttp
from cluster_support import (
    cluster,
    event_stream,
    make_device,
    poll,
    rest,
    start_devices,
    stop_devices,
)

from lwm2m.client.events import RdEvent


async def test_a_request_queued_for_a_sleeping_device_survives_its_node(redis_url: str) -> None:
    options = {"queue_awake_time": 0.5}
    async with cluster(redis_url, ["a", "b", "c"], **options) as nodes:
        a, b, c = nodes
        sleepy = make_device("sleepy", a.coap_uri, queue_mode=True, queue_rx_time=0.5)
        back = make_device("sleepy", c.coap_uri, queue_mode=True, queue_rx_time=0.5)
        try:
            await start_devices([sleepy])
            timeout = aiohttp.ClientTimeout(total=20)
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                event_stream(http, f"{b.http}/api/event?ep=sleepy") as on_b,
            ):
                await poll(lambda: bool(on_b.named("SLEEPING")), 5.0, "SLEEPING on node b")
                reg = b.server.get_registration("sleepy")
                assert reg is not None and b.server.is_sleeping(reg)
                # asleep: b answers at once that the request is delayed
                status, _, body = await rest(http, "GET", f"{b.http}/api/clients/sleepy/3/0/0")
                assert status == 200 and b'"delayed":true' in body, body
                await poll(lambda: a.store.pending_writes == 0, 5.0, "queued in Redis")
                # the device wakes up: its owner sends the request, b publishes the answer
                sleepy.update()
                await poll(lambda: bool(on_b.named("REQUEST_RESPONSE")), 10.0, "the answer")
                answer = on_b.named("REQUEST_RESPONSE")[0]
                assert answer["response"]["content"]["value"] == "Acme", answer

                # again, but the owner stops before the device wakes up
                await poll(lambda: len(on_b.named("SLEEPING")) >= 2, 5.0, "asleep again")
                status, _, body = await rest(http, "GET", f"{b.http}/api/clients/sleepy/3/0/1")
                assert status == 200 and b'"delayed":true' in body, body
                await poll(lambda: bool(b.cluster.store.list_registrations()), 1.0)
                await poll(lambda: a.cluster.stats["served"] >= 2, 5.0, "queued on a")
                await sleepy.stop(deregister=False)
                await a.stop()
                # the device comes back on node c: c sends what waited in Redis
                await back.start()
                await back.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=10)
                await poll(lambda: len(on_b.named("REQUEST_RESPONSE")) >= 2, 10.0, "from c")
                answer = on_b.named("REQUEST_RESPONSE")[1]
                assert answer["path"] == "/3/0/1"
                assert answer["response"]["content"]["value"] == "M1", answer
        finally:
            await stop_devices([sleepy, back])

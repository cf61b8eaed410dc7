"""30 % loss each way (plus duplicates and reordering): register, read, observe.

The client reaches the server through the relay only. A confirmable exchange
across a link that loses 30 % each way fails after its retransmissions about
once in 30 (each try needs both legs: 0.49); the application tries such a
read again, as an application on a bad link does, and the test counts how
often that was needed. Every operation must complete.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from chaos_support import HOST, Direction, RelayFactory

from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.client.rd import RetryPolicy
from lwm2m.coap.errors import RequestTimeout
from lwm2m.coap.layer import TransmissionParams
from lwm2m.model import InstanceNode, ResourceNode
from lwm2m.objects import Device
from lwm2m.objects.ipso import Temperature
from lwm2m.server import Server

T = TypeVar("T")
EP = "chaos-lossy"
#: Short timers, the RFC's four retransmissions: a lost message costs 20 to 30 ms.
LOSSY = TransmissionParams(ack_timeout=0.02, ack_random_factor=1.5, max_retransmit=4)
MAX_TRIES = 4


def lossy_direction() -> Direction:
    return Direction(loss=0.3, duplicate=0.1, reorder=0.1)


async def retrying(operation: Callable[[], Awaitable[T]], tries: list[int]) -> T:
    """``operation()``, tried again when its retransmissions ran out; appends the tries."""
    for attempt in range(1, MAX_TRIES + 1):
        try:
            result = await operation()
        except RequestTimeout:
            if attempt == MAX_TRIES:
                raise
            continue
        tries.append(attempt)
        return result
    raise AssertionError("unreachable")


async def scenario(make_relay: RelayFactory, reads: int, changes: int, seed: int) -> None:
    server = Server(HOST, 0, transmission=LOSSY, default_timeout=10.0)
    await server.start()
    relay, front = await make_relay(
        server.coap_address, seed=seed, to_server=lossy_direction(), to_client=lossy_direction()
    )
    client = Client(
        EP,
        transmission=LOSSY,
        retry=RetryPolicy(initial_delay=0.3, max_delay=1.0, jitter=0.0, attempts=100),
    )
    client.add_server(f"coap://{front[0]}:{front[1]}", short_server_id=101, lifetime=300)
    Device(client.store, manufacturer="Acme", model="M1", serial="SN-1", firmware_version="1.0")
    Temperature(client.store, 20.0)
    began = time.monotonic()
    try:
        await client.start()
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=30)
        registered_in = time.monotonic() - began
        assert server.get_registration(EP) is not None

        tries: list[int] = []
        started = time.monotonic()
        for _ in range(reads):
            node = await retrying(lambda: server.read(EP, "/3/0"), tries)
            assert isinstance(node, InstanceNode) and node.resources[0] == ResourceNode(0, "Acme")
        read_time = time.monotonic() - started
        retried = sum(1 for t in tries if t > 1)

        # pmax=1 first: a lost NON notification is followed by a heartbeat within a second
        dm_tries: list[int] = []
        await retrying(lambda: server.write_attributes(EP, "/3303/0/5700", pmax=1), dm_tries)
        handle = await retrying(lambda: server.observe(EP, "/3303/0/5700"), dm_tries)
        waits: list[float] = []
        for step in range(1, changes + 1):
            value = 20.0 + step
            changed = time.monotonic()
            client.set("3303/0/5700", value)
            async with asyncio.timeout(15):
                async for note in handle:
                    if isinstance(note.content, ResourceNode) and note.content.value == value:
                        break
            waits.append(time.monotonic() - changed)
        figures = (
            f"30% loss each way (+10% duplicated, +10% reordered), seed {seed}: registered "
            f"in {registered_in:.2f} s; {reads} reads in {read_time:.1f} s "
            f"({read_time / reads * 1000:.0f} ms each), {retried} needed a second try "
            f"(at most {max(tries)} tries); pmax=1 + observe in {sum(dm_tries)} tries; "
            f"{changes} changes seen after {sum(waits) / len(waits):.2f} s on average "
            f"(at most {max(waits):.2f} s); relay: {relay.summary()}"
        )
        print("\n" + figures)
        assert len(tries) == reads and max(tries) <= MAX_TRIES, figures
        assert relay.to_server.lost > 0 and relay.to_client.lost > 0, figures
        assert relay.to_server.duplicated > 0 and relay.to_client.reordered > 0, figures
    finally:
        await client.stop(deregister=False)
        await server.stop()


pytestmark = pytest.mark.timeout(120)


async def test_thirty_percent_loss_short(make_relay: RelayFactory) -> None:
    await scenario(make_relay, reads=50, changes=5, seed=7)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_thirty_percent_loss_long(make_relay: RelayFactory) -> None:
    await scenario(make_relay, reads=200, changes=20, seed=11)

"""Server load: N simulated clients register, update and send notifications to one Server.

The :class:`~lwm2m.server.Server` runs alone in a child process (this script with
``--serve``), so its throughput is that of one process on one core and its memory
is its own. The parent process holds the N simulated clients, all in one event
loop. A simulated client is a bare CoAP :class:`~lwm2m.coap.Endpoint` (its own UDP
socket: the source address is what tells registrations apart) that registers as
LwM2M 1.0 and serves one observable resource, /3303/0/5700, in text/plain. The
full :class:`~lwm2m.client.client.Client` (object store, registration state
machine, timers) would make the parent, not the server, the bottleneck.

Phases, all on loopback:

1. register: every client sends Register, ``--window`` requests in flight;
   registrations/s = N / time from the first request to the last 2.01 (a window
   much larger than the server socket's receive buffer holds only makes datagrams
   get lost and retransmitted);
2. update: every client sends an Update (reported, not part of RESULT);
3. observe: the server observes /3303/0/5700 on every client (not timed);
4. notify: ``--rounds`` rounds in which every client sends one notification (NON,
   every 20th CON, as the endpoint's default policy sends them), ``--window`` at a
   time, never more than two windows ahead of what the server has counted (NON
   messages are not retransmitted: a burst larger than a socket buffer is lost);
   notifications/s = notifications the server decoded and published / time until
   the last arrived.

The child reports what it counted and its resident memory (VmRSS) after the run.
The last line is

    RESULT registrations_per_s=<n> notifications_per_s=<n> server_rss_mb=<x>

Targets: >= 1000 registrations/s and >= 3000 notifications/s.

Run: ``python benchmarks/server_load.py [--clients 2000] [--rounds 5] [--window 32]``
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _common module
from _common import ServeChild, result_line, serve_commands
from lwm2m.coap import Code, Endpoint, Message
from lwm2m.coap.layer import TransmissionParams
from lwm2m.server import Notification, Registered, Server, ServerEvent, Updated
from lwm2m.server.server import ObservationHandle
from lwm2m.transport.base import Address

HOST = "127.0.0.1"
RESOURCE = "/3303/0/5700"
LINKS = b"</1/0>,</3/0>,</3303/0>"
#: Loopback loses datagrams only when a socket buffer overflows; RFC 7252's default timer.
PARAMS = TransmissionParams(ack_timeout=2.0, ack_random_factor=1.0, max_retransmit=2)


# --- the server, in the child process ------------------------------------------------------


def _rss_mb() -> float:
    """Resident memory now (VmRSS), else the peak (ru_maxrss, KiB on Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Counts:
    def __init__(self) -> None:
        self.registered = 0
        self.updated = 0
        self.notifications = 0

    def __call__(self, event: ServerEvent) -> None:
        if isinstance(event, Notification):
            self.notifications += 1
        elif isinstance(event, Updated):
            self.updated += 1
        elif isinstance(event, Registered):
            self.registered += 1


async def _observe_all(server: Server, window: int) -> tuple[int, list[asyncio.Task[None]]]:
    """Observe RESOURCE on every client; each handle is drained so its queue stays empty."""
    limit = asyncio.Semaphore(window)
    drains: list[asyncio.Task[None]] = []

    async def drain(handle: ObservationHandle) -> None:
        async for _ in handle:
            pass

    async def one(endpoint: str) -> bool:
        async with limit:
            try:
                handle = await server.observe(endpoint, RESOURCE, timeout=30.0)
            except Exception as exc:
                print(f"observe {endpoint} failed: {exc!r}", file=sys.stderr, flush=True)
                return False
        drains.append(asyncio.ensure_future(drain(handle)))
        return True

    results = await asyncio.gather(*(one(reg.endpoint) for reg in server.registrations()))
    return sum(results), drains


async def serve_child(window: int) -> None:
    """The ``--serve`` mode: a Server driven by commands on stdin, answers on stdout."""
    server = Server(HOST, 0, transmission=PARAMS, default_timeout=30.0)
    counts = _Counts()
    server.on_event(counts)
    await server.start()
    print(f"port {server.coap_address[1]}", flush=True)
    drains: list[asyncio.Task[None]] = []

    async def observe() -> str:
        nonlocal drains
        ok, drains = await _observe_all(server, window)
        return f"observed {ok}"

    await serve_commands(
        {
            "observe": observe,
            "count": lambda: f"count {counts.registered} {counts.updated} {counts.notifications}",
            "rss": lambda: f"rss {_rss_mb():.1f}",
        }
    )
    for task in drains:
        task.cancel()
    await server.stop()


# --- the simulated clients, in the parent ----------------------------------------------------


class SimClient:
    """One simulated device: a CoAP endpoint with an observable temperature."""

    def __init__(self, endpoint: Endpoint, name: str) -> None:
        self.endpoint = endpoint
        self.name = name
        self.location = ""
        self.value = 20.0
        endpoint.add_resource(RESOURCE, self._on_read)

    def _on_read(self, request: Message, remote: Address) -> Message:
        payload = f"{self.value:.2f}".encode()
        return Message.response_to(request, Code.CONTENT, payload, content_format=0, observe=0)

    async def register(self, server: Address) -> None:
        response = await self.endpoint.request(
            Code.POST,
            "/rd",
            remote=server,
            query=[f"ep={self.name}", "lt=3600", "lwm2m=1.0", "b=U"],
            payload=LINKS,
            content_format=40,
            timeout=30.0,
        )
        if response.code != Code.CREATED:
            raise RuntimeError(f"{self.name}: Register answered {response.code}")
        self.location = "/".join(response.location_path)

    async def update(self, server: Address) -> None:
        response = await self.endpoint.request(
            Code.POST, self.location, remote=server, timeout=30.0
        )
        if response.code != Code.CHANGED:
            raise RuntimeError(f"{self.name}: Update answered {response.code}")

    def notify(self) -> int:
        self.value += 0.25
        return self.endpoint.notify(RESOURCE)


class Child(ServeChild):
    """The server process and its command line."""

    @classmethod
    async def start(cls, window: int, profile: str | None) -> tuple[Child, int]:
        extra = ["--profile", profile] if profile else []
        proc, words = await cls.spawn(__file__, "--window", str(window), *extra)
        return cls(proc), int(words[1])

    async def counts(self) -> tuple[int, int, int]:
        _, registered, updated, notifications = await self.ask("count")
        return int(registered), int(updated), int(notifications)


async def timed(
    clients: list[SimClient], window: int, step: Callable[[SimClient], Awaitable[None]]
) -> float:
    """Run ``step`` on every client, ``window`` at a time; seconds taken."""
    limit = asyncio.Semaphore(window)

    async def one(client: SimClient) -> None:
        async with limit:
            await step(client)

    start = time.perf_counter()
    await asyncio.gather(*(one(c) for c in clients))
    return time.perf_counter() - start


async def wait_count(child: Child, target: int, stall: float = 2.0) -> tuple[int, float]:
    """Poll until the server counted ``target`` notifications or the count stopped growing.

    Returns the count and the time (perf_counter) it was last seen growing.
    """
    count = (await child.counts())[2]
    last_growth = time.perf_counter()
    while count < target:
        await asyncio.sleep(0.001)
        now_count = (await child.counts())[2]
        if now_count > count:
            count, last_growth = now_count, time.perf_counter()
        elif time.perf_counter() - last_growth > stall:
            break
    return count, last_growth


async def run(n: int, rounds: int, window: int, profile: str | None = None) -> str:
    child, port = await Child.start(window, profile)
    server = (HOST, port)
    clients: list[SimClient] = []
    try:
        for i in range(n):
            endpoint = await Endpoint.create_udp(HOST, 0, params=PARAMS)
            clients.append(SimClient(endpoint, f"sim-{i:05d}"))

        reg_time = await timed(clients, window, lambda c: c.register(server))
        registered, _, _ = await child.counts()
        upd_time = await timed(clients, window, lambda c: c.update(server))
        _, updated, _ = await child.counts()
        observed = int((await child.ask("observe"))[1])

        target = observed * rounds
        before = (await child.counts())[2]
        start = time.perf_counter()
        sent = 0
        for _ in range(rounds):
            for first in range(0, len(clients), window):
                for client in clients[first : first + window]:
                    sent += client.notify()
                # closed loop: at most two windows in flight, so no socket buffer overflows
                await wait_count(child, before + sent - window)
        received, last = await wait_count(child, before + target)
        received -= before
        notify_time = max(last - start, 1e-9)
        rss = float((await child.ask("rss"))[1])
    finally:
        await child.close()
        for client in clients:
            await client.endpoint.close()

    reg_rate = n / reg_time
    print(f"clients: {n} (bare CoAP endpoints), server in its own process")
    print(f"register: {registered}/{n} in {reg_time:.2f} s = {reg_rate:.0f}/s")
    print(f"update: {updated}/{n} in {upd_time:.2f} s = {n / upd_time:.0f}/s")
    print(f"observations: {observed}/{n}")
    notify_rate = received / notify_time
    print(
        f"notifications: {received}/{target} received in {notify_time:.2f} s = "
        f"{notify_rate:.0f}/s ({rounds} rounds)"
    )
    print(f"server RSS: {rss:.1f} MB ({rss * 1024 / max(n, 1):.1f} KiB per client)")
    return result_line(
        registrations_per_s=round(reg_rate),
        notifications_per_s=round(notify_rate),
        server_rss_mb=f"{rss:.1f}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", "-n", type=int, default=2000, help="simulated clients")
    parser.add_argument("--rounds", type=int, default=5, help="notifications per client")
    parser.add_argument("--window", type=int, default=32, help="requests in flight")
    parser.add_argument(
        "--profile", metavar="FILE", help="write the server's cProfile statistics to FILE"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        if args.profile:
            import cProfile

            cProfile.runctx(
                "asyncio.run(serve_child(args.window))", globals(), locals(), args.profile
            )
        else:
            asyncio.run(serve_child(args.window))
        return 0
    if args.clients < 1 or args.rounds < 1 or args.window < 1:
        parser.error("--clients, --rounds and --window must be positive")
    print(asyncio.run(run(args.clients, args.rounds, args.window, args.profile)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

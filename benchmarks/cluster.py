"""Cluster benchmark: the Redis store and several nodes against one node in memory.

Everything runs on loopback with a private ``redis-server`` (temporary directory,
append-only file on) that this script starts and stops by its pid. Each server
node is a child process (this script with ``--serve``, or ``lwm2m server`` for the
failover); the devices are in the parent. Side by side, in one run:

1. **one node, Redis store vs memory store**: N simulated devices (bare CoAP
   endpoints, as in server_load.py) register, are observed and send ``--rounds``
   notifications each; registrations/s and notifications/s with ``RedisStore``
   as a ratio to the same with ``MemoryStore`` (goal >= 0.5). The two runs
   alternate ``--repeats`` times and the best of each counts;
2. **two nodes sharing Redis**: the same load split over two nodes (half the
   devices register with each); the aggregate rates as a ratio to one node with
   the Redis store. Each node also takes the other's notifications (the event
   fan-out). On a 2-core machine the two nodes, the devices and Redis share two
   cores, so the ratio shows the cost of the cluster more than its gain;
3. **cross-node read latency**: ``--reads`` REST reads of one resource of a
   device, alternately through its owner and through the other node (forwarded
   through Redis to the owner); p50 and p99 of each and their ratios;
4. **failover**: ``--failover-devices`` real ``lwm2m.Client`` devices bootstrap
   (placement on the least-loaded node, /1/x/16 set), the node that holds devices
   is killed with SIGKILL, and the time until every one of its devices is
   registered with the other node is measured, with the retry settings printed.

The last line is

    RESULT redis_reg_ratio=<x> redis_notify_ratio=<x> two_node_reg_ratio=<x>
    two_node_notify_ratio=<x> cross_read_p50_ratio=<x> cross_read_p99_ratio=<x>
    failover_s=<x>

Run: ``python benchmarks/cluster.py [--clients 1000] [--rounds 5] [--reads 500]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common and server_load
from _common import ServeChild, result_line, serve_commands
from lwm2m.coap import Endpoint
from lwm2m.server import Notification, Registered, Server, ServerEvent
from server_load import PARAMS, RESOURCE, SimClient, timed

HOST = "127.0.0.1"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


# --- a private Redis --------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free loopback port in a temporary directory, AOF on."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="lwm2m-bench-redis-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> PrivateRedis:
        if not os.access(REDIS_SERVER, os.X_OK):
            raise SystemExit(f"{REDIS_SERVER} is missing: run `make deps`")
        for _ in range(3):
            with socket.socket() as sock:
                sock.bind((HOST, 0))
                self.port = sock.getsockname()[1]
            self.proc = subprocess.Popen(
                [
                    *(REDIS_SERVER, "--port", str(self.port), "--bind", HOST),
                    *("--dir", self.directory, "--appendonly", "yes", "--save", ""),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                with contextlib.suppress(OSError), socket.create_connection((HOST, self.port)) as c:
                    c.sendall(b"PING\r\n")
                    if c.recv(16).startswith(b"+PONG"):
                        return self
                time.sleep(0.02)
            self._kill()
        raise SystemExit("redis-server did not start")

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def flush(self) -> None:
        with socket.create_connection((HOST, self.port)) as c:
            c.sendall(b"FLUSHALL\r\n")
            c.recv(16)

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self._kill()
        shutil.rmtree(self.directory, ignore_errors=True)


# --- a server node, in the child process -------------------------------------------------


class _Counts:
    """Registrations and notifications of the devices this node holds."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.registered = 0
        self.notifications = 0

    def _own(self, event: ServerEvent) -> bool:
        node = self.server.cluster
        return node is None or node.owns(event.registration)

    def __call__(self, event: ServerEvent) -> None:
        if isinstance(event, Notification) and self._own(event):
            self.notifications += 1
        elif isinstance(event, Registered) and self._own(event):
            self.registered += 1


async def _observe_owned(server: Server, drains: list[asyncio.Task[None]]) -> int:
    """Observe RESOURCE on the devices this node holds; each handle is drained."""
    mine = [r for r in server.registrations() if server.cluster is None or server.cluster.owns(r)]
    limit = asyncio.Semaphore(32)

    async def one(endpoint: str) -> bool:
        async with limit:
            try:
                handle = await server.observe(endpoint, RESOURCE, timeout=30.0)
            except Exception as exc:
                print(f"observe {endpoint}: {exc!r}", file=sys.stderr, flush=True)
                return False

        async def drain() -> None:
            async for _ in handle:
                pass

        drains.append(asyncio.ensure_future(drain()))
        return True

    return sum(await asyncio.gather(*(one(r.endpoint) for r in mine)))


async def serve_child(store_url: str, node_id: str) -> None:
    from aiohttp import web

    from lwm2m.server import MemoryStore
    from lwm2m.server.rest import create_app
    from lwm2m.server.store.redis import RedisStore

    store = MemoryStore() if store_url == "memory" else RedisStore(store_url, node_id=node_id)
    server = Server(HOST, 0, store=store, transmission=PARAMS, default_timeout=30.0)
    counts = _Counts(server)
    server.on_event(counts)
    await server.start()
    runner = web.AppRunner(create_app(server))
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    print(f"port {server.coap_address[1]} {runner.addresses[0][1]}", flush=True)
    drains: list[asyncio.Task[None]] = []

    async def observe() -> str:
        return f"observed {await _observe_owned(server, drains)}"

    await serve_commands(
        {
            "observe": observe,
            "count": lambda: f"count {counts.registered} {counts.notifications}",
        }
    )
    for task in drains:
        task.cancel()
    await runner.cleanup()
    await server.stop()
    store.close()


class Child(ServeChild):
    """One node process and its command line; ``coap`` and ``http`` are its ports."""

    coap = http = 0

    @classmethod
    async def start(cls, store_url: str, node_id: str) -> Child:
        proc, words = await cls.spawn(__file__, "--store", store_url, "--node-id", node_id)
        child = cls(proc)
        child.coap, child.http = int(words[1]), int(words[2])
        return child

    async def counts(self) -> tuple[int, int]:
        _, registered, notifications = await self.ask("count")
        return int(registered), int(notifications)


# --- phases -------------------------------------------------------------------------------


async def _notified(children: list[Child]) -> int:
    return sum([(await child.counts())[1] for child in children])


async def _wait_notified(children: list[Child], target: int, stall: float = 2.0) -> float:
    """Poll until the nodes counted ``target`` notifications or stopped counting."""
    count = await _notified(children)
    last = time.perf_counter()
    while count < target:
        await asyncio.sleep(0.002)
        now = await _notified(children)
        if now > count:
            count, last = now, time.perf_counter()
        elif time.perf_counter() - last > stall:
            break
    return last


async def load(stores: list[str], n: int, rounds: int, window: int) -> tuple[float, float]:
    """Registrations/s and notifications/s of nodes on ``stores`` sharing ``n`` devices."""
    children = [await Child.start(url, f"n{i}") for i, url in enumerate(stores)]
    clients: list[SimClient] = []
    try:
        for i in range(n):
            endpoint = await Endpoint.create_udp(HOST, 0, params=PARAMS)
            clients.append(SimClient(endpoint, f"sim-{i:05d}"))

        def server_of(client: SimClient) -> tuple[str, int]:
            return HOST, children[clients.index(client) % len(children)].coap

        homes = {c.name: server_of(c) for c in clients}
        reg_time = await timed(clients, window, lambda c: c.register(homes[c.name]))
        observed = sum([int((await child.ask("observe"))[1]) for child in children])
        before = await _notified(children)
        start = time.perf_counter()
        sent = 0
        for _ in range(rounds):
            for first in range(0, len(clients), window):
                for client in clients[first : first + window]:
                    sent += client.notify()
                await _wait_notified(children, before + sent - window)
        last = await _wait_notified(children, before + observed * rounds)
        received = await _notified(children) - before
        notify_rate = received / max(last - start, 1e-9)
    finally:
        for child in children:
            await child.close()
        for client in clients:
            await client.endpoint.close()
    return n / reg_time, notify_rate


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def latency(redis_url: str, reads: int) -> tuple[float, float, float, float]:
    """(owner p50, owner p99, other p50, other p99) of REST reads, in ms."""
    import aiohttp

    children = [await Child.start(redis_url, name) for name in ("lat-a", "lat-b")]
    endpoint = await Endpoint.create_udp(HOST, 0, params=PARAMS)
    device = SimClient(endpoint, "latency-dev")
    try:
        await device.register((HOST, children[0].coap))
        owner, other = ([] for _ in range(2))
        async with aiohttp.ClientSession() as http:
            urls = [
                f"http://{HOST}:{child.http}/api/clients/latency-dev{RESOURCE}"
                for child in children
            ]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # node b has the registration
                async with http.get(urls[1]) as resp:
                    if resp.status == 200:
                        break
                await asyncio.sleep(0.05)
            for i in range(reads + 20):
                for url, sink in ((urls[0], owner), (urls[1], other)):
                    started = time.perf_counter()
                    async with http.get(url) as resp:
                        await resp.read()
                        assert resp.status == 200, await resp.text()
                    if i >= 20:  # warm-up
                        sink.append((time.perf_counter() - started) * 1000)
    finally:
        await endpoint.close()
        for child in children:
            await child.close()
    return (
        statistics.median(owner),
        _percentile(owner, 0.99),
        statistics.median(other),
        _percentile(other, 0.99),
    )


@dataclass
class Failover:
    devices: int
    moved: int = 0
    seconds: float = 0.0
    median: float = 0.0
    lost: int = 0
    settings: str = ""
    lines: list[str] = field(default_factory=list)


async def failover(redis_url: str, devices: int, lifetime: int) -> Failover:
    """Kill -9 the node holding devices; time until all of them are on the other one."""
    from lwm2m.client.client import Client
    from lwm2m.client.events import RdEvent
    from lwm2m.client.rd import RetryPolicy
    from lwm2m.objects import Device
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

    retry = RetryPolicy(initial_delay=0.5, max_delay=1.0, attempts=2)
    dead_after = 3.0
    figures = Failover(devices)
    figures.settings = (
        f"lifetime {lifetime} s, client retry {retry.attempts} attempts "
        f"{retry.initial_delay}-{retry.max_delay} s apart, node declared dead after "
        f"{dead_after} s without heartbeat"
    )
    procs = []
    for name in ("fo-a", "fo-b"):
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "lwm2m",
                "server",
                "--host",
                HOST,
                "--coap-port",
                "0",
                "--http-port",
                "0",
                "--no-dtls",
                "--store",
                redis_url,
                "--node-id",
                name,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        )
    observer = RedisStore(redis_url, node_id="bench-observer")
    bs_store = RedisBootstrapStore(redis_url)
    clients: list[Client] = []
    bs = None
    arrived: dict[str, tuple[float, str]] = {}

    def on_change(change: StoreChange) -> None:
        if change.kind == "registration" and change.registration is not None:
            arrived[change.registration.endpoint] = (time.monotonic(), change.node)

    observer.add_listener(on_change, asyncio.get_running_loop())
    try:
        for proc in procs:  # both nodes joined
            assert proc.stdout is not None
            async with asyncio.timeout(30):
                while not (await proc.stdout.readline()).startswith(b"http listening"):
                    pass
        default = EndpointConfig(
            security=[SecurityConfig("coap://127.0.0.1:9", short_server_id=101)],
            servers=[ServerConfig(101, lifetime=lifetime)],
            delete=["/0", "/1"],
        )
        bs = BootstrapServer(BootstrapConfig(default=default), store=bs_store, transmission=PARAMS)
        bs.placement = cluster_placement(bs_store, dead_after=dead_after)
        await bs.start(HOST, 0)
        for i in range(devices):
            client = Client(f"fo{i:04d}", retry=retry, transmission=PARAMS)
            client.add_server(f"coap://{HOST}:{bs.addresses[0][1]}", bootstrap=True)
            Device(client.store, manufacturer="Acme", model="M1", serial=str(i))
            clients.append(client)

        async def registered(client: Client) -> None:
            waiting = asyncio.ensure_future(
                client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=60)
            )
            await asyncio.sleep(0)  # subscribed before the client starts
            await client.start()
            await waiting

        await asyncio.gather(*(registered(client) for client in clients))
        await observer.applied()
        owners = {r.endpoint: observer.owner_of(r.id) for r in observer.list_registrations()}
        victim = 0 if list(owners.values()).count("fo-a") else 1
        name = ("fo-a", "fo-b")[victim]
        moved = [ep for ep, owner in owners.items() if owner == name]
        figures.moved = len(moved)
        os.kill(procs[victim].pid, signal.SIGKILL)
        killed = time.monotonic()
        survivor = ("fo-a", "fo-b")[1 - victim]

        def done() -> bool:
            now = {r.endpoint: observer.owner_of(r.id) for r in observer.list_registrations()}
            return all(now.get(ep) == survivor for ep in moved)

        deadline = killed + lifetime * 4 + 30
        while not done() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        times = [arrived[ep][0] - killed for ep in moved if ep in arrived]
        figures.lost = len(moved) - len(times)
        figures.seconds = max(times, default=float("nan"))
        figures.median = statistics.median(times) if times else float("nan")
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.stop(deregister=False, timeout=1.0)
        if bs is not None:
            await bs.close()
        for proc in procs:
            if proc.returncode is None:
                os.kill(proc.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        bs_store.close()
        observer.close()
    return figures


# --- the run -------------------------------------------------------------------------------


@dataclass
class Figures:
    memory: tuple[float, float] = (0.0, 0.0)
    redis: tuple[float, float] = (0.0, 0.0)
    two_nodes: tuple[float, float] = (0.0, 0.0)
    reads: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    failover: Failover | None = None

    @property
    def ratios(self) -> dict[str, float]:
        def ratio(a: float, b: float) -> float:
            return a / b if b > 0 else 0.0

        owner50, owner99, other50, other99 = self.reads
        return {
            "redis_reg_ratio": ratio(self.redis[0], self.memory[0]),
            "redis_notify_ratio": ratio(self.redis[1], self.memory[1]),
            "two_node_reg_ratio": ratio(self.two_nodes[0], self.redis[0]),
            "two_node_notify_ratio": ratio(self.two_nodes[1], self.redis[1]),
            "cross_read_p50_ratio": ratio(other50, owner50),
            "cross_read_p99_ratio": ratio(other99, owner99),
        }


def _best(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return max(r[0] for r in runs), max(r[1] for r in runs)


async def run(args: argparse.Namespace, say: Callable[[str], None]) -> Figures:
    figures = Figures()
    with PrivateRedis() as redis:
        memory_runs, redis_runs, two_runs = [], [], []
        for _ in range(args.repeats):
            memory_runs.append(await load(["memory"], args.clients, args.rounds, args.window))
            redis.flush()
            redis_runs.append(await load([redis.url()], args.clients, args.rounds, args.window))
            redis.flush()
            two_runs.append(await load([redis.url()] * 2, args.clients, args.rounds, args.window))
            redis.flush()
        figures.memory, figures.redis = _best(memory_runs), _best(redis_runs)
        figures.two_nodes = _best(two_runs)
        say(f"devices: {args.clients} (bare CoAP endpoints), {args.rounds} notifications each")
        for label, (reg, notify) in (
            ("one node, memory store", figures.memory),
            ("one node, Redis store", figures.redis),
            ("two nodes, Redis store", figures.two_nodes),
        ):
            say(f"{label:24s} {reg:8.0f} registrations/s {notify:8.0f} notifications/s")
        figures.reads = await latency(redis.url(), args.reads)
        redis.flush()
        o50, o99, x50, x99 = figures.reads
        say(f"REST read through the owner:      p50 {o50:.2f} ms  p99 {o99:.2f} ms")
        say(f"REST read through the other node: p50 {x50:.2f} ms  p99 {x99:.2f} ms")
        if args.failover_devices > 0:
            fo = await failover(redis.url(), args.failover_devices, args.lifetime)
            figures.failover = fo
            say(
                f"failover after kill -9: {fo.moved} of {fo.devices} devices moved, the last "
                f"after {fo.seconds:.1f} s (median {fo.median:.1f} s), lost {fo.lost}; "
                f"{fo.settings}"
            )
    return figures


def main(argv: list[str] | None = None) -> Figures:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", "-n", type=int, default=1000, help="simulated devices")
    parser.add_argument("--rounds", type=int, default=5, help="notifications per device")
    parser.add_argument("--window", type=int, default=32, help="requests in flight")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs (best kept)")
    parser.add_argument("--reads", type=int, default=500, help="reads per latency figure")
    parser.add_argument("--failover-devices", type=int, default=60, help="0: no failover")
    parser.add_argument("--lifetime", type=int, default=8, help="failover devices' lifetime")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", default="memory", help=argparse.SUPPRESS)
    parser.add_argument("--node-id", default="n0", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve_child(args.store, args.node_id))
        return Figures()
    if min(args.clients, args.rounds, args.window, args.repeats, args.reads) < 1:
        parser.error("--clients, --rounds, --window, --repeats and --reads must be positive")
    figures = asyncio.run(run(args, lambda line: print(line, flush=True)))
    fields = {k: f"{v:.2f}" for k, v in figures.ratios.items()}
    seconds = figures.failover.seconds if figures.failover is not None else float("nan")
    print(result_line(**fields, failover_s=f"{seconds:.1f}"), flush=True)
    return figures


if __name__ == "__main__":
    main()
    sys.exit(0)

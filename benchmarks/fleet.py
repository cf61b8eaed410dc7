"""Fleet: memory per device, 100,000 devices on one machine, a power cut, steady state.

Everything runs on this machine against ``lwm2m server`` (started here, on loopback,
its output counted line by line), with the fleet of :mod:`lwm2m.fleet` (real
clients, one socket each, in worker processes). Two fleets, one after the other:

1. ``--devices`` (10,000) in ONE worker process, against a fresh server:

   * memory: the worker's resident memory once every device has registered,
     minus its resident memory before the first device was built, over the
     number of devices (everything the worker holds for them: clients, objects,
     sockets' Python side, timers, tasks);
   * steady state: the server observes every device's temperature through its
     REST API, then for ``--steady`` seconds the devices send Updates (lifetime
     ``--lifetime``) and notifications (a change every ``--sensor-period``
     seconds per device); Updates/s and notifications/s as the devices counted
     them, and the server's CPU share (CPU seconds over wall seconds, 1.0 = one
     core);
   * power cut: every device off for ``--cut`` seconds, then all on at once;
     the time until all are registered again (the clients back off and jitter
     their retries) and the server's peak CPU share over half-second windows.

2. ``--scale`` (100,000) devices in ``--workers`` processes (default one per
   10,000) against another fresh server: the time until all are registered,
   whether the server saw every one of them register (zero lost), and the
   server's resident memory per registration.

The last line is::

    RESULT rss_per_device_kb=X updates_per_s=N notifications_per_s=N server_cpu_share=X
    power_cut_recovery_s=X power_cut_peak_server_cpu=X scale_registered=N scale_seconds=X
    server_rss_per_registration_kb=X

(one line). ``--readme-plot FILE`` instead runs the fleet of the README's Fleet
section (``docs/fleet-scenario.toml``, 1,000 devices) and writes its plot to FILE
(``make fleet-plot``).

Run: ``python benchmarks/fleet.py [--devices 10000] [--scale 100000]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _common module
from _common import result_line
from lwm2m.fleet import Fleet, FleetConfig, load_scenario, parse_scenario
from lwm2m.fleet.proc import cpu_seconds, rss_bytes

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
LWM2M = [sys.executable, "-m", "lwm2m"]
_LISTENING = re.compile(r"^(coaps?|https?) listening on (\S+):(\d+)$")


class ServerProcess:
    """``lwm2m server`` on loopback; its event lines are counted as they come."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [*LWM2M, "server", "--host", HOST, "--coap-port", "0", "--no-dtls", "--http-port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.ports: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self.names: set[str] = set()
        self.other: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(60):
            self.stop()
            raise RuntimeError("lwm2m server did not start:\n" + "\n".join(self.other))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            word, _, rest = line.partition(" ")
            if word.isupper() and word != "DTLS":
                self.counts[word] = self.counts.get(word, 0) + 1
                if word == "REGISTRATION":
                    self.names.add(rest.split(" ", 1)[0])
                continue
            match = _LISTENING.match(line.strip())
            if match:
                self.ports[match[1]] = int(match[3])
                if "coap" in self.ports and "http" in self.ports:
                    self._ready.set()
            elif len(self.other) < 200:
                self.other.append(line.rstrip())

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def uri(self) -> str:
        return f"coap://{HOST}:{self.ports['coap']}"

    @property
    def rest(self) -> str:
        return f"http://{HOST}:{self.ports['http']}"

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self._reader.join(timeout=10)


@contextlib.contextmanager
def server_process() -> Iterator[ServerProcess]:
    server = ServerProcess()
    try:
        yield server
    finally:
        server.stop()


class CpuSampler:
    """The server's CPU share over half-second windows, while it runs."""

    def __init__(self, server: ServerProcess, window: float = 0.5) -> None:
        self.server = server
        self.window = window
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last_cpu, last = self.server.cpu(), time.monotonic()
        while True:
            await asyncio.sleep(self.window)
            cpu, now = self.server.cpu(), time.monotonic()
            self.peak = max(self.peak, (cpu - last_cpu) / (now - last))
            last_cpu, last = cpu, now

    def __enter__(self) -> CpuSampler:
        self._task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def observe_all(rest: str, names: list[str], window: int = 32) -> tuple[int, float]:
    """The server observes /3303/0/5700 on every device (REST); (accepted, seconds)."""
    import aiohttp

    limit = asyncio.Semaphore(window)
    start = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def one(name: str) -> bool:
            async with limit:
                url = f"{rest}/api/clients/{name}/3303/0/5700/observe"
                try:
                    async with session.post(url) as response:
                        answer = await response.json() if response.status == 200 else {}
                except (aiohttp.ClientError, TimeoutError):
                    return False
                return bool(answer.get("success"))

        results = await asyncio.gather(*(one(n) for n in names))
    return sum(results), time.monotonic() - start


@dataclasses.dataclass(slots=True)
class SteadyFigures:
    rss_per_device_kb: float
    register_seconds: float
    observed: int
    updates_per_s: float
    notifications_per_s: float
    update_p99_ms: float | None
    server_cpu_share: float
    fleet_cpu_share: float
    recovery_s: float | None
    peak_server_cpu: float
    cut_failures: dict[str, dict[str, int]]


async def fleet_one_worker(args: argparse.Namespace) -> SteadyFigures:
    n = args.devices
    scenario = parse_scenario(
        {
            "profiles": [{"share": 1.0, "lifetime": args.lifetime}],
            "sensors": {"period": args.sensor_period, "step": 0.5},
        }
    )
    with server_process() as server:
        config = FleetConfig(
            server=server.uri,
            count=n,
            workers=1,
            rate=args.rate,
            scenario=scenario,
            stop_timeout=60,
        )
        fleet = Fleet(config, out=sys.stderr)
        await fleet.start()
        stopped = False
        try:
            took = await fleet.wait_registered(timeout=max(300.0, n / 20))
            worker = fleet.metrics.workers
            while worker[0].rss_registered is None:
                await asyncio.sleep(0.1)
            stats = worker[0]
            assert stats.rss_registered is not None
            per_device = (stats.rss_registered - stats.rss_baseline) / n / 1024
            reg = fleet.metrics.operation("register")
            print(
                f"memory: {n} devices in one worker: RSS {stats.rss_baseline / 2**20:.1f} MB "
                f"before the first device, {stats.rss_registered / 2**20:.1f} MB once all "
                f"registered = {per_device:.1f} KiB per device (goal <= 25)",
                flush=True,
            )
            print(
                f"register: {n} devices in {took:.1f} s at --rate {args.rate:g}/s, "
                f"p50 {reg.p50_ms:.1f} ms p99 {reg.p99_ms:.1f} ms",
                flush=True,
            )
            names = [config.name_template.format(i=i) for i in range(n)]
            observed, observe_s = await observe_all(server.rest, names)
            print(f"observe: the server observes {observed}/{n} temperatures ({observe_s:.1f} s)")
            await asyncio.sleep(2.0)  # let the observe burst drain
            m = fleet.metrics
            u0, n0 = m.succeeded().get("update", 0), m.total("notifications")
            s0, f0, t0 = server.cpu(), m.cpu_seconds(), time.monotonic()
            await asyncio.sleep(args.steady)
            u1, n1 = m.succeeded().get("update", 0), m.total("notifications")
            s1, f1, t1 = server.cpu(), m.cpu_seconds(), time.monotonic()
            wall = t1 - t0
            updates, notes = (u1 - u0) / wall, (n1 - n0) / wall
            server_share, fleet_share = (s1 - s0) / wall, (f1 - f0) / wall
            update_p99 = m.operation("update").p99_ms
            print(
                f"steady state ({wall:.0f} s, {n} devices, lifetime {args.lifetime} s, a "
                f"temperature change every {args.sensor_period:g} s per device): "
                f"updates {updates:.0f}/s, notifications {notes:.0f}/s; server CPU "
                f"{server_share:.0%} of a core, fleet worker CPU {fleet_share:.0%}",
                flush=True,
            )
            failures_before = m.failures()
            with CpuSampler(server) as sampler:
                fleet.power_cut(args.cut)
                deadline = time.monotonic() + args.cut + max(300.0, n / 20)
                recovery = None
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    recovery = fleet.power_cut_recovery()
                    if recovery is not None:
                        break
            cut_failures = _difference(m.failures(), failures_before)
            causes = "; ".join(
                f"{op}: " + ", ".join(f"{c} {k}" for c, k in sorted(v.items()))
                for op, v in sorted(cut_failures.items())
            )
            print(
                f"power cut: {n} devices off for {args.cut:g} s, all back at once: "
                + (
                    f"all registered again {recovery:.1f} s after power"
                    if recovery is not None
                    else "NOT all registered again"
                )
                + f"; peak server CPU {sampler.peak:.0%} of a core"
                + (f"; failed requests meanwhile: {causes}" if causes else "; no request failed"),
                flush=True,
            )
            await fleet.stop(deregister=True)
            stopped = True
        finally:
            if not stopped:
                await fleet.stop(deregister=False)
    return SteadyFigures(
        per_device,
        took,
        observed,
        updates,
        notes,
        update_p99,
        server_share,
        fleet_share,
        recovery,
        sampler.peak,
        cut_failures,
    )


def _difference(
    after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for op, causes in after.items():
        for cause, n in causes.items():
            d = n - before.get(op, {}).get(cause, 0)
            if d:
                out.setdefault(op, {})[cause] = d
    return out


@dataclasses.dataclass(slots=True)
class ScaleFigures:
    registered: int
    seconds: float | None
    server_saw: int
    server_rss_per_registration_kb: float
    reason: str


async def fleet_scale(args: argparse.Namespace) -> ScaleFigures:
    n = args.scale
    with server_process() as server:
        await asyncio.sleep(1.0)
        rss_before = server.rss()
        config = FleetConfig(
            server=server.uri,
            count=n,
            workers=args.workers,
            rate=args.scale_rate,
            scenario=parse_scenario({"sensors": {"period": 300.0}}),
            stop_timeout=5,
        )
        fleet = Fleet(config, out=sys.stderr)
        start = time.monotonic()
        await fleet.start()
        started = time.monotonic()
        took: float | None = None
        reason = ""
        limit = args.scale_timeout
        try:
            try:
                await fleet.wait_registered(timeout=limit)
                took = time.monotonic() - (fleet.t0 or started)
            except TimeoutError:
                reason = f"not all registered within {limit:.0f} s"
            except RuntimeError as exc:
                reason = str(exc)
            registered = fleet.metrics.registered()
            deadline = time.monotonic() + 30
            while server.counts.get("REGISTRATION", 0) < registered and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            rss_after = server.rss()
        finally:
            await fleet.stop(deregister=False)
        saw = len(server.names)
    per_reg = (rss_after - rss_before) / max(1, saw) / 1024
    workers = config.effective_workers
    build = started - start
    if took is not None:
        print(
            f"scale: {n} devices in {workers} worker processes (built in {build:.0f} s), "
            f"all registered {took:.1f} s after the start ({n / took:.0f}/s at --scale-rate "
            f"{args.scale_rate:g}); the server saw {saw} distinct endpoints register "
            f"({n - saw} lost); server RSS {rss_before / 2**20:.0f} -> "
            f"{rss_after / 2**20:.0f} MB = {per_reg:.1f} KiB per registration",
            flush=True,
        )
    else:
        print(
            f"scale: {n} devices in {workers} workers: only {registered} registered "
            f"({reason}); the server saw {saw}; server RSS {per_reg:.1f} KiB per registration",
            flush=True,
        )
    return ScaleFigures(registered, took, saw, per_reg, reason)


async def readme_plot(path: str, count: int) -> None:
    """The README's fleet: docs/fleet-scenario.toml against a fresh server, plot to ``path``."""
    scenario = load_scenario(ROOT / "docs" / "fleet-scenario.toml")
    with server_process() as server:
        if scenario.campaign is not None:
            campaign = dataclasses.replace(scenario.campaign, rest_url=server.rest)
            scenario = dataclasses.replace(scenario, campaign=campaign)
        config = FleetConfig(
            server=server.uri, count=count, workers=2, scenario=scenario, plot=path
        )
        report = await Fleet(config, out=sys.stdout).run()
    print(f"{path}: {report.result}")


async def memory_breakdown(n: int, top: int) -> None:
    """Where the memory of ``n`` registered devices goes, per device, by allocating line.

    The devices are built as a worker builds them, in this process, under tracemalloc
    (10 frames); each allocation still held once all are registered is charged to the
    innermost line of the lwm2m package on its traceback, so what asyncio or random
    allocate for a client shows at the client line that asked for it.
    """
    import gc
    import linecache
    import tracemalloc

    from lwm2m.client.rd import RetryPolicy
    from lwm2m.fleet.device import DeviceSettings, Probe, SharedParts, SimDevice, Tally

    with server_process() as server:
        tally = Tally()
        shared = SharedParts(
            DeviceSettings(server.uri, retry=RetryPolicy()), Probe(lambda *a: None), tally
        )
        gc.collect()
        tracemalloc.start(10)
        before = tracemalloc.take_snapshot()
        devices = [SimDevice(i, f"mem-{i:06d}", shared) for i in range(n)]
        for device in devices:
            await device.power_on()
        deadline = time.monotonic() + 120
        while tally.ever_registered < n and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        sites: dict[tuple[str, int], list[int]] = {}
        marker = os.sep + "lwm2m" + os.sep
        for stat in after.compare_to(before, "traceback"):
            frame = next(
                (f for f in reversed(stat.traceback) if marker in f.filename),
                stat.traceback[-1],
            )
            entry = sites.setdefault((frame.filename, frame.lineno), [0, 0])
            entry[0] += stat.size_diff
            entry[1] += stat.count_diff
        total = sum(v[0] for v in sites.values())
        print(f"{n} registered devices: {total / n:.0f} B per device held (tracemalloc)")
        by_file: dict[str, int] = {}
        for (filename, _), (size, _count) in sites.items():
            short = filename.split(marker, 1)[-1]
            by_file[short] = by_file.get(short, 0) + size
        print("by module:")
        for short, size in sorted(by_file.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {size / n:8.0f} B  {short}")
        print("by line:")
        ranked = sorted(sites.items(), key=lambda kv: -kv[1][0])[:top]
        for (filename, lineno), (size, count) in ranked:
            short = filename.split(marker, 1)[-1]
            code = linecache.getline(filename, lineno).strip()[:70]
            print(f"  {size / n:8.0f} B {count / n:5.1f} obj  {short}:{lineno}  {code}")
        for device in devices:
            await device.power_off()


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


async def run(args: argparse.Namespace) -> str:
    steady = await fleet_one_worker(args)
    scale = await fleet_scale(args)
    return result_line(
        rss_per_device_kb=_fmt(steady.rss_per_device_kb),
        updates_per_s=round(steady.updates_per_s),
        notifications_per_s=round(steady.notifications_per_s),
        server_cpu_share=_fmt(steady.server_cpu_share, 2),
        power_cut_recovery_s=_fmt(steady.recovery_s),
        power_cut_peak_server_cpu=_fmt(steady.peak_server_cpu, 2),
        scale_registered=scale.registered,
        scale_seconds=_fmt(scale.seconds),
        server_rss_per_registration_kb=_fmt(scale.server_rss_per_registration_kb),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000, help="fleet in one worker")
    parser.add_argument("--rate", type=float, default=300.0, help="its devices started/s")
    parser.add_argument("--lifetime", type=int, default=40, help="its registration lifetime")
    parser.add_argument("--sensor-period", type=float, default=10.0, help="s between changes")
    parser.add_argument("--steady", type=float, default=40.0, help="steady-state seconds")
    parser.add_argument("--cut", type=float, default=5.0, help="power cut seconds")
    parser.add_argument("--scale", type=int, default=100_000, help="devices of the scale run")
    parser.add_argument("--scale-rate", type=float, default=400.0, help="its devices started/s")
    parser.add_argument("--scale-timeout", type=float, default=1200.0, help="seconds at most")
    parser.add_argument("--workers", type=int, default=None, help="its workers (N/10000)")
    parser.add_argument("--readme-plot", metavar="FILE", help="only draw the README's plot")
    parser.add_argument("--readme-devices", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument(
        "--memory-breakdown",
        type=int,
        metavar="N",
        help="only show where the memory of N devices goes (tracemalloc), line by line",
    )
    args = parser.parse_args(argv)
    if args.memory_breakdown:
        asyncio.run(memory_breakdown(args.memory_breakdown, top=40))
        return 0
    if args.readme_plot:
        Path(args.readme_plot).parent.mkdir(parents=True, exist_ok=True)
        asyncio.run(readme_plot(args.readme_plot, args.readme_devices))
        return 0
    if min(args.devices, args.scale, args.steady, args.cut, args.rate, args.scale_rate) <= 0:
        parser.error("sizes, rates and durations must be positive")
    print(asyncio.run(run(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The parent process of a fleet: workers, the scenario's timeline, progress, the report.

:class:`Fleet` starts ``workers`` processes (:mod:`lwm2m.fleet.worker`), hands
each its share of the devices, starts the ramp-up in all of them at the same
moment, and from then on:

* reads their reports (:class:`~lwm2m.fleet.metrics.WorkerStats`) into one
  :class:`~lwm2m.fleet.metrics.FleetMetrics`, which the progress line, the
  Prometheus page and the report read;
* plays the scenario's timeline: reboots, time offline, rebinding and the
  power cut are sent to every worker at their time (each worker picks its
  devices by the same hash, so the shares hold for the fleet as a whole); a
  firmware campaign is run from here through the server's REST API (push:
  write /5/0/0, pull: write /5/0/1 with a URI this process serves over CoAP;
  then execute /5/0/2 once /5/0/3 says Downloaded, and wait for Update Result
  /5/0/5 = 1), or handed to the workers (``device``: the devices pull the
  image themselves, whatever the server);
* notices a worker that dies (its pipe closes without a final report): the
  crash is reported, its devices are counted as lost, and the others go on.

``await fleet.run()`` does all of it and stops after the scenario's duration
or on :meth:`Fleet.request_stop` (the CLI's Ctrl-C and SIGTERM): the workers
de-register their devices (bounded by ``stop_timeout``) and send their last
report, then the report and the plots are written. The parts can be used one
by one too (``start``, ``wait_registered``, ``power_cut``, ``stop``), which is
how the benchmark measures steady state between its own steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import multiprocessing
import os
import resource
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Final, TextIO
from urllib.parse import quote, urlsplit

from lwm2m.coap.layer import TransmissionParams
from lwm2m.fleet.device import DeviceSettings, firmware_image
from lwm2m.fleet.metrics import FleetMetrics, WorkerStats, start_metrics_server
from lwm2m.fleet.proc import cpu_seconds
from lwm2m.fleet.report import plot, result_line, summary, write_json
from lwm2m.fleet.scenario import Campaign, Scenario, pick
from lwm2m.fleet.worker import WorkerSpec, worker_main
from lwm2m.tasks import TaskSet

__all__ = ["DEVICES_PER_WORKER", "Fleet", "FleetConfig", "FleetReport", "run_fleet"]

log = logging.getLogger(__name__)

#: Devices per worker when ``workers`` is not given.
DEVICES_PER_WORKER: Final = 10_000
#: Devices started per second when neither the options nor the scenario say.
DEFAULT_RATE: Final = 100.0
#: Devices bound to one local address at most (its ephemeral ports run out near 28,000).
DEVICES_PER_ADDRESS: Final = 20_000
#: File descriptors a worker needs beside one per device.
FD_MARGIN: Final = 64
#: Seconds between two points of the timeline (and two progress updates).
TICK: Final = 1.0


@dataclass(slots=True)
class FleetConfig:
    """What ``lwm2m fleet`` is told (see the CLI's ``--help`` for each option)."""

    server: str
    count: int
    bootstrap: bool = False
    psk_prefix: str | None = None
    psk_key: bytes | None = None
    #: Devices started per second; None: the scenario's ``run.rate``, else 100; 0: all at once.
    rate: float | None = None
    #: Seconds after the ramp-up; None: the scenario's ``run.duration``, else until stopped.
    duration: float | None = None
    #: Worker processes; None: one per 10,000 devices.
    workers: int | None = None
    scenario: Scenario = field(default_factory=Scenario)
    name_template: str = "sim-{i:06d}"
    report: str | None = None
    plot: str | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    #: Local address of the devices' sockets: None lets the client choose; "auto" spreads
    #: the workers over 127.0.0.2, .3, ... when a loopback server has more devices than
    #: one address has ports for.
    source_host: str | None = "auto"
    #: Seconds the devices have to de-register when the run ends.
    stop_timeout: float = 30.0
    lwm2m_version: str = "1.1"
    transmission: TransmissionParams | None = None
    report_interval: float = 0.5
    #: Seconds between two progress lines when the output is not a terminal.
    progress_interval: float = 5.0
    log_level: int = logging.WARNING

    # ------------------------------------------------------------ derived
    @property
    def effective_rate(self) -> float:
        if self.rate is not None:
            return self.rate
        if self.scenario.run.rate is not None:
            return self.scenario.run.rate
        return DEFAULT_RATE

    @property
    def effective_duration(self) -> float | None:
        return self.duration if self.duration is not None else self.scenario.run.duration

    @property
    def effective_workers(self) -> int:
        if self.workers is not None:
            return self.workers
        return max(1, math.ceil(self.count / DEVICES_PER_WORKER))

    def check(self) -> None:
        """Refuse a configuration that cannot run; ValueError names the option."""
        parts = urlsplit(self.server)
        if parts.scheme not in ("coap", "coaps") or not parts.hostname:
            raise ValueError(
                f"--server: expected coap://HOST:PORT or coaps://..., got {self.server!r}"
            )
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"--server: {exc}") from None
        if parts.scheme == "coaps" and (self.psk_prefix is None or self.psk_key is None):
            raise ValueError("--server coaps:// needs --psk-prefix and --psk-key-file")
        if (self.psk_prefix is None) != (self.psk_key is None):
            raise ValueError("--psk-prefix and --psk-key-file go together")
        if self.count < 1:
            raise ValueError(f"--count: expected at least 1 device, got {self.count}")
        if self.effective_rate < 0 or not math.isfinite(self.effective_rate):
            raise ValueError(f"--rate: expected a rate >= 0, got {self.effective_rate:g}")
        workers = self.effective_workers
        if not 1 <= workers <= min(self.count, 256):
            raise ValueError(f"--workers: expected 1..{min(self.count, 256)}, got {workers}")
        duration = self.effective_duration
        if duration is not None and not duration > 0:
            raise ValueError(f"--duration: expected seconds > 0, got {duration:g}")
        try:
            names = {self.name_template.format(i=i) for i in (0, 1)}
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"--name-template: {self.name_template!r} does not format with i: {exc}"
            ) from None
        if len(names) != 2:
            raise ValueError(f"--name-template: {self.name_template!r} must use {{i}}")
        per_worker = math.ceil(self.count / workers)
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and per_worker + FD_MARGIN > hard:
            need = math.ceil(self.count / (hard - FD_MARGIN))
            raise ValueError(
                f"--workers: {per_worker} devices per worker need more file descriptors than "
                f"the limit ({hard}); use --workers {need} or more"
            )
        self.scenario.check_duration(duration)

    def source_for(self, worker: int) -> str | None:
        """The local address worker ``worker``'s devices bind."""
        if self.source_host != "auto":
            return self.source_host
        host = urlsplit(self.server).hostname or ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        if not (address.version == 4 and address.is_loopback and sys.platform == "linux"):
            return None
        per_worker = math.ceil(self.count / self.effective_workers)
        if self.count <= DEVICES_PER_ADDRESS or per_worker > DEVICES_PER_ADDRESS:
            return None
        # The whole of 127/8 is loopback on Linux: one address per worker.
        return f"127.0.{(worker + 2) // 250}.{(worker + 2) % 250 + 1}"


@dataclass(slots=True)
class FleetReport:
    """What a run produced: the JSON document, its RESULT line and where it was written."""

    data: dict[str, Any]
    result: str
    report_path: str | None = None
    plot_path: str | None = None


@dataclass(slots=True)
class _WorkerHandle:
    index: int
    process: BaseProcess
    conn: Connection
    devices: int
    pid: int | None = None
    state: str = "starting"  # starting, ready, running, done, crashed
    final: WorkerStats | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    gone: asyncio.Event = field(default_factory=asyncio.Event)


class Fleet:
    """A running fleet (see the module docstring)."""

    def __init__(self, config: FleetConfig, *, out: TextIO | None = sys.stdout) -> None:
        config.check()
        self.config = config
        self.out = out
        self.metrics = FleetMetrics(config.count)
        self.handles: list[_WorkerHandle] = []
        self.t0: float | None = None
        self._started_wall: float | None = None
        self._stop = asyncio.Event()
        self._stopped = False
        self._tasks = TaskSet(self._task_failed)
        self._lasting = TaskSet(self._task_failed)
        self._metrics_server: Any = None
        self._image_server: Any = None
        self._image_uri: str | None = None
        self._power_cut: dict[str, Any] | None = None
        self._campaign: dict[str, Any] | None = None
        self._all_registered_s: float | None = None
        self._last_progress = 0.0
        self._progress_len = 0
        self._tty = bool(out is not None and out.isatty())
        self._cpu_start = cpu_seconds()
        self.on_tick: list[Callable[[Fleet], None]] = []

    # ------------------------------------------------------------ properties
    @property
    def ramp_end(self) -> float:
        assert self.t0 is not None
        rate = self.config.effective_rate
        return self.t0 + (self.config.count / rate if rate > 0 else 0.0)

    @property
    def end(self) -> float | None:
        duration = self.config.effective_duration
        return None if duration is None else self.ramp_end + duration

    @property
    def running_workers(self) -> list[_WorkerHandle]:
        return [h for h in self.handles if h.state in ("ready", "running")]

    def pids(self) -> list[int]:
        """The worker processes' pids (for a test that kills one, or a profiler)."""
        return [h.pid for h in self.handles if h.pid is not None]

    # ------------------------------------------------------------ life cycle
    async def start(self) -> None:
        """Start the workers, build the devices, start the ramp-up everywhere at once."""
        config = self.config
        if config.metrics_port is not None:
            self._metrics_server = start_metrics_server(
                self.metrics, config.metrics_port, config.metrics_host
            )
            self._note(f"metrics on http://{config.metrics_host}:{config.metrics_port}/metrics")
        workers = config.effective_workers
        self._note(
            f"fleet: {config.count} devices on {config.server} in {workers} worker process"
            f"{'es' if workers > 1 else ''}, {self._rate_text()}"
        )
        context = multiprocessing.get_context("spawn")
        loop = asyncio.get_running_loop()
        for w in range(workers):
            spec = WorkerSpec(
                worker=w,
                workers=workers,
                count=config.count,
                name_template=config.name_template,
                settings=DeviceSettings(
                    server_uri=config.server,
                    bootstrap=config.bootstrap,
                    psk_prefix=config.psk_prefix,
                    psk_key=config.psk_key,
                    local_host=config.source_for(w),
                    lwm2m_version=config.lwm2m_version,
                    transmission=config.transmission,
                ),
                scenario=config.scenario,
                rate=config.effective_rate,
                report_interval=config.report_interval,
                log_level=config.log_level,
            )
            ours, theirs = context.Pipe(duplex=True)
            process = context.Process(
                target=worker_main, args=(spec, theirs), name=f"lwm2m-fleet-{w}", daemon=True
            )
            process.start()
            theirs.close()
            handle = _WorkerHandle(w, process, ours, len(spec.indices()), pid=process.pid)
            self.handles.append(handle)
            loop.add_reader(ours.fileno(), self._readable, handle)
        per_worker = math.ceil(config.count / workers)
        build_timeout = 120.0 + per_worker * 0.005
        waits = [asyncio.ensure_future(self._ready_or_gone(h)) for h in self.handles]
        try:
            async with asyncio.timeout(build_timeout):
                await asyncio.gather(*waits)
        except TimeoutError:
            for handle in self.handles:
                if handle.state == "starting":
                    self._crashed(handle, f"not ready after {build_timeout:.0f} s")
        if not self.running_workers:
            raise RuntimeError("no worker process started; see the lines above")
        self.t0 = time.monotonic() + 0.2
        self._started_wall = time.time()
        self.metrics.start = self.t0
        for handle in self.running_workers:
            handle.state = "running"
            self._send(handle, ("go", self.t0))
        self._spawn(self._ticker())
        self._spawn(self._timeline())

    async def _ready_or_gone(self, handle: _WorkerHandle) -> None:
        ready = asyncio.ensure_future(handle.ready.wait())
        gone = asyncio.ensure_future(handle.gone.wait())
        try:
            await asyncio.wait({ready, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            gone.cancel()

    async def run(self) -> FleetReport:
        """Start, play the scenario until its end (or :meth:`request_stop`), stop, report."""
        try:
            await self.start()
            end = self.end
            if end is None:
                await self._stop.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), max(0.0, end - time.monotonic()))
        finally:
            report = await self.stop(deregister=True)
        return report

    def request_stop(self) -> None:
        """End the run now (the devices still de-register): for signal handlers."""
        self._stop.set()

    async def wait_registered(self, count: int | None = None, timeout: float = 600.0) -> float:
        """Wait until ``count`` (default: all) devices are registered; returns seconds since t0."""
        target = count if count is not None else self.config.count
        async with asyncio.timeout(timeout):
            while self.metrics.registered() < target:
                if not self.running_workers:
                    raise RuntimeError("every worker process is gone")
                await asyncio.sleep(0.1)
        return time.monotonic() - (self.t0 or time.monotonic())

    def broadcast(self, kind: str, params: dict[str, Any]) -> None:
        """Send a scenario event to every running worker."""
        for handle in self.running_workers:
            self._send(handle, ("event", kind, params))

    def power_cut(self, duration: float) -> None:
        """Every device off now, all back on after ``duration`` seconds."""
        now = time.monotonic()
        self._power_cut = {
            "at_s": round(now - (self.t0 or now), 3),
            "duration_s": duration,
            "devices": self.metrics.powered(),
            "registered_before": self.metrics.registered(),
        }
        self._note(f"power cut: {self._power_cut['devices']} devices off for {duration:g} s")
        self.metrics.count_event("power_cut")
        self.broadcast("power_cut", {"duration": duration})

    def power_cut_recovery(self) -> float | None:
        """Seconds from the power coming back to every device registered again (if so)."""
        stats = [
            h.final or self.metrics.workers.get(h.index)
            for h in self.handles
            if h.state != "crashed"
        ]
        if not stats or any(s is None for s in stats):
            return None
        restored = [s.power_restored_at for s in stats if s is not None]
        recovered = [s.power_recovered_at for s in stats if s is not None]
        if any(r is None for r in restored) or any(r is None for r in recovered):
            return None
        return max(r for r in recovered if r is not None) - min(
            r for r in restored if r is not None
        )

    async def stop(self, *, deregister: bool = True) -> FleetReport:
        """Stop every worker (de-registering when asked) and build the report."""
        if self._stopped:
            raise RuntimeError("the fleet is already stopped")
        self._stopped = True
        end_registered = self.metrics.registered()
        self._note(f"stopping: {end_registered} devices registered")
        await self._tasks.cancel()
        timeout = self.config.stop_timeout
        for handle in self.running_workers:
            self._send(handle, ("stop", deregister, timeout))
        try:
            async with asyncio.timeout(timeout + 30.0):
                await asyncio.gather(*(h.gone.wait() for h in self.handles))
        except TimeoutError:
            pass
        for handle in self.handles:
            await self._reap(handle, wait=5.0)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        if self._image_server is not None:
            await self._image_server.close()
        return self._report(end_registered)

    async def _reap(self, handle: _WorkerHandle, wait: float) -> None:
        process = handle.process
        deadline = time.monotonic() + wait
        while process.exitcode is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if process.exitcode is None and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            await asyncio.sleep(0.05)
        process.join(timeout=1.0)
        with contextlib.suppress(OSError, ValueError):
            asyncio.get_running_loop().remove_reader(handle.conn.fileno())
        with contextlib.suppress(OSError):
            handle.conn.close()

    # ------------------------------------------------------------ worker messages
    def _readable(self, handle: _WorkerHandle) -> None:
        try:
            while handle.conn.poll():
                self._message(handle, handle.conn.recv())
        except (EOFError, OSError):
            self._closed(handle)

    def _message(self, handle: _WorkerHandle, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "hello":
            handle.pid = int(message[1])
        elif kind == "ready":
            handle.state = "ready"
            handle.ready.set()
        elif kind == "stats":
            self.metrics.update(message[1])
        elif kind == "final":
            stats: WorkerStats = message[1]
            handle.final = stats
            self.metrics.update(stats)
            handle.state = "done"
        elif kind == "note":
            self._note(str(message[1]).rstrip())

    def _closed(self, handle: _WorkerHandle) -> None:
        with contextlib.suppress(OSError, ValueError):
            asyncio.get_running_loop().remove_reader(handle.conn.fileno())
        if handle.state != "done" and handle.state != "crashed":
            self._spawn_untracked(self._report_crash(handle))
        handle.gone.set()

    async def _report_crash(self, handle: _WorkerHandle) -> None:
        process = handle.process
        deadline = time.monotonic() + 2.0
        while process.exitcode is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        code = process.exitcode
        if code is None:
            reason = "its pipe closed"
        elif code < 0:
            try:
                reason = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                reason = f"killed by signal {-code}"
        else:
            reason = f"exit code {code}"
        self._crashed(handle, reason)

    def _crashed(self, handle: _WorkerHandle, reason: str) -> None:
        if handle.state == "crashed":
            return
        handle.state = "crashed"
        handle.ready.set()
        handle.gone.set()
        self.metrics.worker_crashed(handle.index, reason)
        others = len(self.running_workers)
        self._note(
            f"worker {handle.index} (pid {handle.pid}) crashed: {reason}; its {handle.devices} "
            f"devices are lost, {others} worker{'s' if others != 1 else ''} still running"
        )

    def _send(self, handle: _WorkerHandle, message: tuple[Any, ...]) -> None:
        try:
            handle.conn.send(message)
        except (OSError, ValueError):
            self._closed(handle)

    # ------------------------------------------------------------ timeline
    async def _timeline(self) -> None:
        """Play the scenario's events at their times."""
        scenario = self.config.scenario
        end = self.config.effective_duration
        plan: list[tuple[float, str, Callable[[], Any]]] = []
        for name, outage in (("reboot", scenario.reboot), ("offline", scenario.offline)):
            if outage is not None:
                for at in outage.times(end):
                    params = {"share": outage.share, "duration": outage.duration}
                    plan.append((at, name, _bind(self._outage, name, params)))
        if scenario.rebind is not None:
            for at in scenario.rebind.times(end):
                plan.append(
                    (at, "rebind", _bind(self._outage, "rebind", {"share": scenario.rebind.share}))
                )
        if scenario.power_cut is not None:
            cut = scenario.power_cut
            plan.append((cut.at, "power_cut", _bind(self.power_cut, cut.duration)))
        if scenario.campaign is not None:
            camp = scenario.campaign
            plan.append((camp.at, "campaign", _bind(self._start_campaign, camp)))
        plan.sort(key=lambda item: item[0])
        for at, _name, action in plan:
            delay = self.ramp_end + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            action()

    def _outage(self, kind: str, params: dict[str, Any]) -> None:
        share = params["share"]
        picked = sum(
            1
            for i in range(self.config.count)
            if pick(self.config.scenario.run.seed, kind, i, share)
        )
        what = {"reboot": "reboot", "offline": "go offline", "rebind": "change address"}[kind]
        extra = f" for {params['duration']:g} s" if "duration" in params else ""
        self._note(f"{kind}: {picked} devices {what}{extra}")
        self.broadcast(kind, params)

    # ------------------------------------------------------------ progress
    async def _ticker(self) -> None:
        assert self.t0 is not None
        await asyncio.sleep(max(0.0, self.t0 - time.monotonic()))
        self.metrics.tick(self.t0)  # the first point: nothing started yet
        tick = 0
        while True:
            tick += 1
            await asyncio.sleep(max(0.0, self.t0 + tick * TICK - time.monotonic()))
            point = self.metrics.tick(time.monotonic())
            if self._all_registered_s is None and point.registered >= self.config.count:
                self._all_registered_s = point.t
                self._note(
                    f"all {self.config.count} devices registered {point.t:.1f} s after the start"
                )
            self._progress(point.t, point.registered, point.done, point.interval)
            for callback in self.on_tick:
                callback(self)

    def _progress(self, t: float, registered: int, done: dict[str, int], interval: float) -> None:
        if self.out is None:
            return
        now = time.monotonic()
        if not self._tty and now - self._last_progress < self.config.progress_interval - 0.5:
            return
        self._last_progress = now
        rps = sum(done.values()) / interval if interval > 0 else 0.0
        reg = self.metrics.operation("register")
        p50 = "-" if reg.p50_ms is None else f"{reg.p50_ms:.1f}"
        p99 = "-" if reg.p99_ms is None else f"{reg.p99_ms:.1f}"
        crashed = len(self.metrics.crashed)
        line = (
            f"[{t:7.1f}s] registered {registered}/{self.config.count} | {rps:.0f} req/s | "
            f"errors {self.metrics.failure_count()} | reg p50 {p50} ms p99 {p99} ms | "
            f"workers {len(self.handles) - crashed}/{len(self.handles)}"
        )
        if self._tty:
            pad = max(0, self._progress_len - len(line))
            self.out.write("\r" + line + " " * pad)
            self._progress_len = len(line)
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def _note(self, text: str) -> None:
        if self.out is None:
            log.info("%s", text)
            return
        if self._tty and self._progress_len:
            self.out.write("\r" + " " * self._progress_len + "\r")
            self._progress_len = 0
        self.out.write(text + "\n")
        self.out.flush()

    def _rate_text(self) -> str:
        rate = self.config.effective_rate
        return "all at once" if rate == 0 else f"{rate:g} started per second"

    # ------------------------------------------------------------ campaign
    def _start_campaign(self, camp: Campaign) -> None:
        self._spawn(self._run_campaign(camp))

    async def _run_campaign(self, camp: Campaign) -> None:
        started = time.monotonic()
        targets = [
            i
            for i in range(self.config.count)
            if pick(self.config.scenario.run.seed, "campaign", i, camp.share)
        ]
        uri = camp.package_uri
        if camp.mode in ("pull", "device") and uri is None:
            uri = await self._serve_image(camp)
        self._campaign = {"mode": camp.mode, "version": camp.version, "targets": len(targets)}
        self._note(f"campaign: firmware {camp.version} to {len(targets)} devices ({camp.mode})")
        if camp.mode == "device":
            assert uri is not None
            workers = max(1, len(self.running_workers))
            self.broadcast(
                "campaign",
                {
                    "share": camp.share,
                    "uri": uri,
                    "version": camp.version,
                    "timeout": camp.timeout,
                    "concurrency": max(1, camp.concurrency // workers),
                },
            )
            return
        from lwm2m.fleet.campaign import RestCampaign

        queue_free = [i for i in targets if not self.config.scenario.profile_for(i).queue_mode]
        skipped = len(targets) - len(queue_free)
        if skipped:
            self._note(f"campaign: {skipped} queue-mode devices left out")
        campaign = RestCampaign(camp, self.metrics, image_uri=uri)
        names = [self.config.name_template.format(i=i) for i in queue_free]
        self._campaign["devices"] = len(names)
        try:
            await campaign.run(names)
        finally:
            took = time.monotonic() - started
            unfinished = len(names) - campaign.updated - campaign.failed
            self._campaign.update(
                {
                    "updated": campaign.updated,
                    "failed": campaign.failed,
                    "unfinished": unfinished,
                    "seconds": round(took, 3),
                }
            )
        self._note(
            f"campaign: {campaign.updated}/{len(names)} devices updated to {camp.version} "
            f"in {took:.1f} s" + (f", {campaign.failed} failed" if campaign.failed else "")
        )

    async def _serve_image(self, camp: Campaign) -> str:
        from lwm2m.fleet.campaign import ImageServer

        if self._image_server is None:
            self._image_server = await ImageServer.start("127.0.0.1")
        path = f"fw/{quote(camp.version, safe='')}.bin"
        self._image_server.add(path, firmware_image(camp.version, camp.image_size))
        host, port = self._image_server.address
        return f"coap://{host}:{port}/{path}"

    # ------------------------------------------------------------ report
    def _report(self, end_registered: int) -> FleetReport:
        config = self.config
        wall = time.monotonic() - (self.t0 or time.monotonic())
        extra: dict[str, Any] = {
            "server": config.server,
            "rate": config.effective_rate,
            "duration": config.effective_duration,
            "time_to_all_registered_s": self._all_registered_s,
        }
        workers_all = [
            h.final or self.metrics.workers.get(h.index)
            for h in self.handles
            if h.state != "crashed"
        ]
        reached = [s.all_registered_at for s in workers_all if s is not None]
        if workers_all and self.t0 is not None and all(r is not None for r in reached):
            last = max(r for r in reached if r is not None)
            extra["time_to_all_registered_s"] = round(last - self.t0, 3)
        if self._power_cut is not None:
            recovery = self.power_cut_recovery()
            self._power_cut["recovered_s"] = None if recovery is None else round(recovery, 3)
            extra["power_cut"] = self._power_cut
        if self._campaign is not None:
            extra["campaign"] = self._campaign
        doc = summary(
            self.metrics,
            wall_seconds=wall,
            parent_cpu=cpu_seconds() - self._cpu_start,
            extra=extra,
        )
        # The run ends with the devices still registered: what counts is that moment.
        doc["registered"] = end_registered
        doc["failed"] = config.count - end_registered
        line = result_line(doc)
        report = FleetReport(doc, line)
        if config.report:
            write_json(doc, config.report)
            report.report_path = config.report
            self._note(f"report written to {config.report}")
        if config.plot:
            try:
                plot(doc, config.plot)
            except ImportError as exc:
                self._note(f"no plot: {exc} (install lwm2m[fleet])")
            else:
                report.plot_path = config.plot
                self._note(f"plot written to {config.plot}")
        self._note(_summary_text(doc))
        self._note(line)
        return report

    # ------------------------------------------------------------ tasks
    def _spawn(self, coro: Any) -> None:
        self._tasks.spawn(coro)

    def _spawn_untracked(self, coro: Any) -> None:
        """A task that stop() does not cancel (it is still held, and its failure noted)."""
        self._lasting.spawn(coro)

    def _task_failed(self, exc: BaseException) -> None:
        log.error("fleet task failed", exc_info=exc)
        self._note(f"error: {exc!r}")


def _bind(func: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    return lambda: func(*args)


def _summary_text(doc: dict[str, Any]) -> str:
    lines = ["operation      count  failed   p50 ms   p99 ms   max ms"]
    for op, f in doc["operations"].items():

        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v:.1f}"

        lines.append(
            f"{op:<12} {f['count']:>7} {f['failed']:>7} {ms(f['p50_ms']):>8} "
            f"{ms(f['p99_ms']):>8} {ms(f['max_ms']):>8}"
        )
    for op, causes in doc["failures"].items():
        text = ", ".join(f"{cause} {n}" for cause, n in sorted(causes.items()))
        lines.append(f"failures of {op}: {text}")
    return "\n".join(lines)


async def run_fleet(config: FleetConfig, *, out: TextIO | None = sys.stdout) -> FleetReport:
    """Run a fleet from start to report (the Python API of ``lwm2m fleet``)."""
    fleet = Fleet(config, out=out)
    return await fleet.run()

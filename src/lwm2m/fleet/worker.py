"""A worker process: one event loop running a share of the fleet, reporting to the parent.

The parent starts :func:`worker_main` in a process of its own (multiprocessing,
"spawn") with a :class:`WorkerSpec` and one end of a pipe. Worker ``w`` of
``W`` runs the devices whose index ``i`` has ``i % W == w``; device ``i``
starts at ``t0 + i / rate``, so the fleet as a whole ramps up at ``rate``
whatever ``W``. The conversation on the pipe (tuples, pickled):

=========================================  ==========================================
worker -> parent                            parent -> worker
=========================================  ==========================================
``("hello", pid, rss)`` before building
``("ready", seconds)`` devices built        ``("go", t0)``: start the ramp at ``t0``
``("stats", WorkerStats)`` twice a second   ``("event", kind, params)``: reboot,
                                            offline, rebind, power_cut, campaign
``("note", text)`` something to tell        ``("stop", deregister, timeout)``
``("final", WorkerStats)`` then it exits
=========================================  ==========================================

``t0`` is a ``time.monotonic()`` value, the same clock in every process. A
closed pipe (the parent died) stops the worker as ``stop`` does. SIGINT is
ignored: Ctrl-C reaches the whole process group, and the parent decides how
the fleet stops. The soft limit on open files is raised to the hard limit, one
socket per device being the reason to have workers at all.

The worker's own measurements: its resident memory before the first device is
built and once every device has registered (their difference over the number
of devices is the memory per device, everything the process holds for them
included), its CPU time, and the moments the fleet came up and came back after
a power cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import heapq
import logging
import os
import random
import signal
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Final

from lwm2m.client.rd import RetryPolicy
from lwm2m.coap.errors import RequestError
from lwm2m.fleet.device import DeviceSettings, Probe, SharedParts, SimDevice, Tally
from lwm2m.fleet.metrics import Samples, WorkerStats
from lwm2m.fleet.proc import cpu_seconds, raise_fd_limit, rss_bytes, rss_peak_bytes
from lwm2m.fleet.scenario import Scenario, pick, unit
from lwm2m.objects.firmware_state import State
from lwm2m.tasks import TaskSet

__all__ = ["Worker", "WorkerSpec", "worker_main"]

log = logging.getLogger(__name__)

#: Seconds between two steps of the sensor and Send schedules.
TICK: Final = 0.25


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What one worker runs (pickled to the worker process)."""

    worker: int
    workers: int
    count: int
    name_template: str
    settings: DeviceSettings
    scenario: Scenario = field(default_factory=Scenario)
    #: Devices started per second by the whole fleet; 0: all at once.
    rate: float = 0.0
    report_interval: float = 0.5
    send_timeout: float = 30.0
    log_level: int = logging.WARNING

    def indices(self) -> range:
        return range(self.worker, self.count, self.workers)

    def ramp_seconds(self) -> float:
        return self.count / self.rate if self.rate > 0 else 0.0


def worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """The worker process's entry point."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_fd_limit()
    logging.basicConfig(
        level=spec.log_level,
        format=f"%(asctime)s worker{spec.worker} %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(Worker(spec, conn).run())
    except BaseException:
        with contextlib.suppress(OSError, ValueError):
            conn.send(("note", f"worker {spec.worker} failed:\n{traceback.format_exc()}"))
        raise
    finally:
        conn.close()


class Worker:
    """The devices of one process and what happens to them (see the module docstring)."""

    def __init__(self, spec: WorkerSpec, conn: Connection) -> None:
        self.spec = spec
        self.conn = conn
        self.scenario = spec.scenario
        self.seed = spec.scenario.run.seed
        self.devices: list[SimDevice] = []
        self.tally = Tally(on_registered=self._on_registered)
        self.probe = Probe(self._on_sample)
        settings = spec.settings
        if settings.retry is None:
            # One policy object for every device (the client would build two per device).
            settings = dataclasses.replace(settings, retry=RetryPolicy())
        self.shared = SharedParts(settings, self.probe, self.tally)
        self.requests: dict[str, int] = {}
        self.succeeded: dict[str, int] = {}
        self.failures: dict[str, dict[str, int]] = {}
        self.events: dict[str, int] = {}
        self._samples: dict[str, Samples] = {}
        self.blackout = False
        self.stopping = False
        self.t0: float | None = None
        self.rss_baseline = 0
        self.rss_registered: int | None = None
        self.all_registered_at: float | None = None
        self.power_restored_at: float | None = None
        self.power_recovered_at: float | None = None
        self.build_seconds = 0.0
        self._tasks = TaskSet(lambda exc: log.error("worker task failed", exc_info=exc))
        self._go = asyncio.Event()
        self._stop = asyncio.Event()
        self._stop_args: tuple[bool, float] = (True, 10.0)
        self._send_semaphore: asyncio.Semaphore | None = None

    # ------------------------------------------------------------ main
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        gc.collect()
        self.rss_baseline = rss_bytes()
        self._send(("hello", os.getpid(), self.rss_baseline))
        loop.add_reader(self.conn.fileno(), self._readable)
        try:
            await self._build()
            self._send(("ready", self.build_seconds))
            go = asyncio.ensure_future(self._go.wait())
            stop = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({go, stop}, return_when=asyncio.FIRST_COMPLETED)
            go.cancel()
            if not self._stop.is_set():
                self._spawn(self._ramp())
                self._spawn(self._ticker())
                self._spawn(self._reporter())
                await stop
            stop.cancel()
            await self._shutdown(*self._stop_args)
            self._send(("final", self._stats()))
        finally:
            with contextlib.suppress(OSError, ValueError):
                loop.remove_reader(self.conn.fileno())

    async def _build(self) -> None:
        start = time.perf_counter()
        # Building allocates much and frees little: collecting meanwhile only costs time.
        gc.disable()
        try:
            await self._build_devices()
        finally:
            gc.enable()
        self.build_seconds = time.perf_counter() - start
        # Everything built so far lives as long as the worker: keep the cyclic garbage
        # collector from walking it again and again.
        gc.collect()
        gc.freeze()

    async def _build_devices(self) -> None:
        spec = self.spec
        for k, index in enumerate(spec.indices()):
            profile = self.scenario.profile_for(index)
            device = SimDevice(
                index,
                spec.name_template.format(i=index),
                self.shared,
                lifetime=profile.lifetime,
                queue_mode=profile.queue_mode,
            )
            self.devices.append(device)
            if k % 500 == 499:
                await asyncio.sleep(0)  # let the pipe be read
                if self._stop.is_set():
                    return

    # ------------------------------------------------------------ pipe
    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            self.conn.send(message)
        except (OSError, ValueError):
            self._parent_gone()

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                self._command(self.conn.recv())
        except (EOFError, OSError):
            self._parent_gone()

    def _parent_gone(self) -> None:
        if not self._stop.is_set():
            log.warning("the parent process is gone: stopping")
            self._stop_args = (True, 5.0)
            self._stop.set()
        with contextlib.suppress(OSError, ValueError):
            asyncio.get_running_loop().remove_reader(self.conn.fileno())

    def _command(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "go":
            self.t0 = float(message[1])
            self._go.set()
        elif kind == "stop":
            self._stop_args = (bool(message[1]), float(message[2]))
            self._stop.set()
        elif kind == "event":
            self._event(str(message[1]), dict(message[2]))
        else:
            log.warning("unknown command %r", kind)

    # ------------------------------------------------------------ ramp and schedules
    @property
    def ramp_end(self) -> float:
        assert self.t0 is not None
        return self.t0 + self.spec.ramp_seconds()

    async def _ramp(self) -> None:
        assert self.t0 is not None
        rate = self.spec.rate
        for k, device in enumerate(self.devices):
            if rate > 0:
                delay = self.t0 + device.index / rate - time.monotonic()
                if delay > 0.002:
                    await asyncio.sleep(delay)
            elif k % 100 == 99:
                await asyncio.sleep(0)
            if self.blackout or self.stopping:
                continue  # the power cut's end switches it on
            await device.power_on()

    async def _ticker(self) -> None:
        sensors = self.scenario.sensors
        send = self.scenario.send
        devices = self.devices
        rng = random.Random(self.seed * 1000 + self.spec.worker)
        heap: list[tuple[float, int]] = []
        if send is not None:
            for k, device in enumerate(devices):
                if pick(self.seed, "send", device.index, send.share):
                    phase = unit(self.seed, "send-phase", device.index) * send.period
                    heap.append((self.ramp_end + phase, k))
            heapq.heapify(heap)
            self._send_semaphore = asyncio.Semaphore(256)
        position = 0
        carry = 0.0
        last = time.monotonic()
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            elapsed, last = now - last, now
            if sensors.period is not None and devices:
                carry += len(devices) * elapsed / sensors.period
                changes = min(int(carry), len(devices))
                carry -= changes
                step = sensors.step
                for _ in range(changes):
                    devices[position].drift(rng.uniform(-step, step))
                    position = (position + 1) % len(devices)
            if send is None:
                continue
            while heap and heap[0][0] <= now:
                due, k = heapq.heappop(heap)
                heapq.heappush(heap, (max(now, due) + send.period, k))
                device = devices[k]
                if device.registered and not self.blackout and not self.stopping:
                    self._spawn(self._send_values(device, send.paths))

    async def _send_values(self, device: SimDevice, paths: tuple[str, ...]) -> None:
        assert self._send_semaphore is not None
        async with self._send_semaphore:
            try:
                await device.client.send(paths, timeout=self.spec.send_timeout)
            except (RequestError, OSError, TimeoutError):
                pass  # the probe counted the failed request
            except (RuntimeError, PermissionError) as exc:
                self._count("send_skipped")
                log.debug("%s: send skipped: %s", device.name, exc)

    async def _reporter(self) -> None:
        while True:
            await asyncio.sleep(self.spec.report_interval)
            self._send(("stats", self._stats()))

    # ------------------------------------------------------------ events
    def _event(self, kind: str, params: dict[str, Any]) -> None:
        if self.stopping:
            return
        if kind in ("reboot", "offline"):
            share, duration = float(params["share"]), float(params["duration"])
            picked = [d for d in self.devices if pick(self.seed, kind, d.index, share)]
            for device in picked:
                self._spawn(self._power_cycle(device, duration))
            self._count(kind, len(picked))
        elif kind == "rebind":
            share = float(params["share"])
            n = 0
            for device in self.devices:
                if device.powered and pick(self.seed, "rebind", device.index, share):
                    device.rebind()
                    n += 1
            self._count("rebind", n)
        elif kind == "power_cut":
            self._spawn(self._power_cut(float(params["duration"])))
        elif kind == "campaign":
            self._spawn(self._campaign(params))
        else:
            log.warning("unknown event %r", kind)

    async def _power_cycle(self, device: SimDevice, downtime: float) -> None:
        await device.power_off()
        await asyncio.sleep(downtime)
        if not self.blackout and not self.stopping:
            await device.power_on()

    async def _power_cut(self, duration: float) -> None:
        self.blackout = True
        self.power_restored_at = self.power_recovered_at = None
        await asyncio.gather(
            *(d.power_off() for d in self.devices if d.powered), return_exceptions=True
        )
        await asyncio.sleep(duration)
        self.blackout = False
        if self.stopping:
            return
        self.power_restored_at = time.monotonic()
        for device in self.devices:
            await device.power_on()
        self._check_recovered()

    async def _campaign(self, params: dict[str, Any]) -> None:
        """``device`` campaigns: each picked device pulls the image and installs it."""
        share, uri, version = float(params["share"]), str(params["uri"]), str(params["version"])
        timeout = float(params["timeout"])
        limit = asyncio.Semaphore(max(1, int(params["concurrency"])))
        picked = [d for d in self.devices if pick(self.seed, "campaign", d.index, share)]

        async def one(device: SimDevice) -> None:
            async with limit:
                if self.stopping:
                    return
                start = time.monotonic()
                try:
                    async with asyncio.timeout(timeout):
                        ok, cause = await _pull_and_install(device, uri, version)
                except TimeoutError:
                    ok, cause = False, "timeout"
                except Exception as exc:
                    ok, cause = False, type(exc).__name__
                end = time.monotonic()
                self._on_sample("campaign", end, end - start, ok, cause)

        await asyncio.gather(*(one(d) for d in picked))

    # ------------------------------------------------------------ shutdown
    async def _shutdown(self, deregister: bool, timeout: float) -> None:
        self.stopping = True
        await self._tasks.cancel()
        deadline = time.monotonic() + timeout
        limit = asyncio.Semaphore(256)

        async def one(device: SimDevice) -> None:
            async with limit:
                left = deadline - time.monotonic()
                try:
                    await device.power_off(
                        deregister=deregister and left > 0.2, timeout=max(0.1, min(5.0, left))
                    )
                except Exception:
                    log.exception("%s: stop failed", device.name)

        await asyncio.gather(*(one(d) for d in self.devices if d.powered))

    # ------------------------------------------------------------ measurements
    def _spawn(self, coro: Awaitable[Any]) -> None:
        self._tasks.spawn(coro)

    def _count(self, kind: str, n: int = 1) -> None:
        self.events[kind] = self.events.get(kind, 0) + n

    def _on_sample(self, op: str, end: float, latency: float, ok: bool, cause: str) -> None:
        self.requests[op] = self.requests.get(op, 0) + 1
        if ok:
            self.succeeded[op] = self.succeeded.get(op, 0) + 1
        else:
            causes = self.failures.setdefault(op, {})
            causes[cause] = causes.get(cause, 0) + 1
        samples = self._samples.get(op)
        if samples is None:
            samples = self._samples[op] = Samples()
        samples.add(end, latency)

    def _on_registered(self, device: SimDevice) -> None:
        tally = self.tally
        if self.all_registered_at is None and tally.ever_registered == len(self.devices):
            self.all_registered_at = time.monotonic()
            asyncio.get_running_loop().call_soon(self._measure_registered)
        self._check_recovered()

    def _check_recovered(self) -> None:
        if (
            self.power_restored_at is not None
            and self.power_recovered_at is None
            and self.tally.registered == len(self.devices)
        ):
            self.power_recovered_at = time.monotonic()
            took = self.power_recovered_at - self.power_restored_at
            text = f"worker {self.spec.worker}: all registered again {took:.1f} s after power"
            self._send(("note", text))

    def _measure_registered(self) -> None:
        gc.collect()
        self.rss_registered = rss_bytes()
        gc.freeze()  # the registrations' state lives on too

    def _stats(self) -> WorkerStats:
        tally = self.tally
        traffic = self.shared.traffic
        samples, self._samples = self._samples, {}
        events = dict(tally.events)
        for kind, n in self.events.items():
            events[kind] = events.get(kind, 0) + n
        return WorkerStats(
            worker=self.spec.worker,
            pid=os.getpid(),
            time=time.monotonic(),
            devices=len(self.devices),
            powered=tally.powered,
            registered=tally.registered,
            ever_registered=tally.ever_registered,
            requests=dict(self.requests),
            succeeded=dict(self.succeeded),
            failures={op: dict(c) for op, c in self.failures.items()},
            events=events,
            samples=samples,
            tx_bytes=traffic.tx_bytes,
            rx_bytes=traffic.rx_bytes,
            tx_messages=traffic.tx_messages,
            rx_messages=traffic.rx_messages,
            observations_started=self.probe.observations_started,
            observations_active=self.probe.observations_active,
            notifications=self.probe.notifications,
            installed=tally.installed,
            rss=rss_bytes(),
            rss_peak=rss_peak_bytes(),
            rss_baseline=self.rss_baseline,
            rss_registered=self.rss_registered,
            cpu=cpu_seconds(),
            all_registered_at=self.all_registered_at,
            power_restored_at=self.power_restored_at,
            power_recovered_at=self.power_recovered_at,
            build_seconds=self.build_seconds,
        )


async def _pull_and_install(device: SimDevice, uri: str, version: str) -> tuple[bool, str]:
    """Pull ``uri`` into the device's Firmware Update object, then install it."""
    fw = device.firmware
    if fw.state is not State.IDLE:
        return False, f"state {fw.state.name}"
    await fw.download(uri)
    await _until(lambda: fw.state is not State.DOWNLOADING)
    if not _downloaded(fw.state):
        return False, f"result {fw.result.name}"
    fw.start_update()
    await _until(lambda: fw.state is not State.UPDATING)
    return _outcome(device, version)


def _outcome(device: SimDevice, version: str) -> tuple[bool, str]:
    fw = device.firmware
    if device.version != version:
        return False, f"result {fw.result.name}"
    return True, ""


def _downloaded(state: State) -> bool:
    return state is State.DOWNLOADED


async def _until(condition: Callable[[], bool], step: float = 0.05) -> None:
    while not condition():
        await asyncio.sleep(step)

"""Fleet measurements: what workers report, how the parent adds them up, Prometheus export.

Each worker process sends a :class:`WorkerStats` twice a second: cumulative
counters (so a lost or late message never skews a total) and the latency
samples taken since the previous one. The parent's :class:`FleetMetrics` keeps
the newest stats of every worker, all samples per operation (beyond
``max_samples`` a uniform reservoir), the Prometheus histogram buckets and a
timeline of one point per tick for the progress line and the plots.

``--metrics-port`` serves the figures through prometheus-client
(:func:`start_metrics_server`), read from :class:`FleetMetrics` at scrape time
by a custom collector, so the totals on the page are the same as in the report:

===============================================  ================================================
metric                                           what
===============================================  ================================================
``lwm2m_fleet_devices{state}``                   target, powered, registered, ever_registered
``lwm2m_fleet_registrations_total``              Registers answered 2.01
``lwm2m_fleet_updates_total``                    Updates answered 2.04
``lwm2m_fleet_requests_total{operation}``        requests of each operation, whatever the outcome
``lwm2m_fleet_failures_total{operation,cause}``  failed requests by CoAP code or error
``lwm2m_fleet_request_duration_seconds``         latency histogram per operation
``lwm2m_fleet_bytes_total{direction}``           CoAP bytes sent and received by the devices
``lwm2m_fleet_messages_total{direction}``        CoAP datagrams sent and received
``lwm2m_fleet_observations_total``               observations the devices accepted
``lwm2m_fleet_observations_active``              observations running now
``lwm2m_fleet_notifications_total``              notifications the devices sent
``lwm2m_fleet_events_total{kind}``               client events and scenario events
``lwm2m_fleet_workers{state}``                   worker processes running, crashed
``lwm2m_fleet_rss_bytes{worker}``                resident memory of each worker
``lwm2m_fleet_cpu_seconds_total{worker}``        CPU time of each worker
===============================================  ================================================
"""

from __future__ import annotations

import math
import random
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

__all__ = [
    "BUCKETS",
    "FleetMetrics",
    "OperationSummary",
    "Samples",
    "TimelinePoint",
    "WorkerStats",
    "percentile",
    "start_metrics_server",
]

#: Upper bounds (seconds) of the Prometheus latency histogram buckets.
BUCKETS: Final = (
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
    20.0,
    50.0,
    100.0,
    300.0,
)


@dataclass(slots=True)
class Samples:
    """Latency samples of one operation: completion times (monotonic) and latencies (s)."""

    ends: array[float] = field(default_factory=lambda: array("d"))
    latencies: array[float] = field(default_factory=lambda: array("d"))

    def add(self, end: float, latency: float) -> None:
        self.ends.append(end)
        self.latencies.append(latency)

    def __len__(self) -> int:
        return len(self.latencies)


@dataclass(slots=True)
class WorkerStats:
    """One worker's report: counters since its start, samples since its previous report."""

    worker: int
    pid: int
    time: float
    devices: int
    powered: int = 0
    registered: int = 0
    ever_registered: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    succeeded: dict[str, int] = field(default_factory=dict)
    failures: dict[str, dict[str, int]] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    samples: dict[str, Samples] = field(default_factory=dict)
    tx_bytes: int = 0
    rx_bytes: int = 0
    tx_messages: int = 0
    rx_messages: int = 0
    observations_started: int = 0
    observations_active: int = 0
    notifications: int = 0
    installed: int = 0
    rss: int = 0
    rss_peak: int = 0
    #: Resident memory before the first device was built, and once all had registered.
    rss_baseline: int = 0
    rss_registered: int | None = None
    cpu: float = 0.0
    #: When every device of the worker had registered once (monotonic), if they have.
    all_registered_at: float | None = None
    #: The last power cut: when power came back, and when all were registered again.
    power_restored_at: float | None = None
    power_recovered_at: float | None = None
    #: Seconds it took to build the devices.
    build_seconds: float = 0.0


@dataclass(slots=True)
class TimelinePoint:
    """The fleet at one tick (``t`` in seconds since the start of the ramp-up)."""

    t: float
    powered: int
    registered: int
    #: Requests completed per operation since the previous point, and failures.
    done: dict[str, int]
    failed: int
    #: Latency percentiles (ms) of the requests completed since the previous point.
    p50_ms: dict[str, float]
    p99_ms: dict[str, float]
    interval: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "powered": self.powered,
            "registered": self.registered,
            "done": self.done,
            "failed": self.failed,
            "p50_ms": {k: round(v, 3) for k, v in self.p50_ms.items()},
            "p99_ms": {k: round(v, 3) for k, v in self.p99_ms.items()},
            "interval": round(self.interval, 3),
        }


@dataclass(slots=True)
class OperationSummary:
    count: int
    succeeded: int
    failed: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "count": self.count,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "p50_ms": r(self.p50_ms),
            "p90_ms": r(self.p90_ms),
            "p99_ms": r(self.p99_ms),
            "max_ms": r(self.max_ms),
            "mean_ms": r(self.mean_ms),
        }


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of sorted values, interpolated between neighbours."""
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    frac = pos - low
    return ordered[low] + (ordered[high] - ordered[low]) * frac


class _Reservoir:
    """All samples up to ``limit``, then a uniform random subset of that size."""

    __slots__ = ("_rng", "ends", "latencies", "limit", "seen")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen = 0
        self.ends: array[float] = array("d")
        self.latencies: array[float] = array("d")
        self._rng = random.Random(0)

    def extend(self, samples: Samples) -> None:
        for end, latency in zip(samples.ends, samples.latencies, strict=True):
            self.seen += 1
            if len(self.latencies) < self.limit:
                self.ends.append(end)
                self.latencies.append(latency)
            else:
                slot = self._rng.randrange(self.seen)
                if slot < self.limit:
                    self.ends[slot] = end
                    self.latencies[slot] = latency


class FleetMetrics:
    """The parent's view of the fleet (thread-safe: the Prometheus thread reads it)."""

    def __init__(self, target: int, *, max_samples: int = 1_000_000) -> None:
        self.target = target
        self.lock = threading.Lock()
        self.workers: dict[int, WorkerStats] = {}
        self.crashed: dict[int, str] = {}
        #: Counters of what the parent itself measures (the firmware campaign's requests).
        self.own = WorkerStats(worker=-1, pid=0, time=0.0, devices=0)
        self._samples: dict[str, _Reservoir] = {}
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}
        self._max_samples = max_samples
        self._pending: dict[str, list[float]] = {}
        self._last_done: dict[str, int] = {}
        self.timeline: list[TimelinePoint] = []
        self.start: float | None = None
        self._last_tick: float | None = None

    # ------------------------------------------------------------ input
    def update(self, stats: WorkerStats) -> None:
        """A worker's report: replace its counters, take its new samples."""
        with self.lock:
            if stats.worker in self.crashed:
                return
            new = stats.samples
            stats.samples = {}
            self.workers[stats.worker] = stats
            for op, samples in new.items():
                self._take(op, samples)

    def record(self, op: str, end: float, latency: float, ok: bool, cause: str = "") -> None:
        """One request the parent made itself (counted as the parent's own)."""
        with self.lock:
            own = self.own
            own.requests[op] = own.requests.get(op, 0) + 1
            if ok:
                own.succeeded[op] = own.succeeded.get(op, 0) + 1
            else:
                causes = own.failures.setdefault(op, {})
                causes[cause] = causes.get(cause, 0) + 1
            self._take(op, Samples(array("d", [end]), array("d", [latency])))

    def count_event(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.own.events[kind] = self.own.events.get(kind, 0) + n

    def worker_crashed(self, worker: int, reason: str) -> None:
        """The worker's devices are gone: they count as neither powered nor registered."""
        with self.lock:
            self.crashed[worker] = reason
            stats = self.workers.get(worker)
            if stats is not None:
                stats.powered = stats.registered = 0
                stats.observations_active = 0

    def _take(self, op: str, samples: Samples) -> None:
        reservoir = self._samples.get(op)
        if reservoir is None:
            reservoir = self._samples[op] = _Reservoir(self._max_samples)
            self._buckets[op] = [0] * (len(BUCKETS) + 1)
            self._sums[op] = 0.0
        reservoir.extend(samples)
        buckets = self._buckets[op]
        total = 0.0
        pending = self._pending.setdefault(op, [])
        for latency in samples.latencies:
            total += latency
            pending.append(latency)
            for i, bound in enumerate(BUCKETS):
                if latency <= bound:
                    buckets[i] += 1
                    break
            else:
                buckets[-1] += 1
        self._sums[op] += total

    # ------------------------------------------------------------ totals
    def _all(self) -> list[WorkerStats]:
        return [*self.workers.values(), self.own]

    def total(self, attr: str) -> int:
        with self.lock:
            return sum(int(getattr(s, attr)) for s in self._all())

    def cpu_seconds(self) -> float:
        """CPU time of the workers so far (crashed ones up to their last report)."""
        with self.lock:
            return sum(s.cpu for s in self.workers.values())

    def registered(self) -> int:
        return self.total("registered")

    def powered(self) -> int:
        return self.total("powered")

    def requests(self) -> dict[str, int]:
        with self.lock:
            return _merge(s.requests for s in self._all())

    def succeeded(self) -> dict[str, int]:
        with self.lock:
            return _merge(s.succeeded for s in self._all())

    def failures(self) -> dict[str, dict[str, int]]:
        with self.lock:
            out: dict[str, dict[str, int]] = {}
            for stats in self._all():
                for op, causes in stats.failures.items():
                    mine = out.setdefault(op, {})
                    for cause, n in causes.items():
                        mine[cause] = mine.get(cause, 0) + n
            return out

    def failure_count(self) -> int:
        return sum(sum(c.values()) for c in self.failures().values())

    def events(self) -> dict[str, int]:
        with self.lock:
            return _merge(s.events for s in self._all())

    def operation(self, op: str) -> OperationSummary:
        requests = self.requests().get(op, 0)
        succeeded = self.succeeded().get(op, 0)
        with self.lock:
            reservoir = self._samples.get(op)
            values = sorted(reservoir.latencies) if reservoir is not None else []
        ms = [v * 1000.0 for v in values]
        return OperationSummary(
            count=requests,
            succeeded=succeeded,
            failed=requests - succeeded,
            p50_ms=percentile(ms, 0.50),
            p90_ms=percentile(ms, 0.90),
            p99_ms=percentile(ms, 0.99),
            max_ms=ms[-1] if ms else None,
            mean_ms=sum(ms) / len(ms) if ms else None,
        )

    def operations(self) -> list[str]:
        with self.lock:
            names = set(self._samples)
            for stats in self._all():
                names.update(stats.requests)
        order = ["register", "update", "deregister", "bootstrap", "send", "campaign"]
        return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))

    def samples_of(self, op: str) -> tuple[list[float], list[float]]:
        """(completion times relative to the start, latencies in ms) of ``op``."""
        with self.lock:
            reservoir = self._samples.get(op)
            if reservoir is None:
                return [], []
            start = self.start or 0.0
            return [e - start for e in reservoir.ends], [v * 1000.0 for v in reservoir.latencies]

    def worker_list(self) -> list[WorkerStats]:
        with self.lock:
            return [self.workers[k] for k in sorted(self.workers)]

    # ------------------------------------------------------------ timeline
    def tick(self, now: float) -> TimelinePoint:
        """Close the current interval: one timeline point (also the progress line's data)."""
        requests = self.requests()
        failed = self.failure_count()
        with self.lock:
            start = self.start if self.start is not None else now
            last = self._last_tick if self._last_tick is not None else start
            done = {op: n - self._last_done.get(op, 0) for op, n in requests.items()}
            self._last_done = dict(requests)
            p50: dict[str, float] = {}
            p99: dict[str, float] = {}
            for op, values in self._pending.items():
                if values:
                    ordered = sorted(values)
                    p50[op] = (percentile(ordered, 0.5) or 0.0) * 1000.0
                    p99[op] = (percentile(ordered, 0.99) or 0.0) * 1000.0
            self._pending = {}
            self._last_tick = now
            all_stats = self._all()
            point = TimelinePoint(
                t=now - start,
                powered=sum(s.powered for s in all_stats),
                registered=sum(s.registered for s in all_stats),
                done={k: v for k, v in done.items() if v},
                failed=failed,
                p50_ms=p50,
                p99_ms=p99,
                interval=now - last,
            )
            self.timeline.append(point)
        return point

    # ------------------------------------------------------------ export
    def histogram(self, op: str) -> tuple[list[int], float]:
        with self.lock:
            return list(self._buckets.get(op, [])), self._sums.get(op, 0.0)

    def collector(self) -> Collector:
        return _Collector(self)


def _merge(tables: Iterable[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for table in tables:
        for key, n in table.items():
            out[key] = out.get(key, 0) + n
    return out


class _Collector:
    """prometheus-client collector reading :class:`FleetMetrics` at scrape time."""

    def __init__(self, metrics: FleetMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        m = self.metrics
        devices = GaugeMetricFamily("lwm2m_fleet_devices", "Simulated devices", labels=["state"])
        devices.add_metric(["target"], m.target)
        for state in ("powered", "registered", "ever_registered"):
            devices.add_metric([state], m.total(state))
        yield devices
        succeeded = m.succeeded()
        yield CounterMetricFamily(
            "lwm2m_fleet_registrations",
            "Registers answered 2.01",
            value=succeeded.get("register", 0),
        )
        yield CounterMetricFamily(
            "lwm2m_fleet_updates", "Updates answered 2.04", value=succeeded.get("update", 0)
        )
        requests = CounterMetricFamily(
            "lwm2m_fleet_requests", "Requests sent by the devices", labels=["operation"]
        )
        for op, n in sorted(m.requests().items()):
            requests.add_metric([op], n)
        yield requests
        failures = CounterMetricFamily(
            "lwm2m_fleet_failures", "Failed requests by cause", labels=["operation", "cause"]
        )
        for op, causes in sorted(m.failures().items()):
            for cause, n in sorted(causes.items()):
                failures.add_metric([op, cause], n)
        yield failures
        hist = HistogramMetricFamily(
            "lwm2m_fleet_request_duration_seconds",
            "Request latency, from the call to the response",
            labels=["operation"],
        )
        for op in m.operations():
            counts, total = m.histogram(op)
            if not counts:
                continue
            cumulative: list[tuple[str, float]] = []
            running = 0
            for bound, n in zip((*BUCKETS, math.inf), counts, strict=True):
                running += n
                cumulative.append(("+Inf" if bound == math.inf else repr(bound), running))
            hist.add_metric([op], cumulative, sum_value=total)
        yield hist
        traffic = CounterMetricFamily(
            "lwm2m_fleet_bytes", "CoAP bytes of the devices", labels=["direction"]
        )
        traffic.add_metric(["sent"], m.total("tx_bytes"))
        traffic.add_metric(["received"], m.total("rx_bytes"))
        yield traffic
        messages = CounterMetricFamily(
            "lwm2m_fleet_messages", "CoAP datagrams of the devices", labels=["direction"]
        )
        messages.add_metric(["sent"], m.total("tx_messages"))
        messages.add_metric(["received"], m.total("rx_messages"))
        yield messages
        yield CounterMetricFamily(
            "lwm2m_fleet_observations",
            "Observations the devices accepted",
            value=m.total("observations_started"),
        )
        yield GaugeMetricFamily(
            "lwm2m_fleet_observations_active",
            "Observations running now",
            value=m.total("observations_active"),
        )
        yield CounterMetricFamily(
            "lwm2m_fleet_notifications",
            "Notifications the devices sent",
            value=m.total("notifications"),
        )
        events = CounterMetricFamily(
            "lwm2m_fleet_events", "Client and scenario events", labels=["kind"]
        )
        for kind, n in sorted(m.events().items()):
            events.add_metric([kind], n)
        yield events
        workers = GaugeMetricFamily("lwm2m_fleet_workers", "Worker processes", labels=["state"])
        stats = m.worker_list()
        workers.add_metric(["running"], sum(1 for s in stats if s.worker not in m.crashed))
        workers.add_metric(["crashed"], len(m.crashed))
        yield workers
        rss = GaugeMetricFamily(
            "lwm2m_fleet_rss_bytes", "Resident memory per worker", labels=["worker"]
        )
        cpu = CounterMetricFamily(
            "lwm2m_fleet_cpu_seconds", "CPU time per worker", labels=["worker"]
        )
        for s in stats:
            rss.add_metric([str(s.worker)], s.rss)
            cpu.add_metric([str(s.worker)], s.cpu)
        yield rss
        yield cpu


def start_metrics_server(metrics: FleetMetrics, port: int, host: str = "127.0.0.1") -> Any:
    """Serve ``/metrics`` on ``host:port`` in a thread; returns the server (``shutdown()``)."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics.collector())
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server

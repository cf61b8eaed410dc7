"""The fleet report: a JSON summary, plots (PNG, or HTML with the PNG inlined) and a RESULT line.

:func:`summary` turns the parent's :class:`~lwm2m.fleet.metrics.FleetMetrics`
into the JSON document ``--report FILE.json`` writes:

* ``devices``, ``registered`` (at the end of the run, before the devices
  de-registered), ``failed`` (devices minus registered), ``ever_registered``;
* ``operations``: per operation (register, update, deregister, bootstrap,
  send, campaign) the count, successes, failures and latency percentiles;
* ``failures``: per operation, failures by cause (a CoAP code such as
  ``4.03``, or ``timeout``, ``network``, ``reset``, ``closed``);
* ``events``: client events (REGISTRATION_COMPLETE, ...) and scenario events;
* ``memory``: resident memory per worker before the devices were built and
  once all had registered; ``rss_per_device_kb`` is the sum of the
  differences over the devices of the workers that got that far;
* ``cpu``: CPU seconds of the workers and of the parent, and their share of
  the run's wall-clock time;
* ``timeline``: one point per second (registered devices, requests done,
  latency percentiles), what the plots draw.

:func:`plot` draws three panels, registered devices over time, latency (p50
and p99 per second, per operation) and throughput (requests per second per
operation), with matplotlib's Agg backend; a ``.html`` path gets a page with
the figures as an inlined base64 PNG and the summary as a table. The last
line of a run is :func:`result_line`::

    RESULT devices=10000 registered=10000 failed=0 rss_per_device_kb=31.2 reg_p99_ms=41.0
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path as FsPath
from typing import Any

from lwm2m.fleet.metrics import FleetMetrics

__all__ = ["plot", "result_line", "summary", "write_json"]

KIB = 1024


def summary(
    metrics: FleetMetrics,
    *,
    wall_seconds: float,
    parent_cpu: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report's JSON document (see the module docstring)."""
    workers = metrics.worker_list()
    registered = sum(w.registered for w in workers if w.worker not in metrics.crashed)
    ever = sum(w.ever_registered for w in workers)
    devices = metrics.target
    operations = {op: metrics.operation(op).as_dict() for op in metrics.operations()}
    measured = [w for w in workers if w.rss_registered is not None]
    per_device: float | None = None
    if measured:
        grown = sum((w.rss_registered or 0) - w.rss_baseline for w in measured)
        per_device = grown / max(1, sum(w.devices for w in measured)) / KIB
    worker_cpu = sum(w.cpu for w in workers)
    doc: dict[str, Any] = {
        "devices": devices,
        "registered": registered,
        "failed": devices - registered,
        "ever_registered": ever,
        "workers": len(workers),
        "crashed_workers": {str(k): v for k, v in sorted(metrics.crashed.items())},
        "lost_devices": sum(w.devices for w in workers if w.worker in metrics.crashed),
        "wall_seconds": round(wall_seconds, 3),
        "operations": operations,
        "failures": metrics.failures(),
        "events": dict(sorted(metrics.events().items())),
        "traffic": {
            "bytes_sent": metrics.total("tx_bytes"),
            "bytes_received": metrics.total("rx_bytes"),
            "messages_sent": metrics.total("tx_messages"),
            "messages_received": metrics.total("rx_messages"),
        },
        "observations": {
            "started": metrics.total("observations_started"),
            "active": metrics.total("observations_active"),
            "notifications_sent": metrics.total("notifications"),
        },
        "firmware_installed": metrics.total("installed"),
        "memory": {
            "rss_per_device_kb": None if per_device is None else round(per_device, 2),
            "workers": [
                {
                    "worker": w.worker,
                    "pid": w.pid,
                    "devices": w.devices,
                    "baseline_mb": round(w.rss_baseline / KIB / KIB, 1),
                    "registered_mb": None
                    if w.rss_registered is None
                    else round(w.rss_registered / KIB / KIB, 1),
                    "end_mb": round(w.rss / KIB / KIB, 1),
                    "peak_mb": round(w.rss_peak / KIB / KIB, 1),
                    "build_seconds": round(w.build_seconds, 3),
                }
                for w in workers
            ],
        },
        "cpu": {
            "workers_seconds": round(worker_cpu, 3),
            "parent_seconds": round(parent_cpu, 3),
            "cores_used": round((worker_cpu + parent_cpu) / wall_seconds, 3)
            if wall_seconds > 0
            else None,
        },
        "timeline": [p.as_dict() for p in metrics.timeline],
    }
    if extra:
        doc.update(extra)
    return doc


def write_json(doc: dict[str, Any], path: str | FsPath) -> None:
    FsPath(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def result_line(doc: dict[str, Any]) -> str:
    """``RESULT devices=N registered=N failed=N rss_per_device_kb=X reg_p99_ms=Y``."""
    per_device = doc["memory"]["rss_per_device_kb"]
    register = doc["operations"].get("register", {})
    p99 = register.get("p99_ms")
    return (
        f"RESULT devices={doc['devices']} registered={doc['registered']} "
        f"failed={doc['failed']} "
        f"rss_per_device_kb={'n/a' if per_device is None else f'{per_device:.1f}'} "
        f"reg_p99_ms={'n/a' if p99 is None else f'{p99:.1f}'}"
    )


# --------------------------------------------------------------------------- plots

_COLOURS = {
    "register": "#1f77b4",
    "update": "#2ca02c",
    "deregister": "#7f7f7f",
    "bootstrap": "#9467bd",
    "send": "#ff7f0e",
    "campaign": "#d62728",
}


def _figure(doc: dict[str, Any], title: str) -> bytes:
    """The three panels as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib import ticker

    timeline = doc.get("timeline", [])
    t = [p["t"] for p in timeline]
    fig, (ax_reg, ax_lat, ax_tput) = plt.subplots(
        3, 1, figsize=(10, 9), sharex=True, constrained_layout=True
    )
    fig.suptitle(title)
    ax_reg.plot(t, [p["registered"] for p in timeline], label="registered", color="#1f77b4")
    ax_reg.plot(t, [p["powered"] for p in timeline], label="switched on", color="#aaaaaa", ls="--")
    ax_reg.axhline(doc["devices"], color="#d62728", lw=0.8, ls=":", label="target")
    ax_reg.set_ylabel("devices")
    ax_reg.set_ylim(bottom=0)
    ax_reg.legend(loc="lower right")
    ax_reg.grid(alpha=0.3)
    cut = doc.get("power_cut")
    if cut and cut.get("at_s") is not None:
        start = cut["at_s"]
        for ax in (ax_reg, ax_lat, ax_tput):
            ax.axvspan(start, start + cut["duration_s"], color="#ffcc00", alpha=0.25)
    ops = list(doc["operations"])
    for op in ops:
        colour = _COLOURS.get(op)
        if not any(op in p["p50_ms"] for p in timeline):
            continue
        # NaN where a second had no such request: the line breaks instead of bridging the gap.
        p50 = [p["p50_ms"].get(op, math.nan) for p in timeline]
        p99 = [p["p99_ms"].get(op, math.nan) for p in timeline]
        ax_lat.plot(t, p50, color=colour, marker=".", ms=3, label=f"{op} p50")
        ax_lat.plot(t, p99, color=colour, marker=".", ms=3, ls="--", label=f"{op} p99")
        rates = [
            (p["t"], p["done"].get(op, 0) / p["interval"]) for p in timeline if p["interval"] > 0
        ]
        ax_tput.plot([x[0] for x in rates], [x[1] for x in rates], color=colour, label=op)
    ax_lat.set_ylabel("latency (ms)")
    ax_lat.set_yscale("log")
    ax_lat.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax_lat.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax_lat.grid(alpha=0.3, which="both")
    if ax_lat.has_data():
        ax_lat.legend(loc="upper right", fontsize="small", ncol=2)
    ax_tput.set_ylabel("requests/s")
    ax_tput.set_xlabel("seconds since the start of the ramp-up")
    ax_tput.grid(alpha=0.3)
    if ax_tput.has_data():
        ax_tput.legend(loc="upper right", fontsize="small")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def plot(doc: dict[str, Any], path: str | FsPath, *, title: str | None = None) -> None:
    """Write the plots to ``path``: PNG, or (``.html``/``.htm``) a self-contained page."""
    path = FsPath(path)
    heading = title or (
        f"lwm2m fleet: {doc['devices']} devices, {doc['registered']} registered, "
        f"{doc['failed']} failed"
    )
    png = _figure(doc, heading)
    if path.suffix.lower() not in (".html", ".htm"):
        path.write_bytes(png)
        return
    rows = []
    for op, figures in doc["operations"].items():
        cells = "".join(
            f"<td>{'' if figures[k] is None else figures[k]}</td>"
            for k in ("count", "failed", "p50_ms", "p90_ms", "p99_ms", "max_ms")
        )
        rows.append(f"<tr><th>{html.escape(op)}</th>{cells}</tr>")
    memory = doc["memory"]["rss_per_device_kb"]
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(heading)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}</style></head>
<body><h1>{html.escape(heading)}</h1>
<p>{html.escape(result_line(doc))}</p>
<p>Memory per device: {"n/a" if memory is None else f"{memory:.1f} KiB"};
wall time {doc["wall_seconds"]:.1f} s; CPU {doc["cpu"]["workers_seconds"]:.1f} s (workers).</p>
<table><tr><th>operation</th><th>count</th><th>failed</th><th>p50 ms</th><th>p90 ms</th>
<th>p99 ms</th><th>max ms</th></tr>{"".join(rows)}</table>
<img alt="registrations, latency and throughput over time"
src="data:image/png;base64,{base64.b64encode(png).decode()}">
</body></html>
"""
    path.write_text(page, encoding="utf-8")

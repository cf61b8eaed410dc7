"""The fleet's parts on their own: what the probe times, the firmware image, the metrics,
the Prometheus page and the report."""

from __future__ import annotations

import asyncio
import json
from array import array
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.errors import RequestTimeout
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.fleet.device import (
    DeviceSettings,
    FleetUpdater,
    Probe,
    SharedParts,
    SimDevice,
    Tally,
    firmware_image,
    operation_of,
)
from lwm2m.fleet.metrics import FleetMetrics, Samples, WorkerStats, percentile
from lwm2m.fleet.report import plot, result_line, summary
from lwm2m.objects.firmware_errors import IntegrityCheckFailed
from lwm2m.transport.base import Address


@pytest.mark.parametrize(
    ("code", "path", "op"),
    [
        (Code.POST, "/rd", "register"),
        (Code.POST, "/rd/abc", "update"),
        (Code.DELETE, "/rd/abc", "deregister"),
        (Code.POST, "/bs", "bootstrap"),
        (Code.POST, "/dp", "send"),
        (Code.GET, "/rd", None),
        (Code.GET, "/fw/1.bin", None),
        (Code.POST, "/dp/x", None),
    ],
)
def test_the_probe_names_the_operation_of_each_request(
    code: Code, path: str, op: str | None
) -> None:
    assert operation_of(Message.request(code, path)) == op


async def test_the_updater_installs_fleet_images_only() -> None:
    shared = SharedParts(DeviceSettings("coap://127.0.0.1:9"), Probe(lambda *a: None), Tally())
    device = SimDevice(3, "dev-3", shared)
    updater = FleetUpdater(device)
    image = firmware_image("9.9.9", 2000)
    assert len(image) == 2000 and image.startswith(b"LWM2M-FLEET-IMAGE 9.9.9\n")
    await updater.open_sink()
    for start in range(0, len(image), 512):
        await updater.write(image[start : start + 512])
    assert await updater.verify()
    await updater.apply()
    assert device.version == "9.9.9" and device.client.get("3/0/3") == "9.9.9"
    assert shared.tally.installed == 1
    await updater.open_sink()
    await updater.write(b"\x00" * 100)
    with pytest.raises(IntegrityCheckFailed):
        await updater.verify()


async def test_a_device_keeps_its_state_in_slots_and_shares_the_rest() -> None:
    shared = SharedParts(DeviceSettings("coap://127.0.0.1:9"), Probe(lambda *a: None), Tally())
    a, b = SimDevice(0, "a", shared), SimDevice(1, "b", shared)
    assert not hasattr(a, "__dict__")
    assert a.client.store.registry is b.client.store.registry is shared.registry
    assert a.client.traffic is b.client.traffic is shared.traffic
    assert a.firmware.downloaders["coap"] is b.firmware.downloaders["coap"]
    a.drift(100.0)
    assert a.value == 85.0  # kept in the sensor's range
    a.drift(-0.25)
    assert a.value == 84.75
    await asyncio.sleep(0)


def test_percentiles_interpolate() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.99) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == pytest.approx(50.5)
    assert percentile(values, 0.99) == pytest.approx(99.01)
    assert percentile(values, 1.0) == 100.0


def _stats(worker: int, registered: int, latencies: list[float], ok: int) -> WorkerStats:
    samples = Samples(array("d", [10.0 + i for i in range(len(latencies))]), array("d", latencies))
    return WorkerStats(
        worker=worker,
        pid=100 + worker,
        time=1.0,
        devices=10,
        powered=10,
        registered=registered,
        ever_registered=registered,
        requests={"register": len(latencies)},
        succeeded={"register": ok},
        failures={"register": {"timeout": len(latencies) - ok}} if ok < len(latencies) else {},
        samples={"register": samples},
        tx_bytes=1000,
        rss_baseline=10 << 20,
        rss_registered=(10 << 20) + 10 * 30 * 1024,
    )


def test_metrics_add_up_workers_and_survive_a_crash() -> None:
    m = FleetMetrics(20)
    m.start = 9.0
    m.update(_stats(0, 10, [0.001, 0.002, 0.003], 3))
    m.update(_stats(1, 8, [0.010, 0.020], 1))
    assert m.registered() == 18 and m.requests() == {"register": 5}
    assert m.failures() == {"register": {"timeout": 1}}
    summary_ = m.operation("register")
    assert (summary_.count, summary_.succeeded, summary_.failed) == (5, 4, 1)
    assert summary_.p50_ms == pytest.approx(3.0) and summary_.max_ms == pytest.approx(20.0)
    # counters are cumulative: a newer report replaces the older one
    m.update(_stats(0, 10, [], 0))
    assert m.requests() == {"register": 2}
    m.worker_crashed(1, "killed by SIGKILL")
    assert m.registered() == 10
    m.update(_stats(1, 8, [0.5], 1))  # late report of a crashed worker: ignored
    assert m.registered() == 10
    point = m.tick(12.0)
    assert point.t == pytest.approx(3.0) and point.registered == 10


def test_the_prometheus_page_has_the_fleet_figures() -> None:
    m = FleetMetrics(20)
    m.update(_stats(0, 10, [0.0015, 0.004, 0.3], 3))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(m.collector())
    page = generate_latest(registry).decode()
    assert 'lwm2m_fleet_devices{state="target"} 20.0' in page
    assert 'lwm2m_fleet_devices{state="registered"} 10.0' in page
    assert "lwm2m_fleet_registrations_total 3.0" in page
    assert (
        'lwm2m_fleet_request_duration_seconds_bucket{le="0.002",operation="register"} 1.0' in page
    )
    assert (
        'lwm2m_fleet_request_duration_seconds_bucket{le="0.005",operation="register"} 2.0' in page
    )
    assert 'lwm2m_fleet_request_duration_seconds_bucket{le="+Inf",operation="register"} 3.0' in page
    assert 'lwm2m_fleet_request_duration_seconds_count{operation="register"} 3.0' in page
    assert 'lwm2m_fleet_bytes_total{direction="sent"} 1000.0' in page
    assert 'lwm2m_fleet_workers{state="running"} 1.0' in page


def test_the_report_summary_result_line_and_plots(tmp_path: Path) -> None:
    m = FleetMetrics(20)
    m.start = 9.0
    m.tick(9.0)
    m.update(_stats(0, 10, [0.001, 0.002, 0.003], 3))
    m.update(_stats(1, 10, [0.004], 1))
    m.tick(10.0)
    m.tick(11.0)
    doc = summary(m, wall_seconds=2.0, parent_cpu=0.1)
    assert (doc["devices"], doc["registered"], doc["failed"]) == (20, 20, 0)
    assert doc["memory"]["rss_per_device_kb"] == pytest.approx(30.0)
    assert doc["operations"]["register"]["p99_ms"] == pytest.approx(3.97)
    assert [p["registered"] for p in doc["timeline"]] == [0, 20, 20]
    assert result_line(doc) == (
        "RESULT devices=20 registered=20 failed=0 rss_per_device_kb=30.0 reg_p99_ms=4.0"
    )
    json.dumps(doc)  # serialisable as it is
    plot(doc, tmp_path / "fleet.png")
    assert (tmp_path / "fleet.png").read_bytes()[:4] == b"\x89PNG"
    plot(doc, tmp_path / "fleet.html")
    page = (tmp_path / "fleet.html").read_text()
    assert "data:image/png;base64," in page and result_line(doc) in page


async def test_the_probe_times_requests_and_counts_notifications_of_its_endpoints() -> None:
    """One probe instruments every endpoint through its hooks: no wrapper per endpoint."""
    samples: list[tuple[str, bool, str]] = []
    probe = Probe(lambda op, end, latency, ok, cause: samples.append((op, ok, cause)))
    server = await Endpoint.create_udp("127.0.0.1", 0)
    device = await Endpoint.create_udp("127.0.0.1", 0)
    try:
        probe.setup(device, 1)
        assert device.hooks is probe
        server.add_resource("/rd", lambda r, a: Message(code=Code.CREATED))
        server.add_resource("/rd/abc", lambda r, a: Message(code=Code.NOT_FOUND))

        async def silent(request: Message, remote: Address) -> Message:
            await asyncio.sleep(10)
            return Message(code=Code.CHANGED)

        server.add_resource("/dp", silent)
        device.add_resource(
            "/3/0", lambda r, a: Message.response_to(r, Code.CONTENT, b"x", observe=0)
        )
        remote = server.local_address
        await device.request(Message.request(Code.POST, "/rd"), remote=remote)
        await device.request(Message.request(Code.POST, "/rd/abc"), remote=remote)
        await device.request(Message.request(Code.GET, "/rd"), remote=remote)  # not timed
        with pytest.raises(RequestTimeout):
            await device.request(Message.request(Code.POST, "/dp"), remote=remote, timeout=0.2)
        cancelled = asyncio.ensure_future(
            device.request(Message.request(Code.POST, "/dp"), remote=remote)
        )
        await asyncio.sleep(0.05)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert samples == [
            ("register", True, ""),
            ("update", False, "4.04"),
            ("send", False, "timeout"),
        ]
        obs = await server.observe("/3/0", remote=device.local_address, timeout=5)
        assert probe.observations_started == 1 and probe.observations_active == 1
        [observation] = device.observations()
        device.push_notification(observation, Message(code=Code.CONTENT, payload=b"y"))
        assert probe.notifications == 1
        await obs.cancel()
        assert probe.observations_active == 0
    finally:
        await device.close()
        await server.close()

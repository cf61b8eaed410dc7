"""How a fleet run ends: a worker that crashes, Ctrl-C, and the other campaign modes.

* A worker process killed with SIGKILL: the parent reports it, counts its devices
  as lost and keeps the other worker's devices running to the end.
* SIGINT to a ``lwm2m fleet`` process: the devices de-register, the report is
  written, the exit status is 130.
* Firmware campaigns that the devices pull: through the REST API (``pull``, the
  fleet serving the image over CoAP) and without it (``device``).
* ``--bootstrap``: the devices get their server account from ``lwm2m
  bootstrap-server`` first.
* ``coaps://`` with ``--psk-prefix`` and ``--psk-key-file``: DTLS with a PSK each.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import time
from pathlib import Path

import pytest
from fleet_support import RESULT, BootstrapServer, Child, Lwm2mServer, rest

from lwm2m.fleet import Fleet, FleetConfig, parse_scenario
from lwm2m.fleet.scenario import pick


async def test_a_crashed_worker_is_reported_and_the_others_keep_running(
    server: Lwm2mServer,
) -> None:
    out = io.StringIO()
    config = FleetConfig(server=server.coap_uri, count=40, workers=2, rate=0, stop_timeout=10)
    fleet = Fleet(config, out=out)
    stopped = False
    try:
        await fleet.start()
        await fleet.wait_registered(timeout=30)
        victim = fleet.handles[1]
        assert victim.pid is not None and len(fleet.pids()) == 2
        os.kill(victim.pid, signal.SIGKILL)
        async with asyncio.timeout(10):
            while 1 not in fleet.metrics.crashed:
                await asyncio.sleep(0.05)
        assert fleet.metrics.crashed[1] == "killed by SIGKILL"
        # the surviving worker's 20 devices stay registered and keep reporting
        before = fleet.metrics.workers[0].time
        await asyncio.sleep(1.5)
        assert fleet.metrics.workers[0].time > before
        assert fleet.metrics.registered() == 20
        report = await fleet.stop()
        stopped = True
    finally:
        if not stopped:
            await fleet.stop(deregister=False)
    text = out.getvalue()
    assert (
        f"worker 1 (pid {victim.pid}) crashed: killed by SIGKILL; its 20 devices are lost, "
        "1 worker still running" in text
    )
    data = report.data
    assert data["crashed_workers"] == {"1": "killed by SIGKILL"}
    assert (data["registered"], data["failed"], data["lost_devices"]) == (20, 20, 20)
    assert data["operations"]["deregister"]["succeeded"] == 20
    assert report.result.startswith("RESULT devices=40 registered=20 failed=20 ")
    # worker 0 ran the even indices: exactly those de-registered
    deadline = time.monotonic() + 5
    while len(server.events("DEREGISTRATION")) < 20 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert sorted(server.events("DEREGISTRATION")) == [f"sim-{i:06d}" for i in range(0, 40, 2)]


def test_sigint_deregisters_and_writes_the_report(server: Lwm2mServer, tmp_path: Path) -> None:
    report_file = tmp_path / "report.json"
    fleet = Child(
        "fleet",
        "--server",
        server.coap_uri,
        "-n",
        "60",
        "--workers",
        "2",
        "--rate",
        "0",
        "--report",
        str(report_file),
        "--plot",
        str(tmp_path / "plot.html"),
    )
    try:
        fleet.wait_line(lambda s: s.startswith("all 60 devices registered"), 30)
        fleet.signal(signal.SIGINT)
        code = fleet.wait(timeout=60)
    finally:
        fleet.stop()
    assert code == 130, fleet.text()
    report = json.loads(report_file.read_text())
    assert (report["registered"], report["failed"]) == (60, 0)
    assert report["operations"]["deregister"]["succeeded"] == 60
    assert report["duration"] is None  # ran until interrupted
    match = RESULT.match(fleet.output()[-1])
    assert match is not None and match[2] == "60"
    assert len(server.events("DEREGISTRATION")) == 60
    page = (tmp_path / "plot.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert match.group(0) in page


def _campaign_run(server: Lwm2mServer, tmp_path: Path, section: str, count: int) -> dict:  # type: ignore[type-arg]
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(
        f"[run]\nrate = 0\nduration = 5\n[sensors]\nperiod = 5\n[campaign]\n{section}",
        encoding="utf-8",
    )
    report_file = tmp_path / "report.json"
    fleet = Child(
        "fleet",
        "--server",
        server.coap_uri,
        "-n",
        str(count),
        "--workers",
        "1",
        "--scenario",
        str(scenario),
        "--report",
        str(report_file),
    )
    try:
        assert fleet.wait(timeout=60) == 0, fleet.text()
    finally:
        fleet.stop()
    report: dict = json.loads(report_file.read_text())  # type: ignore[type-arg]
    return report


def test_a_pull_campaign_through_the_rest_api(server: Lwm2mServer, tmp_path: Path) -> None:
    section = (
        f'share = 0.5\nat = 0.5\nmode = "pull"\nrest_url = "{server.rest_url}"\n'
        'version = "5.0.1"\nimage_size = 5000\n'
    )
    report = _campaign_run(server, tmp_path, section, 20)
    targets = [i for i in range(20) if pick(1, "campaign", i, 0.5)]
    assert report["campaign"]["updated"] == len(targets) > 0
    assert report["operations"]["campaign"]["succeeded"] == len(targets)
    assert report["firmware_installed"] == len(targets)
    assert report["failures"] == {}


def test_a_campaign_the_devices_pull_by_themselves(server: Lwm2mServer, tmp_path: Path) -> None:
    section = 'share = 1.0\nat = 0.5\nmode = "device"\nversion = "7.7"\nimage_size = 3000\n'
    report = _campaign_run(server, tmp_path, section, 10)
    assert report["operations"]["campaign"]["succeeded"] == 10
    assert report["firmware_installed"] == 10
    assert report["failures"] == {}


def test_devices_bootstrap_first(server: Lwm2mServer, tmp_path: Path) -> None:
    config = tmp_path / "bootstrap.json"
    config.write_text(
        json.dumps(
            {
                "default": {
                    "security": [
                        {
                            "uri": server.coap_uri,
                            "short_server_id": 101,
                            "security_mode": "nosec",
                        }
                    ],
                    "servers": [{"short_server_id": 101, "lifetime": 300}],
                }
            }
        ),
        encoding="utf-8",
    )
    bootstrap = BootstrapServer(str(config))
    report_file = tmp_path / "report.json"
    try:
        fleet = Child(
            "fleet",
            "--server",
            bootstrap.coap_uri,
            "--bootstrap",
            "-n",
            "10",
            "--rate",
            "0",
            "--duration",
            "2",
            "--report",
            str(report_file),
        )
        try:
            assert fleet.wait(timeout=60) == 0, fleet.text()
        finally:
            fleet.stop()
    finally:
        bootstrap.stop()
    report = json.loads(report_file.read_text())
    assert (report["registered"], report["failed"]) == (10, 0)
    assert report["operations"]["bootstrap"]["succeeded"] == 10
    assert report["events"]["BOOTSTRAP_TRANSFER_COMPLETE"] == 10
    assert len(set(server.events("REGISTRATION"))) == 10


def test_the_python_api_checks_its_configuration() -> None:
    with pytest.raises(ValueError, match="--count"):
        Fleet(FleetConfig(server="coap://127.0.0.1:9", count=0), out=None)
    scenario = parse_scenario({"rebind": {"share": 0.1, "at": 9}})
    config = FleetConfig(server="coap://127.0.0.1:9", count=3, scenario=scenario, duration=5)
    with pytest.raises(ValueError, match=r"rebind\.at: 9 s is not before the end"):
        Fleet(config, out=None)


def test_devices_register_over_dtls_with_their_psk(tmp_path: Path) -> None:
    key = "00112233445566778899aabbccddeeff"
    names = [f"sim-{i:06d}" for i in range(3)]
    psks = [a for n in names for a in ("--psk", f"{n}=psk-{n}:{key}")]
    server = Lwm2mServer(*psks, dtls=True)
    key_file = tmp_path / "psk.hex"
    key_file.write_text(key + "\n", encoding="ascii")
    report_file = tmp_path / "report.json"
    try:
        fleet = Child(
            "fleet",
            "--server",
            server.coaps_uri,
            "-n",
            "3",
            "--rate",
            "0",
            "--duration",
            "2",
            "--psk-prefix",
            "psk-",
            "--psk-key-file",
            str(key_file),
            "--report",
            str(report_file),
        )
        try:
            fleet.wait_line(lambda s: s.startswith("all 3 devices registered"), 30)
            status, answer = rest("GET", f"{server.rest_url}/api/clients/{names[0]}")
            assert status == 200 and answer["secure"] is True, answer
            assert fleet.wait(timeout=60) == 0, fleet.text()
        finally:
            fleet.stop()
    finally:
        server.stop()
    report = json.loads(report_file.read_text())
    assert (report["registered"], report["failed"]) == (3, 0)
    assert sorted(server.events("REGISTRATION")) == names

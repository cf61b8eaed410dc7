"""``lwm2m fleet`` against ``lwm2m server``: 200 devices through every feature of a scenario.

One run of the real command (two worker processes) with profiles (short lifetimes,
queue mode), drifting sensors, Send, a reboot, time offline, NAT rebinding, a
firmware campaign pushed through the server's REST API and a power cut. While it
runs, the test observes a few temperatures through the REST API, scrapes the
Prometheus page and reads a campaign target's firmware version; afterwards it
checks the report, the plot, the RESULT line and the server's own log.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from fleet_support import RESULT, Child, Lwm2mServer, free_port, rest

from lwm2m.fleet.scenario import load_scenario, pick

COUNT = 200
SEED = 7
SCENARIO = """
[run]
rate = 100
duration = 24
seed = {seed}

[[profiles]]
share = 0.5
lifetime = 20

[[profiles]]
share = 0.2
lifetime = 60
queue_mode = true

[sensors]
period = 1.0
step = 0.5

[send]
share = 0.2
period = 4.0
paths = ["3303/0/5700", "3/0/9"]

[reboot]
share = 0.05
at = 1
downtime = 2

[offline]
share = 0.05
at = 2
duration = 3

[rebind]
share = 0.05
at = 5

[campaign]
share = 0.1
at = 6
mode = "push"
rest_url = "{rest}"
version = "2.0.0"
image_size = 3000

[power_cut]
at = 15
duration = 3
"""


def name(i: int) -> str:
    return f"sim-{i:06d}"


def test_200_devices_with_every_scenario_feature(server: Lwm2mServer, tmp_path: Path) -> None:
    scenario_file = tmp_path / "scenario.toml"
    scenario_file.write_text(SCENARIO.format(seed=SEED, rest=server.rest_url), encoding="utf-8")
    scenario = load_scenario(scenario_file)
    report_file, plot_file = tmp_path / "report.json", tmp_path / "plot.png"
    metrics_port = free_port()

    def picked(feature: str, share: float) -> list[int]:
        return [i for i in range(COUNT) if pick(SEED, feature, i, share)]

    reboots, offline, rebinds = (
        picked("reboot", 0.05),
        picked("offline", 0.05),
        picked("rebind", 0.05),
    )
    campaign = [i for i in picked("campaign", 0.1) if not scenario.profile_for(i).queue_mode]
    affected = set(reboots) | set(offline) | set(rebinds) | set(picked("campaign", 0.1))
    quiet = [
        i for i in range(COUNT) if i not in affected and not scenario.profile_for(i).queue_mode
    ]
    assert reboots and offline and rebinds and campaign and len(quiet) > 5

    fleet = Child(
        "fleet",
        "--server",
        server.coap_uri,
        "--count",
        str(COUNT),
        "--workers",
        "2",
        "--scenario",
        str(scenario_file),
        "--report",
        str(report_file),
        "--plot",
        str(plot_file),
        "--metrics-port",
        str(metrics_port),
    )
    try:
        fleet.wait_line(lambda s: s.startswith(f"all {COUNT} devices registered"), 30)
        # The server observes the temperature of five devices that nothing else disturbs.
        for i in quiet[:5]:
            status, answer = rest(
                "POST", f"{server.rest_url}/api/clients/{name(i)}/3303/0/5700/observe"
            )
            assert status == 200 and answer["success"], answer
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
            page = r.read().decode()
        assert f'lwm2m_fleet_devices{{state="target"}} {COUNT}.0' in page
        assert 'lwm2m_fleet_request_duration_seconds_bucket{le="+Inf",operation="register"}' in page
        assert re.search(r"^lwm2m_fleet_registrations_total (\d+)\.0$", page, re.M)
        assert 'lwm2m_fleet_workers{state="running"} 2.0' in page

        line = fleet.wait_line(lambda s: s.startswith("campaign: ") and "updated" in s, 40)
        assert line.startswith(f"campaign: {len(campaign)}/{len(campaign)} devices updated")
        status, answer = rest("GET", f"{server.rest_url}/api/clients/{name(campaign[0])}/3/0/3")
        assert status == 200 and answer["content"]["value"] == "2.0.0", answer
        status, answer = rest("GET", f"{server.rest_url}/api/clients/{name(campaign[0])}/5/0/5")
        assert answer["content"]["value"] == 1  # Update Result: success

        assert fleet.wait(timeout=60) == 0
    finally:
        fleet.stop()

    out = fleet.output()
    match = RESULT.match(out[-1])
    assert match is not None, out[-1]
    report = json.loads(report_file.read_text())
    assert (int(match[1]), int(match[2]), int(match[3])) == (COUNT, COUNT, 0)
    assert (report["devices"], report["registered"], report["failed"]) == (COUNT, COUNT, 0)
    assert report["ever_registered"] == COUNT and report["crashed_workers"] == {}
    assert float(match[4]) == round(report["memory"]["rss_per_device_kb"], 1)
    assert float(match[5]) == round(report["operations"]["register"]["p99_ms"], 1)

    ops = report["operations"]
    assert report["failures"] == {}
    assert ops["update"]["succeeded"] > 0  # lifetime 20 s: an Update every 10 s
    assert ops["send"]["succeeded"] > 0
    assert ops["deregister"]["succeeded"] == COUNT
    assert ops["campaign"]["succeeded"] == len(campaign) == report["firmware_installed"]
    for op in ("register", "update", "send", "deregister"):
        assert 0 < ops[op]["p50_ms"] <= ops[op]["p99_ms"] <= ops[op]["max_ms"]

    events = report["events"]
    assert events["reboot"] == len(reboots) and events["offline"] == len(offline)
    assert 0 < events["rebind"] <= len(rebinds) and events["power_cut"] == 1
    # every device registered at the start and after the power cut, the rebooted, the
    # offline and the rebound ones once more each (a device offline then is not rebound)
    rebound = events["rebind"]
    assert ops["register"]["succeeded"] == 2 * COUNT + len(reboots) + len(offline) + rebound
    cut = report["power_cut"]
    assert cut["devices"] == COUNT and 0 < cut["recovered_s"] < 30
    assert report["campaign"]["updated"] == len(campaign)
    assert report["observations"]["started"] >= 5
    assert report["observations"]["notifications_sent"] > 0
    assert report["traffic"]["bytes_sent"] > 0 and report["traffic"]["messages_received"] > 0
    assert report["memory"]["rss_per_device_kb"] > 0 and len(report["memory"]["workers"]) == 2
    assert report["cpu"]["workers_seconds"] > 0
    timeline = report["timeline"]
    assert timeline[0]["registered"] == 0 and max(p["registered"] for p in timeline) == COUNT
    # the power cut shows: nobody registered for a moment, everybody afterwards
    assert any(p["registered"] == 0 for p in timeline[5:])
    assert plot_file.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert any(line.startswith("reboot: ") for line in out)
    assert any(line.startswith("power cut: 200 devices off") for line in out)

    # The server saw every device register and de-register, and the Updates and Sends.
    names = {name(i) for i in range(COUNT)}
    assert set(server.events("REGISTRATION")) == names
    assert sorted(server.events("DEREGISTRATION")) == sorted(names)
    assert server.events("UPDATED") and server.events("SEND")

"""Scenario files: every kind of mistake is refused with the key and the reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lwm2m.fleet.scenario import (
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
    pick,
)

GOOD = """
[run]
rate = 50
duration = 60
seed = 3

[[profiles]]
share = 0.6
lifetime = 120

[[profiles]]
share = 0.3
lifetime = 600
queue_mode = true

[sensors]
period = 5
step = 0.25

[send]
share = 0.1
period = 30
paths = ["3303/0/5700", "/3/0/9"]

[reboot]
share = 0.05
at = 10
every = 20
downtime = 2

[offline]
share = 0.02
at = 15
duration = 10

[rebind]
share = 0.1
at = 20

[power_cut]
at = 30
duration = 5

[campaign]
share = 0.2
at = 40
mode = "pull"
rest_url = "http://127.0.0.1:8080/"
version = "3.1.4"
image_size = 2048
concurrency = 5
timeout = 30
"""


FLEET = [sys.executable, "-m", "lwm2m", "fleet", "--server", "coap://127.0.0.1:9", "-n", "5"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_complete_scenario_loads(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, GOOD))
    assert (s.run.rate, s.run.duration, s.run.seed) == (50.0, 60.0, 3)
    assert [(p.share, p.lifetime, p.queue_mode) for p in s.profiles] == [
        (0.6, 120, False),
        (0.3, 600, True),
    ]
    assert (s.sensors.period, s.sensors.step) == (5.0, 0.25)
    assert s.send is not None and s.send.paths == ("3303/0/5700", "/3/0/9")
    assert s.reboot is not None and s.reboot.times(60) == [10.0, 30.0, 50.0]
    assert s.offline is not None and (s.offline.at, s.offline.duration) == (15.0, 10.0)
    assert s.rebind is not None and s.rebind.times(60) == [20.0]
    assert s.power_cut is not None and (s.power_cut.at, s.power_cut.duration) == (30.0, 5.0)
    c = s.campaign
    assert c is not None
    assert (c.mode, c.rest_url, c.version, c.image_size, c.concurrency, c.timeout) == (
        "pull",
        "http://127.0.0.1:8080",
        "3.1.4",
        2048,
        5,
        30.0,
    )


def test_an_empty_scenario_has_the_defaults() -> None:
    s = parse_scenario({})
    assert s == Scenario()
    assert s.profile_for(7).lifetime == 300 and not s.profile_for(7).queue_mode
    assert s.sensors.period == 30.0 and s.send is None and s.campaign is None


def test_shares_pick_the_same_devices_every_time_and_hold_for_the_fleet() -> None:
    picked = [i for i in range(20_000) if pick(1, "reboot", i, 0.1)]
    assert picked == [i for i in range(20_000) if pick(1, "reboot", i, 0.1)]
    assert 1800 <= len(picked) <= 2200
    # another feature, another seed: another set of devices
    assert picked != [i for i in range(20_000) if pick(1, "offline", i, 0.1)]
    assert picked != [i for i in range(20_000) if pick(2, "reboot", i, 0.1)]
    assert not any(pick(1, "reboot", i, 0.0) for i in range(1000))
    assert all(pick(1, "reboot", i, 1.0) for i in range(1000))


def test_profiles_cover_their_shares_and_the_rest_gets_the_default(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, GOOD))
    lifetimes = [s.profile_for(i).lifetime for i in range(10_000)]
    assert 5700 <= lifetimes.count(120) <= 6300
    assert 2700 <= lifetimes.count(600) <= 3300
    assert 800 <= lifetimes.count(300) <= 1200
    assert all(s.profile_for(i).queue_mode == (lifetimes[i] == 600) for i in range(10_000))


# Each mistake: (file text, the key named, words of the reason).
MISTAKES = [
    ("[run\nrate = 1", "", "not valid TOML"),
    ("[reboots]\nshare = 0.1", "reboots", "unknown section (did you mean 'reboot'?)"),
    ("[reboot]\nshare = 0.1\nat = 1\ndowntme = 2", "reboot.downtme", "unknown key"),
    ("[run]\nrate = 'fast'", "run.rate", "expected a number, got 'fast'"),
    ("[run]\nrate = true", "run.rate", "expected a number, got true"),
    ("[run]\nrate = -5", "run.rate", "expected a number in [0, inf), got -5"),
    ("[run]\nduration = 0", "run.duration", "expected a number in (0, inf), got 0"),
    ("[run]\nseed = 1.5", "run.seed", "expected an integer, got 1.5"),
    ("[rebind]\nshare = 1.5\nat = 1", "rebind.share", "expected a number in [0, 1], got 1.5"),
    ("[rebind]\nat = 1", "rebind.share", "missing"),
    ("[power_cut]\nduration = 5", "power_cut.at", "missing"),
    ("[power_cut]\nat = -1\nduration = 5", "power_cut.at", "got -1"),
    ("[power_cut]\nat = 1\nduration = 0", "power_cut.duration", "(0, inf)"),
    ("[offline]\nshare = 0.1\nat = 1", "offline.duration", "missing"),
    (
        "[reboot]\nshare = 0.1\nat = 1\ndowntime = 5\nevery = 5",
        "reboot.every",
        "5 s is not longer than the downtime (5 s)",
    ),
    ("profiles = 3", "profiles", "expected an array of tables"),
    (
        "[[profiles]]\nshare = 0.7\n[[profiles]]\nshare = 0.5",
        "profiles",
        "the shares add up to 1.2, more than 1",
    ),
    ("[[profiles]]\nshare = 0.5\nlifetime = 0", "profiles[0].lifetime", "in [1, 4294967295]"),
    ("[[profiles]]\nshare = 0.5\nqueue_mode = 'yes'", "profiles[0].queue_mode", "true or false"),
    ("[sensors]\nperiod = 0", "sensors.period", "(0, inf)"),
    ("[sensors]\nstep = 1000", "sensors.step", "[0, 100]"),
    ("sensors = 5", "sensors", "expected a table, got 5"),
    ("[send]\nshare = 0.1", "send.period", "missing"),
    ("[send]\nshare = 0.1\nperiod = 5\npaths = []", "send.paths", "expected a non-empty array"),
    ("[send]\nshare = 0.1\nperiod = 5\npaths = ['3/x/0']", "send.paths[0]", "3/x/0"),
    ("[send]\nshare = 0.1\nperiod = 5\npaths = [3]", "send.paths[0]", "expected a path, got 3"),
    (
        "[campaign]\nshare = 0.1\nat = 1\nmode = 'teleport'",
        "campaign.mode",
        "expected one of push, pull, device, got 'teleport'",
    ),
    ("[campaign]\nshare = 0.1\nat = 1", "campaign.rest_url", "mode 'push' needs the REST API"),
    (
        "[campaign]\nshare = 0.1\nat = 1\nrest_url = 'ftp://x'",
        "campaign.rest_url",
        "expected an http(s):// URL",
    ),
    (
        "[campaign]\nshare = 0.1\nat = 1\nrest_url = 'http://h'\npackage_uri = 'coap://h/f'",
        "campaign.package_uri",
        "a push sends the image itself",
    ),
    (
        "[campaign]\nshare = 0.1\nat = 1\nmode = 'device'\nimage_size = 10",
        "campaign.image_size",
        "in [64, 16777216], got 10",
    ),
    (
        "[campaign]\nshare = 0.1\nat = 1\nmode = 'device'\nversion = ''",
        "campaign.version",
        "expected a non-empty string",
    ),
    (
        "[run]\nduration = 30\n[power_cut]\nat = 40\nduration = 5",
        "power_cut.at",
        "40 s is not before the end of the run (30 s)",
    ),
]


@pytest.mark.parametrize(
    ("text", "key", "reason"), MISTAKES, ids=[m[1] or "toml" for m in MISTAKES]
)
def test_mistakes_are_refused_with_key_and_reason(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    assert info.value.key == key
    assert reason in info.value.reason, info.value.reason
    assert str(info.value).startswith(f"{key}: " if key else "")


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[run]")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(binary)


def test_the_cli_refuses_a_bad_scenario_naming_key_and_reason(tmp_path: Path) -> None:
    path = write(tmp_path, "[reboot]\nshare = 2\nat = 1\ndowntime = 1")
    proc = subprocess.run(
        [*FLEET, "--scenario", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "reboot.share: expected a number in [0, 1], got 2" in proc.stderr
    assert str(path) in proc.stderr


def test_the_cli_checks_the_duration_against_the_scenario(tmp_path: Path) -> None:
    path = write(tmp_path, "[power_cut]\nat = 20\nduration = 5")
    proc = subprocess.run(
        [*FLEET, "--scenario", str(path), "--duration", "10"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "power_cut.at: 20 s is not before the end of the run (10 s)" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "fast"], "expected devices per second"),
        (["--name-template", "dev"], "--name-template: 'dev' must use {i}"),
        (["--name-template", "dev-{j}"], "does not format with i"),
        (["--report", "out.txt"], "--report: out.txt should end in .json"),
        (["--plot", "out.pdf"], "--plot: out.pdf should end in .png or .html or .htm"),
        (["--psk-prefix", "id-"], "--psk-prefix and --psk-key-file go together"),
        (["--workers", "9"], "--workers: expected 1..5, got 9"),
    ],
)
def test_the_cli_refuses_bad_options(args: list[str], message: str) -> None:
    proc = subprocess.run(
        [*FLEET, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert message in proc.stderr, proc.stderr


def test_coaps_needs_a_psk() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lwm2m", "fleet", "--server", "coaps://127.0.0.1:9", "-n", "5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "coaps:// needs --psk-prefix and --psk-key-file" in proc.stderr

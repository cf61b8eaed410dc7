"""Fleet scenarios: what the simulated devices do, read from TOML and checked completely.

A scenario says how the fleet comes up and what happens to it afterwards. Every
time is in seconds; the times of the events (``at``, ``every``) count from the
end of the ramp-up, when the last device has been started. Shares pick devices
by a hash of their index and the feature's name (and ``run.seed``), so the same
devices are picked in every run and whatever the number of worker processes::

    [run]
    rate = 200            # devices started per second (0: all at once)
    duration = 120        # how long the fleet runs after the ramp-up
    seed = 1

    [[profiles]]          # lifetime and queue mode per share of the fleet;
    share = 0.8           # the rest of the fleet gets lifetime 300, no queue mode
    lifetime = 300
    [[profiles]]
    share = 0.2
    lifetime = 120
    queue_mode = true

    [sensors]             # each device's temperature drifts
    period = 10.0         # one change every 10 s per device
    step = 0.5            # of at most 0.5 degrees

    [send]                # LwM2M Send of values
    share = 0.1
    period = 30.0
    paths = ["3303/0/5700", "3/0/9"]

    [reboot]              # off without De-register, back after the downtime
    share = 0.05
    at = 20
    every = 60            # optional: again every 60 s
    downtime = 3

    [offline]             # out of reach for a while, then back
    share = 0.05
    at = 30
    duration = 20

    [rebind]              # NAT rebinding: a new local port
    share = 0.05
    at = 40

    [power_cut]           # every device off at once, and back at once
    at = 60
    duration = 5

    [campaign]            # firmware update of a share of the fleet
    share = 0.1
    at = 70
    mode = "push"         # push/pull through the server's REST API, or "device"
    rest_url = "http://127.0.0.1:8080"
    version = "2.0.0"
    image_size = 4096

:func:`load_scenario` reads a file and :func:`parse_scenario` a mapping; both
refuse a bad scenario with :class:`ScenarioError`, which names the key and the
reason (``reboot.share: expected a number in [0, 1], got 1.5``). Unknown
sections and keys are refused too, so a typo never goes unnoticed.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Final
from urllib.parse import urlsplit

from lwm2m.errors import ModelError
from lwm2m.model import Path

__all__ = [
    "CAMPAIGN_MODES",
    "Campaign",
    "Outage",
    "PowerCut",
    "Profile",
    "Rebind",
    "RunSettings",
    "Scenario",
    "ScenarioError",
    "SendSettings",
    "SensorSettings",
    "load_scenario",
    "parse_scenario",
    "pick",
    "unit",
]

#: How a campaign reaches the devices: the server writes the image (push) or its URI
#: (pull) through its REST API, or each device is told locally to pull the image.
CAMPAIGN_MODES: Final = ("push", "pull", "device")
DEFAULT_LIFETIME: Final = 300


class ScenarioError(ValueError):
    """A scenario that cannot run: ``key`` names the entry, ``reason`` says why."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}" if key else reason)


@dataclass(frozen=True, slots=True)
class RunSettings:
    #: Devices started per second during the ramp-up; 0 starts them all at once.
    rate: float | None = None
    #: Seconds the fleet runs after the ramp-up; None: until stopped.
    duration: float | None = None
    seed: int = 1


@dataclass(frozen=True, slots=True)
class Profile:
    share: float
    lifetime: int = DEFAULT_LIFETIME
    queue_mode: bool = False


@dataclass(frozen=True, slots=True)
class SensorSettings:
    #: Seconds between two temperature changes of one device; None: no drift.
    period: float | None = 30.0
    step: float = 0.5


@dataclass(frozen=True, slots=True)
class SendSettings:
    share: float
    period: float
    paths: tuple[str, ...] = ("3303/0/5700",)


DEFAULT_SEND_PATHS: Final = ("3303/0/5700",)


@dataclass(frozen=True, slots=True)
class Outage:
    """Reboot (``duration`` is the downtime) or a time offline, for a share of the fleet."""

    share: float
    at: float
    duration: float
    every: float | None = None

    def times(self, end: float | None) -> list[float]:
        return _times(self.at, self.every, end)


@dataclass(frozen=True, slots=True)
class Rebind:
    share: float
    at: float
    every: float | None = None

    def times(self, end: float | None) -> list[float]:
        return _times(self.at, self.every, end)


@dataclass(frozen=True, slots=True)
class PowerCut:
    at: float
    duration: float


@dataclass(frozen=True, slots=True)
class Campaign:
    share: float
    at: float
    mode: str = "push"
    rest_url: str | None = None
    version: str = "2.0.0"
    image_size: int = 4096
    #: Devices updated at the same time.
    concurrency: int = 20
    #: Seconds one device may take from the first write to the installed image.
    timeout: float = 120.0
    #: Bearer token of the REST API, if it needs one.
    api_token: str | None = None
    #: ``device`` mode: the URI the devices pull (None: the image the fleet serves).
    package_uri: str | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    run: RunSettings = field(default_factory=RunSettings)
    profiles: tuple[Profile, ...] = ()
    sensors: SensorSettings = field(default_factory=SensorSettings)
    send: SendSettings | None = None
    reboot: Outage | None = None
    offline: Outage | None = None
    rebind: Rebind | None = None
    power_cut: PowerCut | None = None
    campaign: Campaign | None = None

    def profile_for(self, index: int) -> Profile:
        """The profile of device ``index`` (shares in order; the rest: the default)."""
        if not self.profiles:
            return _DEFAULT_PROFILE
        u = unit(self.run.seed, "profile", index)
        total = 0.0
        for profile in self.profiles:
            total += profile.share
            if u < total:
                return profile
        return _DEFAULT_PROFILE

    def check_duration(self, duration: float | None) -> None:
        """Refuse events that a run of ``duration`` seconds after the ramp-up never reaches."""
        if duration is None:
            return
        events: list[tuple[str, float | None]] = [
            ("reboot.at", self.reboot.at if self.reboot else None),
            ("offline.at", self.offline.at if self.offline else None),
            ("rebind.at", self.rebind.at if self.rebind else None),
            ("power_cut.at", self.power_cut.at if self.power_cut else None),
            ("campaign.at", self.campaign.at if self.campaign else None),
        ]
        for key, at in events:
            if at is not None and at >= duration:
                raise ScenarioError(
                    key, f"{at:g} s is not before the end of the run ({duration:g} s)"
                )


_DEFAULT_PROFILE: Final = Profile(share=0.0)


def _times(at: float, every: float | None, end: float | None) -> list[float]:
    if every is None:
        return [at]
    if end is None:
        end = at + 1000 * every
    out: list[float] = []
    t = at
    while t < end and len(out) < 10_000:
        out.append(t)
        t += every
    return out


# --------------------------------------------------------------------------- selection


def _mix(value: int) -> int:
    """splitmix64: a fast, well-spread 64-bit hash of an integer."""
    value = (value + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return value ^ (value >> 31)


def _salt(name: str) -> int:
    h = 0
    for ch in name.encode():
        h = (h * 131 + ch) & 0xFFFFFFFF
    return h


def unit(seed: int, feature: str, index: int) -> float:
    """A number in [0, 1) fixed by (seed, feature, index)."""
    return _mix((seed << 40) ^ (_salt(feature) << 20) ^ _mix(index)) / 2.0**64


def pick(seed: int, feature: str, index: int, share: float) -> bool:
    """Whether device ``index`` belongs to ``share`` of the fleet for ``feature``."""
    return share > 0 and unit(seed, feature, index) < share


# --------------------------------------------------------------------------- parsing


class _Section:
    """One table of the file: typed getters that name the key on every refusal."""

    def __init__(self, name: str, data: object, known: Sequence[str]) -> None:
        if not isinstance(data, Mapping):
            raise ScenarioError(name, f"expected a table, got {_kind(data)}")
        self.name = name
        self.data: Mapping[str, Any] = data
        for key in data:
            if key not in known:
                raise ScenarioError(self.key(key), "unknown key" + _suggest(key, known))

    def key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        required: bool = False,
        low: float = 0.0,
        high: float = math.inf,
        low_open: bool = False,
    ) -> float | None:
        if key not in self.data:
            if required:
                raise ScenarioError(self.key(key), "missing")
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(self.key(key), f"expected a number, got {_kind(value)}")
        value = float(value)
        if not math.isfinite(value) or value < low or value > high or (low_open and value == low):
            lo = "(" if low_open else "["
            hi = "]" if math.isfinite(high) else ")"
            top = f"{high:g}" if math.isfinite(high) else "inf"
            raise ScenarioError(
                self.key(key), f"expected a number in {lo}{low:g}, {top}{hi}, got {value:g}"
            )
        return value

    def share(self, key: str = "share") -> float:
        value = self.number(key, required=True, high=1.0)
        assert value is not None
        return value

    def time(self, key: str, *, required: bool = False, positive: bool = False) -> float | None:
        return self.number(key, required=required, low_open=positive)

    def integer(self, key: str, default: int, *, low: int, high: int) -> int:
        if key not in self.data:
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(self.key(key), f"expected an integer, got {_kind(value)}")
        if not low <= value <= high:
            raise ScenarioError(
                self.key(key), f"expected an integer in [{low}, {high}], got {value}"
            )
        return value

    def flag(self, key: str, default: bool) -> bool:
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            raise ScenarioError(self.key(key), f"expected true or false, got {_kind(value)}")
        return value

    def text(self, key: str, default: str | None = None) -> str | None:
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, str) or not value:
            raise ScenarioError(self.key(key), f"expected a non-empty string, got {_kind(value)}")
        return value


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _suggest(word: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_SECTIONS: Final = (
    "run",
    "profiles",
    "sensors",
    "send",
    "reboot",
    "offline",
    "rebind",
    "power_cut",
    "campaign",
)


def parse_scenario(data: Mapping[str, Any]) -> Scenario:
    """Build a :class:`Scenario` from the tables of a TOML document (checked completely)."""
    for key in data:
        if key not in _SECTIONS:
            raise ScenarioError(key, "unknown section" + _suggest(key, _SECTIONS))
    run = _run(data["run"]) if "run" in data else RunSettings()
    profiles = _profiles(data["profiles"]) if "profiles" in data else ()
    sensors = _sensors(data["sensors"]) if "sensors" in data else SensorSettings()
    send = _send(data["send"]) if "send" in data else None
    reboot = _outage("reboot", data["reboot"], "downtime") if "reboot" in data else None
    offline = _outage("offline", data["offline"], "duration") if "offline" in data else None
    rebind = _rebind(data["rebind"]) if "rebind" in data else None
    power_cut = _power_cut(data["power_cut"]) if "power_cut" in data else None
    campaign = _campaign(data["campaign"]) if "campaign" in data else None
    scenario = Scenario(run, profiles, sensors, send, reboot, offline, rebind, power_cut, campaign)
    scenario.check_duration(run.duration)
    return scenario


def load_scenario(path: str | FsPath) -> Scenario:
    """Read and check a scenario file; :class:`ScenarioError` says what is wrong."""
    try:
        text = FsPath(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError("", f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError("", f"{path} is not UTF-8 text: {exc.reason}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError("", f"{path} is not valid TOML: {exc}") from None
    return parse_scenario(data)


def _run(data: object) -> RunSettings:
    s = _Section("run", data, ("rate", "duration", "seed"))
    return RunSettings(
        rate=s.number("rate"),
        duration=s.time("duration", positive=True),
        seed=s.integer("seed", 1, low=0, high=2**31 - 1),
    )


def _profiles(data: object) -> tuple[Profile, ...]:
    if not isinstance(data, list) or not data:
        raise ScenarioError("profiles", "expected an array of tables ([[profiles]])")
    out: list[Profile] = []
    total = 0.0
    for i, item in enumerate(data):
        s = _Section(f"profiles[{i}]", item, ("share", "lifetime", "queue_mode"))
        share = s.share()
        total += share
        out.append(
            Profile(
                share=share,
                lifetime=s.integer("lifetime", DEFAULT_LIFETIME, low=1, high=2**32 - 1),
                queue_mode=s.flag("queue_mode", False),
            )
        )
    if total > 1.0 + 1e-9:
        raise ScenarioError("profiles", f"the shares add up to {total:g}, more than 1")
    return tuple(out)


def _sensors(data: object) -> SensorSettings:
    s = _Section("sensors", data, ("period", "step"))
    step = s.number("step", 0.5, high=100.0)
    assert step is not None
    return SensorSettings(period=s.time("period", positive=True), step=step)


def _send(data: object) -> SendSettings:
    s = _Section("send", data, ("share", "period", "paths"))
    period = s.time("period", required=True, positive=True)
    assert period is not None
    paths: tuple[str, ...] = DEFAULT_SEND_PATHS
    if "paths" in s.data:
        raw = s.data["paths"]
        if not isinstance(raw, list) or not raw:
            raise ScenarioError("send.paths", f"expected a non-empty array, got {_kind(raw)}")
        for i, item in enumerate(raw):
            if not isinstance(item, str):
                raise ScenarioError(f"send.paths[{i}]", f"expected a path, got {_kind(item)}")
            try:
                parsed = Path.parse(item)
            except ModelError as exc:
                raise ScenarioError(f"send.paths[{i}]", str(exc)) from None
            if len(parsed) < 1:
                raise ScenarioError(f"send.paths[{i}]", "the root path cannot be sent")
        paths = tuple(raw)
    return SendSettings(share=s.share(), period=period, paths=paths)


def _outage(name: str, data: object, length_key: str) -> Outage:
    s = _Section(name, data, ("share", "at", length_key, "every"))
    at = s.time("at", required=True)
    length = s.time(length_key, required=True, positive=True)
    every = s.time("every", positive=True)
    assert at is not None and length is not None
    if every is not None and every <= length:
        raise ScenarioError(
            s.key("every"), f"{every:g} s is not longer than the {length_key} ({length:g} s)"
        )
    return Outage(share=s.share(), at=at, duration=length, every=every)


def _rebind(data: object) -> Rebind:
    s = _Section("rebind", data, ("share", "at", "every"))
    at = s.time("at", required=True)
    assert at is not None
    return Rebind(share=s.share(), at=at, every=s.time("every", positive=True))


def _power_cut(data: object) -> PowerCut:
    s = _Section("power_cut", data, ("at", "duration"))
    at = s.time("at", required=True)
    duration = s.time("duration", required=True, positive=True)
    assert at is not None and duration is not None
    return PowerCut(at=at, duration=duration)


def _campaign(data: object) -> Campaign:
    s = _Section(
        "campaign",
        data,
        (
            "share",
            "at",
            "mode",
            "rest_url",
            "version",
            "image_size",
            "concurrency",
            "timeout",
            "api_token",
            "package_uri",
        ),
    )
    mode = s.text("mode", "push")
    assert mode is not None
    if mode not in CAMPAIGN_MODES:
        raise ScenarioError(
            "campaign.mode", f"expected one of {', '.join(CAMPAIGN_MODES)}, got {mode!r}"
        )
    rest_url = s.text("rest_url")
    if rest_url is not None:
        parts = urlsplit(rest_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ScenarioError(
                "campaign.rest_url", f"expected an http(s):// URL, got {rest_url!r}"
            )
    elif mode != "device":
        raise ScenarioError("campaign.rest_url", f"missing: mode {mode!r} needs the REST API")
    package_uri = s.text("package_uri")
    if package_uri is not None:
        if mode == "push":
            raise ScenarioError("campaign.package_uri", "a push sends the image itself, no URI")
        if urlsplit(package_uri).scheme not in ("coap", "coaps", "http", "https"):
            raise ScenarioError(
                "campaign.package_uri",
                f"expected a coap(s):// or http(s):// URI, got {package_uri!r}",
            )
    at = s.time("at", required=True)
    timeout = s.time("timeout", positive=True)
    assert at is not None
    version = s.text("version", "2.0.0")
    assert version is not None
    if len(version) > 32 or not version.isprintable():
        raise ScenarioError("campaign.version", "expected at most 32 printable characters")
    return Campaign(
        share=s.share(),
        at=at,
        mode=mode,
        rest_url=rest_url.rstrip("/") if rest_url else None,
        version=version,
        image_size=s.integer("image_size", 4096, low=64, high=16 << 20),
        concurrency=s.integer("concurrency", 20, low=1, high=10_000),
        timeout=timeout if timeout is not None else 120.0,
        api_token=s.text("api_token"),
        package_uri=package_uri,
    )

"""Device object (3): identity, power, error codes, reboot/reset hooks, current time.

Resources 0..22 as in LwM2M Core TS 1.1 Appendix E.4. Current Time (13)
follows the clock: a server write stores the offset between the written time
and the device clock, and later reads return ``clock() + offset``.
"""

from __future__ import annotations

import enum
import functools
import re
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from lwm2m.client.store import ObjectStore
from lwm2m.errors import ModelError
from lwm2m.model import ObjLink
from lwm2m.objects._base import Clock, Hook, ObjectInstance, run_hook

IntSource = int | Callable[[], int]
"""A fixed integer or a callable read on demand."""


class ErrorCode(enum.IntEnum):
    """Error Code (3/0/11) values."""

    NO_ERROR = 0
    LOW_BATTERY = 1
    EXTERNAL_POWER_OFF = 2
    GPS_FAILURE = 3
    LOW_SIGNAL = 4
    OUT_OF_MEMORY = 5
    SMS_FAILURE = 6
    IP_CONNECTIVITY_FAILURE = 7
    PERIPHERAL_MALFUNCTION = 8


class PowerSourceType(enum.IntEnum):
    """Available Power Sources (3/0/6) values."""

    DC = 0
    INTERNAL_BATTERY = 1
    EXTERNAL_BATTERY = 2
    FUEL_CELL = 3
    POWER_OVER_ETHERNET = 4
    USB = 5
    AC_MAINS = 6
    SOLAR = 7


class BatteryStatus(enum.IntEnum):
    """Battery Status (3/0/20) values."""

    NORMAL = 0
    CHARGING = 1
    CHARGE_COMPLETE = 2
    DAMAGED = 3
    LOW = 4
    NOT_INSTALLED = 5
    UNKNOWN = 6


@dataclass(frozen=True, slots=True)
class PowerSource:
    """One power source: its type and voltage (mV) / current (mA) readings."""

    type: PowerSourceType
    voltage_mv: IntSource = 0
    current_ma: IntSource = 0


# ISO 8601 offset as the Device object uses it: "+01:00", "-0530", "+02", "Z",
# optionally prefixed with "UTC" ("UTC+X", Core TS E.4 resource 14).
_UTC_OFFSET_RE = re.compile(r"^(?:UTC)?(?:(Z)|([+-])(\d{2})(?::?(\d{2}))?)$")
_TZ_NAME_RE = re.compile(r"^[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*$")
# Binding letters of LwM2M 1.1 (Core TS 6.2.1.1): UDP, TCP, SMS, Non-IP, Queue mode.
_BINDING_LETTERS = "UTSNQ"


def parse_utc_offset(text: str) -> int:
    """Minutes east of UTC for an ISO 8601 offset; ModelError when malformed or out of range."""
    text = text.strip()
    if text == "UTC":
        return 0
    m = _UTC_OFFSET_RE.match(text)
    if m is None:
        raise ModelError(f"UTC offset {text!r} is not an ISO 8601 offset like '+01:00'")
    if m.group(1):
        return 0
    sign = -1 if m.group(2) == "-" else 1
    hours, minutes = int(m.group(3)), int(m.group(4) or 0)
    if minutes >= 60:
        raise ModelError(f"UTC offset {text!r}: minutes out of range")
    total = sign * (hours * 60 + minutes)
    if not -12 * 60 <= total <= 14 * 60:
        raise ModelError(f"UTC offset {text!r} outside -12:00..+14:00")
    return total


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> None:
    """Accept an IANA time zone name (checked against the tz database when one is installed)."""
    if not _TZ_NAME_RE.match(name):
        raise ModelError(f"timezone {name!r} is not an IANA time zone name")
    zones = _known_zones()
    if zones and name not in zones and name != "UTC":
        raise ModelError(f"timezone {name!r} is unknown")


def check_binding(text: str) -> None:
    if not text or any(c not in _BINDING_LETTERS for c in text) or len(set(text)) != len(text):
        raise ModelError(f"binding {text!r}: expected distinct letters of {_BINDING_LETTERS!r}")


class Device(ObjectInstance):
    """The Device object instance /3/0.

    Battery level/status and memory values take an int or a callable that is
    read whenever a server reads the resource. Reboot, Factory Reset and Reset
    Error Code call the application's hooks (sync or async, no arguments);
    without a hook they log and do nothing.
    """

    object_id = 3
    execute_handlers = {4: "_execute_reboot", 5: "_execute_factory_reset", 12: "_reset_error_code"}
    validate_handlers = {14: "_check_utc_offset", 15: "_check_timezone"}
    post_write_handlers = {13: "set_current_time"}

    def __init__(
        self,
        store: ObjectStore,
        *,
        manufacturer: str | None = None,
        model: str | None = None,
        serial: str | None = None,
        firmware_version: str | None = None,
        device_type: str | None = None,
        hardware_version: str | None = None,
        software_version: str | None = None,
        supported_binding: str = "U",
        power_sources: Sequence[PowerSource] = (),
        battery_level: IntSource | None = None,
        battery_status: IntSource | None = None,
        memory_free: IntSource | None = None,
        memory_total: IntSource | None = None,
        utc_offset: str = "+00:00",
        timezone: str = "UTC",
        ext_dev_info: Iterable[ObjLink] = (),
        on_reboot: Hook | None = None,
        on_factory_reset: Hook | None = None,
        on_reset_error_code: Hook | None = None,
        clock: Clock | None = None,
    ) -> None:
        parse_utc_offset(utc_offset)
        check_timezone(timezone)
        check_binding(supported_binding)
        super().__init__(store, 0, clock=clock)
        self.on_reboot = on_reboot
        self.on_factory_reset = on_factory_reset
        self.on_reset_error_code = on_reset_error_code
        self._time_offset = 0.0
        self._errors: list[int] = []
        for rid, text in (
            (0, manufacturer),
            (1, model),
            (2, serial),
            (3, firmware_version),
            (17, device_type),
            (18, hardware_version),
            (19, software_version),
        ):
            if text is not None:
                self._set(rid, text)
        self._add_executables()
        if power_sources:
            self.set_power_sources(power_sources)
        for rid, source in (
            (9, battery_level),
            (10, memory_free),
            (20, battery_status),
            (21, memory_total),
        ):
            if source is not None:
                self._set(rid, source)
        self._sync_errors()
        self._set(13, self._now)
        self._set(14, utc_offset)
        self._set(15, timezone)
        self._set(16, supported_binding)
        links = list(ext_dev_info)
        if links:
            self._set(22, links)

    # ---------------------------------------------------------- errors
    def add_error(self, code: int) -> None:
        """Report an error (1..8); each code is listed once, in order of occurrence."""
        if isinstance(code, bool) or not 1 <= int(code) <= 8:
            raise ModelError(f"error code {code!r} outside 1..8")
        if int(code) not in self._errors:
            self._errors.append(int(code))
            self._sync_errors()

    def clear_errors(self) -> None:
        self._errors.clear()
        self._sync_errors()

    @property
    def errors(self) -> list[int]:
        return list(self._errors)

    def _sync_errors(self) -> None:
        # Core TS E.4: with no error the list holds a single instance of value 0.
        self._set(11, list(self._errors) if self._errors else [ErrorCode.NO_ERROR.value])

    async def _execute_reboot(self, args: str) -> None:
        await run_hook(self.on_reboot, "reboot")

    async def _execute_factory_reset(self, args: str) -> None:
        await run_hook(self.on_factory_reset, "factory reset")

    async def _reset_error_code(self, args: str) -> None:
        self.clear_errors()
        if self.on_reset_error_code is not None:
            await run_hook(self.on_reset_error_code, "reset error code")

    # ------------------------------------------------------------ time
    def _now(self) -> int:
        return int(self.clock() + self._time_offset)

    @property
    def current_time(self) -> int:
        return self._now()

    def set_current_time(self, epoch_seconds: int) -> None:
        """Set the device's notion of the current time; it keeps running from there."""
        self._time_offset = epoch_seconds - self.clock()
        self._set(13, self._now)

    def _check_utc_offset(self, value: object) -> bool:
        return _accepts(parse_utc_offset, value)

    def _check_timezone(self, value: object) -> bool:
        return _accepts(check_timezone, value)

    @property
    def utc_offset(self) -> str:
        return str(self._get(14))

    @property
    def utc_offset_minutes(self) -> int:
        return parse_utc_offset(self.utc_offset)

    def set_utc_offset(self, text: str) -> None:
        parse_utc_offset(text)
        self._set(14, text)

    @property
    def timezone(self) -> str:
        return str(self._get(15))

    def set_timezone(self, name: str) -> None:
        check_timezone(name)
        self._set(15, name)

    # ------------------------------------------------------------ power
    def set_power_sources(self, sources: Sequence[PowerSource]) -> None:
        """Replace resources 6, 7 and 8 (one instance per source, in order)."""
        self._set(6, [int(s.type) for s in sources])
        self._set(7, [s.voltage_mv for s in sources])
        self._set(8, [s.current_ma for s in sources])

    def set_battery(self, level: IntSource | None = None, status: IntSource | None = None) -> None:
        if level is not None:
            self._set(9, level)
        if status is not None:
            self._set(20, status)

    def set_memory(self, free: IntSource | None = None, total: IntSource | None = None) -> None:
        if free is not None:
            self._set(10, free)
        if total is not None:
            self._set(21, total)

    def set_firmware_version(self, version: str) -> None:
        self._set(3, version)


def _accepts(check: Callable[[str], object], value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        check(value)
    except ModelError:
        return False
    return True

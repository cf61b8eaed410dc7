"""Measuring sensors: 3300 Generic, 3303 Temperature, 3304 Humidity, 3323 Pressure,
3313 Accelerometer.

One implementation, :class:`MeasuringSensor`, serves them all; the objects
differ only in their id, default units and which value resources they carry
(5700, or 5702-5704 for the accelerometer). Min/Max Measured Value (5601/5602)
follow every new value when the object defines them; Reset Min and Max
Measured Values (5605) sets both to the current value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypedDict, Unpack

from lwm2m.client.store import ObjectStore
from lwm2m.errors import ModelError
from lwm2m.objects._base import Clock
from lwm2m.objects.ipso._common import IpsoInstance

Reading = float | Callable[[], float]
"""A value, or a callable sampled whenever the resource is read."""

SENSOR_VALUE = 5700
UNITS = 5701
MIN_MEASURED, MAX_MEASURED = 5601, 5602
MIN_RANGE, MAX_RANGE = 5603, 5604
RESET_MIN_MAX = 5605
SENSOR_TYPE = 5751


class SensorOptions(TypedDict, total=False):
    """The keyword options of every sensor constructor (see :class:`MeasuringSensor`)."""

    instance_id: int | None
    units: str | None
    min_range: float | None
    max_range: float | None
    application_type: str | None
    clock: Clock | None


class _Sample:
    """A callable reading, tracked for min/max on every read (smaller than a closure)."""

    __slots__ = ("_rid", "_sensor", "_source")

    def __init__(self, sensor: MeasuringSensor, rid: int, source: Callable[[], float]) -> None:
        self._sensor, self._rid, self._source = sensor, rid, source

    def __call__(self) -> float:
        value = float(self._source())
        self._sensor._track(self._rid, value)
        return value


class MeasuringSensor(IpsoInstance):
    """A sensor with one or more value resources; subclasses set the class attributes."""

    default_units: ClassVar[str] = ""
    value_ids: ClassVar[tuple[int, ...]] = (SENSOR_VALUE,)
    execute_handlers = {RESET_MIN_MAX: "_execute_reset"}

    def __init__(
        self,
        store: ObjectStore,
        values: dict[int, Reading],
        *,
        instance_id: int | None = None,
        units: str | None = None,
        min_range: float | None = None,
        max_range: float | None = None,
        application_type: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not values or set(values) - set(self.value_ids):
            raise ModelError(f"values for resources {sorted(values)}; expected {self.value_ids}")
        super().__init__(store, instance_id, application_type=application_type, clock=clock)
        self._tracks = self.has_resource(MIN_MEASURED) and self.has_resource(MAX_MEASURED)
        self._min: float | None = None
        self._max: float | None = None
        unit_text = self.default_units if units is None else units
        if unit_text and self.has_resource(UNITS):
            self._set(UNITS, unit_text)
        for rid, bound in ((MIN_RANGE, min_range), (MAX_RANGE, max_range)):
            if bound is not None and self.has_resource(rid):
                self._set(rid, float(bound))
        self._add_executables()
        for rid, reading in values.items():
            self._install(rid, reading)

    def _install(self, rid: int, reading: Reading) -> None:
        if callable(reading):
            self._set(rid, _Sample(self, rid, reading))
            self._track(rid, float(reading()))
        else:
            self._record(rid, float(reading))

    def _record(self, rid: int, value: float) -> None:
        self._set(rid, value)
        self._track(rid, value)
        self._stamp()

    def _track(self, rid: int, value: float) -> None:
        if not self._tracks or rid != SENSOR_VALUE:
            return
        if self._min is None or value < self._min:
            self._min = value
            self._set(MIN_MEASURED, value)
        if self._max is None or value > self._max:
            self._max = value
            self._set(MAX_MEASURED, value)

    @property
    def min_measured(self) -> float | None:
        return self._min

    @property
    def max_measured(self) -> float | None:
        return self._max

    def _execute_reset(self, args: str) -> None:
        self.reset_min_max()

    def reset_min_max(self) -> None:
        """Min and Max Measured Values become the current value (5605)."""
        if not self._tracks:
            return
        current = float(self._get(SENSOR_VALUE))
        self._min = self._max = None
        self._track(SENSOR_VALUE, current)


class Sensor(MeasuringSensor):
    """A single-value sensor (5700); ``update(value)`` or a callable source."""

    def __init__(
        self,
        store: ObjectStore,
        value: Reading = 0.0,
        **options: Unpack[SensorOptions],
    ) -> None:
        super().__init__(store, {SENSOR_VALUE: value}, **options)

    @property
    def value(self) -> float:
        return float(self._get(SENSOR_VALUE))

    def update(self, value: float) -> None:
        """A new measurement: sets 5700, min/max and the timestamp."""
        self._record(SENSOR_VALUE, float(value))


class GenericSensor(Sensor):
    object_id = 3300

    def set_sensor_type(self, text: str) -> None:
        self._set(SENSOR_TYPE, text)


class Temperature(Sensor):
    object_id = 3303
    default_units = "Cel"


class Humidity(Sensor):
    object_id = 3304
    default_units = "%RH"


class Pressure(Sensor):
    object_id = 3323
    default_units = "Pa"


class Accelerometer(MeasuringSensor):
    """1 to 3 axes (5702 X, 5703 Y, 5704 Z); 3313 has no min/max measured values."""

    object_id = 3313
    default_units = "m/s2"
    value_ids = (5702, 5703, 5704)

    def __init__(
        self,
        store: ObjectStore,
        x: Reading = 0.0,
        y: Reading | None = None,
        z: Reading | None = None,
        **options: Unpack[SensorOptions],
    ) -> None:
        axes = {rid: r for rid, r in zip(self.value_ids, (x, y, z), strict=True) if r is not None}
        super().__init__(store, axes, **options)

    def update(self, x: float, y: float | None = None, z: float | None = None) -> None:
        for rid, value in zip(self.value_ids, (x, y, z), strict=True):
            if value is not None:
                self._set(rid, float(value))
        self._stamp()

"""Location object (6): position reported by the application, timestamped on each update."""

from __future__ import annotations

import math

from lwm2m.client.store import ObjectStore
from lwm2m.errors import ModelError
from lwm2m.objects._base import Clock, ObjectInstance

LATITUDE, LONGITUDE, ALTITUDE, RADIUS, VELOCITY, TIMESTAMP, SPEED = range(7)


class Location(ObjectInstance):
    """The instance /6/0 (WGS 84 degrees, metres, m/s).

    Velocity (4) is opaque: the 3GPP TS 23.032 encoding, passed through as bytes.
    """

    object_id = 6

    def __init__(
        self,
        store: ObjectStore,
        *,
        latitude: float = 0.0,
        longitude: float = 0.0,
        clock: Clock | None = None,
    ) -> None:
        _check_position(latitude, longitude)
        super().__init__(store, 0, clock=clock)
        self._set(LATITUDE, float(latitude))
        self._set(LONGITUDE, float(longitude))
        self._set(TIMESTAMP, int(self.clock()))

    def update(
        self,
        latitude: float,
        longitude: float,
        *,
        altitude: float | None = None,
        radius: float | None = None,
        velocity: bytes | None = None,
        speed: float | None = None,
        timestamp: int | None = None,
    ) -> None:
        """A new fix; everything is checked before anything is set. Timestamp defaults to now."""
        _check_position(latitude, longitude)
        for name, value in (("radius", radius), ("speed", speed), ("altitude", altitude)):
            if value is not None and not math.isfinite(value):
                raise ModelError(f"location {name} {value!r} is not a finite number")
            if value is not None and name != "altitude" and value < 0:
                raise ModelError(f"location {name} {value!r} is negative")
        if velocity is not None and not isinstance(velocity, bytes | bytearray):
            raise ModelError("location velocity is opaque: pass the encoded bytes")
        self._set(LATITUDE, float(latitude))
        self._set(LONGITUDE, float(longitude))
        for rid, optional in ((ALTITUDE, altitude), (RADIUS, radius), (SPEED, speed)):
            if optional is not None:
                self._set(rid, float(optional))
        if velocity is not None:
            self._set(VELOCITY, bytes(velocity))
        self._set(TIMESTAMP, int(self.clock()) if timestamp is None else int(timestamp))

    @property
    def latitude(self) -> float:
        return float(self._get(LATITUDE))

    @property
    def longitude(self) -> float:
        return float(self._get(LONGITUDE))

    @property
    def timestamp(self) -> int:
        return int(self._get(TIMESTAMP))


def _check_position(latitude: float, longitude: float) -> None:
    if not (math.isfinite(latitude) and -90.0 <= latitude <= 90.0):
        raise ModelError(f"latitude {latitude!r} outside -90..90")
    if not (math.isfinite(longitude) and -180.0 <= longitude <= 180.0):
        raise ModelError(f"longitude {longitude!r} outside -180..180")

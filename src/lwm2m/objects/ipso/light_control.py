"""Light Control (3311): on/off, dimmer, On Time, cumulative active power, colour.

On Time (5852) counts the seconds since the light was switched on (0 while
off); writing 0 restarts the count. With a ``rated_power`` (W at dimmer 100)
Cumulative active power (5805, Wh) integrates power x dimmer over time on.
"""

from __future__ import annotations

from collections.abc import Callable

from lwm2m.client.store import ObjectStore
from lwm2m.objects._base import Clock, Stopwatch
from lwm2m.objects.ipso._common import IpsoInstance

ON_OFF, DIMMER, ON_TIME = 5850, 5851, 5852
CUMULATIVE_POWER, POWER_FACTOR, COLOUR, UNITS = 5805, 5820, 5706, 5701


class LightControl(IpsoInstance):
    """A light; ``on_change(light)`` is called after every change, to drive the hardware."""

    object_id = 3311
    validate_handlers = {ON_TIME: "_non_negative"}
    post_write_handlers = {
        ON_OFF: "_on_off_written",
        DIMMER: "_dimmer_written",
        ON_TIME: "_on_time_written",
        COLOUR: "_colour_written",
    }

    def __init__(
        self,
        store: ObjectStore,
        *,
        instance_id: int | None = None,
        on: bool = False,
        dimmer: int = 100,
        colour: str | None = None,
        units: str | None = None,
        rated_power: float | None = None,
        power_factor: float | Callable[[], float] | None = None,
        application_type: str | None = None,
        on_change: Callable[[LightControl], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(store, instance_id, application_type=application_type, clock=clock)
        self.store.resource_def(self.rpath(DIMMER)).check(dimmer, str(self.rpath(DIMMER)))
        self.on_change = on_change
        self.rated_power = rated_power
        self._on = False
        self._dimmer = dimmer
        self._energy_wh = 0.0
        self._segment_start = self.clock()
        self._on_timer = Stopwatch(self.clock)
        # A server write of Colour notifies only when the application gave a colour.
        self._colour_written_notifies = colour is not None
        self._set(ON_OFF, False)
        self._set(DIMMER, dimmer)
        self._set(ON_TIME, self._on_timer.read)
        if rated_power is not None:
            self._set(CUMULATIVE_POWER, self._energy)
        if power_factor is not None:
            self._set(POWER_FACTOR, power_factor)
        if colour is not None:
            self._set(COLOUR, colour)
        if units is not None:
            self._set(UNITS, units)
        if on:
            self.turn_on()

    # ------------------------------------------------------------ state
    @property
    def on(self) -> bool:
        return self._on

    @property
    def dimmer(self) -> int:
        return self._dimmer

    @property
    def on_time(self) -> int:
        return self._on_timer.read()

    @property
    def colour(self) -> str | None:
        return self._get(COLOUR) if self.store.exists(self.rpath(COLOUR)) else None

    def turn_on(self) -> None:
        self._apply(on=True)

    def turn_off(self) -> None:
        self._apply(on=False)

    def set_dimmer(self, level: int) -> None:
        self.store.resource_def(self.rpath(DIMMER)).check(level, str(self.rpath(DIMMER)))
        self._apply(dimmer=level)

    def set_colour(self, colour: str) -> None:
        self._set(COLOUR, colour)
        self._notify()

    def _on_off_written(self, value: object) -> None:
        self._apply(on=bool(value))

    def _dimmer_written(self, value: int) -> None:
        self._apply(dimmer=int(value))

    def _on_time_written(self, value: int) -> None:
        self._on_timer.written(self, ON_TIME, value)

    def _colour_written(self, value: object) -> None:
        if self._colour_written_notifies:
            self._notify()

    def _apply(self, *, on: bool | None = None, dimmer: int | None = None) -> None:
        self._close_segment()
        if on is not None and on != self._on:
            self._on = on
            if on:
                self._on_timer.start()
            else:
                self._on_timer.stop()
        if dimmer is not None:
            self._dimmer = dimmer
        self._set(ON_OFF, self._on)
        self._set(DIMMER, self._dimmer)
        self._notify()

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    # ------------------------------------------------------------ energy
    def _power_w(self) -> float:
        if not self._on or self.rated_power is None:
            return 0.0
        return self.rated_power * self._dimmer / 100.0

    def _close_segment(self) -> None:
        now = self.clock()
        self._energy_wh += self._power_w() * (now - self._segment_start) / 3600.0
        self._segment_start = now

    def _energy(self) -> float:
        return self._energy_wh + self._power_w() * (self.clock() - self._segment_start) / 3600.0

    @property
    def energy_wh(self) -> float:
        return self._energy()

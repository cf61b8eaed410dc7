"""Buzzer (3338): on/off, level, Delay Duration and Minimum Off-time.

Switched on with a Delay Duration (5521) above 0 it sounds for that long and
then turns itself off. After it turns off it cannot be switched on again
before the Minimum Off-time (5525) has passed: such a write is refused
(4.00) and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable

from lwm2m.client.store import ObjectStore
from lwm2m.errors import BadRequest
from lwm2m.objects._base import Clock, Scheduler, TimerHandle
from lwm2m.objects.ipso._common import (
    DELAY_DURATION,
    MINIMUM_OFF_TIME,
    TimedOutput,
    check_delays,
)

ON_OFF, LEVEL = 5850, 5548


class Buzzer(TimedOutput):
    """``on_change(buzzer)`` is called when the buzzer starts or stops, to drive the hardware."""

    object_id = 3338
    validate_handlers = {ON_OFF: "_may_switch"}
    post_write_handlers = {ON_OFF: "_on_off_written"}

    def __init__(
        self,
        store: ObjectStore,
        *,
        instance_id: int | None = None,
        level: float = 100.0,
        delay_duration: float = 0.0,
        minimum_off_time: float = 0.0,
        application_type: str | None = None,
        on_change: Callable[[Buzzer], None] | None = None,
        clock: Clock | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        check_delays(delay_duration, minimum_off_time)
        super().__init__(
            store,
            instance_id,
            application_type=application_type,
            clock=clock,
            scheduler=scheduler,
        )
        self.on_change = on_change
        self._on = False
        self._rearm_at = float("-inf")
        self._stop_timer: TimerHandle | None = None
        self._set(ON_OFF, False)
        self._set(LEVEL, float(level))
        self._install_delays(delay_duration, minimum_off_time)

    @property
    def on(self) -> bool:
        return self._on

    @property
    def level(self) -> float:
        return float(self._get(LEVEL))

    def _may_switch(self, value: object) -> bool:
        if value is True and not self._on and self.clock() < self._rearm_at:
            raise BadRequest(f"{self.rpath(ON_OFF)}: minimum off-time has not passed")
        return True

    def turn_on(self) -> None:
        """Start sounding; raises BadRequest inside the minimum off-time."""
        self._may_switch(True)
        self._switch(True)

    def turn_off(self) -> None:
        self._switch(False)

    def _on_off_written(self, value: object) -> None:
        self._switch(bool(value))

    def _switch(self, on: bool) -> None:
        if self._stop_timer is not None:
            self._stop_timer.cancel()
            self._stop_timer = None
        changed = on != self._on
        self._on = on
        if on:
            delay = float(self._get(DELAY_DURATION))
            if delay > 0:
                self._stop_timer = self.scheduler.call_later(delay, self.turn_off)
        elif changed:
            self._rearm_at = self.clock() + float(self._get(MINIMUM_OFF_TIME))
        self._set(ON_OFF, on)
        if changed and self.on_change is not None:
            self.on_change(self)

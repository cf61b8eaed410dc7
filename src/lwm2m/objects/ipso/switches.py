"""Digital inputs: 3342 On/Off switch and 3347 Push button.

Digital Input State (5500) is the current state; Digital Input Counter (5501)
counts off-to-on transitions; the timestamp (5518) records the last change.
The switch also keeps On Time (5852) and Off Time (5854): seconds in the
current state, reset by writing 0.
"""

from __future__ import annotations

from lwm2m.client.store import ObjectStore
from lwm2m.objects._base import Clock, Stopwatch
from lwm2m.objects.ipso._common import IpsoInstance

STATE, COUNTER, ON_TIME, OFF_TIME = 5500, 5501, 5852, 5854


class DigitalInput(IpsoInstance):
    """State, counter and timestamp of a two-state input."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        instance_id: int | None = None,
        application_type: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(store, instance_id, application_type=application_type, clock=clock)
        self._state = False
        self._count = 0
        self._set(STATE, False)
        self._set(COUNTER, 0)
        self._install()

    def _install(self) -> None:
        """Subclass hook: set up further resources once state and counter are in place."""

    @property
    def state(self) -> bool:
        return self._state

    @property
    def counter(self) -> int:
        return self._count

    def set_state(self, state: bool) -> None:
        if state == self._state:
            return
        self._state = state
        if state:
            self._count += 1
            self._set(COUNTER, self._count)
        self._changed(state)
        self._set(STATE, state)
        self._stamp()

    def _changed(self, state: bool) -> None:
        """Subclass hook, before the new state is published."""


class OnOffSwitch(DigitalInput):
    object_id = 3342
    validate_handlers = {ON_TIME: "_non_negative", OFF_TIME: "_non_negative"}
    post_write_handlers = {ON_TIME: "_on_time_written", OFF_TIME: "_off_time_written"}

    def _install(self) -> None:
        self._on_timer = Stopwatch(self.clock)
        self._off_timer = Stopwatch(self.clock)
        self._off_timer.start()
        self._set(ON_TIME, self._on_timer.read)
        self._set(OFF_TIME, self._off_timer.read)

    def _on_time_written(self, value: int) -> None:
        self._on_timer.written(self, ON_TIME, value)

    def _off_time_written(self, value: int) -> None:
        self._off_timer.written(self, OFF_TIME, value)

    def _changed(self, state: bool) -> None:
        started, stopped = (
            (self._on_timer, self._off_timer) if state else (self._off_timer, self._on_timer)
        )
        stopped.stop()
        started.start()

    def turn_on(self) -> None:
        self.set_state(True)

    def turn_off(self) -> None:
        self.set_state(False)

    def toggle(self) -> None:
        self.set_state(not self._state)

    @property
    def on_time(self) -> int:
        return self._on_timer.read()

    @property
    def off_time(self) -> int:
        return self._off_timer.read()


class PushButton(DigitalInput):
    object_id = 3347

    def press(self) -> None:
        self.set_state(True)

    def release(self) -> None:
        self.set_state(False)

    def click(self) -> None:
        self.press()
        self.release()

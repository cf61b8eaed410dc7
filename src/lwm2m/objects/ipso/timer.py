"""Timer (3340): the industrial timer patterns of the IPSO Timer object.

Input: On/Off (5850) and Trigger (5523). Output: Digital State (5543).
With D the Delay Duration (5521):

====  ==================  =====================================================
mode  pattern             behaviour
====  ==================  =====================================================
0     disabled            the output follows the input, no delay
1     one-shot            input on-edge or Trigger: output on for D, then off
2     interval (on-time)  like one-shot, but the input going off ends it early
3     delay on pick-up    input on (or Trigger) starts D; then the output turns
                          on until the input is switched off
4     delay on drop-out   input on: output on at once; input off (or Trigger)
                          starts D, then the output turns off
====  ==================  =====================================================

Minimum Off-time (5525) is the re-arm delay: after the output of a timing
operation turns off, new starts are ignored until it has passed. Remaining
Time (5538) is the time left in the running operation (0 when none).
Counter (5534) counts output off-to-on transitions, Digital Input Counter
(5501) input off-to-on transitions, Cumulative Time (5544) the seconds the
input was on; writing 0 to either writable counter resets it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from lwm2m.client.store import ObjectStore
from lwm2m.objects._base import Clock, Scheduler, TimerHandle
from lwm2m.objects.ipso._common import (
    DELAY_DURATION,
    MINIMUM_OFF_TIME,
    TimedOutput,
    check_delays,
)

REMAINING, TRIGGER, ON_OFF = 5538, 5523, 5850
INPUT_COUNTER, CUMULATIVE, OUTPUT, COUNTER, MODE = 5501, 5544, 5543, 5534, 5526


class TimerMode(enum.IntEnum):
    DISABLED = 0
    ONE_SHOT = 1
    INTERVAL = 2
    DELAY_ON_PICKUP = 3
    DELAY_ON_DROPOUT = 4


class Timer(TimedOutput):
    """A 3340 instance running on ``clock`` / ``scheduler``."""

    object_id = 3340
    execute_handlers = {TRIGGER: "_execute_trigger"}
    validate_handlers = {COUNTER: "_non_negative", CUMULATIVE: "_non_negative"}
    post_write_handlers = {
        MODE: "_mode_written",
        ON_OFF: "_input_written",
        COUNTER: "_write_counter",
        CUMULATIVE: "_write_cumulative",
    }

    def __init__(
        self,
        store: ObjectStore,
        *,
        instance_id: int | None = None,
        delay_duration: float = 0.0,
        minimum_off_time: float = 0.0,
        mode: TimerMode = TimerMode.ONE_SHOT,
        application_type: str | None = None,
        on_output: Callable[[bool], None] | None = None,
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
        self.on_output = on_output
        self._input = False
        self._output = False
        self._mode = TimerMode(mode)
        self._deadline: float | None = None
        self._handle: TimerHandle | None = None
        self._rearm_at = float("-inf")
        self._counter = 0
        self._input_counter = 0
        self._cumulative = 0.0
        self._input_since = 0.0

        self._install_delays(delay_duration, minimum_off_time)
        self._set(MODE, int(self._mode))
        self._set(ON_OFF, False)
        self._add_executables()
        self._set(OUTPUT, False)
        self._set(REMAINING, self._remaining)
        self._set(COUNTER, self._counter_value)
        self._set(INPUT_COUNTER, 0)
        self._set(CUMULATIVE, self._cumulative_time)

    # ------------------------------------------------------------ reads
    @property
    def output(self) -> bool:
        return self._output

    @property
    def input(self) -> bool:
        return self._input

    @property
    def mode(self) -> TimerMode:
        return self._mode

    @property
    def counter(self) -> int:
        return self._counter

    @property
    def input_counter(self) -> int:
        return self._input_counter

    @property
    def remaining_time(self) -> float:
        return self._remaining()

    @property
    def cumulative_time(self) -> float:
        return self._cumulative_time()

    def _remaining(self) -> float:
        if self._deadline is None:
            return 0.0
        return max(0.0, self._deadline - self.clock())

    def _cumulative_time(self) -> float:
        running = self.clock() - self._input_since if self._input else 0.0
        return self._cumulative + running

    def _counter_value(self) -> int:
        return self._counter

    # Post-write handlers of the live resources: adopt the value, then serve it live again.
    def _write_counter(self, value: int) -> None:
        self._counter = int(value)
        self._set(COUNTER, self._counter_value)

    def _write_cumulative(self, value: float) -> None:
        self._cumulative = float(value)
        self._input_since = self.clock()
        self._set(CUMULATIVE, self._cumulative_time)

    def _mode_written(self, value: int) -> None:
        self.set_mode(TimerMode(value))

    def _input_written(self, value: object) -> None:
        self.set_input(bool(value))

    def _execute_trigger(self, args: str) -> None:
        self.trigger()

    # ------------------------------------------------------------ inputs
    def set_mode(self, mode: TimerMode) -> None:
        """A new mode abandons the running operation; in mode 0 the output follows the input."""
        self._mode = TimerMode(mode)
        self._cancel()
        self._set(MODE, int(self._mode))
        self._set_output(self._input if self._mode is TimerMode.DISABLED else False)

    def set_input(self, on: bool) -> None:
        """The timer input (On/Off, 5850)."""
        rising = on and not self._input
        falling = not on and self._input
        now = self.clock()
        if rising:
            self._input_counter += 1
            self._set(INPUT_COUNTER, self._input_counter)
            self._input_since = now
        elif falling:
            self._cumulative += now - self._input_since
        self._input = on
        self._set(ON_OFF, on)
        mode = self._mode
        if mode is TimerMode.DISABLED:
            self._set_output(on)
        elif mode in (TimerMode.ONE_SHOT, TimerMode.INTERVAL):
            if rising:
                self._start_pulse()
            elif falling and mode is TimerMode.INTERVAL and self._deadline is not None:
                self._end_pulse()
        elif mode is TimerMode.DELAY_ON_PICKUP:
            if rising:
                self._start_pickup()
            elif not on:
                # Switching the input off ends the output, also after a Trigger.
                self._cancel()
                self._turn_off()
        elif rising:  # delay on drop-out
            self._cancel()
            self._set_output(True)
        elif falling:
            self._start_dropout()

    def trigger(self) -> None:
        """Trigger (5523): start the timing operation of the current mode."""
        mode = self._mode
        if mode in (TimerMode.ONE_SHOT, TimerMode.INTERVAL):
            self._start_pulse()
        elif mode is TimerMode.DELAY_ON_PICKUP:
            self._start_pickup()
        elif mode is TimerMode.DELAY_ON_DROPOUT:
            self._cancel()
            self._set_output(True)
            self._start_dropout()

    # ----------------------------------------------------------- timing
    def _armed(self) -> bool:
        return self._deadline is None and self.clock() >= self._rearm_at

    def _start_pulse(self) -> None:
        if self._armed():
            self._set_output(True)
            self._arm(self._end_pulse)

    def _end_pulse(self) -> None:
        self._cancel()
        self._turn_off()

    def _start_pickup(self) -> None:
        if self._armed() and not self._output:
            self._arm(self._picked_up)

    def _picked_up(self) -> None:
        self._cancel()
        self._set_output(True)

    def _start_dropout(self) -> None:
        self._cancel()
        self._arm(self._end_pulse)

    def _arm(self, action: Callable[[], None]) -> None:
        delay = float(self._get(DELAY_DURATION))
        self._deadline = self.clock() + delay
        self._handle = self.scheduler.call_later(delay, action)

    def _cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._deadline = None

    def _turn_off(self) -> None:
        if self._output:
            self._rearm_at = self.clock() + float(self._get(MINIMUM_OFF_TIME))
        self._set_output(False)

    def _set_output(self, on: bool) -> None:
        if on == self._output:
            return
        self._output = on
        if on:
            self._counter += 1
        self._set(OUTPUT, on)
        if self.on_output is not None:
            self.on_output(on)

"""What the IPSO objects share: multiple instances, Application Type, Timestamp and the
Delay Duration / Minimum Off-time pair of the timed outputs."""

from __future__ import annotations

from lwm2m.client.store import ObjectStore
from lwm2m.objects._base import Clock, ObjectInstance, Scheduler, non_negative

APPLICATION_TYPE = 5750
TIMESTAMP = 5518
DELAY_DURATION, MINIMUM_OFF_TIME = 5521, 5525


def check_delays(delay_duration: float, minimum_off_time: float) -> None:
    """Refuse a negative Delay Duration or Minimum Off-time before an instance is created."""
    if not (non_negative(delay_duration) and non_negative(minimum_off_time)):
        raise ValueError("delay duration and minimum off-time must be >= 0")


class IpsoInstance(ObjectInstance):
    """An IPSO object instance; ``instance_id`` None takes the lowest free id."""

    def __init__(
        self,
        store: ObjectStore,
        instance_id: int | None = None,
        *,
        application_type: str | None = None,
        clock: Clock | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        super().__init__(store, instance_id, clock=clock, scheduler=scheduler)
        if application_type is not None and self.has_resource(APPLICATION_TYPE):
            self._set(APPLICATION_TYPE, application_type)

    def _stamp(self) -> None:
        """Timestamp (5518) of the latest measurement or change, when the object has one."""
        if self.has_resource(TIMESTAMP):
            self._set(TIMESTAMP, int(self.clock()))


class TimedOutput(IpsoInstance):
    """An output with Delay Duration (5521) and Minimum Off-time (5525); a server write
    of either must be >= 0."""

    validate_handlers = {DELAY_DURATION: "_non_negative", MINIMUM_OFF_TIME: "_non_negative"}

    def _install_delays(self, delay_duration: float, minimum_off_time: float) -> None:
        self._set(DELAY_DURATION, float(delay_duration))
        self._set(MINIMUM_OFF_TIME, float(minimum_off_time))

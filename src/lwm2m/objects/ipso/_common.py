"""What the IPSO objects share: multiple instances and the Application Type resource."""

from __future__ import annotations

from lwm2m.client.store import ObjectStore
from lwm2m.objects._base import Clock, ObjectInstance, Scheduler

APPLICATION_TYPE = 5750
TIMESTAMP = 5518


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

"""Connectivity Statistics object (7) over the traffic counters the transport feeds.

:class:`~lwm2m.transport.counting.TrafficCounters` is fed by
:class:`~lwm2m.transport.counting.CountingTransport` for every datagram a
client connection sends or receives (``Client.traffic``; pass it here to
show the client's real traffic). The object shows what was collected between
Start (6) and Stop (7): Start resets resources 0-5 to 0 and collects, Stop
keeps the values readable but collects no more, and a non-zero Collection
Period (8) stops the collection by itself that many seconds after Start
(object 7 definition, resources 6-8).

Tx Data (2) and Rx Data (3) are whole KiB (rounded down) of CoAP datagrams,
without DTLS, UDP and IP overhead (see :mod:`lwm2m.transport.counting`). SMS
counters (0, 1) stay 0: this stack has no SMS binding.
"""

from __future__ import annotations

from lwm2m.client.store import ObjectStore
from lwm2m.objects._base import Clock, ObjectInstance, Scheduler, TimerHandle
from lwm2m.transport.counting import TrafficCounters

__all__ = ["ConnectivityStatistics", "TrafficCounters"]


class ConnectivityStatistics(ObjectInstance):
    """The instance /7/0 over a :class:`TrafficCounters` (created when not given).

    The object owns ``counters.enabled``: nothing is collected until Start.
    """

    object_id = 7
    execute_handlers = {6: "_execute_start", 7: "_execute_stop"}
    validate_handlers = {8: "_non_negative"}

    def __init__(
        self,
        store: ObjectStore,
        counters: TrafficCounters | None = None,
        *,
        collection_period: int = 0,
        clock: Clock | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        super().__init__(store, 0, clock=clock, scheduler=scheduler)
        self.counters = counters if counters is not None else TrafficCounters()
        self.counters.enabled = False
        self._stop_timer: TimerHandle | None = None
        self._set(0, self._sms_tx)
        self._set(1, self._sms_rx)
        self._set(2, self._tx_kib)
        self._set(3, self._rx_kib)
        self._set(4, self._max_message_size)
        self._set(5, self._average_message_size)
        self._add_executables()
        self._set(8, collection_period)

    # Live readings as methods: a bound method is smaller than a closure.
    def _sms_tx(self) -> int:
        return self.counters.sms_tx

    def _sms_rx(self) -> int:
        return self.counters.sms_rx

    def _tx_kib(self) -> int:
        return self.counters.tx_bytes // 1024  # KiB (Core TS E.8)

    def _rx_kib(self) -> int:
        return self.counters.rx_bytes // 1024

    def _max_message_size(self) -> int:
        return self.counters.max_message_size

    def _average_message_size(self) -> int:
        return self.counters.average_message_size

    def _execute_start(self, args: str) -> None:
        self.start()

    def _execute_stop(self, args: str) -> None:
        self.stop()

    @property
    def collecting(self) -> bool:
        return self.counters.enabled

    def start(self) -> None:
        """Reset resources 0-5 and collect; stop after Collection Period when it is non-zero."""
        self._cancel_timer()
        self.counters.reset()
        self.counters.enabled = True
        period = int(self._get(8))
        if period > 0:
            self._stop_timer = self.scheduler.call_later(period, self.stop)

    def stop(self) -> None:
        """Stop collecting; the values stay readable until the next Start."""
        self._cancel_timer()
        self.counters.enabled = False

    def _cancel_timer(self) -> None:
        if self._stop_timer is not None:
            self._stop_timer.cancel()
            self._stop_timer = None

"""Connectivity Statistics object (7) and the traffic counters the transport feeds.

:class:`TrafficCounters` is what a transport calls for every datagram it
sends or receives. The object shows the counters collected between Start (6)
and Stop (7); Start resets resources 0-5 first, and a non-zero Collection
Period (8) stops the collection by itself after that many seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from lwm2m.client.store import ObjectStore
from lwm2m.objects._base import Clock, ObjectInstance, Scheduler, TimerHandle, non_negative


@dataclass(slots=True)
class TrafficCounters:
    """Bytes and messages in each direction; counting happens only while ``enabled``."""

    enabled: bool = True
    tx_bytes: int = 0
    rx_bytes: int = 0
    tx_messages: int = 0
    rx_messages: int = 0
    max_message_size: int = 0
    sms_tx: int = 0
    sms_rx: int = 0

    def on_sent(self, nbytes: int) -> None:
        if self.enabled:
            self.tx_bytes += nbytes
            self.tx_messages += 1
            self.max_message_size = max(self.max_message_size, nbytes)

    def on_received(self, nbytes: int) -> None:
        if self.enabled:
            self.rx_bytes += nbytes
            self.rx_messages += 1
            self.max_message_size = max(self.max_message_size, nbytes)

    @property
    def average_message_size(self) -> int:
        messages = self.tx_messages + self.rx_messages
        return (self.tx_bytes + self.rx_bytes) // messages if messages else 0

    def reset(self) -> None:
        self.tx_bytes = self.rx_bytes = self.tx_messages = self.rx_messages = 0
        self.max_message_size = self.sms_tx = self.sms_rx = 0


class ConnectivityStatistics(ObjectInstance):
    """The instance /7/0 over a :class:`TrafficCounters` (created when not given)."""

    object_id = 7

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
        c = self.counters
        self._set(0, lambda: c.sms_tx)
        self._set(1, lambda: c.sms_rx)
        self._set(2, lambda: c.tx_bytes // 1024)  # KiB (Core TS E.8)
        self._set(3, lambda: c.rx_bytes // 1024)
        self._set(4, lambda: c.max_message_size)
        self._set(5, lambda: c.average_message_size)
        self._add_executable(6, lambda args: self.start())
        self._add_executable(7, lambda args: self.stop())
        self._set(8, collection_period)
        self._on_validate(8, non_negative)

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

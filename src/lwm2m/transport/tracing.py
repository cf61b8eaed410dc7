"""A transport wrapper that shows chosen peers' datagrams to an observer (a CoAP log).

Only peers given to :meth:`TracingTransport.watch` are reported, so an idle
tracer costs one dictionary lookup per datagram. The observer gets the raw
datagram, the peer and the direction; decoding it is the observer's business.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from lwm2m.transport.base import Address, DatagramTransport, TransportWrapper

__all__ = ["TraceCallback", "TracingTransport"]

log = logging.getLogger(__name__)

TraceCallback = Callable[[bytes, Address, bool], None]
"""``(datagram, peer, incoming)``."""


class TracingTransport(TransportWrapper[DatagramTransport]):
    """``inner`` with a per-peer trace of what goes in and out."""

    __slots__ = ("_watched",)

    def __init__(self, inner: DatagramTransport) -> None:
        super().__init__(inner)
        self._watched: dict[Address, TraceCallback] = {}

    def watch(self, remote: Address, callback: TraceCallback) -> None:
        self._watched[remote] = callback

    def unwatch(self, remote: Address) -> None:
        self._watched.pop(remote, None)

    def unwatch_all(self) -> None:
        self._watched.clear()

    def _trace(self, data: bytes, remote: Address, incoming: bool) -> None:
        callback = self._watched.get(remote)
        if callback is not None:
            try:
                callback(data, remote, incoming)
            except Exception:  # an observer's fault must not break the traffic
                log.exception("CoAP trace observer failed")

    def _received(self, data: bytes, remote: Address) -> None:
        if self._watched:
            self._trace(data, remote, True)
        super()._received(data, remote)

    def send(self, data: bytes, remote: Address) -> None:
        if self._watched:
            self._trace(data, remote, False)
        super().send(data, remote)

"""Traffic counting: a transport wrapper that counts datagrams and bytes in each direction.

:class:`CountingTransport` sits between a CoAP :class:`~lwm2m.coap.endpoint.Endpoint`
and any :class:`~lwm2m.transport.base.DatagramTransport` and feeds a
:class:`TrafficCounters` (which the Connectivity Statistics object, /7, reads).

What is counted: the datagrams the CoAP layer sends and receives, i.e. whole
CoAP messages. Over DTLS the wrapper sits above the session, so record
headers, MACs, handshakes and alerts are not included; neither are the UDP
and IP headers. (Object 7's note asks for bytes "up to and including the IP
header"; a CoAP-layer count is the part every platform can measure.)
Datagrams a lower layer drops before the CoAP layer sees them (the queue-mode
receive gate, a DTLS record that fails authentication) are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from lwm2m.transport.base import Address, DatagramTransport, TransportWrapper

__all__ = ["CountingTransport", "TrafficCounters"]


@dataclass(slots=True)
class TrafficCounters:
    """Bytes and messages in each direction; counting happens only while ``enabled``.

    One instance may be shared by many transports (the client uses one for all
    its server connections, so the totals survive reconnects).
    """

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
            if nbytes > self.max_message_size:
                self.max_message_size = nbytes

    def on_received(self, nbytes: int) -> None:
        if self.enabled:
            self.rx_bytes += nbytes
            self.rx_messages += 1
            if nbytes > self.max_message_size:
                self.max_message_size = nbytes

    @property
    def messages(self) -> int:
        return self.tx_messages + self.rx_messages

    @property
    def average_message_size(self) -> int:
        """Whole bytes per message over both directions; 0 before the first one."""
        messages = self.tx_messages + self.rx_messages
        return (self.tx_bytes + self.rx_bytes) // messages if messages else 0

    def reset(self) -> None:
        self.tx_bytes = self.rx_bytes = self.tx_messages = self.rx_messages = 0
        self.max_message_size = self.sms_tx = self.sms_rx = 0


class CountingTransport(TransportWrapper[DatagramTransport]):
    """Forwards everything to ``inner`` and counts each datagram in ``counters``.

    A datagram is counted as sent once ``inner`` accepted it; sends on a
    closed transport, which the inner transport reports as errors, are not.
    """

    __slots__ = ("counters",)

    def __init__(self, inner: DatagramTransport, counters: TrafficCounters) -> None:
        self.counters = counters
        super().__init__(inner)

    def _received(self, data: bytes, remote: Address) -> None:
        self.counters.on_received(len(data))
        super()._received(data, remote)

    def send(self, data: bytes, remote: Address) -> None:
        inner = self._inner
        closed = inner.is_closed  # then the inner transport reports the failure
        inner.send(data, remote)
        if not closed:
            self.counters.on_sent(len(data))

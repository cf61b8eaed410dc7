"""Datagram transports: the interface (:mod:`.base`) and plain UDP (:mod:`.udp`)."""

from .base import Address, DatagramTransport, ErrorCallback, ReceiveCallback
from .udp import UdpTransport

__all__ = ["Address", "DatagramTransport", "ErrorCallback", "ReceiveCallback", "UdpTransport"]

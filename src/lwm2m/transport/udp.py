"""Plain UDP datagram transport on asyncio (IPv4 and IPv6).

``transport = await UdpTransport.create("127.0.0.1", 0)`` binds a socket;
``"::1"`` or ``"::"`` give an IPv6 socket. Peer addresses are reported as
``(host, port)``; on an IPv6 socket they are IPv6 addresses (IPv4 peers of a
dual-stack ``"::"`` socket appear as ``::ffff:a.b.c.d``).

Errors the kernel reports (ICMP port unreachable and the like, or a failing
``sendto``) are handed to the error callback, never raised into the loop.
When the error surfaces synchronously inside :meth:`UdpTransport.send` the
peer address is passed along; otherwise it is ``None``.
"""

from __future__ import annotations

import asyncio
import socket

from .base import Address, DatagramTransport, ErrorCallback, ReceiveCallback

__all__ = ["UdpTransport"]


class _Protocol(asyncio.DatagramProtocol):
    __slots__ = ("owner",)

    def __init__(self, owner: UdpTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if len(addr) != 2:
            addr = addr[:2]  # IPv6: drop flowinfo/scope_id (scope is in the host text)
        self.owner._on_datagram(data, addr)  # type: ignore[arg-type]


class _Protocol4(_Protocol):
    """IPv4 socket: peers already are ``(host, port)``, so the event loop hands each
    datagram straight to the receive callback (installed here by ``set_callbacks``)."""

    __slots__ = ("datagram_received",)

    def __init__(self, owner: UdpTransport) -> None:
        super().__init__(owner)
        self.datagram_received = owner._on_datagram  # type: ignore[assignment]

    def error_received(self, exc: Exception) -> None:
        owner = self.owner
        if isinstance(exc, OSError):
            owner._on_error(exc, owner._sending_to)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._closed = True


class UdpTransport(DatagramTransport):
    """One bound UDP socket driven by the asyncio event loop."""

    def __init__(self) -> None:
        super().__init__()
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _Protocol | None = None
        self._sending_to: Address | None = None
        self._closed = False
        self._local: Address = ("", 0)

    @classmethod
    async def create(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        reuse_port: bool = False,
        connect: Address | None = None,
    ) -> UdpTransport:
        """Bind ``host``/``port`` (port 0: any free port).

        ``connect`` connects the socket to one peer: it then takes datagrams
        from that peer only, and Linux reports ICMP errors such as port
        unreachable to it (udp(7)), which reach the error callback.
        """
        loop = asyncio.get_running_loop()
        self = cls()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        if not infos:
            raise OSError(f"cannot resolve {host!r}")
        family, _, _, _, sockaddr = infos[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6 and host in ("::", ""):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            if reuse_port and hasattr(socket, "SO_REUSEPORT"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(sockaddr)
            if connect is not None:
                sock.connect(connect)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        protocol = _Protocol4(self) if family == socket.AF_INET else _Protocol(self)
        transport, _ = await loop.create_datagram_endpoint(lambda: protocol, sock=sock)
        self._protocol = protocol
        self._transport = transport
        local = sock.getsockname()
        self._local = (local[0], local[1])
        return self

    def set_callbacks(self, on_datagram: ReceiveCallback, on_error: ErrorCallback) -> None:
        super().set_callbacks(on_datagram, on_error)
        if isinstance(self._protocol, _Protocol4):
            self._protocol.datagram_received = on_datagram  # type: ignore[assignment]

    def send(self, data: bytes, remote: Address) -> None:
        transport = self._transport
        if transport is None or self._closed:
            self._on_error(OSError("transport is closed"), remote)
            return
        self._sending_to = remote
        try:
            transport.sendto(data, remote)
        except (OSError, ValueError, TypeError) as exc:
            err = exc if isinstance(exc, OSError) else OSError(str(exc))
            self._on_error(err, remote)
        finally:
            self._sending_to = None

    def close(self) -> None:
        if self._transport is not None and not self._closed:
            self._closed = True
            self._transport.close()

    @property
    def local_address(self) -> Address:
        return self._local

    @property
    def is_closed(self) -> bool:
        return self._closed

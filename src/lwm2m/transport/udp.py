"""Plain UDP datagram transport on asyncio (IPv4 and IPv6).

``transport = await UdpTransport.create("127.0.0.1", 0)`` binds a socket;
``"::1"`` or ``"::"`` give an IPv6 socket. Peer addresses are reported as
``(host, port)``; on an IPv6 socket they are IPv6 addresses (IPv4 peers of a
dual-stack ``"::"`` socket appear as ``::ffff:a.b.c.d``).

Errors the kernel reports (ICMP port unreachable and the like, or a failing
``sendto``) are handed to the error callback, never raised into the loop.
When the error surfaces synchronously inside :meth:`UdpTransport.send` the
peer address is passed along; otherwise it is ``None``.

The socket is driven with ``loop.add_reader`` and direct ``sendto`` calls
rather than ``loop.create_datagram_endpoint``: an asyncio datagram transport
keeps a protocol, an extra-info dict and an empty 760-byte send deque per
socket, which dominated the footprint of a fleet of simulated devices (one
socket each). Here an idle socket holds the socket and a few slots; a send
queue exists only while the kernel buffer is full.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections import deque

from .base import Address, DatagramTransport

__all__ = ["UdpTransport"]

MAX_DATAGRAM = 65536
"""recvfrom buffer: larger than any UDP payload (65507 bytes over IPv4, 65527 over
IPv6 without jumbograms), so a datagram is never truncated. asyncio asked for
256 KiB, which only made each receive allocate a bigger temporary."""


def _os_error(exc: Exception) -> OSError:
    return exc if isinstance(exc, OSError) else OSError(str(exc))


class UdpTransport(DatagramTransport):
    """One bound UDP socket driven by the asyncio event loop."""

    __slots__ = ("_closed", "_connected", "_local", "_loop", "_queue", "_sock")

    # Set by create() together with the socket; only read while there is one.
    _loop: asyncio.AbstractEventLoop

    def __init__(self) -> None:
        super().__init__()
        self._sock: socket.socket | None = None
        # Datagrams waiting for room in the kernel buffer; None (not an empty
        # deque, 760 bytes) while everything went straight out.
        self._queue: deque[tuple[bytes, Address]] | None = None
        self._connected = False
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
            local = sock.getsockname()
            loop.add_reader(sock.fileno(), self._read_ready)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._loop = loop
        self._connected = connect is not None
        # Interned: the many sockets of a fleet share one host string.
        self._local = (sys.intern(local[0]), local[1])
        return self

    def _read_ready(self) -> None:
        # One datagram per wake-up, as asyncio's datagram transport does: the
        # loop serves every other ready socket before this one again.
        sock = self._sock
        if sock is None or self._closed:
            return  # a wake-up already queued when close() ran
        try:
            data, addr = sock.recvfrom(MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # an ICMP error queued on the socket
            self._on_error(exc, None)
            return
        except Exception as exc:
            self._fatal(exc, "Fatal read error on datagram transport")
            return
        if len(addr) != 2:
            addr = addr[:2]  # IPv6: drop flowinfo/scope_id (scope is in the host text)
        self._on_datagram(data, addr)

    def _send_now(self, sock: socket.socket, data: bytes, remote: Address) -> None:
        if self._connected:
            sock.send(data)  # a connected socket has one peer: ``remote`` is it
        else:
            sock.sendto(data, remote)

    def send(self, data: bytes, remote: Address) -> None:
        sock = self._sock
        if sock is None or self._closed:
            self._on_error(OSError("transport is closed"), remote)
            return
        if not data:
            return  # dropped, not sent, as asyncio (Python 3.11) did
        queue = self._queue
        if queue is not None:
            queue.append((bytes(data), remote))  # keep the order behind what waits
            return
        try:
            self._send_now(sock, data, remote)
        except (BlockingIOError, InterruptedError):
            # Kernel buffer full: queue until the socket is writable again.
            self._queue = deque(((bytes(data), remote),))
            self._loop.add_writer(sock.fileno(), self._write_ready)
        except Exception as exc:  # also a bad address or data: reported, never raised
            self._on_error(_os_error(exc), remote)

    def _write_ready(self) -> None:
        sock = self._sock
        queue = self._queue
        if sock is None or queue is None:
            return
        while queue:
            data, remote = queue.popleft()  # before the callback: a failing one is not retried
            try:
                self._send_now(sock, data, remote)
            except (BlockingIOError, InterruptedError):
                queue.appendleft((data, remote))  # still full: wait for the next writable event
                return
            except Exception as exc:
                # Asynchronous, like ICMP errors: no peer (see the module docstring).
                self._on_error(_os_error(exc), None)
        self._drop_queue(sock)
        if self._closed:
            self._release(sock)  # close() waited for the queue to drain

    def _drop_queue(self, sock: socket.socket) -> None:
        if self._queue is not None:
            self._queue = None  # back to the idle footprint
            self._loop.remove_writer(sock.fileno())

    def _fatal(self, exc: Exception, message: str) -> None:
        # What asyncio's transport did with an unexpected exception: report it to
        # the loop's exception handler and drop the socket, queued datagrams too.
        self._loop.call_exception_handler({"message": message, "exception": exc, "transport": self})
        if self._sock is not None:
            self._drop_queue(self._sock)
        self.close()

    def close(self) -> None:
        """Stop receiving at once; datagrams still queued for the kernel go out
        first (as with asyncio's transport), then the socket is closed."""
        sock = self._sock
        if sock is None or self._closed:
            return
        self._closed = True
        self._loop.remove_reader(sock.fileno())
        if self._queue is None:
            self._release(sock)

    def _release(self, sock: socket.socket) -> None:
        self._sock = None
        sock.close()

    @property
    def local_address(self) -> Address:
        return self._local

    @property
    def peer_address(self) -> Address | None:
        """The peer of a connected socket (resolved), else None."""
        if not self._connected or self._sock is None:
            return None
        peer = self._sock.getpeername()
        return (peer[0], peer[1])

    @property
    def is_closed(self) -> bool:
        return self._closed

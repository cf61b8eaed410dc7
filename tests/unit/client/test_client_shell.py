"""Pieces of the client shell that need no peer: the queue-mode receive gate, guards."""

from __future__ import annotations

import socket

import pytest

from lwm2m.client.client import Client
from lwm2m.client.connections import ReceiveGate, local_host_for
from lwm2m.transport.base import Address, DatagramTransport


class _Recorder(DatagramTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[bytes, Address]] = []
        self.closed = False

    def send(self, data: bytes, remote: Address) -> None:
        self.sent.append((data, remote))

    def close(self) -> None:
        self.closed = True

    @property
    def local_address(self) -> Address:
        return ("127.0.0.1", 5000)

    @property
    def is_closed(self) -> bool:
        return self.closed

    def deliver(self, data: bytes) -> None:
        self._on_datagram(data, ("127.0.0.1", 5683))


class _Sleepy:
    """The one ConnectionHooks method a gate asks: whether server ``key`` sleeps."""

    def __init__(self, asleep: bool) -> None:
        self.asleep_now = asleep
        self.asked: list[int | None] = []

    def asleep(self, key: int | None) -> bool:
        self.asked.append(key)
        return self.asleep_now


def test_receive_gate_drops_datagrams_only_while_asleep() -> None:
    inner = _Recorder()
    hooks = _Sleepy(False)
    gate = ReceiveGate(inner, hooks, 101)  # type: ignore[arg-type]
    received: list[bytes] = []
    gate.set_callbacks(lambda data, remote: received.append(data), lambda exc, remote: None)
    inner.deliver(b"one")
    hooks.asleep_now = True
    inner.deliver(b"two")  # receiver off: lost, as for a device whose radio is off
    hooks.asleep_now = False
    inner.deliver(b"three")
    assert received == [b"one", b"three"]
    assert hooks.asked == [101, 101, 101]  # asked about its own server each time
    gate.send(b"out", ("127.0.0.1", 5683))  # sending is never gated
    assert inner.sent == [(b"out", ("127.0.0.1", 5683))]
    assert gate.local_address == ("127.0.0.1", 5000)
    gate.close()
    assert inner.closed and gate.is_closed


def test_receive_gate_passes_errors_through() -> None:
    inner = _Recorder()
    gate = ReceiveGate(inner, _Sleepy(True), None)  # type: ignore[arg-type]
    errors: list[OSError] = []
    gate.set_callbacks(lambda data, remote: None, lambda exc, remote: errors.append(exc))
    inner._on_error(ConnectionRefusedError("refused"), None)
    assert len(errors) == 1  # an ICMP error is reported even while asleep


@pytest.mark.parametrize(
    ("remote", "family", "local"),
    [
        ("127.0.0.1", socket.AF_INET, "127.0.0.1"),
        ("::1", socket.AF_INET6, "::1"),
        ("192.0.2.1", socket.AF_INET, "0.0.0.0"),
        ("2001:db8::1", socket.AF_INET6, "::"),
    ],
)
def test_local_host_follows_the_server_family(remote: str, family: int, local: str) -> None:
    assert local_host_for(remote, family) == local


async def test_calls_before_start_do_nothing_or_say_why() -> None:
    client = Client("unstarted")
    client.address_changed()  # nothing to re-register
    await client.stop()  # nothing to stop
    assert client.registered_servers == [] and client.state(101) is None
    with pytest.raises(RuntimeError, match="not started"):
        await client.send(["3/0/0"])

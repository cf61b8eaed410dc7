"""Connectivity Monitoring object (4): the current network connection, as the application sees it.

Every resource takes a fixed value or a callable read on demand, so live
readings (Radio Signal Strength, Link Quality, ...) come straight from the
platform. :meth:`ConnectivityMonitor.track` keeps IP Addresses (4) and Router
IP Addresses (5) current from a client: the local addresses its server
sockets really send from, and the host's default gateways.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable, Sequence
from pathlib import Path as FsPath
from typing import Any, Protocol

from lwm2m.client.store import ObjectStore
from lwm2m.errors import ModelError
from lwm2m.objects._base import ObjectInstance

log = logging.getLogger(__name__)

_ROUTE4 = FsPath("/proc/net/route")
_ROUTE6 = FsPath("/proc/net/ipv6_route")
_RTF_GATEWAY = 0x2  # route flag: the route goes through a gateway (linux/route.h)


class NetworkBearer(enum.IntEnum):
    """Network Bearer (4/0/0) values: 0-20 cellular, 21-40 wireless, 41-50 wireline."""

    GSM = 0
    TD_SCDMA = 1
    WCDMA = 2
    CDMA2000 = 3
    WIMAX = 4
    LTE_TDD = 5
    LTE_FDD = 6
    NB_IOT = 7
    WLAN = 21
    BLUETOOTH = 22
    IEEE_802_15_4 = 23
    ETHERNET = 41
    DSL = 42
    PLC = 43


# Python field name -> resource id.
FIELDS: dict[str, int] = {
    "network_bearer": 0,
    "available_bearers": 1,
    "radio_signal_strength": 2,
    "link_quality": 3,
    "ip_addresses": 4,
    "router_ip_addresses": 5,
    "link_utilization": 6,
    "apn": 7,
    "cell_id": 8,
    "smnc": 9,
    "smcc": 10,
    "signal_snr": 11,
    "lac": 12,
    "coverage_enhancement_level": 13,
}


class ConnectivityMonitor(ObjectInstance):
    """The instance /4/0. Mandatory resources (0, 1, 2, 4) always get a value."""

    object_id = 4

    def __init__(
        self,
        store: ObjectStore,
        *,
        network_bearer: int = NetworkBearer.ETHERNET,
        available_bearers: Sequence[int] | None = None,
        radio_signal_strength: Any = 0,
        ip_addresses: Sequence[Any] = (),
        **optional: Any,
    ) -> None:
        super().__init__(store, 0)
        self.update(
            network_bearer=int(network_bearer),
            available_bearers=list(available_bearers or [int(network_bearer)]),
            radio_signal_strength=radio_signal_strength,
            ip_addresses=list(ip_addresses),
            **optional,
        )

    def update(self, **fields: Any) -> None:
        """Set resources by field name (see :data:`FIELDS`); sequences fill multiple resources.

        Every value is checked before any is set, so a bad one changes nothing.
        """
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ModelError(f"unknown connectivity fields {sorted(unknown)}")
        for name, value in fields.items():
            rdef = self.store.resource_def(self.rpath(FIELDS[name]))
            items = list(value) if rdef.multiple else [value]
            for item in items:
                if not callable(item):
                    rdef.check(item, f"{self.rpath(rdef.id)} ({name})")
        for name, value in fields.items():
            rdef = self.store.resource_def(self.rpath(FIELDS[name]))
            self._set(rdef.id, list(value) if rdef.multiple else value)

    def track(
        self,
        client: AddressSource,
        *,
        routers: Callable[[], list[str]] | None = None,
    ) -> None:
        """Keep IP Addresses (4) and Router IP Addresses (5) current from ``client``.

        Refreshed now and whenever the client opens a server connection (start,
        reconnect, :meth:`~lwm2m.client.client.Client.address_changed`). Routers
        come from ``routers()``, by default :func:`default_gateways`.
        """
        find_routers = routers if routers is not None else default_gateways

        def refresh(endpoint: Any = None, key: int | None = None) -> None:
            addresses = client.local_addresses()
            if endpoint is not None:
                host = str(endpoint.local_address[0])
                if host not in addresses and not _unspecified(host):
                    addresses.append(host)
            fields: dict[str, Any] = {"router_ip_addresses": find_routers()}
            if addresses:  # keep the configured ones until a socket is open
                fields["ip_addresses"] = addresses
            self.update(**fields)

        refresh()
        client.endpoint_setup.append(refresh)


class AddressSource(Protocol):
    """What :meth:`ConnectivityMonitor.track` needs of a client."""

    @property
    def endpoint_setup(self) -> list[Callable[[Any, int | None], None]]: ...

    def local_addresses(self) -> list[str]: ...


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_unspecified
    except ValueError:
        return True


def default_gateways(route4: FsPath = _ROUTE4, route6: FsPath = _ROUTE6) -> list[str]:
    """The host's default routers (IPv4, then IPv6) from the Linux routing tables in
    ``/proc``; empty where those tables do not exist or cannot be read."""
    found: list[str] = []
    try:
        lines4 = route4.read_text().splitlines()[1:]  # first line: column names
    except OSError:
        lines4 = []
    for line in lines4:
        cols = line.split()
        try:
            if cols[1] == "00000000" and int(cols[3], 16) & _RTF_GATEWAY:
                # Little-endian hex of the address in network order.
                found.append(socket.inet_ntoa(struct.pack("<I", int(cols[2], 16))))
        except (IndexError, ValueError, struct.error):
            log.debug("unexpected line in %s: %r", route4, line)
    try:
        lines6 = route6.read_text().splitlines()
    except OSError:
        lines6 = []
    for line in lines6:
        cols = line.split()
        try:
            dest, prefix, gateway = cols[0], cols[1], cols[4]
            if int(dest, 16) == 0 and int(prefix, 16) == 0 and int(gateway, 16) != 0:
                found.append(str(ipaddress.IPv6Address(bytes.fromhex(gateway))))
        except (IndexError, ValueError):
            log.debug("unexpected line in %s: %r", route6, line)
    return list(dict.fromkeys(found))

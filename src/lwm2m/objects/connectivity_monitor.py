"""Connectivity Monitoring object (4): the current network connection, as the application sees it.

Every resource takes a fixed value or a callable read on demand, so live
readings (signal strength, addresses) come straight from the platform.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from lwm2m.client.store import ObjectStore
from lwm2m.errors import ModelError
from lwm2m.objects._base import ObjectInstance


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

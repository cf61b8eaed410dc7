"""Standard LwM2M objects as working implementations over the client's object store.

Each class installs one instance into an :class:`~lwm2m.client.store.ObjectStore`
in its constructor and exposes a Python API for the application.
"""

from lwm2m.objects._base import LoopScheduler, Scheduler, Stopwatch
from lwm2m.objects.clock import ManualClock
from lwm2m.objects.connectivity_monitor import ConnectivityMonitor, NetworkBearer
from lwm2m.objects.connectivity_stats import ConnectivityStatistics, TrafficCounters
from lwm2m.objects.device import BatteryStatus, Device, ErrorCode, PowerSource, PowerSourceType
from lwm2m.objects.firmware_download import Downloader, HttpDownloader, PackageSink
from lwm2m.objects.firmware_state import FirmwareStateMachine, Result, State
from lwm2m.objects.firmware_update import FirmwareUpdate, FirmwareUpdater
from lwm2m.objects.location import Location

__all__ = [
    "BatteryStatus",
    "ConnectivityMonitor",
    "ConnectivityStatistics",
    "Device",
    "Downloader",
    "ErrorCode",
    "FirmwareStateMachine",
    "FirmwareUpdate",
    "FirmwareUpdater",
    "HttpDownloader",
    "Location",
    "LoopScheduler",
    "ManualClock",
    "NetworkBearer",
    "PackageSink",
    "PowerSource",
    "PowerSourceType",
    "Result",
    "Scheduler",
    "State",
    "Stopwatch",
    "TrafficCounters",
]

"""The sample client: a complete simulated device, as the seed's samples/net/lwm2m_client.

:func:`build_sample_client` returns a :class:`SampleDevice`: a configured
:class:`~lwm2m.client.client.Client` with Device, Connectivity Monitoring
(addresses from the client's sockets), Connectivity Statistics (the client's
real traffic, collected after Start /7/0/6), Firmware Update (images written
to a directory), Location, a Temperature sensor that drifts, Light Control and
Timer objects, and the Security/Server instances for the given server.
``lwm2m client`` and ``lwm2m demo`` use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path as FsPath

from lwm2m.client.client import Client
from lwm2m.client.firmware_transfer import attach_firmware
from lwm2m.model import Registry, default_registry
from lwm2m.objects.connectivity_monitor import ConnectivityMonitor
from lwm2m.objects.connectivity_stats import ConnectivityStatistics
from lwm2m.objects.device import Device
from lwm2m.objects.firmware_errors import IntegrityCheckFailed, UpdateFailed
from lwm2m.objects.firmware_update import FirmwareUpdate, FirmwareUpdater
from lwm2m.objects.ipso.light_control import LightControl
from lwm2m.objects.ipso.sensors import Temperature
from lwm2m.objects.ipso.timer import Timer
from lwm2m.objects.location import Location

log = logging.getLogger(__name__)


class DirectoryUpdater(FirmwareUpdater):
    """Writes each image to ``directory/firmware-N.bin``; "applying" records it as installed.

    An empty image fails the integrity check; ``apply()`` sets the Device
    object's firmware version to the image's size-derived label so a server
    can see the update took effect.
    """

    def __init__(self, directory: FsPath) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.installed: list[FsPath] = []
        self.on_applied: list[object] = []
        self._file: FsPath | None = None
        self._size = 0

    @property
    def current(self) -> FsPath | None:
        return self._file

    async def open_sink(self) -> None:
        self.count += 1
        self._file = self.directory / f"firmware-{self.count}.bin"
        self._file.write_bytes(b"")
        self._size = 0

    async def write(self, chunk: bytes) -> None:
        if self._file is None:
            await self.open_sink()
        assert self._file is not None
        with self._file.open("ab") as fh:
            fh.write(chunk)
        self._size += len(chunk)

    async def verify(self) -> bool:
        if self._size == 0:
            raise IntegrityCheckFailed("empty image")
        return True

    async def apply(self) -> None:
        if self._file is None:
            raise UpdateFailed("no image")
        self.installed.append(self._file)
        log.info("firmware image %s (%d bytes) installed", self._file, self._size)

    async def cancel(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.unlink()
            self._file = None


@dataclass(slots=True)
class SampleDevice:
    """The client and its object implementations."""

    client: Client
    device: Device
    firmware: FirmwareUpdate
    updater: DirectoryUpdater
    temperature: Temperature
    light: LightControl
    timer: Timer
    location: Location
    connectivity: ConnectivityMonitor
    statistics: ConnectivityStatistics
    reboots: list[str] = field(default_factory=list)
    _drift: asyncio.Task[None] | None = None

    def start_drift(self, period: float = 1.0, seed: int | None = None) -> None:
        """Let the simulated temperature move by up to 0.5 degrees every ``period`` seconds."""
        rng = random.Random(seed)

        async def drift() -> None:
            value = 21.0
            while True:
                await asyncio.sleep(period)
                value = round(max(-40.0, min(85.0, value + rng.uniform(-0.5, 0.5))), 2)
                self.temperature.update(value)

        self._drift = asyncio.get_running_loop().create_task(drift())

    async def stop_drift(self) -> None:
        if self._drift is not None:
            self._drift.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drift
            self._drift = None


def build_sample_client(
    *,
    endpoint: str,
    server_uri: str,
    lifetime: int = 300,
    bootstrap: bool = False,
    psk_identity: str | None = None,
    psk_key: bytes | None = None,
    certificate: bytes | None = None,
    private_key: bytes | None = None,
    server_certificate: bytes | None = None,
    certificate_usage: int | None = None,
    queue_mode: bool = False,
    lwm2m_version: str = "1.1",
    objects_dir: str | None = None,
    firmware_dir: str | None = None,
    short_server_id: int = 101,
    registry: Registry | None = None,
    client_options: dict[str, object] | None = None,
) -> SampleDevice:
    """Build the sample device. ``objects_dir`` loads extra DDF XML definitions.

    The server account uses a PSK (``psk_identity``, ``psk_key``), certificates
    (``certificate``, ``private_key``, ``server_certificate``, all DER, and
    ``certificate_usage``), or nothing (coap://).
    """
    if registry is None:
        registry = default_registry()
    if objects_dir is not None:
        registry = registry.copy()
        registry.load_ddf(objects_dir)
    client = Client(
        endpoint,
        registry=registry,
        lwm2m_version=lwm2m_version,
        queue_mode=queue_mode,
        **(client_options or {}),  # type: ignore[arg-type]
    )
    client.add_server(
        server_uri,
        short_server_id=short_server_id,
        lifetime=lifetime,
        bootstrap=bootstrap,
        psk_identity=psk_identity,
        psk_key=psk_key,
        certificate=certificate,
        private_key=private_key,
        server_certificate=server_certificate,
        certificate_usage=certificate_usage,
    )
    reboots: list[str] = []
    device = Device(
        client.store,
        manufacturer="lwm2m-python",
        model="sample-client",
        serial=endpoint,
        firmware_version="1.0.0",
        device_type="simulated",
        hardware_version="1.0",
        software_version="0.1.0",
        supported_binding="UQ",
        battery_level=100,
        memory_free=lambda: 4096,
        memory_total=8192,
        on_reboot=lambda: reboots.append("reboot"),
        on_factory_reset=lambda: reboots.append("factory-reset"),
    )
    connectivity = ConnectivityMonitor(client.store, ip_addresses=["127.0.0.1"])
    connectivity.track(client)
    statistics = ConnectivityStatistics(client.store, client.traffic)
    fw_dir = FsPath(firmware_dir) if firmware_dir else FsPath(tempfile.mkdtemp(prefix="lwm2m-fw-"))
    updater = DirectoryUpdater(fw_dir)
    firmware = FirmwareUpdate(client.store, updater)
    # Package pushes stream block by block into the updater; coap(s):// pulls work too.
    attach_firmware(client, firmware)
    location = Location(client.store, latitude=52.52, longitude=13.405)
    temperature = Temperature(client.store, 21.0, units="Cel", min_range=-40.0, max_range=85.0)
    light = LightControl(client.store, on=False, dimmer=80, colour="warm white")
    timer = Timer(client.store, delay_duration=5.0)
    return SampleDevice(
        client=client,
        device=device,
        firmware=firmware,
        updater=updater,
        temperature=temperature,
        light=light,
        timer=timer,
        location=location,
        connectivity=connectivity,
        statistics=statistics,
        reboots=reboots,
    )

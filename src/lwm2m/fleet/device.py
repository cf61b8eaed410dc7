"""One simulated device: a real :class:`~lwm2m.client.client.Client` with the sample objects.

Every device has its own client, its own socket per server connection and its
own instances of Device (3), Connectivity Monitoring (4), Firmware Update (5)
and Temperature (3303), whose value the worker makes drift. What does not
belong to one device is built once per worker process and shared
(:class:`SharedParts`): the object definitions (one
:class:`~lwm2m.model.Registry`), the traffic counters, the firmware
downloader, one retry policy and the instrumentation hook that every new
connection gets (:class:`Probe`). A device keeps only its own state, in slots.

The probe is how the fleet measures the client from outside: on every
connection endpoint the client opens, it times the requests the client sends
(Register, Update, De-register, Bootstrap-Request, Send) from the call until
the response or the failure, counts the notifications the client pushes and
the observations the servers start. The client itself is used as any
application uses it: ``add_server``, ``start``, ``stop``, ``address_changed``,
``send`` and its events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, cast

from lwm2m.client.client import Client
from lwm2m.client.events import Event, RdEvent
from lwm2m.client.firmware_transfer import CoapDownloader
from lwm2m.client.rd import RetryPolicy
from lwm2m.coap.endpoint import Endpoint, EndpointHooks
from lwm2m.coap.errors import EndpointClosed, RequestTimeout, ResetReceived
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.observe import ServerObservation
from lwm2m.model import Registry, default_registry
from lwm2m.objects.connectivity_monitor import ConnectivityMonitor
from lwm2m.objects.device import Device
from lwm2m.objects.firmware_errors import IntegrityCheckFailed, UpdateFailed
from lwm2m.objects.firmware_update import FirmwareUpdate, FirmwareUpdater
from lwm2m.objects.ipso.sensors import Temperature
from lwm2m.transport.counting import TrafficCounters

__all__ = [
    "IMAGE_MAGIC",
    "DeviceSettings",
    "FleetUpdater",
    "Probe",
    "SharedParts",
    "SimDevice",
    "firmware_image",
    "operation_of",
]

log = logging.getLogger(__name__)

#: The first bytes of a fleet firmware image: ``IMAGE_MAGIC + version + b"\n"`` + padding.
IMAGE_MAGIC: Final = b"LWM2M-FLEET-IMAGE "
_HEADER_MAX: Final = len(IMAGE_MAGIC) + 40

#: Operations the probe times, by what the client sends.
OPERATIONS: Final = ("register", "update", "deregister", "bootstrap", "send")

_CODE_POST, _CODE_DELETE = 2, 4


def firmware_image(version: str, size: int) -> bytes:
    """An image that :class:`FleetUpdater` accepts: the header naming ``version``, then filler."""
    header = IMAGE_MAGIC + version.encode() + b"\n"
    return header + bytes((i * 7 + 3) & 0xFF for i in range(max(0, size - len(header))))


def operation_of(message: Message) -> str | None:
    """Which LwM2M operation a client request is (None: not one the fleet times)."""
    path = message.uri_path
    if not path:
        return None
    head, code = path[0], message.code
    if head == "rd":
        if code == _CODE_DELETE:
            return "deregister"
        if code == _CODE_POST:
            return "register" if len(path) == 1 else "update"
        return None
    if code == _CODE_POST and len(path) == 1:
        if head == "bs":
            return "bootstrap"
        if head == "dp":
            return "send"
    return None


def _failure_cause(exc: BaseException) -> str:
    if isinstance(exc, RequestTimeout | TimeoutError):
        return "timeout"
    if isinstance(exc, ResetReceived):
        return "reset"
    if isinstance(exc, EndpointClosed):
        return "closed"
    if isinstance(exc, OSError):
        return "network"
    return type(exc).__name__


def code_text(code: int) -> str:
    return f"{code >> 5}.{code & 0x1F:02d}"


class Probe(EndpointHooks):
    """Per worker: the measurements of every device's requests, notifications, observations.

    ``on_sample(operation, end, latency, ok, cause)`` receives every timed
    request (``end`` from ``time.monotonic()``, ``latency`` in seconds,
    ``cause`` a CoAP code such as ``"4.03"`` or ``timeout``/``network``/
    ``reset``/``closed`` when it failed).

    One probe serves every endpoint of the worker as its
    :class:`~lwm2m.coap.endpoint.EndpointHooks`: instrumenting a connection
    costs the endpoint nothing but that reference.
    """

    __slots__ = ("_observed", "notifications", "observations_started", "on_sample")

    def __init__(self, on_sample: Callable[[str, float, float, bool, str], None]) -> None:
        self.on_sample = on_sample
        self.notifications = 0
        self.observations_started = 0
        #: id(observation) -> the endpoint it belongs to (pruned when that one closed).
        self._observed: dict[int, Endpoint] = {}

    def setup(self, endpoint: Endpoint, server: int | None) -> None:
        """The client's ``endpoint_setup`` hook: instrument a new connection endpoint."""
        endpoint.hooks = self

    def request_started(self, endpoint: Endpoint, request: Message) -> object:
        """Time the operations the fleet reports (None: not one of them)."""
        op = operation_of(request)
        return None if op is None else (op, time.monotonic())

    def request_ended(
        self,
        endpoint: Endpoint,
        state: object,
        response: Message | None,
        error: BaseException | None,
    ) -> None:
        if isinstance(error, asyncio.CancelledError):
            return  # given up by the device itself: no sample
        end = time.monotonic()
        op, start = cast(tuple[str, float], state)
        if response is not None:
            ok = response.code >> 5 == 2
            self.on_sample(op, end, end - start, ok, "" if ok else code_text(response.code))
        elif error is not None:
            self.on_sample(op, end, end - start, False, _failure_cause(error))

    def notification_pushed(
        self, endpoint: Endpoint, observation: ServerObservation, response: Message
    ) -> None:
        self.notifications += 1

    def observation_changed(
        self, endpoint: Endpoint, observation: ServerObservation, active: bool
    ) -> None:
        if active:
            self.observations_started += 1
            self._observed[id(observation)] = endpoint
        else:
            self._observed.pop(id(observation), None)

    @property
    def observations_active(self) -> int:
        """Observations running now (those of closed connections are dropped first)."""
        closed = [key for key, ep in self._observed.items() if ep.closed]
        for key in closed:
            del self._observed[key]
        return len(self._observed)


@dataclass(slots=True)
class Tally:
    """Per worker: registration states and client events, kept up to date by the devices."""

    registered: int = 0
    ever_registered: int = 0
    #: Devices switched on (started and not stopped).
    powered: int = 0
    events: dict[str, int] = field(default_factory=dict)
    #: Firmware images installed (all campaigns).
    installed: int = 0
    #: Called when a device registers for the first time after being switched on.
    on_registered: Callable[[SimDevice], None] | None = None


@dataclass(slots=True)
class DeviceSettings:
    """How every device of a worker reaches its server."""

    server_uri: str
    bootstrap: bool = False
    #: PSK identity of a device: this prefix and its name; the key is shared.
    psk_prefix: str | None = None
    psk_key: bytes | None = None
    #: Local address the devices bind (None: the client's choice).
    local_host: str | None = None
    lwm2m_version: str = "1.1"
    transmission: TransmissionParams | None = None
    retry: RetryPolicy | None = None
    short_server_id: int = 101


class SharedParts:
    """What every device of one worker process shares (built once per worker)."""

    __slots__ = (
        "downloaders",
        "probe",
        "registry",
        "settings",
        "tally",
        "traffic",
    )

    def __init__(
        self,
        settings: DeviceSettings,
        probe: Probe,
        tally: Tally,
        *,
        registry: Registry | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else default_registry()
        #: One counter pair for every socket of the worker: the fleet's traffic totals.
        self.traffic = TrafficCounters()
        #: Package URIs are pulled over CoAP by one stateless downloader.
        downloader = CoapDownloader(params=settings.transmission)
        self.downloaders = {"coap": downloader, "coaps": downloader}
        self.probe = probe
        self.tally = tally


class FleetUpdater(FirmwareUpdater):
    """Accepts images made by :func:`firmware_image`; installing one sets the Device's
    Firmware Version (/3/0/3) to the version its header names."""

    __slots__ = ("_device", "_head", "_size")

    def __init__(self, device: SimDevice) -> None:
        self._device = device
        self._head = b""
        self._size = 0

    async def open_sink(self) -> None:
        self._head = b""
        self._size = 0

    async def write(self, chunk: bytes) -> None:
        if len(self._head) < _HEADER_MAX:
            self._head += chunk[: _HEADER_MAX - len(self._head)]
        self._size += len(chunk)

    def _version(self) -> str | None:
        if not self._head.startswith(IMAGE_MAGIC) or b"\n" not in self._head:
            return None
        line = self._head[len(IMAGE_MAGIC) :].split(b"\n", 1)[0]
        try:
            return line.decode("ascii") or None
        except UnicodeDecodeError:
            return None

    async def verify(self) -> bool:
        if self._version() is None:
            raise IntegrityCheckFailed("not a fleet image (header missing)")
        return True

    async def apply(self) -> None:
        version = self._version()
        if version is None:
            raise UpdateFailed("no image")
        self._device.installed(version)

    async def cancel(self) -> None:
        self._head = b""
        self._size = 0


class SimDevice:
    """One simulated device (see the module docstring); switched on by :meth:`power_on`."""

    __slots__ = (
        "client",
        "device",
        "ever_registered",
        "firmware",
        "index",
        "name",
        "powered",
        "registered",
        "shared",
        "temperature",
        "value",
        "version",
    )

    def __init__(
        self,
        index: int,
        name: str,
        shared: SharedParts,
        *,
        lifetime: int = 300,
        queue_mode: bool = False,
    ) -> None:
        settings = shared.settings
        self.index = index
        self.name = name
        self.shared = shared
        self.powered = False
        self.registered = False
        self.ever_registered = False
        self.value = 21.0
        self.version = "1.0.0"
        client = Client(
            name,
            registry=shared.registry,
            lwm2m_version=settings.lwm2m_version,
            queue_mode=queue_mode,
            retry=settings.retry,
            transmission=settings.transmission,
            local_host=settings.local_host,
            traffic=shared.traffic,
        )
        identity = None
        if settings.psk_prefix is not None and settings.psk_key is not None:
            identity = settings.psk_prefix + name
        client.add_server(
            settings.server_uri,
            short_server_id=settings.short_server_id,
            lifetime=lifetime,
            bootstrap=settings.bootstrap,
            psk_identity=identity,
            psk_key=settings.psk_key if identity is not None else None,
        )
        client.endpoint_setup.append(shared.probe.setup)
        client.on_event(self._on_event)
        self.client = client
        store = client.store
        self.device = Device(
            store,
            manufacturer="lwm2m-python",
            model="fleet-sim",
            serial=name,
            firmware_version=self.version,
            supported_binding="UQ" if queue_mode else "U",
            battery_level=100,
            on_reboot=self._reboot_requested,
        )
        ConnectivityMonitor(store, ip_addresses=[settings.local_host or "127.0.0.1"])
        self.firmware = FirmwareUpdate(store, FleetUpdater(self), downloaders=shared.downloaders)
        self.temperature = Temperature(store, self.value, min_range=-40.0, max_range=85.0)

    def __repr__(self) -> str:
        return f"<SimDevice {self.name} powered={self.powered} registered={self.registered}>"

    # ----------------------------------------------------------------- power
    async def power_on(self) -> None:
        """Switch on: the client starts and registers (or bootstraps first)."""
        if self.powered:
            return
        self.powered = True
        self.shared.tally.powered += 1
        await self.client.start()

    async def power_off(self, *, deregister: bool = False, timeout: float = 10.0) -> None:
        """Switch off: the client stops (De-register only when asked) and closes its sockets."""
        if not self.powered:
            return
        self.powered = False
        self.shared.tally.powered -= 1
        try:
            await self.client.stop(deregister=deregister, timeout=timeout)
        finally:
            self._set_registered(False)

    def rebind(self) -> None:
        """NAT rebinding: the client's address changes and it registers again from the new one."""
        if self.powered:
            self.client.address_changed()

    def drift(self, delta: float) -> None:
        """The temperature moves by ``delta`` degrees (kept within the sensor's range)."""
        self.value = round(max(-40.0, min(85.0, self.value + delta)), 2)
        if self.powered:
            self.temperature.update(self.value)

    def installed(self, version: str) -> None:
        """A firmware image was installed (by :class:`FleetUpdater`)."""
        self.version = version
        self.device.set_firmware_version(version)
        self.shared.tally.installed += 1

    # ---------------------------------------------------------------- events
    def _on_event(self, event: Event) -> None:
        tally = self.shared.tally
        kind = event.kind
        name = kind.name
        tally.events[name] = tally.events.get(name, 0) + 1
        if kind is RdEvent.REGISTRATION_COMPLETE:
            self._set_registered(True)
        elif kind in _DOWN_EVENTS and event.server is not None:
            self._set_registered(False)

    def _set_registered(self, registered: bool) -> None:
        if registered == self.registered:
            return
        tally = self.shared.tally
        self.registered = registered
        if registered:
            tally.registered += 1
            if not self.ever_registered:
                self.ever_registered = True
                tally.ever_registered += 1
            if tally.on_registered is not None:
                tally.on_registered(self)
        else:
            tally.registered -= 1

    def _reboot_requested(self) -> None:
        """Execute /3/0/4 from a server: off and on again once the response went out."""
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, lambda: loop.create_task(self._power_cycle(1.0)))

    async def _power_cycle(self, downtime: float) -> None:
        with contextlib.suppress(Exception):
            await self.power_off()
            await asyncio.sleep(downtime)
            await self.power_on()


_DOWN_EVENTS: Final = frozenset(
    {
        RdEvent.DISCONNECT,
        RdEvent.REG_TIMEOUT,
        RdEvent.DEREGISTER_COMPLETE,
        RdEvent.SERVER_DISABLED,
    }
)

"""The public LwM2M client: object store + engine + RD state machine over CoAP endpoints.

Theory of operation
-------------------
:class:`Client` is the asyncio shell around three sans-IO parts:

* the :class:`~lwm2m.client.store.ObjectStore` with the application's values,
* the :class:`~lwm2m.client.engine.Engine` answering device-management requests,
* the :class:`~lwm2m.client.rd.RdCoordinator` deciding when to bootstrap,
  register, update and de-register,

and it owns two helpers, each in its own module:

* :class:`~lwm2m.client.connections.Connections` opens one connection per
  server account (and the bootstrap server) from its Security instance: its
  own CoAP :class:`~lwm2m.coap.endpoint.Endpoint` (one socket, or one DTLS
  session for ``coaps://``) behind the queue-mode receive gate, through which
  the client sends Register/Update and the server sends its requests back;
* :class:`~lwm2m.client.observations.ObservationManager` times the
  observations the endpoints accepted and stores the notifications due while a
  server is unreachable (Notification Storing /1/x/6), for delivery after the
  next successful Register/Update.

The coordinator's actions are executed here: requests become tasks whose
outcome is fed back with the action's token, timers become ``loop.call_at``
handles keyed by (server, timer), events go to the application's callbacks
and to :meth:`Client.events` iterators. Server requests arriving on a
connection are answered by the engine (the bootstrap server's too, except
Bootstrap-Finish, which the coordinator judges; with ``server_initiated_bootstrap``
the connection to the Bootstrap-Server is kept open, from the start when no
bootstrap runs, and an operation arriving on it starts a server-initiated
bootstrap, Core TS 1.1 6.1.3); every store change goes to
the observations and to the coordinator when it changes the registration
(objects added or removed, Lifetime, Binding). Send (Core TS 1.1 6.4.6) posts
the values in SenML CBOR on a server's connection.

The Server object acts through the store: a write of Lifetime /1/x/1 or
Binding /1/x/7 triggers an Update, Disable /1/x/4 de-registers for the Disable
Timeout /1/x/5, Registration Update Trigger /1/x/8 and Bootstrap-Request
Trigger /1/x/9 do what their names say; /1/x/13-20 set the registration
procedure (:mod:`lwm2m.client.rd`), /0/x/11 of the Bootstrap-Server account its
Client Hold Off Time.

With ``state_dir`` the client keeps its configuration across restarts
(:mod:`lwm2m.client.persistence`): the Security, Server and Access Control
instances, the servers' attributes and the resources marked with
:meth:`Client.persist` are saved after each change (not in the middle of a
bootstrap: after its Finish) and put back by :meth:`Client.start`, so that a
bootstrapped device registers with its servers directly after a reboot.
:meth:`Client.factory_reset` forgets them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

from lwm2m import formats
from lwm2m.client.accounts import (
    REGISTRATION_PROCEDURE_RESOURCES,
    SEC_HOLD_OFF,
    SEC_IDENTITY,
    SEC_IS_BOOTSTRAP,
    SEC_MODE,
    SEC_SECRET_KEY,
    SEC_SERVER_KEY,
    SEC_SHORT_ID,
    SEC_URI,
    SRV_BINDING,
    SRV_BS_TRIGGER,
    SRV_DISABLE,
    SRV_DISABLE_TIMEOUT,
    SRV_LIFETIME,
    SRV_MUTE_SEND,
    SRV_SHORT_ID,
    SRV_STORING,
    SRV_UPDATE_TRIGGER,
    server_accounts,
)
from lwm2m.client.connections import Connection, Connections, EndpointSetup
from lwm2m.client.engine import Engine, ServerContext
from lwm2m.client.events import Event, RdEvent
from lwm2m.client.observations import ObservationManager, Observed
from lwm2m.client.persistence import (
    PERSISTED_OBJECTS,
    SavedState,
    StateError,
    StateStore,
)
from lwm2m.client.rd import (
    Action,
    AnswerFinish,
    BsState,
    CancelTimer,
    ClientSettings,
    CloseConnection,
    OpenConnection,
    RdCoordinator,
    RegState,
    RestoreConfig,
    RetryPolicy,
    SaveConfig,
    SendBootstrapRequest,
    SendDeregister,
    SendRegister,
    SendUpdate,
    SetTimer,
    Timer,
)
from lwm2m.client.store import ObjectStore
from lwm2m.client.versions import declared_version
from lwm2m.coap.errors import RequestError, RequestTimeout
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.coap.observe import ServerObservation
from lwm2m.errors import ModelError, NotFound
from lwm2m.events import Callback, EventHub
from lwm2m.formats.link import format_object_list
from lwm2m.model import Path, Registry
from lwm2m.tasks import TaskSet
from lwm2m.transport.base import Address
from lwm2m.transport.counting import TrafficCounters

log = logging.getLogger(__name__)

EventCallback = Callback[Event]


#: Security object /0/x/15 Certificate Usage.
SEC_CERT_USAGE = 15


def _positive_lifetime(path: Path, value: object) -> bool:
    """Validate callback of /1/x/1: False (4.00, nothing stored) unless a positive integer."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


_NO_PATHS: frozenset[Path] = frozenset()

#: One instance of a persisted object, compactly: (object id, instance id, its
#: resource ids, their values in the same order).
_FrozenInstance: TypeAlias = tuple[int, int, tuple[int, ...], tuple[Any, ...]]


@dataclass(slots=True)
class _Factory:
    """The configuration the application gave, before any saved state was put back.

    Every client keeps it until a factory reset, so it is held in tuples: about
    a third of the nested dicts it is rebuilt into when needed.
    """

    instances: tuple[_FrozenInstance, ...]
    resources: tuple[tuple[Path, Any], ...]

    def objects(self) -> dict[int, dict[int, dict[int, Any]]]:
        out: dict[int, dict[int, dict[int, Any]]] = {}
        for oid, iid, rids, values in self.instances:
            out.setdefault(oid, {})[iid] = dict(zip(rids, values, strict=True))
        return out


# Registration states in which a server cannot be notified (Notification Storing applies).
_UNREACHABLE_STATES = frozenset(
    {
        RegState.IDLE,
        RegState.WAIT_REGISTER,
        RegState.REGISTERING,
        RegState.DISABLED,
        RegState.DISABLING,
        RegState.DEREGISTERING,
        RegState.SLEEPING,
    }
)


class _Hooks:
    """What the client's connections and observations ask of it.

    One object per client instead of a bound method per callback: these live as
    long as the client, and a fleet holds thousands of clients.
    """

    __slots__ = ("_client",)

    def __init__(self, client: Client) -> None:
        self._client = client

    # ConnectionHooks
    def security(self, key: int | None) -> dict[int, Any] | None:
        return self._client._security_for(key)

    def asleep(self, key: int | None) -> bool:
        return self._client._asleep(key)

    def on_request(self, conn: Connection, msg: Message, remote: Address) -> Awaitable[Message]:
        return self._client._on_server_request(conn, msg, remote)

    def on_observation(self, conn: Connection, obs: ServerObservation, active: bool) -> None:
        self._client._on_observation(conn, obs, active)

    # ObservationHost
    def render(self, request: Message, context: ServerContext) -> Awaitable[Message]:
        return self._client.engine.handle(request, context)

    def connection(self, server: int) -> Connection | None:
        return self._client._conns.get(server)

    def server_value(self, server: int, rid: int, default: Any = None) -> Any:
        return self._client._server_value(server, rid, default)

    def reachable(self, server: int) -> bool:
        return self._client._reachable(server)

    def wake_up(self, server: int) -> None:
        self._client._wake(server)

    def loop(self) -> asyncio.AbstractEventLoop:
        return self._client._get_loop()

    def spawn(self, coro: Awaitable[Any]) -> None:
        self._client._spawn(coro)


class Client:
    """An LwM2M client (see the module docstring); path strings as in the seed's API."""

    def __init__(
        self,
        endpoint: str,
        *,
        registry: Registry | None = None,
        lwm2m_version: str = "1.1",
        queue_mode: bool = False,
        retry: RetryPolicy | None = None,
        update_margin: float | None = None,
        queue_rx_time: float | None = None,
        bootstrap_timeout: float | None = None,
        transmission: TransmissionParams | None = None,
        local_host: str | None = None,
        traffic: TrafficCounters | None = None,
        server_initiated_bootstrap: bool = False,
        bootstrap_hold_off: float | None = None,
        state_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.endpoint_name = endpoint
        self.store = ObjectStore(registry)
        self.engine = Engine(self.store, lwm2m_version=lwm2m_version)
        settings = ClientSettings(endpoint=endpoint, lwm2m_version=lwm2m_version)
        settings.queue_mode = queue_mode
        if retry is not None:
            settings.retry = retry
            settings.bootstrap_retry = retry
        if update_margin is not None:
            settings.update_margin = update_margin
        if queue_rx_time is not None:
            settings.queue_rx_time = queue_rx_time
        if bootstrap_timeout is not None:
            settings.bootstrap_timeout = bootstrap_timeout
        if bootstrap_hold_off is not None:
            if bootstrap_hold_off < 0:
                raise ValueError("bootstrap_hold_off must not be negative")
            # Used when the Bootstrap-Server account has no Client Hold Off Time (/0/x/11).
            settings.bootstrap_hold_off = bootstrap_hold_off
        settings.server_initiated_bootstrap = server_initiated_bootstrap
        self.settings = settings
        self.transmission = transmission
        self.local_host = local_host
        #: Datagrams and bytes of every server connection (bootstrap included, UDP and
        #: DTLS alike) as the CoAP layer sends and receives them; kept across reconnects.
        #: Connectivity Statistics (/7) reads it: ``ConnectivityStatistics(store, traffic)``.
        self.traffic = traffic if traffic is not None else TrafficCounters()
        self._events: EventHub[Event] = EventHub(self._spawn, logger=log)
        self._coord: RdCoordinator | None = None
        self._timers: dict[tuple[int | None, Timer], asyncio.TimerHandle] = {}
        self._tasks = TaskSet()
        self._registered_from: dict[int, Address] = {}  # local address of the last Register
        self._snapshot: tuple[dict[int, Any], dict[int, Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        #: Called as ``setup(endpoint, short_server_id)`` (None: the bootstrap server) for
        #: every new connection Endpoint, before anything is sent on it.
        self.endpoint_setup: list[EndpointSetup] = []
        hooks = _Hooks(self)
        self._conns = Connections(self, hooks)
        self._observations = ObservationManager(self.store, hooks)
        #: Where the state survives restarts (None: nothing is kept).
        self.state_store = StateStore(state_dir) if state_dir is not None else None
        #: Why the saved state was refused at the last start, if it was.
        self.state_problem: str | None = None
        #: Resources made persistent by :meth:`persist` (replaced, never changed in place).
        self._persistent: frozenset[Path] = _NO_PATHS
        self._factory: _Factory | None = None
        self._save_handle: asyncio.Handle | None = None
        if self.state_store is not None:  # saved attributes: save again on change
            self._conns.on_new_context = self._watch_context
        self.store.add_listener(self._on_store_change)
        # Core TS 1.1 E.2: a Lifetime is a positive number of seconds; a server writing
        # 0 or less gets 4.00 and nothing is stored.
        self.store.callbacks.validate_resource[(1, SRV_LIFETIME)] = _positive_lifetime
        for oid in (0, 1, 3):
            self.store.add_object(oid)

    # ------------------------------------------------------------------ API
    def set(self, path: str, value: object) -> None:
        """Set a resource value (type and range checked); a callable is read on demand."""
        self.store.set(path, value)

    def get(self, path: str) -> Any:
        return self.store.get(path)

    def create_instance(self, object_id: int, instance_id: int | None = None) -> int:
        return self.store.create_instance(object_id, instance_id)

    def delete_instance(self, object_id: int, instance_id: int) -> None:
        self.store.delete_instance(object_id, instance_id)

    def on_execute(self, path: str, callback: Callable[..., Any] | None = None) -> Any:
        """Register an execute callback ``cb(path, args)``; usable as a decorator."""
        p = Path.parse(path)

        def register(cb: Callable[..., Any]) -> Callable[..., Any]:
            self.store.callbacks.execute[p] = cb
            return cb

        return register(callback) if callback is not None else register

    def on_validate(self, path: str, callback: Callable[..., Any]) -> None:
        """``cb(path, value) -> bool``: False rejects a server write with 4.00."""
        self.store.callbacks.validate[Path.parse(path)] = callback

    def on_post_write(self, path: str, callback: Callable[..., Any]) -> None:
        self.store.callbacks.post_write[Path.parse(path)] = callback

    def on_create(self, object_id: int, callback: Callable[..., Any]) -> None:
        self.store.callbacks.create[object_id] = callback

    def on_delete(self, object_id: int, callback: Callable[..., Any]) -> None:
        self.store.callbacks.delete[object_id] = callback

    def on_event(self, callback: EventCallback) -> EventCallback:
        """Call ``callback(event)`` for every RD event; usable as a decorator."""
        return self._events.add_callback(callback)

    def events(self) -> AsyncIterator[Event]:
        """Iterate over RD events from now on (until the consumer stops)."""
        return self._events.iterate()

    async def wait_for(self, *kinds: RdEvent, timeout: float = 30.0) -> Event:
        """Wait for the next event of one of ``kinds`` (a convenience for scripts and tests)."""
        return await self._events.wait_for(lambda ev: ev.kind in kinds, timeout)

    def add_server(
        self,
        uri: str,
        *,
        short_server_id: int = 101,
        lifetime: int = 86400,
        binding: str = "U",
        bootstrap: bool = False,
        psk_identity: bytes | str | None = None,
        psk_key: bytes | None = None,
        notification_storing: bool = True,
        instance_id: int | None = None,
        certificate: bytes | None = None,
        private_key: bytes | None = None,
        server_certificate: bytes | None = None,
        certificate_usage: int | None = None,
    ) -> int:
        """Provision a server account (or the bootstrap server) in /0 and /1.

        The same as the seed's ``lwm2m_engine_set_*("0/0/0", ...)`` calls, in
        one step. ``psk_identity`` with ``psk_key`` select Security Mode 0 (PSK);
        ``certificate`` with ``private_key`` (and the server's certificate, all
        DER) select mode 2, ``certificate_usage`` giving /0/x/15; else NoSec.
        Returns the Security instance id.
        """
        psk = psk_identity is not None and psk_key is not None
        cert = certificate is not None or private_key is not None
        if psk and cert:
            raise ValueError("a server account uses a PSK or certificates, not both")
        if cert and (certificate is None or private_key is None):
            raise ValueError("certificate mode needs the certificate and its private key")
        iid = self.store.create_instance(0, instance_id)
        base = f"0/{iid}"
        self.set(f"{base}/{SEC_URI}", uri)
        self.set(f"{base}/{SEC_IS_BOOTSTRAP}", bootstrap)
        if psk:
            assert psk_identity is not None and psk_key is not None
            ident = psk_identity.encode() if isinstance(psk_identity, str) else psk_identity
            self.set(f"{base}/{SEC_MODE}", 0)
            self.set(f"{base}/{SEC_IDENTITY}", ident)
            self.set(f"{base}/{SEC_SECRET_KEY}", psk_key)
        elif cert:
            self.set(f"{base}/{SEC_MODE}", 2)
            self.set(f"{base}/{SEC_IDENTITY}", certificate)
            self.set(f"{base}/{SEC_SECRET_KEY}", private_key)
            if certificate_usage is not None:
                self.set(f"{base}/{SEC_CERT_USAGE}", certificate_usage)
        else:
            self.set(f"{base}/{SEC_MODE}", 3)
            self.set(f"{base}/{SEC_IDENTITY}", b"")
            self.set(f"{base}/{SEC_SECRET_KEY}", b"")
        self.set(f"{base}/{SEC_SERVER_KEY}", server_certificate or b"")
        if bootstrap:
            return iid
        self.set(f"{base}/{SEC_SHORT_ID}", short_server_id)
        sid = self.store.create_instance(1)
        self.set(f"1/{sid}/{SRV_SHORT_ID}", short_server_id)
        self.set(f"1/{sid}/{SRV_LIFETIME}", lifetime)
        self.set(f"1/{sid}/{SRV_STORING}", notification_storing)
        self.set(f"1/{sid}/{SRV_BINDING}", binding)
        return iid

    def persist(self, *paths: str) -> None:
        """Keep the values of these writable resources across restarts (needs ``state_dir``).

        Call it before :meth:`start`, which puts the saved values back; from then on
        every change (a server's Write or :meth:`set`) is saved.
        """
        if self.state_store is None:
            raise RuntimeError("persist() needs Client(state_dir=...)")
        for text in paths:
            path = Path.parse(text)
            rdef = self.store.registry.resource(path)
            if len(path) < 3 or rdef is None or not rdef.writable:
                raise ValueError(f"{path}: only a writable resource can be made persistent")
            self._persistent = self._persistent | {path}

    async def factory_reset(self) -> None:
        """Forget the saved state and go back to the configuration the application gave.

        A running client de-registers, stops, and starts again from that
        configuration (normally: a bootstrap). The servers' attributes are dropped.
        """
        was_running = self._started
        if was_running:
            await self.stop(deregister=True)
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        if self.state_store is not None:
            self.state_store.erase()
        factory = self._factory
        if factory is not None:
            self._replace_objects(factory.objects())
            for path, value in factory.resources:
                self.store.set(path, value)
        for context in self._conns.contexts.values():
            context.attributes.clear()
        if was_running:
            await self.start()

    def update(self, short_server_id: int | None = None) -> None:
        """Send an Update now to every registered server (or to the one given).

        The seed's ``lwm2m_rd_client_update()``; the same as the server executing
        Registration Update Trigger (/1/x/8). A server not registered yet is left
        to its Register.
        """
        coord = self._coord
        if coord is None or not self._started:
            raise RuntimeError("the client is not started")
        now = self._now()
        for ssid, machine in list(coord.servers.items()):
            if short_server_id is None or ssid == short_server_id:
                self._execute(machine.update_trigger(now))

    def registered_version(self, short_server_id: int) -> str | None:
        """The LwM2M version the client registered with at that server (after any
        fall-back), None when not registered."""
        machine = None if self._coord is None else self._coord.servers.get(short_server_id)
        return machine.version if machine is not None and machine.registered else None

    def address_changed(self, short_server_id: int | None = None) -> None:
        """The local address or port changed (network switch, NAT rebinding).

        Call it on such a change: the connection to each server (or to the one
        given) is reopened and the client registers again from the new address,
        since the server sends its requests to the address of the registration.
        """
        coord = self._coord
        if coord is None or not self._started:
            return
        now = self._now()
        for ssid, machine in list(coord.servers.items()):
            if short_server_id is not None and ssid != short_server_id:
                continue
            if self._conns.close(ssid) is not None:
                self._observations.forget(ssid)  # a new Register ends them on the server
            self._execute(machine.address_changed(now))

    def local_addresses(self) -> list[str]:
        """The local IP addresses the open server connections send from (each once)."""
        return self._conns.local_addresses()

    def local_address(self, short_server_id: int | None) -> Address | None:
        """The local address of the open connection to a server (None: to the
        Bootstrap-Server), where that server's requests reach the client."""
        conn = self._conns.get(short_server_id)
        if conn is None or conn.endpoint.closed:
            return None
        return conn.endpoint.local_address

    @property
    def registered_servers(self) -> list[int]:
        if self._coord is None:
            return []
        return [ssid for ssid, m in self._coord.servers.items() if m.registered]

    def state(self, short_server_id: int) -> RegState | None:
        if self._coord is None or short_server_id not in self._coord.servers:
            return None
        return self._coord.servers[short_server_id].state

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start bootstrap/registration; returns at once (events tell what happens)."""
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        self._restore_state()
        self._started = True
        security, servers = self._config_values()
        accounts = server_accounts(security, servers, queue_mode=self.settings.queue_mode)
        has_bs = any(v.get(SEC_IS_BOOTSTRAP) is True for v in security.values())
        self._coord = RdCoordinator(self.settings, accounts, bootstrap=has_bs)
        self._apply_hold_off()
        self._execute(self._coord.start(self._now()))
        bs = self._coord.bootstrap
        if self.settings.server_initiated_bootstrap and bs is not None and bs.state is BsState.IDLE:
            # Registering without a bootstrap: stay reachable for the Bootstrap-Server.
            self._spawn(self._open_bootstrap_connection())

    async def stop(self, deregister: bool = True, timeout: float = 10.0) -> None:
        """De-register (when asked) from every server, then close every socket."""
        if not self._started or self._coord is None:
            return
        self._execute(self._coord.stop(self._now(), deregister=deregister))
        if deregister:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    while any(
                        m.state is RegState.DEREGISTERING for m in self._coord.servers.values()
                    ):
                        await asyncio.sleep(0.01)
            # De-registers still unanswered after ``timeout``: stop without them.
            self._execute(self._coord.stop(self._now(), deregister=False))
        self._flush_state()
        self._started = False
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._observations.clear()
        await self._tasks.cancel()
        self._conns.close_all()
        await self._conns.wait_closed()

    def run(self) -> None:
        """Start and run until interrupted (Ctrl-C de-registers)."""

        async def main() -> None:
            await self.start()
            try:
                await asyncio.Event().wait()
            finally:
                await self.stop()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())

    async def __aenter__(self) -> Client:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------- helpers
    def _get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop or asyncio.get_running_loop()

    def _now(self) -> float:
        return self._get_loop().time()

    def _object_values(self, oid: int) -> dict[int, Any]:
        out: dict[int, Any] = {}
        for iid in self.store.instance_ids(oid):
            out[iid] = {
                rid: self.store.get(Path(oid, iid, rid))
                for rid in self.store.resource_ids(oid, iid)
            }
        return out

    def _config_values(self) -> tuple[dict[int, Any], dict[int, Any]]:
        return self._object_values(0), self._object_values(1)

    # ------------------------------------------------------------ state
    def _restore_state(self) -> None:
        """Remember the application's configuration, then put the saved state back."""
        store = self.store
        self._factory = _Factory(
            tuple(
                (oid, iid, tuple(rids), tuple(store.get(Path(oid, iid, rid)) for rid in rids))
                for oid in PERSISTED_OBJECTS
                for iid in store.instance_ids(oid)
                for rids in (store.resource_ids(oid, iid),)
            ),
            tuple((p, store.get(p)) for p in sorted(self._persistent) if store.exists(p)),
        )
        state_store = self.state_store
        if state_store is None:
            return
        self.state_problem = None
        try:
            saved = state_store.load()
            if saved is None:
                return
            if saved.endpoint != self.endpoint_name:
                raise StateError(
                    f"{state_store.path}: state of endpoint {saved.endpoint!r}, "
                    f"not {self.endpoint_name!r}"
                )
            self._apply_state(saved)
        except StateError as exc:
            moved = state_store.set_aside()
            where = f"; moved to {moved}" if moved is not None else ""
            self.state_problem = str(exc)
            log.error(
                "saved state refused: %s%s; starting from the factory configuration", exc, where
            )
            return
        log.info("state restored from %s", state_store.path)

    def _apply_state(self, saved: SavedState) -> None:
        """Put ``saved`` in the store, all or nothing (StateError when a value does not fit)."""
        registry = self.store.registry
        for oid, instances in saved.objects.items():
            for iid, resources in instances.items():
                for rid, value in resources.items():
                    path = Path(oid, iid, rid)
                    rdef = registry.resource(path)
                    if rdef is None:
                        raise StateError(f"{path}: no such resource in this client's objects")
                    try:
                        values = value.values() if isinstance(value, dict) else [value]
                        for v in values:
                            rdef.check(v, str(path))
                    except ModelError as exc:
                        raise StateError(f"{path}: saved value refused: {exc}") from None
        restored = {
            p: v
            for p, v in saved.resources.items()
            if p in self._persistent and self.store.exists(p)
        }
        for path, value in restored.items():
            rdef = registry.resource(path)
            try:
                for v in value.values() if isinstance(value, dict) else [value]:
                    if rdef is not None:
                        rdef.check(v, str(path))
            except ModelError as exc:
                raise StateError(f"{path}: saved value refused: {exc}") from None
        self._replace_objects(saved.objects)
        for path, value in restored.items():
            self.store.set(path, value)
        for ssid, by_path in saved.attributes.items():
            try:
                self._conns.context(ssid).attributes.restore(by_path)
            except Exception as exc:  # an inconsistent set: drop that server's attributes
                log.warning("saved attributes of server %s dropped: %s", ssid, exc)

    def _replace_objects(self, objects: dict[int, dict[int, dict[int, Any]]]) -> None:
        for oid in PERSISTED_OBJECTS:
            if oid not in objects and not self.store.has_object(oid):
                continue
            for iid in self.store.instance_ids(oid):
                self.store.delete_instance(oid, iid)
            for iid, resources in objects.get(oid, {}).items():
                self.store.create_instance(oid, iid)
                for rid, value in resources.items():
                    self.store.set(Path(oid, iid, rid), value)

    def _watch_context(self, context: ServerContext) -> None:
        context.attributes.listeners.append(self._schedule_save)

    def _schedule_save(self) -> None:
        if self.state_store is None or not self._started or self._loop is None:
            return
        if self._save_handle is None:
            self._save_handle = self._loop.call_soon(self._save_state)

    def _bootstrap_in_progress(self) -> bool:
        bs = None if self._coord is None else self._coord.bootstrap
        return bs is not None and bs.state in (BsState.REQUESTING, BsState.BOOTSTRAPPING)

    def _save_state(self) -> None:
        self._save_handle = None
        if self.state_store is None or self._bootstrap_in_progress():
            return  # a bootstrap's writes are saved once its Finish is accepted
        state = SavedState(
            self.endpoint_name,
            {oid: self._object_values(oid) for oid in PERSISTED_OBJECTS},
            {
                ssid: dict(ctx.attributes.items())
                for ssid, ctx in self._conns.contexts.items()
                if ctx.attributes.items()
            },
            {p: self.store.get(p) for p in sorted(self._persistent) if self.store.exists(p)},
        )
        try:
            self.state_store.save(state)
        except (OSError, StateError) as exc:
            log.error("state not saved to %s: %s", self.state_store.path, exc)

    def _flush_state(self) -> None:
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_state()

    def _server_instance(self, ssid: int) -> int | None:
        for iid in self.store.instance_ids(1):
            with contextlib.suppress(ModelError, NotFound):
                if self.store.get(Path(1, iid, SRV_SHORT_ID)) == ssid:
                    return iid
        return None

    def _server_value(self, ssid: int, rid: int, default: Any = None) -> Any:
        iid = self._server_instance(ssid)
        if iid is None:
            return default
        try:
            return self.store.get(Path(1, iid, rid))
        except (NotFound, ModelError):
            return default

    def _security_for(self, key: int | None) -> dict[int, Any] | None:
        """The values of the Security instance of server ``key`` (None: bootstrap)."""
        store = self.store
        for iid in store.instance_ids(0):
            present = store.resource_ids(0, iid)
            is_bs = SEC_IS_BOOTSTRAP in present and store.get(Path(0, iid, SEC_IS_BOOTSTRAP))
            if (key is None and is_bs is True) or (
                key is not None
                and is_bs is not True
                and SEC_SHORT_ID in present
                and store.get(Path(0, iid, SEC_SHORT_ID)) == key
            ):
                return {rid: store.get(Path(0, iid, rid)) for rid in present}
        return None

    # ------------------------------------------------------------ actions
    def _execute(self, actions: Iterable[Action]) -> None:
        for action in actions:
            try:
                self._execute_one(action)
            except Exception:
                log.exception("RD action %r failed", action)

    def _execute_one(self, action: Action) -> None:
        if isinstance(action, Event):
            self._emit(action)
        elif isinstance(action, SetTimer):
            self._set_timer(action.server, action.timer, action.deadline)
        elif isinstance(action, CancelTimer):
            handle = self._timers.pop((action.server, action.timer), None)
            if handle is not None:
                handle.cancel()
        elif isinstance(action, SendRegister | SendUpdate | SendDeregister | SendBootstrapRequest):
            self._spawn(self._send(action))
        elif isinstance(action, OpenConnection):
            if action.server is None:
                self._spawn(self._open_bootstrap_connection())
        elif isinstance(action, CloseConnection):
            if self._stores_while_disabled(action.server):
                return  # /1/x/6: keep socket and observations to deliver what is stored
            if self._conns.close(action.server) is not None:
                self._observations.forget(action.server)
        elif isinstance(action, SaveConfig):
            self._snapshot = self._config_values()
        elif isinstance(action, RestoreConfig):
            self._spawn(self._restore_config())
        elif isinstance(action, AnswerFinish):
            pass  # answered synchronously by the Bootstrap-Finish handler

    def _stores_while_disabled(self, key: int | None) -> bool:
        if key is None or self._coord is None or key not in self._coord.servers:
            return False
        return (
            self._coord.servers[key].state is RegState.DISABLED
            and self._server_value(key, SRV_STORING, False) is True
        )

    def _spawn(self, coro: Awaitable[Any]) -> None:
        self._tasks.spawn(coro)

    def _set_timer(self, server: int | None, timer: Timer, deadline: float) -> None:
        loop = self._get_loop()
        old = self._timers.pop((server, timer), None)
        if old is not None:
            old.cancel()
        self._timers[(server, timer)] = loop.call_at(deadline, self._timer_fired, server, timer)

    def _timer_fired(self, server: int | None, timer: Timer) -> None:
        self._timers.pop((server, timer), None)
        if self._coord is not None:
            self._execute(self._coord.timer_fired(server, timer, self._now()))

    def _emit(self, event: Event) -> None:
        log.info("event %s server=%s %s", event.kind.name, event.server, event.detail)
        if event.kind in (RdEvent.REGISTRATION_COMPLETE, RdEvent.REG_UPDATE_COMPLETE):
            assert event.server is not None
            self._observations.flush_stored(event.server)
        self._events.publish(event)

    async def _restore_config(self) -> None:
        if self._snapshot is None:
            return
        security, servers = self._snapshot
        for oid, values in ((0, security), (1, servers)):
            for iid in self.store.instance_ids(oid):
                self.store.delete_instance(oid, iid)
            for iid, resources in values.items():
                self.store.create_instance(oid, iid)
                for rid, value in resources.items():
                    self.store.set(Path(oid, iid, rid), value)

    # ---------------------------------------------------------- connections
    @property
    def _connections(self) -> dict[int | None, Connection]:
        """The open connections by Short Server ID (None: the bootstrap server)."""
        return self._conns.open

    @property
    def _contexts(self) -> dict[int, ServerContext]:
        """Each server's context (its attributes), kept across reconnects."""
        return self._conns.contexts

    def _asleep(self, key: int | None) -> bool:
        """Queue mode: the receiver of this server's connection is off."""
        machine = None if key is None or self._coord is None else self._coord.servers.get(key)
        return machine is not None and machine.state is RegState.SLEEPING

    # ---------------------------------------------------------- RD requests
    async def _send(
        self, action: SendRegister | SendUpdate | SendDeregister | SendBootstrapRequest
    ) -> None:
        server = action.server
        assert self._coord is not None
        try:
            conn = await self._conns.connect(server)
            if self._socket_changed(action, conn):
                return
            if isinstance(action, SendRegister):
                # From this Register on the server is answered in the version it declares.
                conn.context.lwm2m_version = action.lwm2m_version
            msg = self._build_request(action)
            resp = await conn.request(msg)
        except RequestTimeout:
            self._execute(self._coord.timeout(server, action.token, self._now()))
            return
        except (RequestError, OSError) as exc:
            self._execute(self._coord.network_error(server, action.token, self._now(), str(exc)))
            return
        except Exception as exc:  # a bug must not stop the state machine
            log.exception("sending %r failed", action)
            self._execute(self._coord.network_error(server, action.token, self._now(), repr(exc)))
            return
        self._execute(
            self._coord.response(server, action.token, resp.code, self._now(), resp.location_path)
        )

    def _socket_changed(
        self,
        action: SendRegister | SendUpdate | SendDeregister | SendBootstrapRequest,
        conn: Connection,
    ) -> bool:
        """Remember the local address of each Register; an Update that would leave from
        another one (the socket was reopened) becomes a new Register instead."""
        server, local = action.server, conn.endpoint.local_address
        if server is None or self._coord is None:
            return False
        if isinstance(action, SendRegister):
            self._registered_from[server] = local
            return False
        machine = self._coord.servers.get(server)
        if not isinstance(action, SendUpdate) or machine is None:
            return False
        if self._registered_from.get(server) == local:
            return False
        log.info("server %s: local address now %s: registering again", server, local)
        self._execute(machine.address_changed(self._now()))
        return True

    def _build_request(
        self, action: SendRegister | SendUpdate | SendDeregister | SendBootstrapRequest
    ) -> Message:
        if isinstance(action, SendDeregister):
            return Message.request(Code.DELETE, list(action.location))
        if isinstance(action, SendBootstrapRequest):
            return Message.request(Code.POST, list(action.path), query=list(action.query))
        path = list(action.path) if isinstance(action, SendRegister) else list(action.location)
        payload = b""
        cf: int | None = None
        if action.object_links:
            payload = self._object_links(action.lwm2m_version).encode()
            cf = ContentFormat.LINK_FORMAT
        return Message.request(
            Code.POST, path, query=list(action.query), payload=payload, content_format=cf
        )

    def _object_links(self, lwm2m_version: str | None = None) -> str:
        """The Register/Update payload for a server spoken to in ``lwm2m_version``: object
        versions are those of that enabler's models (:mod:`lwm2m.client.versions`)."""
        version = lwm2m_version or self.settings.lwm2m_version
        # Security (0) and OSCORE (21) are never listed (Core TS 1.1 6.2.1).
        listed = [oid for oid in self.store.object_ids() if oid not in (0, 21)]
        versions = {}
        for oid in listed:
            ver = declared_version(self.store.registry, oid, version)
            if ver is not None:
                versions[oid] = ver
        paths = [p for p in self.store.object_links() if p[0] in listed]
        cts = [ContentFormat.SENML_CBOR] if version != "1.0" else []
        return format_object_list(paths, versions=versions, content_formats=cts)

    # ------------------------------------------------------ server requests
    async def _on_server_request(self, conn: Connection, req: Message, remote: Address) -> Message:
        coord = self._coord
        if coord is None:
            return Message(code=Code.SERVICE_UNAVAILABLE)
        now = self._now()
        if conn.key is None:
            return await self._on_bootstrap_request(conn, req)
        machine = coord.servers.get(conn.key)
        if machine is None or not machine.accepts_requests:
            return Message(code=Code.SERVICE_UNAVAILABLE)
        if machine.account.queue_mode or machine.state is not RegState.REGISTERED:
            # Registered without queue mode, server activity changes nothing.
            self._execute(machine.server_activity(now))
        response = await self.engine.handle(req, conn.context)
        if (
            req.observe == 0
            and req.code in (Code.GET, Code.FETCH)
            and response.code == Code.CONTENT
        ):
            response.observe = 0
        if req.code == Code.POST and response.code == Code.CHANGED:
            self._after_execute(conn.key, req)
        return response

    def _after_execute(self, ssid: int, req: Message) -> None:
        """Server object executes act on the RD machine (after the 2.04 goes out)."""
        try:
            path = Path.from_segments(req.uri_path)
        except ModelError:
            return
        if len(path) != 3 or path[0] != 1 or self._coord is None:
            return
        try:
            target = int(self.store.get(Path(1, path[1], SRV_SHORT_ID)))
        except (NotFound, ModelError, TypeError, ValueError):
            return
        machine = self._coord.servers.get(target)
        if machine is None:
            return
        loop = self._get_loop()
        rid = path[2]
        if rid == SRV_DISABLE:
            timeout = self._server_value(target, SRV_DISABLE_TIMEOUT, 86400)
            loop.call_soon(lambda: self._execute(machine.disable(self._now(), float(timeout))))
        elif rid == SRV_UPDATE_TRIGGER:
            loop.call_soon(lambda: self._execute(machine.update_trigger(self._now())))
        elif rid == SRV_BS_TRIGGER:
            coord = self._coord
            loop.call_soon(lambda: self._execute(coord.bootstrap_trigger(self._now())))

    async def _on_bootstrap_request(self, conn: Connection, req: Message) -> Message:
        assert self._coord is not None
        bs = self._coord.bootstrap
        if bs is None:
            return Message(code=Code.SERVICE_UNAVAILABLE)
        now = self._now()
        if req.code == Code.POST and tuple(req.uri_path) == ("bs",):
            security, servers = self._config_values()
            actions = self._coord.bootstrap_finish(security, servers, now)
            code = next((a.code for a in actions if isinstance(a, AnswerFinish)), Code.CHANGED)
            loop = self._get_loop()
            loop.call_soon(self._execute, actions)
            if code == Code.CHANGED:
                self._connections_to_refresh()
                self._schedule_save()  # the new configuration, now that it is accepted
            return Message(code=code)
        # Outside a bootstrap this may start a server-initiated one (Core TS 1.1 6.1.3);
        # arriving on the Bootstrap-Server's own connection, it comes from that account.
        self._execute(self._coord.bootstrap_activity(now))
        if not bs.accepts_operations:
            return Message(code=Code.SERVICE_UNAVAILABLE)
        return await self.engine.handle(req, conn.context)

    async def _open_bootstrap_connection(self) -> None:
        try:
            await self._conns.connect(None)
        except OSError as exc:
            log.warning("bootstrap server unreachable for server-initiated bootstrap: %s", exc)

    def _connections_to_refresh(self) -> None:
        # New accounts may point elsewhere: reopen their connections lazily.
        self._conns.close_all(keep_bootstrap=True)

    # ------------------------------------------------------------ observe
    @property
    def _observed(self) -> dict[int, Observed]:
        """The accepted observations (id of the endpoint's observation -> state)."""
        return self._observations.observed

    def _on_observation(self, conn: Connection, obs: ServerObservation, active: bool) -> None:
        self._observations.on_observation(conn, obs, active)

    def _reachable(self, ssid: int) -> bool:
        """A notification to ``ssid`` may go out now (else it is stored or dropped)."""
        machine = self._coord.servers.get(ssid) if self._coord else None
        return machine is not None and machine.state not in _UNREACHABLE_STATES

    def _wake(self, ssid: int) -> None:
        """Queue mode: a notification is due while asleep; come back online."""
        machine = self._coord.servers.get(ssid) if self._coord else None
        if machine is not None and machine.state is RegState.SLEEPING:
            self._execute(machine.wake_up(self._now()))

    def _on_store_change(self, changed: list[Path]) -> None:
        if not self._started or self._loop is None:
            return
        if self.state_store is not None and any(
            p and (p[0] in PERSISTED_OBJECTS or any(k.is_prefix_of(p) for k in self._persistent))
            for p in changed
        ):
            self._schedule_save()
        now = self._now()
        self._observations.changed(changed, now)
        self._react_to_config_change(changed, now)

    def _react_to_config_change(self, changed: list[Path], now: float) -> None:
        coord = self._coord
        if coord is None:
            return
        if any(len(p) <= 2 and p and p[0] not in (0, 1) for p in changed):
            self._execute(coord.objects_changed(now))
        if any(p and p[0] == 0 and (len(p) < 3 or p[2] == SEC_HOLD_OFF) for p in changed):
            self._apply_hold_off()
        procedure = {
            p[1]
            for p in changed
            if len(p) >= 3 and p[0] == 1 and p[2] in REGISTRATION_PROCEDURE_RESOURCES
        }
        for iid in procedure:
            self._apply_procedure(iid)
        for p in changed:
            if len(p) != 3 or p[0] != 1 or p[2] not in (SRV_LIFETIME, SRV_BINDING):
                continue
            try:
                ssid = self.store.get(Path(1, p[1], SRV_SHORT_ID))
                value = self.store.get(p)
            except (NotFound, ModelError):
                continue
            machine = coord.servers.get(ssid)
            if machine is None:
                continue
            if p[2] == SRV_LIFETIME:
                self._execute(machine.lifetime_changed(int(value), now))
            else:
                self._execute(machine.binding_changed(str(value), now))

    def _apply_procedure(self, iid: int) -> None:
        """/1/x/13-20 written: the account follows the new registration procedure values."""
        coord = self._coord
        try:
            ssid = self.store.get(Path(1, iid, SRV_SHORT_ID))
        except (NotFound, ModelError):
            return
        machine = None if coord is None else coord.servers.get(ssid)
        if machine is None:
            return
        values = {rid: self.store.get(Path(1, iid, rid)) for rid in self.store.resource_ids(1, iid)}
        machine.account.apply_procedure(values)

    def _apply_hold_off(self) -> None:
        """The Client Hold Off Time of the Bootstrap-Server account (/0/x/11), else the
        client's setting, for the next client-initiated bootstrap."""
        bs = None if self._coord is None else self._coord.bootstrap
        if bs is None:
            return
        hold_off = self.settings.bootstrap_hold_off
        security = self._security_for(None)
        if security is not None:
            value = security.get(SEC_HOLD_OFF)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                hold_off = float(value)
        bs.hold_off = hold_off

    # ---------------------------------------------------------------- Send
    async def send(
        self, paths: Iterable[str], *, short_server_id: int | None = None, timeout: float = 30.0
    ) -> int:
        """LwM2M 1.1 Send (Core TS 6.4.6): POST /dp with the values of ``paths`` in SenML CBOR.

        Returns the response code. Raises ``PermissionError`` when Mute Send
        (/1/x/23) is true for the server.
        """
        if self._coord is None:
            raise RuntimeError("the client is not started")
        targets = [short_server_id] if short_server_id is not None else self.registered_servers
        if not targets:
            raise RuntimeError("no registered server to send to")
        ssid = targets[0]
        if self._server_value(ssid, SRV_MUTE_SEND, False) is True:
            raise PermissionError(f"Send is muted for server {ssid} (/1/x/23)")
        records = self.store.read_records([Path.parse(p) for p in paths])
        payload = formats.encode(ContentFormat.SENML_CBOR, records, Path(), self.store.registry)
        await self._wake_up(ssid, timeout)
        conn = await self._conns.connect(ssid)
        msg = Message.request(
            Code.POST, "/dp", payload=payload, content_format=ContentFormat.SENML_CBOR
        )
        resp = await conn.request(msg, timeout)
        return int(resp.code)

    async def _wake_up(self, ssid: int, timeout: float) -> None:
        """Queue mode: an Update goes first when the client comes back online (Core TS 1.1
        6.5); returns once it is answered (or failed)."""
        machine = self._coord.servers.get(ssid) if self._coord is not None else None
        if machine is None or machine.state is not RegState.SLEEPING:
            return
        async with self._events.subscribe() as events, asyncio.timeout(timeout):
            self._execute(machine.wake_up(self._now()))
            while machine.state in (RegState.UPDATING, RegState.REGISTERING):
                await anext(events)

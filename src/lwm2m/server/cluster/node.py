"""One server node of a cluster: a :class:`~lwm2m.server.Server` on a shared
:class:`~lwm2m.server.store.redis.RedisStore`.

What a node does beside its server (the design is in :mod:`lwm2m.server.cluster`):

* **membership**: a heartbeat every ``heartbeat`` seconds (its CoAP URIs, how many
  devices it holds) into the store's ``nodes`` hash, with Redis's clock; a node
  not heard from for ``dead_after`` seconds is dead: calls to it fail at once and
  the bootstrap server places no device there;
* **the registration table mirrors the store**: registrations written by other
  nodes (Register, Update, De-register, expiry) are indexed here and announced on
  this server's events, as if they had happened here;
* **owner routing**: a device-management call (Python API or REST) for a device
  whose registration another node owns is forwarded to that node, which runs the
  CoAP exchange and sends the CoAP response back; this node decodes it as if it
  had received it, so results, errors and REST answers are the owner's. Observe
  gives a proxy handle here, fed by the owner's notifications;
* **events fan out**: notifications, Send, Sleeping and Awake of this node's
  devices are published on the ``events`` channel with the CoAP bytes; every other
  node decodes and publishes them on its own events;
* **expiry once**: the owner claims an expired registration at once, the other
  nodes ``dead_after`` later if it is still there; the store's claim lets one win;
* **moves**: a device that registers here while another node owned its
  registration brings its observations along (the store moved them): they are
  observed again from here, with their tokens, and queued requests waiting for it
  in Redis are sent.

Rules that keep the shared records right: only the owner of a registration
deletes its observations from the store (a proxy handle ending elsewhere does
not), and a node ends its handles when the store says the record is gone.

This module works with the server's internals (``_run``, ``_request``,
``_start_observation``, the observation maps, the event hub); ``Server`` calls it
through ``server._cluster`` at the points marked ``cluster`` in server.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lwm2m import formats
from lwm2m.coap.errors import EndpointClosed, RequestError
from lwm2m.coap.message import Message
from lwm2m.coap.observe import Observation as CoapObservation
from lwm2m.errors import DecodeError, ModelError, UnsupportedFormat
from lwm2m.model import Path
from lwm2m.server.cluster.errors import OwnerUnavailable
from lwm2m.server.cluster.routing import Router, check_fields
from lwm2m.server.cluster.wire import (
    Moved,
    WireError,
    error_from_wire,
    error_to_wire,
    message_from_wire,
    message_to_wire,
    pack,
    unpack,
)
from lwm2m.server.dm import ClientNotRegistered
from lwm2m.server.events import Awake, Notification, SendReceived, ServerEvent, Sleeping
from lwm2m.server.registration import (
    Deregistered,
    Expired,
    Registered,
    Registration,
    Updated,
)
from lwm2m.server.store.redis import RedisStore, StoreChange
from lwm2m.server.store.redis_link import RedisUnavailable
from lwm2m.tasks import TaskSet

if TYPE_CHECKING:
    from lwm2m.server.server import ObservationHandle, Server

__all__ = ["ClusterNode", "NodeInfo", "RemoteObservation"]

log = logging.getLogger(__name__)

#: Extra wait for a forwarded request beyond its own timeout (two Redis hops).
FORWARD_MARGIN = 2.0


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node as its last heartbeat told: CoAP URIs, devices it holds, when heard."""

    node_id: str
    uris: tuple[str, ...]
    devices: int
    seen_ms: int


class RemoteObservation(CoapObservation):
    """The CoAP side of a proxy handle: notifications arrive from the owner node;
    ``cancel``/``forget`` are sent to it."""

    def __init__(
        self, node: ClusterNode, owner: str, endpoint: str, request: Message, remote: Any
    ) -> None:
        super().__init__(request, remote, time.monotonic, self._send_cancel, self._send_forget)
        self._node = node
        self.owner = owner
        self.endpoint = endpoint
        self._quiet = False

    def end_quietly(self) -> None:
        """End here only (the observation ended on the owner, or moved)."""
        self._quiet = True
        self.end()

    async def cancel(self) -> Message | None:
        self._quiet = True  # end() must not send a forget before the cancel
        return await super().cancel()

    def _send_forget(self, _obs: CoapObservation) -> None:
        # not when the device left that node (this node or another one holds it now)
        node = self._node
        if (
            not self._quiet
            and not node.leaving
            and node.endpoint_owner(self.endpoint) == self.owner
        ):
            node.forward_forget(self.owner, self.endpoint, self.token)

    async def _send_cancel(self, _obs: CoapObservation) -> Message | None:
        if not self._node.leaving:
            await self._node.forward_cancel(self.owner, self.endpoint, self.token)
        return None


class ClusterNode:
    """Makes ``server`` (whose store is a :class:`RedisStore`) one node of the cluster.

    Created by :meth:`Server.start` for a shared store, or beforehand to set the
    options: ``heartbeat`` and ``dead_after`` (seconds), ``advertise_host`` (the
    host in the URIs the bootstrap server hands out; default: the listener's, or
    this machine's name for a wildcard listener).
    """

    def __init__(
        self,
        server: Server,
        *,
        heartbeat: float = 1.0,
        dead_after: float = 3.0,
        advertise_host: str | None = None,
    ) -> None:
        store = server.store
        if not isinstance(store, RedisStore):
            raise TypeError("a cluster node needs a RedisStore")
        if not 0 < heartbeat < dead_after:
            raise ValueError("heartbeat must be > 0 and below dead_after")
        self.server = server
        self.store: RedisStore = store
        self.node_id = store.node_id
        self.heartbeat = heartbeat
        self.dead_after = dead_after
        self.advertise_host = advertise_host
        self.uris: tuple[str, ...] = ()
        self.leaving = False
        self._nodes: dict[str, NodeInfo] = {}
        self._dead: set[str] = set()
        self._redis_ms = 0  # Redis's clock at the last heartbeat
        self._redis_at = 0.0  # loop time of that heartbeat
        self._awake: dict[str, bool] = {}  # other nodes' queue-mode devices
        self._claiming: dict[str, Registration] = {}
        self._injecting = False
        self._tasks = TaskSet(lambda exc: log.error("cluster task failed", exc_info=exc))
        self._router: Router | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Counters: calls this node forwarded to owners, calls it served for other
        #: nodes, events it published for them and events it took from them.
        self.stats = {"forwarded": 0, "served": 0, "events_out": 0, "events_in": 0}
        server._cluster = self

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Join: subscribe, mirror the store into the table, first heartbeat."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.leaving = False
        self._router = Router(self.store, loop)
        self.uris = self._uris()
        self.store.add_listener(self._on_change, loop)
        self.store.subscribe(Router.channel(self.node_id), self._on_node_message, loop)
        self.store.subscribe("events", self._on_event_message, loop)
        self.server.on_event(self._on_local_event)
        await self.store.applied(5.0)
        self._reconcile()
        try:
            await self._beat()
        except RedisUnavailable as exc:
            log.error("cluster node %s: first heartbeat failed: %s", self.node_id, exc)
        self._heartbeat_task = loop.create_task(self._heartbeat_loop())

    async def stop(self) -> None:
        """Leave on purpose: calls to this node fail at once from now on."""
        if self.leaving:
            return
        self.leaving = True
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        self.server.remove_event_callback(self._on_local_event)
        self.store.remove_listener(self._on_change)
        self.store.unsubscribe(Router.channel(self.node_id))
        self.store.unsubscribe("events")
        with contextlib.suppress(Exception):
            self.store.publish("events", pack({"t": "bye", "n": self.node_id}))
            await asyncio.wait_for(asyncio.wrap_future(self.store.leave()), 2.0)
        if self._router is not None:
            self._router.close()
        await self._tasks.cancel()

    def _uris(self) -> tuple[str, ...]:
        out = []
        for scheme, (host, port) in self.server.listeners():
            shown = self.advertise_host or host
            if shown in ("0.0.0.0", "::", ""):
                shown = socket.getfqdn()
            if ":" in shown:
                shown = f"[{shown}]"
            out.append(f"{scheme}://{shown}:{port}")
        return tuple(out)

    def _spawn(self, coro: Any) -> None:
        self._tasks.spawn(coro)

    # ----------------------------------------------------------------- membership
    async def _heartbeat_loop(self) -> None:
        failing = False
        # The loop also ends on ``leaving``: on Python 3.11, ``asyncio.wait_for``
        # swallows a cancel that arrives once the reply is in, so ``stop`` cannot
        # count on the cancel alone.
        while not self.leaving:
            await asyncio.sleep(self.heartbeat)
            if self.leaving:
                return
            try:
                await self._beat()
            except (RedisUnavailable, TimeoutError) as exc:
                if not failing:  # once per outage
                    log.warning("cluster node %s: heartbeats fail: %s", self.node_id, exc)
                failing = True
            except Exception:
                log.exception("cluster node %s: heartbeat failed", self.node_id)
            else:
                if failing:
                    log.warning("cluster node %s: heartbeats work again", self.node_id)
                failing = False

    async def _beat(self) -> None:
        info = json.dumps({"uris": list(self.uris), "devices": self.store.owned_count()})
        future = self.store.heartbeat(info)
        reply = await asyncio.wait_for(asyncio.wrap_future(future), self.dead_after)
        if self.leaving:
            return
        now_ms, infos, seen = int(reply[0]), reply[1], reply[2]
        assert self._loop is not None
        self._redis_ms, self._redis_at = now_ms, self._loop.time()
        last_seen = {seen[i].decode(): int(seen[i + 1]) for i in range(0, len(seen), 2)}
        nodes: dict[str, NodeInfo] = {}
        for i in range(0, len(infos), 2):
            name = infos[i].decode()
            try:
                data = json.loads(infos[i + 1])
            except ValueError:
                data = {}
            uris = data.get("uris") if isinstance(data, dict) else None
            devices = data.get("devices") if isinstance(data, dict) else None
            nodes[name] = NodeInfo(
                name,
                tuple(u for u in uris if isinstance(u, str)) if isinstance(uris, list) else (),
                devices if isinstance(devices, int) else 0,
                last_seen.get(name, 0),
            )
        self._nodes = nodes
        for name in nodes:
            alive = self.alive(name)
            if not alive and name not in self._dead:
                self._dead.add(name)
                log.warning("cluster node %s: node %s is not answering", self.node_id, name)
                if self._router is not None:
                    self._router.fail_node(name, "stopped sending heartbeats")
            elif alive:
                self._dead.discard(name)

    def nodes(self) -> dict[str, NodeInfo]:
        """Every node of the last heartbeat, alive or not."""
        return dict(self._nodes)

    def live_nodes(self) -> list[str]:
        return sorted(name for name in self._nodes if self.alive(name))

    def alive(self, node: str | None) -> bool:
        """Whether ``node`` sent a heartbeat in the last ``dead_after`` seconds."""
        if node is None or node == self.node_id:
            return not self.leaving
        if node in self._dead and node not in self._nodes:
            return False
        info = self._nodes.get(node)
        if info is None or self._loop is None:
            return node not in self._dead
        now_ms = self._redis_ms + (self._loop.time() - self._redis_at) * 1000
        return now_ms - info.seen_ms <= self.dead_after * 1000

    def _silence(self, node: str) -> str:
        info = self._nodes.get(node)
        if info is None or self._loop is None:
            return "stopped sending heartbeats"
        now_ms = self._redis_ms + (self._loop.time() - self._redis_at) * 1000
        return f"sent no heartbeat for {(now_ms - info.seen_ms) / 1000:.1f} s"

    def _peers(self) -> bool:
        """Whether another node may be listening (events are published only then)."""
        return any(name != self.node_id and self.alive(name) for name in self._nodes)

    # ------------------------------------------------------------- ownership
    def owns(self, reg: Registration) -> bool:
        """Whether this node holds ``reg``'s device session (or nobody else claims it)."""
        owner = self.store.owner_of(reg.id)
        return owner is None or owner == self.node_id

    def holds(self, reg: Registration) -> bool:
        """Whether the store names this node as ``reg``'s owner (then it alone removes
        the registration's observations from the store)."""
        return self.store.owner_of(reg.id) == self.node_id

    def endpoint_owner(self, endpoint: str) -> str | None:
        reg = self.server.table.get_by_endpoint(endpoint)
        return None if reg is None else self.store.owner_of(reg.id)

    @staticmethod
    def is_proxy(handle: ObservationHandle) -> bool:
        """Whether ``handle`` follows another node's observation."""
        return isinstance(handle._coap, RemoteObservation)

    def owner(self, reg: Registration) -> str | None:
        return self.store.owner_of(reg.id)

    def sleeping(self, reg: Registration) -> bool:
        """Queue mode of another node's device, as its owner announced it."""
        return reg.queue_mode and not self._awake.get(reg.endpoint, False)

    # ------------------------------------------------------------ calling owners
    def _router_or_fail(self, endpoint: str) -> Router:
        if self._router is None or self.leaving:
            raise EndpointClosed("the cluster node is not running")
        return self._router

    async def request(self, reg: Registration, message: Message, timeout: float) -> Message:
        """Run one CoAP request on the owner of ``reg``; its response."""
        reply = await self._call(
            reg,
            {"op": "req", "m": message_to_wire(message), "to": timeout},
            timeout,
        )
        return message_from_wire(reply.get("m"))

    async def observe(
        self,
        reg: Registration,
        message: Message,
        paths: Sequence[Path],
        composite: bool,
        timeout: float,
    ) -> CoapObservation:
        """Start an observation on the owner; the proxy that receives its notifications."""
        body = {
            "op": "obs",
            "m": message_to_wire(message),
            "to": timeout,
            "p": [str(p) for p in paths],
            "c": composite,
        }
        owner = self.owner(reg) or self.node_id
        reply = await self._call(reg, body, timeout)
        first = message_from_wire(reply.get("m"))
        token = bytes.fromhex(str(reply.get("tok", "")))
        request = Message(message.type, message.code, 0, token, message.options, message.payload)
        proxy = RemoteObservation(self, owner, reg.endpoint, request, reg.address)
        proxy.deliver(first)
        if not reply.get("act"):
            proxy.end_quietly()
        return proxy

    async def _call(
        self, reg: Registration, body: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        router = self._router_or_fail(reg.endpoint)
        wait = timeout + FORWARD_MARGIN
        if self.sleeping(reg):
            wait += self.server._queue.expiry
        for attempt in range(3):
            owner = self.owner(reg)
            if owner is None or owner == self.node_id:
                raise Moved(f"{reg.endpoint!r} is now served by this node")
            if not self.store.redis_up:
                why = f"cannot be reached: Redis at {self.store.url} is unreachable"
                raise OwnerUnavailable(reg.endpoint, owner, why)
            if not self.alive(owner):
                raise OwnerUnavailable(reg.endpoint, owner, self._silence(owner))
            self.stats["forwarded"] += 1
            reply = await router.call(owner, reg.endpoint, body, wait)
            if "e" not in reply:
                return reply
            error = error_from_wire(reply)
            if not isinstance(error, Moved) or attempt == 2:
                raise error
            # the device moved meanwhile: wait for the store to say where, then again
            await self.store.applied(2.0)
            current = self.server.table.get_by_endpoint(reg.endpoint)
            if current is None:
                raise ClientNotRegistered(f"no registration for endpoint {reg.endpoint!r}")
            reg = current
        raise AssertionError("unreachable")

    def forward_forget(self, owner: str, endpoint: str, token: bytes) -> None:
        self._spawn(self._forward_end("forget", owner, endpoint, token))

    async def forward_cancel(self, owner: str, endpoint: str, token: bytes) -> None:
        await self._forward_end("cancel", owner, endpoint, token)

    async def _forward_end(self, op: str, owner: str, endpoint: str, token: bytes) -> None:
        if self._router is None or not self.alive(owner):
            return
        with contextlib.suppress(RequestError, TimeoutError):
            await self._router.call(
                owner, endpoint, {"op": op, "tok": token.hex()}, self.server.default_timeout
            )

    def observation(self, token: bytes) -> ObservationHandle | None:
        """A handle that reaches the observation ``token`` on its owner (to cancel it)."""
        from lwm2m.server.server import ObservationHandle

        stored = self.store.get_observation(token)
        if stored is None:
            return None
        reg = self.store.get_registration(stored.registration_id)
        owner = None if reg is None else self.owner(reg)
        if reg is None or owner is None or owner == self.node_id:
            return None
        request = Message(token=token)
        proxy = RemoteObservation(self, owner, reg.endpoint, request, reg.address)
        return ObservationHandle(
            self.server, reg, proxy, stored.paths, stored.composite, stored.content_format, {}
        )

    # ------------------------------------------------------- serving other nodes
    def _on_node_message(self, data: bytes) -> None:
        try:
            message = unpack(data)
        except WireError as exc:
            log.warning("cluster node %s: bad message skipped: %s", self.node_id, exc)
            return
        kind = message["t"]
        if kind in ("rp", "qd"):
            if self._router is not None:
                self._router.on_reply(message)
        elif kind == "rq" and not self.leaving:
            self._spawn(self._serve(message))

    async def _serve(self, message: dict[str, Any]) -> None:
        router = self._router
        if router is None:
            return
        try:
            check_fields(message, "id", "from", "op", "ep")
        except WireError as exc:
            log.warning("cluster node %s: bad request skipped: %s", self.node_id, exc)
            return
        rid, caller, op = str(message["id"]), str(message["from"]), message["op"]
        endpoint = str(message["ep"])
        self.stats["served"] += 1
        body: dict[str, Any] | None
        try:
            if op in ("cancel", "forget"):
                body = await self._serve_end(op, message)
            else:
                body = await self._serve_request(op, endpoint, rid, caller, message)
                if body is None:
                    return  # left in Redis for the device's next node
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            body = error_to_wire(exc)
        router.reply(caller, rid, body)

    def _own_registration(self, endpoint: str) -> Registration:
        reg = self.server.table.get_by_endpoint(endpoint)
        if reg is None:
            raise ClientNotRegistered(f"no registration for endpoint {endpoint!r}")
        if not self.owns(reg):
            raise Moved(f"{endpoint!r} is served by node {self.owner(reg)!r}")
        return reg

    async def _serve_request(
        self, op: str, endpoint: str, rid: str, caller: str, message: dict[str, Any]
    ) -> dict[str, Any] | None:
        server = self.server
        reg = self._own_registration(endpoint)
        request = message_from_wire(message.get("m"))
        timeout = message.get("to")
        limit = float(timeout) if isinstance(timeout, int | float) else server.default_timeout
        entry: bytes | None = None
        if reg.queue_mode and server.is_sleeping(reg):
            until = time.time() + server._queue.expiry
            entry = pack({**message, "until": until})
            self.store.queue_push(endpoint, entry)
            assert self._router is not None
            self._router.notice_queued(caller, rid, until)
        try:
            if op == "obs":
                paths = tuple(Path.parse(str(p)) for p in message.get("p", ()))
                composite = bool(message.get("c"))
                handle = await server._run(
                    reg,
                    lambda r: server._start_observation(r, request, paths, composite, limit),
                )
                first = handle._first
                if first is None:
                    raise RequestError("the observation has no first response")
                body = {
                    "m": message_to_wire(first),
                    "tok": handle.token.hex(),
                    "act": handle.active,
                }
                self._keep_draining(handle)
            elif op == "req":
                response = await server._run(reg, lambda r: server._request(r, request, limit))
                body = {"m": message_to_wire(response)}
            else:
                raise WireError(f"unknown operation {op!r}")
        except BaseException as exc:
            gone = isinstance(exc, ClientNotRegistered | EndpointClosed | asyncio.CancelledError)
            if entry is not None and gone and (self.leaving or not self._still_owned(endpoint)):
                # the device moved, or this node stops: the request stays in Redis and
                # the device's next node answers it
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return None
            if entry is not None:
                self.store.queue_remove(endpoint, entry)
            raise
        if entry is not None:
            self.store.queue_remove(endpoint, entry)
        return body

    def _still_owned(self, endpoint: str) -> bool:
        reg = self.server.table.get_by_endpoint(endpoint)
        return reg is not None and self.owns(reg)

    async def _serve_end(self, op: str, message: dict[str, Any]) -> dict[str, Any]:
        try:
            token = bytes.fromhex(str(message.get("tok")))
        except ValueError:
            raise WireError("bad token") from None
        handle = self.server._observing.get(token)
        if handle is not None:
            if op == "cancel":
                await handle.cancel()
            else:
                handle.forget()
        return {}

    def _keep_draining(self, handle: ObservationHandle) -> None:
        """A handle started for another node: events carry its notifications; its own
        queue must not grow."""

        async def drain() -> None:
            async for _ in handle:
                pass

        self._spawn(drain())

    async def _serve_queued(self, endpoint: str) -> None:
        """Requests that waited in Redis for ``endpoint`` (it came to this node)."""
        try:
            entries = await asyncio.wrap_future(self.store.queue_take(endpoint))
        except RedisUnavailable as exc:
            log.warning("queued requests of %s not read: %s", endpoint, exc)
            return
        for raw in entries:
            try:
                message = unpack(raw)
            except WireError:
                continue
            until = message.get("until")
            if isinstance(until, int | float) and until < time.time():
                if self._router is not None:
                    expired = "the client did not wake up before the request expired"
                    self._router.reply(
                        str(message.get("from")),
                        str(message.get("id")),
                        {"e": "RequestExpired", "x": expired},
                    )
                continue
            message.pop("until", None)
            self._spawn(self._serve(message))

    # ------------------------------------------------------------ hooks: events
    def notified(self, handle: ObservationHandle, message: Message) -> None:
        """A notification of a device of this node: tell the other nodes."""
        if isinstance(handle._coap, RemoteObservation) or not self._peers():
            return
        reg = handle.registration
        body = {
            "t": "n",
            "n": self.node_id,
            "ep": reg.endpoint,
            "reg": reg.id,
            "tok": handle.token.hex(),
            "p": [str(p) for p in handle.paths],
            "c": handle.composite,
            "m": message_to_wire(message),
        }
        self.stats["events_out"] += 1
        self.store.publish("events", pack(body))

    def sent(self, reg: Registration, request: Message) -> None:
        """A Send (POST /dp) of a device of this node: tell the other nodes."""
        if not self._peers():
            return
        try:
            cf = request.content_format
        except DecodeError:
            return
        body = {
            "t": "s",
            "n": self.node_id,
            "ep": reg.endpoint,
            "reg": reg.id,
            "cf": cf,
            "pl": message_to_wire(Message(payload=request.payload)),
        }
        self.store.publish("events", pack(body))

    def _inject(self, event: ServerEvent) -> None:
        """Publish an event that happened on another node on this server's events."""
        self._injecting = True
        try:
            self.server._events.publish(event)
        finally:
            self._injecting = False

    def _on_local_event(self, event: ServerEvent) -> None:
        if self._injecting:
            return
        if isinstance(event, Sleeping | Awake):
            if self._peers():
                kind = "z" if isinstance(event, Sleeping) else "a"
                reg = event.registration
                body = {"t": kind, "n": self.node_id, "ep": reg.endpoint, "reg": reg.id}
                self.store.publish("events", pack(body))
        elif isinstance(event, Registered):
            self._registered_here(event)

    def _registered_here(self, event: Registered) -> None:
        reg = event.registration
        _old, old_owner, moved = self.store.take_move(reg.id)
        if old_owner is not None:
            log.info(
                "%s moved from node %s to node %s (%d observation(s))",
                reg.endpoint,
                old_owner,
                self.node_id,
                len(moved),
            )
        if moved:
            self.server._restore_observations(reg)
        if reg.queue_mode:  # only requests for queue-mode devices wait in Redis
            self._spawn(self._serve_queued(reg.endpoint))

    def _on_event_message(self, data: bytes) -> None:
        try:
            message = unpack(data)
            if message.get("n") == self.node_id:
                return
            self.stats["events_in"] += 1
            kind = message["t"]
            if kind == "bye":
                node = str(message.get("n"))
                self._nodes.pop(node, None)
                self._dead.add(node)
                if self._router is not None:
                    self._router.fail_node(node, "stopped")
                return
            reg = self.server.table.get(str(message.get("reg")))
            if reg is None:
                reg = self.server.table.get_by_endpoint(str(message.get("ep")))
            if reg is None:
                return  # the registration is not here (yet): nobody can use the event
            if kind == "n":
                self._remote_notification(reg, message)
            elif kind == "s":
                self._remote_send(reg, message)
            elif kind in ("z", "a"):
                self._awake[reg.endpoint] = kind == "a"
                self._inject(Sleeping(reg) if kind == "z" else Awake(reg))
        except (WireError, KeyError, ValueError, DecodeError, ModelError, UnsupportedFormat) as exc:
            log.info("cluster node %s: event skipped: %s", self.node_id, exc)

    def _remote_notification(self, reg: Registration, message: dict[str, Any]) -> None:
        coap = message_from_wire(message.get("m"))
        token = bytes.fromhex(str(message["tok"]))
        self._awake[reg.endpoint] = True
        handle = self.server._observing.get(token)
        if handle is not None and isinstance(handle._coap, RemoteObservation):
            proxy = handle._coap
            if proxy.active and proxy.accept(coap):
                proxy.deliver(coap)  # the handle's pump decodes and publishes it
            return
        if handle is not None:
            return  # this node observes it itself
        paths = tuple(Path.parse(str(p)) for p in message.get("p", ()))
        composite = bool(message.get("c"))
        if not paths or coap.code >> 5 != 2:
            return
        content = self.server._decode_notification(coap, paths, composite, reg.endpoint)
        try:
            cf = coap.content_format
        except DecodeError:
            cf = None
        self._inject(Notification(reg, token, paths, content, cf, coap.observe, composite))

    def _remote_send(self, reg: Registration, message: dict[str, Any]) -> None:
        cf = message.get("cf")
        if not isinstance(cf, int):
            raise WireError("Send without a content format")
        payload = message_from_wire(message.get("pl")).payload
        records = formats.decode(cf, payload, Path(), self.server.registry)
        if not isinstance(records, dict):
            raise WireError("Send without records")
        self._awake[reg.endpoint] = True
        self._inject(SendReceived(reg, records, cf))

    # -------------------------------------------------------- hooks: expiry
    def expire(self, now: float) -> None:
        """Registrations whose time is over: claimed in the store, once."""
        loop = self._loop
        for reg in self.server.table.take_due(now):
            self._claiming[reg.id] = reg
            owner = self.owner(reg)
            first = owner in (None, self.node_id) or not self.alive(owner)
            delay = 0.0 if first else self.dead_after  # the owner claims first
            if loop is not None:
                loop.call_later(delay, self._claim_later, reg)

    def _claim_later(self, reg: Registration) -> None:
        self._spawn(self._claim(reg))

    async def _claim(self, reg: Registration) -> None:
        if self._claiming.get(reg.id) is not reg:
            return  # another node's claim came first
        try:
            won = await asyncio.wait_for(
                asyncio.wrap_future(self.store.claim_expiry(reg)), self.dead_after
            )
        except (RedisUnavailable, TimeoutError) as exc:
            log.warning("expiry of %s not claimed yet: %s", reg.endpoint, exc)
            if self._loop is not None and not self.leaving:
                self._loop.call_later(1.0, self._claim_later, reg)
            return
        if won:
            if self._claiming.pop(reg.id, None) is not None:
                self.server._on_registration_event(Expired(reg))
            return
        current = self.store.get_registration(reg.id)
        if current is not None and current.expires_at != reg.expires_at:
            # an Update came in between: the registration lives on
            self._claiming.pop(reg.id, None)
            self.server.table.mirror(current)
            self.server._arm_expiry()
        # else another node expired it: its change announces it here

    # ------------------------------------------------------- hooks: the store
    def _on_change(self, change: StoreChange) -> None:
        if self.leaving:
            return
        kind = change.kind
        if kind == "registration" and change.registration is not None:
            self._remote_registration(change)
        elif kind == "registration_removed" and change.registration is not None:
            self._remote_removal(change.registration, change.reason)
        elif kind == "observation_removed" and change.token is not None:
            handle = self.server._observing.get(change.token)
            if handle is not None:
                self._end_handle(handle)
        elif kind in ("security", "security_removed"):
            self.server.table.security_changed()
            if change.identity is not None:
                self.server.close_secure_sessions(change.identity.encode())
        elif kind == "resync":
            self._reconcile()

    def _end_handle(self, handle: ObservationHandle) -> None:
        """End a handle here without touching the store (the record is gone or moved)."""
        server = self.server
        if server._observing.get(handle.token) is handle:
            server._unfollow(handle)
        coap = handle._coap
        if isinstance(coap, RemoteObservation):
            coap.end_quietly()
        else:
            coap.forget()
        handle._end()

    def _remote_registration(self, change: StoreChange) -> None:
        reg = change.registration
        assert reg is not None
        server = self.server
        table = server.table
        previous = table.get(reg.id)
        replaced = table.mirror(reg)
        if replaced is None and change.replaced is not None:
            replaced = change.replaced
        if replaced is not None:
            moved = set(change.moved)
            for handle in list(server._observing_by_reg.get(replaced.id, {}).values()):
                if handle.token in moved and isinstance(handle._coap, RemoteObservation):
                    server._unfollow(handle)  # the proxy follows the device to its new node
                    handle.registration = reg
                    handle._coap.owner = change.node
                    server._follow(handle)
                else:
                    self._end_handle(handle)
            self._fail_waiting(replaced.endpoint, "moved to another node")
        if previous is not None:
            # an Update that reached another node (a load balancer moved the device):
            # that node observes again; this node's own handles end
            for handle in list(server._observing_by_reg.get(reg.id, {}).values()):
                if not isinstance(handle._coap, RemoteObservation):
                    self._end_handle(handle)
        self._claiming.pop(reg.id, None)
        self._awake[reg.endpoint] = True
        server._arm_expiry()
        if previous is not None and previous.endpoint == reg.endpoint:
            self._inject(Updated(previous, reg))
        else:
            self._inject(Registered(reg, replaced))

    def _remote_removal(self, reg: Registration, reason: str) -> None:
        server = self.server
        gone = server.table.forget(reg.id) or self._claiming.pop(reg.id, None)
        self._claiming.pop(reg.id, None)
        if gone is None:
            return
        for handle in list(server._observing_by_reg.get(gone.id, {}).values()):
            self._end_handle(handle)
        self._awake.pop(gone.endpoint, None)
        self._fail_waiting(gone.endpoint, "is no longer registered")
        server._arm_expiry()
        self._inject(Expired(gone) if reason == "expired" else Deregistered(gone))

    def _fail_waiting(self, endpoint: str, why: str) -> None:
        """Requests that waited here for a device that went elsewhere or is gone."""
        server = self.server
        timer = server._sleep_timers.pop(endpoint, None)
        if timer is not None:
            timer.cancel()
        for item in server._queue.forget(endpoint):
            if not item.future.done():
                item.future.set_exception(ClientNotRegistered(f"endpoint {endpoint!r} {why}"))

    def _reconcile(self) -> None:
        """Make the table what the store holds (start, or after a resync)."""
        server = self.server
        table = server.table
        stored = {reg.id: reg for reg in self.store.list_registrations()}
        for reg in table.all():
            if reg.id not in stored:
                table.forget(reg.id)
                for handle in list(server._observing_by_reg.get(reg.id, {}).values()):
                    self._end_handle(handle)
                self._inject(Deregistered(reg))
        for reg in stored.values():
            current = table.get(reg.id)
            if current == reg:
                continue
            table.mirror(reg)
            if current is None:
                self._inject(Registered(reg))
            else:
                self._inject(Updated(current, reg))
        server._arm_expiry()

"""``GET /api/event``: server-sent events, as Eclipse Leshan 2.x's demo server sends them.

Each event is ``event: NAME`` and ``data: JSON`` (one line):

==================  ==============================================================
REGISTRATION        the registration (:mod:`~lwm2m.server.rest.registrations`)
UPDATED             ``{"registration": ..., "update": {...}}``
DEREGISTRATION      the registration (also when it expired)
SLEEPING, AWAKE     ``{"ep": E}``: a queue-mode client went quiet / was heard again
NOTIFICATION        ``{"ep", "kind": "single", "res": path, "val": node}`` or
                    ``{"ep", "kind": "composite", "val": {path: node}, "paths": [...]}``
SEND                ``{"ep", "val": {path: node}}``
COAPLOG             one CoAP message to or from the endpoint the stream follows:
                    ``{"timestamp", "incoming", "type", "code", "mId", "token",
                    "options", "payload", "ep"}`` (``options``/``payload`` only when
                    present; a payload that is not printable ASCII is ``Hex:...``)
REQUEST_RESPONSE    the late answer to a request queued for a sleeping client:
                    ``{"ep", "path", "requestId", "response": {...}, "delayed": true}``
==================  ==============================================================

``?ep=E`` keeps the events of endpoint E only, and ``?E`` (the endpoint as a bare
query key) does the same; only such a stream gets COAPLOG events, as in Leshan,
where tracing starts when a page follows one device. A comment line every
``heartbeat`` seconds keeps idle streams open and notices readers that left. A
reader too slow to take its events loses the oldest ones (each stream holds at
most :data:`STREAM_BACKLOG`), so one stuck reader cannot grow the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat, OptionNumber, Type
from lwm2m.model import Registry
from lwm2m.server.events import (
    Awake,
    Notification,
    SendReceived,
    ServerEvent,
    Sleeping,
)
from lwm2m.server.registration import Registered, Updated
from lwm2m.server.rest.nodes import composite_to_json, node_to_json, records_to_json
from lwm2m.server.rest.registrations import registration_to_json, update_to_json
from lwm2m.server.rest.responses import Json, dumps, query_value
from lwm2m.server.server import Server

__all__ = ["STREAM_BACKLOG", "EventHub", "add_routes", "coap_log_entry", "event_to_json"]

log = logging.getLogger(__name__)

#: Events a stream holds for a reader that does not keep up.
STREAM_BACKLOG: Final = 1000

#: RFC 7252 option names, as a CoAP log shows them.
_OPTION_NAMES: Final[dict[int, str]] = {
    OptionNumber.IF_MATCH: "If-Match",
    OptionNumber.URI_HOST: "Uri-Host",
    OptionNumber.ETAG: "ETag",
    OptionNumber.IF_NONE_MATCH: "If-None-Match",
    OptionNumber.OBSERVE: "Observe",
    OptionNumber.URI_PORT: "Uri-Port",
    OptionNumber.LOCATION_PATH: "Location-Path",
    OptionNumber.URI_PATH: "Uri-Path",
    OptionNumber.CONTENT_FORMAT: "Content-Format",
    OptionNumber.MAX_AGE: "Max-Age",
    OptionNumber.URI_QUERY: "Uri-Query",
    OptionNumber.ACCEPT: "Accept",
    OptionNumber.LOCATION_QUERY: "Location-Query",
    OptionNumber.BLOCK2: "Block2",
    OptionNumber.BLOCK1: "Block1",
    OptionNumber.SIZE2: "Size2",
    OptionNumber.PROXY_URI: "Proxy-Uri",
    OptionNumber.PROXY_SCHEME: "Proxy-Scheme",
    OptionNumber.SIZE1: "Size1",
    OptionNumber.NO_RESPONSE: "No-Response",
}
_TEXT_OPTIONS: Final = frozenset(
    {
        OptionNumber.URI_HOST,
        OptionNumber.LOCATION_PATH,
        OptionNumber.URI_PATH,
        OptionNumber.URI_QUERY,
        OptionNumber.LOCATION_QUERY,
        OptionNumber.PROXY_URI,
        OptionNumber.PROXY_SCHEME,
    }
)
_UINT_OPTIONS: Final = frozenset(
    {
        OptionNumber.OBSERVE,
        OptionNumber.URI_PORT,
        OptionNumber.MAX_AGE,
        OptionNumber.SIZE1,
        OptionNumber.SIZE2,
        OptionNumber.NO_RESPONSE,
    }
)


def _option_value(number: int, raw: bytes) -> str:
    if number in _TEXT_OPTIONS:
        return raw.decode("utf-8", "replace")
    value = int.from_bytes(raw, "big")
    if number in (OptionNumber.CONTENT_FORMAT, OptionNumber.ACCEPT):
        try:
            return ContentFormat(value).name
        except ValueError:
            return str(value)
    if number in (OptionNumber.BLOCK1, OptionNumber.BLOCK2):
        more = "+" if value & 0x08 else ""
        return f"{value >> 4}{more}/{16 << (value & 0x07)}"
    if number in _UINT_OPTIONS:
        return str(value)
    return raw.hex()


def _code_text(code: int) -> str:
    if 1 <= code <= 31:
        try:
            return Code(code).name
        except ValueError:
            return f"0.{code:02d}"
    return f"{code >> 5}.{code & 0x1F:02d}"


def coap_log_entry(message: Message, incoming: bool, endpoint: str) -> dict[str, Json]:
    """One COAPLOG event's data (see the module docstring)."""
    entry: dict[str, Json] = {
        "timestamp": round(time.time() * 1000),
        "incoming": incoming,
        "type": Type(message.type).name,
        "mId": message.mid,
        "token": message.token.hex(),
    }
    if message.code != Code.EMPTY:
        entry["code"] = _code_text(message.code)
    grouped: dict[str, list[str]] = {}
    for number, raw in message.options:
        name = _OPTION_NAMES.get(number, f"Unknown ({number})")
        grouped.setdefault(name, []).append(_option_value(number, raw))
    if grouped:
        entry["options"] = " - ".join(f"{k}: {', '.join(v)}" for k, v in grouped.items())
    if message.payload:
        try:
            text = message.payload.decode("ascii")
        except UnicodeDecodeError:
            text = None
        if text is not None and text.isprintable():
            entry["payload"] = text
        else:
            entry["payload"] = "Hex:" + message.payload.hex()
    entry["ep"] = endpoint
    return entry


def event_to_json(
    event: ServerEvent, registry: Registry, server: Server | None = None
) -> tuple[str, dict[str, Json]]:
    """The server-sent event name and data of a server event (module docstring)."""
    if isinstance(event, Notification):
        if event.composite:
            assert isinstance(event.content, dict)
            return "NOTIFICATION", {
                "ep": event.endpoint,
                "kind": "composite",
                "val": composite_to_json(event.content, event.paths, registry),
                "paths": [str(p) for p in event.paths],
            }
        assert not isinstance(event.content, dict)
        return "NOTIFICATION", {
            "ep": event.endpoint,
            "kind": "single",
            "res": str(event.path),
            "val": node_to_json(event.content, event.path, registry),
        }
    if isinstance(event, SendReceived):
        return "SEND", {"ep": event.endpoint, "val": records_to_json(event.records, registry)}
    if isinstance(event, Sleeping):
        return "SLEEPING", {"ep": event.endpoint}
    if isinstance(event, Awake):
        return "AWAKE", {"ep": event.endpoint}
    reg = event.registration
    sleeping = None
    if server is not None and reg.queue_mode and server.get_registration(reg.endpoint) is reg:
        sleeping = server.is_sleeping(reg)
    reg_json = registration_to_json(reg, sleeping=sleeping)
    if isinstance(event, Registered):
        return "REGISTRATION", reg_json
    if isinstance(event, Updated):
        return "UPDATED", {"registration": reg_json, "update": update_to_json(event)}
    return "DEREGISTRATION", reg_json


@dataclass(eq=False)
class _Stream:
    endpoint: str | None
    backlog: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=STREAM_BACKLOG))
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def put(self, name: str, data: str) -> None:
        self.backlog.append((name, data))
        self.wakeup.set()


class EventHub:
    """Fans server events and the API's own events out to the open streams."""

    def __init__(self, server: Server, heartbeat: float) -> None:
        self.server = server
        self.heartbeat = heartbeat
        self._streams: set[_Stream] = set()

    def publish(self, name: str, data: dict[str, Json], endpoint: str) -> None:
        """Send one event to every stream that follows ``endpoint`` (or everything)."""
        if not self._streams:
            return
        text = dumps(data)
        for stream in self._streams:
            if stream.endpoint is None or stream.endpoint == endpoint:
                stream.put(name, text)

    def _on_server_event(self, event: ServerEvent) -> None:
        if not self._streams:
            return
        name, data = event_to_json(event, self.server.registry, self.server)
        self.publish(name, data, event.registration.endpoint)

    async def start(self, app: web.Application) -> None:
        self.server.on_event(self._on_server_event)

    async def shutdown(self, app: web.Application) -> None:
        self.server.remove_event_callback(self._on_server_event)
        for stream in list(self._streams):
            stream.closed = True
            stream.wakeup.set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = query_value(request, "ep")
        if endpoint is None and len(request.query) == 1:
            (key, value), *_ = request.query.items()
            if value == "":
                endpoint = key  # ?ENDPOINT
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "Connection": "keep-alive",
            }
        )
        stream = _Stream(endpoint)
        self._streams.add(stream)
        untrace = None
        if endpoint is not None:
            untrace = self.server.trace(
                endpoint,
                lambda message, incoming: stream.put(
                    "COAPLOG", dumps(coap_log_entry(message, incoming, endpoint))
                ),
            )
        try:
            await response.prepare(request)
            await response.write(b": stream open\n\n")
            while not stream.closed:
                if not stream.backlog:
                    stream.wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.heartbeat):
                            await stream.wakeup.wait()
                    if not stream.backlog:
                        if not stream.closed:
                            await response.write(b": heartbeat\n\n")
                        continue
                chunks = []
                while stream.backlog:
                    name, data = stream.backlog.popleft()
                    chunks.append(f"event: {name}\ndata: {data}\n\n")
                await response.write("".join(chunks).encode())
        except (ConnectionResetError, RuntimeError) as exc:
            log.debug("event stream closed: %s", exc)
        finally:
            self._streams.discard(stream)
            if untrace is not None:
                untrace()
        return response


def add_routes(app: web.Application, server: Server, *, heartbeat: float) -> EventHub:
    """Serve ``/api/event`` on ``app``; the hub lets other routes publish events too."""
    hub = EventHub(server, heartbeat)
    app.router.add_get("/api/event", hub.handle)
    app.on_startup.append(hub.start)
    app.on_shutdown.append(hub.shutdown)
    return hub

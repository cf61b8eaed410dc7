"""``/api/clients``: registrations and device management, as Eclipse Leshan 2.x's demo server.

==========================================================  =================================
route                                                       operation
==========================================================  =================================
``GET /api/clients``                                        the registrations
``GET /api/clients/{ep}``                                   one registration
``GET /api/clients/{ep}/{path}?format=&timeout=``           Read
``PUT /api/clients/{ep}/{o}/{i}[/{r}[/{ri}]]?format=&replace=``  Write (``replace=false``:
                                                            partial update)
``POST /api/clients/{ep}/{o}[/{i}]``                        Create (body: an instance node)
``POST /api/clients/{ep}/{o}/{i}/{r}``                      Execute (text body: arguments)
``DELETE /api/clients/{ep}/{path}``                         Delete
``POST /api/clients/{ep}/{path}/observe?format=``           Observe (answers the first value)
``DELETE /api/clients/{ep}/{path}/observe[?active]``        cancel: passive (forget), or
                                                            active (GET with Observe=1)
``PUT /api/clients/{ep}/{path}/attributes?pmin=&pmax=..``   Write-Attributes (``?pmin`` alone
                                                            removes pmin)
``GET /api/clients/{ep}/{path}/discover``                   Discover
``GET /api/clients/{ep}/composite?paths=/3/0,/1/0/1``       Read-Composite (``nodeformat=``,
                                                            ``pathformat=``)
``PUT /api/clients/{ep}/composite``                         Write-Composite (``{path: node}``)
``POST|DELETE /api/clients/{ep}/composite/observe?paths=``  Observe-Composite / cancel
==========================================================  =================================

An operation the device answered is HTTP 200 with a response object (see
:mod:`~lwm2m.server.rest.responses`): ``{"status": "CONTENT(205)", "valid": true,
"success": true, "failure": false, "content": NODE}``, ``objectLinks`` for Discover,
``location`` for Create; a refusal by the device is still HTTP 200, with
``"success": false``, its status (``NOT_FOUND(404)``, ...) and ``errormessage`` when it
sent a diagnostic payload. Composite content is one node per requested path, keyed
by that path.

Refused before anything is sent, with a ``text/plain`` reason as Leshan's servlets
give it: an endpoint that is not registered (400 ``No registered client with id
'E'``), a bad path (400 ``Invalid path`` or ``Invalid request: ...``), a bad
parameter or body (400 ``Invalid request: ...``), a composite operation for a
client registered with LwM2M 1.0 (400). A device that does not answer within
``timeout`` is 504 ``Request timeout``; a reset or an answer that does not decode is
500 ``Request rejected: ...`` / ``Invalid Response: ...``. In a cluster, a call for a
device whose node stopped answering is 503 naming that node, at once.

``?timeout=`` is in seconds and takes what Leshan takes: a number that does not
parse (or is not positive) means the default, 5 s; the value is capped at
``max_timeout`` (3600 s by default, so block-wise transfers of several KiB that
need 600 s work).

A queue-mode client that sleeps gets the request when it wakes up: the call
answers at once with ``{"ep", "path", "requestId", "delayed": true}`` and the
response comes later as a ``REQUEST_RESPONSE`` event on ``/api/event``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from aiohttp import web

from lwm2m import formats
from lwm2m.coap.errors import (
    EndpointClosed,
    RequestError,
    RequestTimeout,
    ResetReceived,
)
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.errors import DecodeError, EncodeError, ModelError, UnsupportedFormat
from lwm2m.formats.link import INT_ATTRIBUTES
from lwm2m.model import InstanceNode, Node, Path, Records
from lwm2m.server.cluster.errors import OwnerUnavailable
from lwm2m.server.dm import ATTRIBUTE_NAMES, ClientNotRegistered, DmError
from lwm2m.server.rest.events import EventHub
from lwm2m.server.rest.nodes import (
    composite_to_json,
    instance_from_json,
    node_from_json,
    node_to_json,
    parse_format,
    parse_path,
    records_from_json,
)
from lwm2m.server.rest.registrations import discover_to_json, registration_to_json
from lwm2m.server.rest.responses import (
    HttpError,
    Json,
    RestInputError,
    failure,
    json_response,
    query_value,
    read_json,
    success,
)
from lwm2m.server.server import ObservationHandle, Server
from lwm2m.tasks import TaskSet

__all__ = ["add_routes", "parse_timeout"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_ACTIONS: Final = frozenset({"observe", "attributes", "discover"})


def parse_timeout(text: str | None, default: float, maximum: float) -> float:
    """``?timeout=`` in seconds, leniently: what does not parse means the default."""
    if text is None:
        return default
    try:
        value = float(text.strip())
    except ValueError:
        return default
    if not math.isfinite(value) or value <= 0:
        return default
    return min(value, maximum)


def _attribute(name: str, text: str) -> float | None:
    """One Write-Attributes value; empty text removes the attribute."""
    if text == "":
        return None
    try:
        if name in INT_ATTRIBUTES:
            number: float = int(text, 10)
            if number < 0:
                raise ValueError
        else:
            number = float(text)
    except ValueError:
        kind = "a non-negative integer" if name in INT_ATTRIBUTES else "a number"
        raise RestInputError(f"attribute {name}: expected {kind}, got {text!r}") from None
    if not math.isfinite(number):
        raise RestInputError(f"attribute {name}: {text!r} is not finite")
    return number


def _not_registered(ep: str) -> HttpError:
    return HttpError(400, f"No registered client with id '{ep}'")


class _Clients:
    """The route handlers, sharing one server."""

    def __init__(
        self, server: Server, hub: EventHub, default_timeout: float, max_timeout: float
    ) -> None:
        self.server = server
        self.registry = server.registry
        self.hub = hub
        self.default_timeout = default_timeout
        self.max_timeout = max_timeout
        self._tasks = TaskSet()

    # ------------------------------------------------------------- helpers
    def _timeout(self, request: web.Request) -> float:
        return parse_timeout(
            query_value(request, "timeout"), self.default_timeout, self.max_timeout
        )

    def _format(self, request: web.Request, *names: str) -> int | None:
        for name in (*names, "format"):
            cf = parse_format(query_value(request, name))
            if cf is not None:
                return cf
        return None

    def _endpoint(self, request: web.Request) -> str:
        ep = request.match_info["ep"]
        if self.server.get_registration(ep) is None:
            raise _not_registered(ep)
        return ep

    @staticmethod
    async def _body_text(request: web.Request) -> str:
        raw = await request.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RestInputError("the body is not UTF-8 text") from None
        if request.content_type == "application/json" and text.strip():
            decoded = await read_json(request)
            if not isinstance(decoded, str):
                raise RestInputError("the body must be a JSON string or plain text")
            return decoded
        return text

    async def _operate(
        self,
        request: web.Request,
        call: Callable[[float], Awaitable[T]],
        code: int,
        render: Callable[[T], dict[str, Json]],
        path: Path | None = None,
    ) -> web.Response:
        """Run one device-management call and answer with its outcome."""
        timeout = self._timeout(request)
        ep = request.match_info.get("ep", "")
        reg = self.server.get_registration(ep)
        if reg is not None and self.server.is_sleeping(reg):
            return self._delayed(ep, call, timeout, code, render, path)
        try:
            async with asyncio.timeout(timeout):
                result = await call(timeout)
        except DmError as exc:
            return json_response(failure(exc.code, exc.message))
        return json_response(success(code, **render(result)))

    def _delayed(
        self,
        ep: str,
        call: Callable[[float], Awaitable[T]],
        timeout: float,
        code: int,
        render: Callable[[T], dict[str, Json]],
        path: Path | None,
    ) -> web.Response:
        """Queue the call for a sleeping client; its answer comes as an event."""
        request_id = str(uuid.uuid4())
        head: dict[str, Json] = {"ep": ep}
        if path is not None:
            head["path"] = str(path)
        head["requestId"] = request_id

        async def later() -> None:
            try:
                result = await call(timeout)
            except DmError as exc:
                body = failure(exc.code, exc.message)
            except Exception as exc:  # expired, gone, reset: nothing to report but the log
                log.info("delayed request %s to %r failed: %s", request_id, ep, exc)
                return
            else:
                body = success(code, **render(result))
            self.hub.publish("REQUEST_RESPONSE", {**head, "response": body, "delayed": True}, ep)

        self._tasks.spawn(later())
        return json_response({**head, "delayed": True})

    def _content(self, path: Path) -> Callable[[Node], dict[str, Json]]:
        return lambda node: {"content": node_to_json(node, path, self.registry)}

    def _composite(self, paths: list[Path]) -> Callable[[Records], dict[str, Json]]:
        return lambda records: {"content": composite_to_json(records, paths, self.registry)}

    def _keep_draining(self, handle: ObservationHandle) -> None:
        """Notifications reach the event stream; the handle's own queue must not grow."""

        async def drain() -> None:
            async for _ in handle:
                pass

        self._tasks.spawn(drain())

    # ------------------------------------------------------------- clients
    async def list_clients(self, request: web.Request) -> web.Response:
        regs = sorted(self.server.registrations(), key=lambda r: r.endpoint)
        return json_response([self._registration_json(reg) for reg in regs])

    def _registration_json(self, reg: Any) -> dict[str, Json]:
        sleeping = self.server.is_sleeping(reg) if reg.queue_mode else None
        return registration_to_json(reg, sleeping=sleeping)

    async def get_client(self, request: web.Request) -> web.Response:
        ep = request.match_info["ep"]
        reg = self.server.get_registration(ep)
        if reg is None:
            raise HttpError(400, f"no registered client with id '{ep}'")
        return json_response(self._registration_json(reg))

    async def client_path(self, request: web.Request) -> web.StreamResponse:
        """Dispatch ``/api/clients/{ep}/{path}[/action]`` by method and action."""
        ep = self._endpoint(request)
        segments = [s for s in request.match_info["path"].split("/") if s]
        if not segments:
            raise HttpError(400, "Invalid path")
        method = request.method
        if segments[0] == "composite":
            return await self._composite_route(request, ep, segments[1:], method)
        action = segments.pop() if segments[-1] in _ACTIONS else None
        if action is not None and not segments:
            raise HttpError(400, "Invalid path")
        path = parse_path("/".join(segments))
        handler = self._ROUTES.get((action, method))
        if handler is None:
            allowed = ",".join(sorted(m for a, m in self._ROUTES if a == action))
            raise HttpError(405, f"{method} is not allowed here; use {allowed}")
        return await handler(self, request, ep, path)

    # ---------------------------------------------------------- operations
    async def _read(self, request: web.Request, ep: str, path: Path) -> web.Response:
        cf = self._format(request)
        return await self._operate(
            request,
            lambda t: self.server.read(ep, path, format=cf, timeout=t),
            Code.CONTENT,
            self._content(path),
            path,
        )

    async def _write(self, request: web.Request, ep: str, path: Path) -> web.Response:
        if path.level < 2:
            raise HttpError(400, "Invalid path")
        cf = self._format(request)
        replace_text = (query_value(request, "replace") or "true").lower()
        if replace_text not in ("true", "false"):
            raise RestInputError(f"replace must be true or false, got {replace_text!r}")
        if request.content_type == "text/plain":
            if path.level < 3:
                raise RestInputError("a text/plain body writes one resource: give its path")
            node = self._text_value(await request.read(), path)
        elif request.content_type == "application/json":
            body = await read_json(request)
            if body is None:
                raise RestInputError("Write needs a node in the body")
            node = node_from_json(body, path, self.registry)
        else:
            raise RestInputError(f"content type {request.content_type or 'none'} not supported")
        return await self._operate(
            request,
            lambda t: self.server.write(
                ep, path, node, replace=replace_text == "true", format=cf, timeout=t
            ),
            Code.CHANGED,
            lambda _: {},
            path,
        )

    def _text_value(self, raw: bytes, path: Path) -> Node:
        try:
            node = formats.decode(ContentFormat.TEXT_PLAIN, raw, path, self.registry)
        except (DecodeError, ModelError, UnsupportedFormat) as exc:
            raise RestInputError(f"body: {exc}") from None
        assert not isinstance(node, dict)
        return node

    async def _post(self, request: web.Request, ep: str, path: Path) -> web.Response:
        if path.level == 3:
            args = await self._body_text(request)
            return await self._operate(
                request,
                lambda t: self.server.execute(ep, path, args, timeout=t),
                Code.CHANGED,
                lambda _: {},
                path,
            )
        if path.level not in (1, 2):
            raise HttpError(400, "Invalid path")
        cf = self._format(request)
        body = await read_json(request)
        instance: InstanceNode | None
        if body is None:
            instance = None if path.level == 1 else InstanceNode(path[1])
        else:
            iid = path[1] if path.level == 2 else None
            instance = instance_from_json(body, path[0], iid, self.registry)
        return await self._operate(
            request,
            lambda t: self.server.create(ep, Path(path[0]), instance, format=cf, timeout=t),
            Code.CREATED,
            lambda created: {"location": str(created)},
            Path(path[0]),
        )

    async def _delete(self, request: web.Request, ep: str, path: Path) -> web.Response:
        return await self._operate(
            request,
            lambda t: self.server.delete(ep, path, timeout=t),
            Code.DELETED,
            lambda _: {},
            path,
        )

    async def _discover(self, request: web.Request, ep: str, path: Path) -> web.Response:
        return await self._operate(
            request,
            lambda t: self.server.discover(ep, path, timeout=t),
            Code.CONTENT,
            lambda entries: {"objectLinks": discover_to_json(entries)},
            path,
        )

    async def _attributes(self, request: web.Request, ep: str, path: Path) -> web.Response:
        known = {*ATTRIBUTE_NAMES, "timeout", "format"}
        unknown = sorted(set(request.query) - known)
        if unknown:
            raise RestInputError(f"unknown attribute(s) {', '.join(unknown)}")
        attributes: dict[str, Any] = {}
        for name in ATTRIBUTE_NAMES:
            text = query_value(request, name)
            if text is not None:
                attributes[name] = _attribute(name, text)
        if not attributes:
            raise RestInputError(f"give at least one attribute of {', '.join(ATTRIBUTE_NAMES)}")
        return await self._operate(
            request,
            lambda t: self.server.write_attributes(ep, path, timeout=t, **attributes),
            Code.CHANGED,
            lambda _: {},
            path,
        )

    async def _observe(self, request: web.Request, ep: str, path: Path) -> web.Response:
        cf = self._format(request)

        def render(handle: ObservationHandle) -> dict[str, Json]:
            if handle.active:
                self._keep_draining(handle)
            assert not isinstance(handle.initial, dict)
            return {"content": node_to_json(handle.initial, path, self.registry)}

        return await self._operate(
            request,
            lambda t: self.server.observe(ep, path, format=cf, timeout=t),
            Code.CONTENT,
            render,
            path,
        )

    async def _cancel_observe(self, request: web.Request, ep: str, path: Path) -> web.Response:
        handles = self._live_observations(
            ep, lambda obs: not obs.composite and obs.paths[0] == path
        )
        what = f"no observation for path {path} for  client '{ep}'"
        return await self._cancel(request, handles, what)

    def _live_observations(
        self, ep: str, match: Callable[[ObservationHandle], bool]
    ) -> list[ObservationHandle]:
        handles = []
        for stored in self.server.observations(ep):
            handle = self.server.observation(stored.token)
            if handle is not None and handle.active and match(handle):
                handles.append(handle)
        return handles

    async def _cancel(
        self, request: web.Request, handles: list[ObservationHandle], missing: str
    ) -> web.Response:
        """Passive cancel (forget, 200 with no body), or active with ``?active``."""
        if "active" not in request.query:
            for handle in handles:
                handle.forget()
            return web.Response(status=200)
        if not handles:
            raise HttpError(404, missing)
        for handle in handles:
            await handle.cancel()
        return json_response(success(Code.CONTENT))

    _ROUTES: dict[
        tuple[str | None, str],
        Callable[[_Clients, web.Request, str, Path], Awaitable[web.Response]],
    ] = {
        (None, "GET"): _read,
        (None, "PUT"): _write,
        (None, "POST"): _post,
        (None, "DELETE"): _delete,
        ("discover", "GET"): _discover,
        ("attributes", "PUT"): _attributes,
        ("observe", "POST"): _observe,
        ("observe", "DELETE"): _cancel_observe,
    }

    # ------------------------------------------------------------ composite
    def _paths(self, request: web.Request) -> list[Path]:
        text = query_value(request, "paths")
        if not text:
            raise RestInputError("composite operations need ?paths=/o/i/r,/o/i,...")
        return [parse_path(item) for item in text.split(",")]

    async def _composite_route(
        self, request: web.Request, ep: str, rest: list[str], method: str
    ) -> web.Response:
        cf = self._format(request, "nodeformat", "pathformat")
        if not rest and method == "GET":
            paths = self._paths(request)
            return await self._operate(
                request,
                lambda t: self.server.read_composite(ep, paths, format=cf, timeout=t),
                Code.CONTENT,
                self._composite(paths),
            )
        if not rest and method == "PUT":
            values = records_from_json(await read_json(request), self.registry)
            return await self._operate(
                request,
                lambda t: self.server.write_composite(ep, values, format=cf, timeout=t),
                Code.CHANGED,
                lambda _: {},
            )
        if rest == ["observe"] and method in ("POST", "DELETE"):
            paths = self._paths(request)
            if method == "DELETE":
                handles = self._live_observations(
                    ep, lambda h: h.composite and list(h.paths) == paths
                )
                shown = "[" + ", ".join(map(str, paths)) + "]"
                return await self._cancel(
                    request,
                    handles,
                    f"no composite observation for paths {shown} for  client '{ep}'",
                )

            def render(handle: ObservationHandle) -> dict[str, Json]:
                if handle.active:
                    self._keep_draining(handle)
                assert isinstance(handle.initial, dict)
                return self._composite(paths)(handle.initial)

            return await self._operate(
                request,
                lambda t: self.server.observe_composite(ep, paths, format=cf, timeout=t),
                Code.CONTENT,
                render,
            )
        if rest in ([], ["observe"]):
            raise HttpError(405, f"{method} is not allowed on composite/{'/'.join(rest)}")
        raise HttpError(400, "Invalid path")

    async def shutdown(self, app: web.Application) -> None:
        """End observation drains and delayed requests (the app is shutting down)."""
        await self._tasks.cancel()


def _guarded(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """What can go wrong between the request and the device's answer, as Leshan says it."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ClientNotRegistered:
            raise _not_registered(request.match_info.get("ep", "")) from None
        except (TimeoutError, RequestTimeout):
            raise HttpError(504, "Request timeout") from None
        except OwnerUnavailable as exc:  # a cluster node that holds the device is down
            raise HttpError(503, str(exc)) from None
        except EndpointClosed as exc:
            raise HttpError(503, f"Server not running: {exc}") from None
        except ResetReceived as exc:
            raise HttpError(500, f"Request rejected: {exc}") from None
        except RequestError as exc:
            raise HttpError(500, f"Invalid Response: {exc}") from None
        except (ModelError, EncodeError, UnsupportedFormat) as exc:
            raise HttpError(400, f"Invalid request: {exc}") from None

    return guarded


def add_routes(
    app: web.Application,
    server: Server,
    hub: EventHub,
    *,
    default_timeout: float,
    max_timeout: float,
) -> None:
    """Serve ``/api/clients`` on ``app``."""
    clients = _Clients(server, hub, default_timeout, max_timeout)
    app.router.add_get("/api/clients", clients.list_clients)
    app.router.add_get("/api/clients/", clients.list_clients)
    app.router.add_get("/api/clients/{ep}", clients.get_client)
    app.router.add_route("*", "/api/clients/{ep}/{path:.+}", _guarded(clients.client_path))
    app.on_shutdown.append(clients.shutdown)

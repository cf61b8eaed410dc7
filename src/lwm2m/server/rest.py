"""The server's HTTP REST API (aiohttp), route-compatible with Eclipse Leshan's demo API.

``create_app(server)`` returns an :class:`aiohttp.web.Application` to run beside the
:class:`~lwm2m.server.server.Server`, on the same event loop:

==========================================================  =================================
route                                                       operation
==========================================================  =================================
``GET /api/clients``                                        the registrations
``GET /api/clients/{ep}``                                   one registration
``GET /api/clients/{ep}/{path}?format=&timeout=``           Read
``PUT /api/clients/{ep}/{path}?format=&replace=``           Write (``replace=false``: partial)
``POST /api/clients/{ep}/{object}[/{instance}]``            Create (body: an instance node)
``POST /api/clients/{ep}/{o}/{i}/{r}``                      Execute (text body: arguments)
``DELETE /api/clients/{ep}/{path}``                         Delete
``POST /api/clients/{ep}/{path}/observe?format=``           Observe (answers the first value)
``DELETE /api/clients/{ep}/{path}/observe[?active]``        cancel: passive, or active (GET
                                                            with Observe=1)
``PUT /api/clients/{ep}/{path}/attributes?pmin=&pmax=..``   Write-Attributes (``?pmin`` alone
                                                            removes pmin)
``GET /api/clients/{ep}/{path}/discover``                   Discover
``GET /api/clients/{ep}/composite?paths=/3/0,/1/0/1``       Read-Composite (``nodeformat=``)
``PUT /api/clients/{ep}/composite``                         Write-Composite (``{path: node}``)
``POST|DELETE /api/clients/{ep}/composite/observe?paths=``  Observe-Composite / cancel
``GET /api/event[?ep=]``                                    server-sent events
==========================================================  =================================

Operations answer ``{"status": "CONTENT", "valid": true, "success": true, "failure":
false, "content": NODE}`` (``objectLinks`` for Discover, ``location`` for Create); a
client's error answer is HTTP 200 with ``"success": false``, the CoAP status name
(``NOT_FOUND``, ``METHOD_NOT_ALLOWED``, ...) and ``errormessage`` when the client
sent one. The JSON shapes are described in :mod:`lwm2m.server.rest_json`.

HTTP errors carry ``{"error": reason, "message": text}``: 400 for bad parameters,
paths or bodies, 404 for an unknown endpoint or route, 405 for a method a route does
not take, 502 when the client's answer is unusable (RST, undecodable), 503 when the
server is stopped, 504 when the client does not answer within ``timeout`` seconds
(default 5). Nothing a request carries can stop the server or change its state
unless the operation succeeds.

Events (``text/event-stream``): ``event: NAME`` and ``data: JSON`` (one line) for
REGISTRATION, UPDATED, DEREGISTRATION, NOTIFICATION and SEND, filtered by ``?ep=``;
a comment line every ``heartbeat`` seconds keeps idle streams open and notices
clients that left.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, TypeVar

from aiohttp import web

from lwm2m import formats
from lwm2m.coap.errors import EndpointClosed, RequestError, RequestTimeout
from lwm2m.coap.numbers import ContentFormat
from lwm2m.errors import DecodeError, EncodeError, ModelError, UnsupportedFormat
from lwm2m.formats.link import INT_ATTRIBUTES
from lwm2m.model import InstanceNode, Node, Path, Records
from lwm2m.server.dm import ATTRIBUTE_NAMES, ClientNotRegistered, DmError
from lwm2m.server.rest_json import (
    Json,
    RestInputError,
    discover_to_json,
    event_to_json,
    instance_from_json,
    node_from_json,
    node_to_json,
    parse_format,
    parse_path,
    records_from_json,
    records_to_json,
    registration_to_json,
)
from lwm2m.server.server import EventStream, ObservationHandle, Server

__all__ = ["create_app"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_dumps = functools.partial(json.dumps, separators=(",", ":"), allow_nan=False)
_ACTIONS = frozenset({"observe", "attributes", "discover"})


class _HttpError(Exception):
    """Answer the request with ``status`` and a JSON error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    return web.json_response(
        {"error": reason, "message": message}, status=status, headers=headers, dumps=_dumps
    )


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every error becomes a JSON body; nothing a request does escapes as a crash."""
    try:
        return await handler(request)
    except _HttpError as exc:
        return _error_response(exc.status, exc.message)
    except RestInputError as exc:
        return _error_response(400, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = exc.headers.get("Allow")
        return _error_response(
            exc.status, exc.reason, {"Allow": allow} if allow is not None else None
        )
    except Exception:
        log.exception("REST %s %s failed", request.method, request.path)
        return _error_response(500, "internal error")


def _ok(status: str, **fields: Json) -> dict[str, Json]:
    return {"status": status, "valid": True, "success": True, "failure": False, **fields}


def _failed(exc: DmError) -> dict[str, Json]:
    body: dict[str, Json] = {
        "status": exc.code_name,
        "valid": True,
        "success": False,
        "failure": True,
    }
    if exc.message:
        body["errormessage"] = exc.message
    return body


def _json(body: Json) -> web.Response:
    return web.json_response(body, dumps=_dumps)


def _single(request: web.Request, name: str) -> str | None:
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise RestInputError(f"query parameter {name!r} given {len(values)} times")
    return values[0] if values else None


def _paths_param(request: web.Request) -> list[Path]:
    text = _single(request, "paths")
    if not text:
        raise RestInputError("composite operations need ?paths=/o/i/r,/o/i,...")
    return [parse_path(item) for item in text.split(",")]


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


class _Api:
    """The route handlers, sharing one server."""

    def __init__(
        self, server: Server, default_timeout: float, max_timeout: float, heartbeat: float
    ) -> None:
        self.server = server
        self.registry = server.registry
        self.default_timeout = default_timeout
        self.max_timeout = max_timeout
        self.heartbeat = heartbeat
        self._streams: set[EventStream] = set()
        self._drains: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------- helpers
    def _timeout(self, request: web.Request) -> float:
        text = _single(request, "timeout")
        if text is None or text == "":
            return self.default_timeout
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not 0 < value <= self.max_timeout:
            raise RestInputError(
                f"timeout must be a number of seconds in (0, {self.max_timeout:g}], got {text!r}"
            )
        return value

    def _format(self, request: web.Request, *names: str) -> int | None:
        for name in (*names, "format"):
            cf = parse_format(_single(request, name))
            if cf is not None:
                return cf
        return None

    def _endpoint(self, request: web.Request) -> str:
        ep = request.match_info["ep"]
        if self.server.get_registration(ep) is None:
            raise _HttpError(404, f"no registered client with endpoint {ep!r}")
        return ep

    @staticmethod
    async def _body_json(request: web.Request) -> Json:
        raw = await request.read()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RestInputError(f"the body is not JSON: {exc}") from None

    @staticmethod
    async def _body_text(request: web.Request) -> str:
        raw = await request.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RestInputError("the body is not UTF-8 text") from None
        if request.content_type == "application/json" and text.strip():
            try:
                decoded = json.loads(text)
            except json.JSONDecodeError:
                raise RestInputError("the body is not JSON") from None
            if not isinstance(decoded, str):
                raise RestInputError("the body must be a JSON string or plain text")
            return decoded
        return text

    async def _operate(
        self,
        request: web.Request,
        call: Callable[[float], Awaitable[T]],
        status: str,
        render: Callable[[T], dict[str, Json]],
    ) -> web.Response:
        """Run one device-management call and answer with its outcome."""
        timeout = self._timeout(request)
        ep = request.match_info.get("ep", "")
        try:
            async with asyncio.timeout(timeout):
                result = await call(timeout)
        except DmError as exc:
            return _json(_failed(exc))
        except ClientNotRegistered as exc:
            raise _HttpError(404, str(exc)) from None
        except (TimeoutError, RequestTimeout):
            raise _HttpError(504, f"{ep!r} did not answer within {timeout:g} s") from None
        except EndpointClosed as exc:
            raise _HttpError(503, f"the server is not running: {exc}") from None
        except RequestError as exc:
            raise _HttpError(502, f"request to {ep!r} failed: {exc}") from None
        except (ModelError, EncodeError, UnsupportedFormat) as exc:
            raise _HttpError(400, str(exc)) from None
        return _json(_ok(status, **render(result)))

    def _content(self, path: Path) -> Callable[[Node], dict[str, Json]]:
        return lambda node: {"content": node_to_json(node, path, self.registry)}

    def _records(self, records: Records) -> dict[str, Json]:
        return {"content": records_to_json(records, self.registry)}

    def _keep_draining(self, handle: ObservationHandle) -> None:
        """Notifications reach the event stream; the handle's own queue must not grow."""

        async def drain() -> None:
            async for _ in handle:
                pass

        task = asyncio.ensure_future(drain())
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    # ------------------------------------------------------------- clients
    async def list_clients(self, request: web.Request) -> web.Response:
        regs = sorted(self.server.registrations(), key=lambda r: r.endpoint)
        return _json([registration_to_json(reg) for reg in regs])

    async def get_client(self, request: web.Request) -> web.Response:
        ep = self._endpoint(request)
        reg = self.server.get_registration(ep)
        if reg is None:
            raise _HttpError(404, f"no registered client with endpoint {ep!r}")
        return _json(registration_to_json(reg))

    async def client_path(self, request: web.Request) -> web.StreamResponse:
        """Dispatch ``/api/clients/{ep}/{path}[/action]`` by method and action."""
        ep = self._endpoint(request)
        segments = request.match_info["path"].split("/")
        if len(segments) > 1 and segments[-1] == "":
            segments.pop()
        action = segments.pop() if segments and segments[-1] in _ACTIONS else None
        method = request.method
        if segments == ["composite"]:
            return await self._composite(request, ep, action, method)
        path = parse_path("/".join(segments))
        if not path:
            raise RestInputError("an object, instance or resource path is required")
        handler = self._ROUTES.get((action, method))
        if handler is None:
            allowed = ",".join(sorted(m for a, m in self._ROUTES if a == action))
            raise _HttpError(405, f"{method} is not allowed here; use {allowed}")
        return await handler(self, request, ep, path)

    # ---------------------------------------------------------- operations
    async def _read(self, request: web.Request, ep: str, path: Path) -> web.Response:
        cf = self._format(request)
        return await self._operate(
            request,
            lambda t: self.server.read(ep, path, format=cf, timeout=t),
            "CONTENT",
            self._content(path),
        )

    async def _write(self, request: web.Request, ep: str, path: Path) -> web.Response:
        cf = self._format(request)
        replace_text = (_single(request, "replace") or "true").lower()
        if replace_text not in ("true", "false"):
            raise RestInputError(f"replace must be true or false, got {replace_text!r}")
        if request.content_type == "text/plain" and path.level >= 3:
            node = self._text_value(await request.read(), path)
        else:
            body = await self._body_json(request)
            if body is None:
                raise RestInputError("Write needs a node in the body")
            node = node_from_json(body, path, self.registry)
        return await self._operate(
            request,
            lambda t: self.server.write(
                ep, path, node, replace=replace_text == "true", format=cf, timeout=t
            ),
            "CHANGED",
            lambda _: {},
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
                "CHANGED",
                lambda _: {},
            )
        if path.level > 3:
            raise RestInputError(
                "POST takes an object or instance path (Create) or a resource path (Execute)"
            )
        cf = self._format(request)
        body = await self._body_json(request)
        instance: InstanceNode | None
        if body is None:
            instance = None if path.level == 1 else InstanceNode(path[1])
        else:
            iid = path[1] if path.level == 2 else None
            instance = instance_from_json(body, path[0], iid, self.registry)
        return await self._operate(
            request,
            lambda t: self.server.create(ep, Path(path[0]), instance, format=cf, timeout=t),
            "CREATED",
            lambda created: {"location": str(created)},
        )

    async def _delete(self, request: web.Request, ep: str, path: Path) -> web.Response:
        return await self._operate(
            request, lambda t: self.server.delete(ep, path, timeout=t), "DELETED", lambda _: {}
        )

    async def _discover(self, request: web.Request, ep: str, path: Path) -> web.Response:
        return await self._operate(
            request,
            lambda t: self.server.discover(ep, path, timeout=t),
            "CONTENT",
            lambda entries: {"objectLinks": discover_to_json(entries)},
        )

    async def _attributes(self, request: web.Request, ep: str, path: Path) -> web.Response:
        known = {*ATTRIBUTE_NAMES, "timeout", "format"}
        unknown = sorted(set(request.query) - known)
        if unknown:
            raise RestInputError(f"unknown attribute(s) {', '.join(unknown)}")
        attributes: dict[str, Any] = {}
        for name in ATTRIBUTE_NAMES:
            text = _single(request, name)
            if text is not None:
                attributes[name] = _attribute(name, text)
        if not attributes:
            raise RestInputError(f"give at least one attribute of {', '.join(ATTRIBUTE_NAMES)}")
        return await self._operate(
            request,
            lambda t: self.server.write_attributes(ep, path, timeout=t, **attributes),
            "CHANGED",
            lambda _: {},
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
            "CONTENT",
            render,
        )

    async def _cancel_observe(self, request: web.Request, ep: str, path: Path) -> web.Response:
        handles = self._live_observations(
            ep, lambda obs: not obs.composite and obs.paths[0] == path
        )
        return await self._cancel(request, handles, str(path))

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
        self, request: web.Request, handles: list[ObservationHandle], what: str
    ) -> web.Response:
        """Passive cancel (forget), or active with ``?active`` (404 when nothing matched)."""
        if "active" not in request.query:
            for handle in handles:
                handle.forget()
            return _json({"cancelled": len(handles)})
        if not handles:
            raise _HttpError(404, f"no observation of {what}")
        for handle in handles:
            await handle.cancel()
        return _json({"cancelled": len(handles)})

    _ROUTES: dict[
        tuple[str | None, str],
        Callable[[_Api, web.Request, str, Path], Awaitable[web.Response]],
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
    async def _composite(
        self, request: web.Request, ep: str, action: str | None, method: str
    ) -> web.Response:
        if action is None and method == "GET":
            paths = _paths_param(request)
            cf = self._format(request, "nodeformat")
            return await self._operate(
                request,
                lambda t: self.server.read_composite(ep, paths, format=cf, timeout=t),
                "CONTENT",
                self._records,
            )
        if action is None and method == "PUT":
            cf = self._format(request, "nodeformat")
            values = records_from_json(await self._body_json(request), self.registry)
            return await self._operate(
                request,
                lambda t: self.server.write_composite(ep, values, format=cf, timeout=t),
                "CHANGED",
                lambda _: {},
            )
        if action == "observe" and method in ("POST", "DELETE"):
            paths = _paths_param(request)
            if method == "DELETE":
                handles = self._live_observations(
                    ep, lambda h: h.composite and list(h.paths) == paths
                )
                return await self._cancel(request, handles, ",".join(map(str, paths)))
            cf = self._format(request, "nodeformat")

            def render(handle: ObservationHandle) -> dict[str, Json]:
                if handle.active:
                    self._keep_draining(handle)
                assert isinstance(handle.initial, dict)
                return self._records(handle.initial)

            return await self._operate(
                request,
                lambda t: self.server.observe_composite(ep, paths, format=cf, timeout=t),
                "CONTENT",
                render,
            )
        raise _HttpError(
            405, f"{method} is not allowed on composite{'/' + action if action else ''}"
        )

    # --------------------------------------------------------------- events
    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events, optionally only those of endpoint ``?ep=``."""
        only = _single(request, "ep")
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "Connection": "keep-alive",
            }
        )
        stream = self.server.events()
        self._streams.add(stream)
        try:
            await response.prepare(request)
            await response.write(b": stream open\n\n")
            while True:
                try:
                    async with asyncio.timeout(self.heartbeat):
                        event = await anext(stream)
                except TimeoutError:
                    await response.write(b": heartbeat\n\n")
                    continue
                except StopAsyncIteration:
                    break
                if only is not None and event.registration.endpoint != only:
                    continue
                name, data = event_to_json(event, self.registry)
                await response.write(f"event: {name}\ndata: {_dumps(data)}\n\n".encode())
        except (ConnectionResetError, RuntimeError) as exc:
            log.debug("event stream closed: %s", exc)
        finally:
            stream.close()
            self._streams.discard(stream)
        return response

    async def shutdown(self, app: web.Application) -> None:
        """End open event streams and observation drains (the app is shutting down)."""
        for stream in list(self._streams):
            stream.close()
        tasks = list(self._drains)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def create_app(
    server: Server,
    *,
    default_timeout: float = 5.0,
    max_timeout: float = 300.0,
    heartbeat: float = 5.0,
) -> web.Application:
    """The REST API of ``server`` (see the module docstring).

    ``default_timeout`` bounds an operation without ``?timeout=`` (seconds);
    ``max_timeout`` is the largest ``?timeout=`` accepted; ``heartbeat`` is the
    interval of the event streams' keep-alive comments.
    """
    api = _Api(server, default_timeout, max_timeout, heartbeat)
    app = web.Application(middlewares=[_json_errors])
    app.router.add_get("/api/clients", api.list_clients)
    app.router.add_get("/api/clients/", api.list_clients)
    app.router.add_get("/api/clients/{ep}", api.get_client)
    app.router.add_route("*", "/api/clients/{ep}/{path:.+}", api.client_path)
    app.router.add_get("/api/event", api.events)
    app.on_shutdown.append(api.shutdown)
    return app

"""The server's REST application: every route family on one aiohttp app."""

from __future__ import annotations

from aiohttp import web

from lwm2m.server.rest import clients, events
from lwm2m.server.rest.responses import MAX_BODY, error_middleware
from lwm2m.server.server import Server

__all__ = ["create_app"]


def create_app(
    server: Server,
    *,
    default_timeout: float = 5.0,
    max_timeout: float = 3600.0,
    heartbeat: float = 5.0,
) -> web.Application:
    """The REST API of ``server``.

    ``default_timeout`` bounds an operation without ``?timeout=`` (seconds), as
    Leshan's 5 s; ``max_timeout`` caps a larger ``?timeout=``; ``heartbeat`` is
    the interval of the event streams' keep-alive comments.
    """
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY)
    hub = events.add_routes(app, server, heartbeat=heartbeat)
    clients.add_routes(app, server, hub, default_timeout=default_timeout, max_timeout=max_timeout)
    return app

"""The server's REST application: every route family on one aiohttp app."""

from __future__ import annotations

from aiohttp import web

from lwm2m.server.rest import auth, clients, events, firmware, objectspecs, security
from lwm2m.server.rest.responses import MAX_BODY, error_middleware
from lwm2m.server.server import Server
from lwm2m.server.ui import add_ui_routes

__all__ = ["create_app"]


def create_app(
    server: Server,
    *,
    default_timeout: float = 5.0,
    max_timeout: float = 3600.0,
    heartbeat: float = 5.0,
    access: auth.AuthConfig | None = None,
) -> web.Application:
    """The REST API of ``server``.

    ``default_timeout`` bounds an operation without ``?timeout=`` (seconds), as
    Leshan's 5 s; ``max_timeout`` caps a larger ``?timeout=``; ``heartbeat`` is
    the interval of the event streams' keep-alive comments. ``access`` sets the
    token and the cross-site rules (:mod:`~lwm2m.server.rest.auth`); by default there
    is no token, which is meant for a listener on loopback.
    """
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY)
    auth.install(app, access if access is not None else auth.AuthConfig())
    hub = events.add_routes(app, server, heartbeat=heartbeat)
    clients.add_routes(app, server, hub, default_timeout=default_timeout, max_timeout=max_timeout)
    objectspecs.add_routes(app, server)
    security.add_routes(
        app,
        server.store,
        on_removed=security.session_closer(server),
        on_changed=server.table.security_changed,
        server_info=security.server_security_json,  # no server certificate or RPK: {}
        endpoints=lambda: security.server_endpoints(server),
    )
    firmware.add_routes(app, server)  # our extension: images hosted for Package URI pulls
    add_ui_routes(app, "server")
    return app

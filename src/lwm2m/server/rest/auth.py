"""Who may use the REST APIs: a bearer token, cross-site protection and CORS.

One aiohttp middleware, :func:`auth_middleware`, guards every route of the server's
and the bootstrap server's apps:

* **Token.** With ``token`` set, every request carries ``Authorization: Bearer
  TOKEN`` (RFC 6750 section 2.1). A browser's ``EventSource`` cannot set headers, so
  a GET may give it as ``?access_token=TOKEN`` instead (section 2.3). A missing or
  wrong token is 401 with ``WWW-Authenticate: Bearer`` and a text that says which.
  Tokens are compared in constant time.
* **Cross-site requests.** A web page an operator visits can make the browser send
  a POST to a loopback API: it carries an ``Origin`` header, and only a CORS-safe
  content type (``text/plain``, a form) unless the API agreed in a preflight. So a
  request from an ``Origin`` other than the API's own and the ``cors_origin`` is 403,
  and a state-changing request (POST, PUT, DELETE, PATCH) with a form or
  ``text/plain`` body is 403 unless it carries a header a page cannot add without a
  preflight: ``Authorization`` or ``X-Requested-With``. JSON bodies and bodiless
  requests (``curl -X POST``) pass.
* **CORS.** Closed unless ``cors_origin`` is given; then that origin alone gets
  ``Access-Control-Allow-Origin`` and preflights (``OPTIONS``) are answered.
* **Public files.** A GET or HEAD that the router matched to a route named
  ``public:...`` (:data:`PUBLIC_ROUTE_PREFIX`) needs no token: the web UI's page and
  static files (:mod:`lwm2m.server.ui`), which hold no data, so that the page can
  load and then ask for the token. Every ``/api`` route still needs it.

Binding the HTTP listener anywhere but loopback without a token is refused by
:func:`check_binding`, with the reason.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = ["PUBLIC_ROUTE_PREFIX", "AuthConfig", "auth_middleware", "check_binding", "install"]

#: Routes whose name starts with this are served to GET and HEAD without a token.
PUBLIC_ROUTE_PREFIX: Final = "public:"

_UNSAFE: Final = frozenset({"POST", "PUT", "DELETE", "PATCH"})
#: Content types a page may send cross-site without a CORS preflight (Fetch standard).
_SIMPLE_TYPES: Final = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
_ALLOW_HEADERS: Final = "Authorization, Content-Type, X-Requested-With"
_ALLOW_METHODS: Final = "GET, POST, PUT, DELETE, OPTIONS"


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """``token``: the bearer token (None: no authentication, loopback only);
    ``cors_origin``: the one origin allowed cross-site (e.g. ``https://ops.example``)."""

    token: str | None = None
    cors_origin: str | None = None

    def __post_init__(self) -> None:
        if self.token is not None and (not self.token or not self.token.isprintable()):
            raise ValueError("the API token must be non-empty printable text")
        if self.token is not None and any(c.isspace() for c in self.token):
            raise ValueError("the API token must not contain white space")


def check_binding(host: str, config: AuthConfig) -> None:
    """Refuse to serve the API beyond loopback without a token (ValueError says why)."""
    if config.token is not None:
        return
    if host in ("localhost", ""):
        if host == "":
            raise ValueError(
                "the HTTP API would listen on every address without authentication; "
                "give --api-token (or LWM2M_API_TOKEN), or --http-host 127.0.0.1"
            )
        return
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"the HTTP API would listen on {host} without authentication, so anyone who "
            "reaches it could manage every device; give --api-token TOKEN (or set "
            "LWM2M_API_TOKEN), or keep --http-host on 127.0.0.1"
        )


def _refuse(status: int, text: str, config: AuthConfig) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="lwm2m"'} if status == 401 else {}
    if config.cors_origin is not None:
        headers["Access-Control-Allow-Origin"] = config.cors_origin
        headers["Vary"] = "Origin"
    return web.Response(status=status, text=text, content_type="text/plain", headers=headers)


def _own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _token_given(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""
    if request.method == "GET":
        return request.query.get("access_token")
    return None


def _public(request: web.Request) -> bool:
    """A GET/HEAD of a public route (decided by the route the router matched, not the path)."""
    if request.method not in ("GET", "HEAD"):
        return False
    name = request.match_info.route.name
    return name is not None and name.startswith(PUBLIC_ROUTE_PREFIX)


def auth_middleware(config: AuthConfig) -> Middleware:
    """The middleware enforcing ``config`` (see the module docstring)."""

    @web.middleware
    async def guard(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        cross_site = origin is not None and origin != _own_origin(request)
        allowed_origin = origin is not None and origin == config.cors_origin
        if cross_site and not allowed_origin:
            return _refuse(
                403,
                f"cross-site request from {origin} refused: this API allows no other "
                "origin (start the server with --cors-origin ORIGIN to allow one)",
                config,
            )
        if request.method == "OPTIONS" and allowed_origin:
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Origin": config.cors_origin or "",
                    "Access-Control-Allow-Methods": _ALLOW_METHODS,
                    "Access-Control-Allow-Headers": _ALLOW_HEADERS,
                    "Access-Control-Max-Age": "600",
                    "Vary": "Origin",
                },
            )
        if config.token is not None and not _public(request):
            given = _token_given(request)
            if given is None:
                return _refuse(
                    401,
                    "authentication required: send 'Authorization: Bearer <token>' "
                    "(the server's --api-token)",
                    config,
                )
            if not hmac.compare_digest(given.encode(), config.token.encode()):
                return _refuse(401, "invalid token", config)
        if (
            request.method in _UNSAFE
            and request.content_type in _SIMPLE_TYPES
            and "Authorization" not in request.headers
            and "X-Requested-With" not in request.headers
        ):
            return _refuse(
                403,
                f"a {request.method} with a {request.content_type} body needs the header "
                "'X-Requested-With' (or a bearer token), so that a web page cannot forge it",
                config,
            )
        return await handler(request)

    return guard


def install(app: web.Application, config: AuthConfig) -> None:
    """Guard every route of ``app`` (call before the app starts)."""
    app.middlewares.append(auth_middleware(config))
    origin = config.cors_origin
    if origin is None:
        return

    async def cors_headers(request: web.Request, response: web.StreamResponse) -> None:
        if request.headers.get("Origin") == origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"

    app.on_response_prepare.append(cors_headers)

"""The bootstrap server's REST API: ``/api/bootstrap``, ``/api/security``, ``/api/server``.

The contract is Eclipse Leshan 2.x's bootstrap demo server (``BootstrapServlet``
and the JSON of its ``BootstrapConfig``), so tools written for it work unchanged:

* ``GET /api/bootstrap`` -- 200, every configuration keyed by endpoint name, in
  Leshan's BootstrapConfig JSON (:func:`~lwm2m.server.bootstrap_config.endpoint_to_leshan`;
  byte arrays as unsigned numbers, as Leshan's servlet writes them);
* ``GET /api/bootstrap/...`` -- 404 ``bad URL``;
* ``POST /api/bootstrap/{endpoint}`` with a BootstrapConfig -- 200 with an empty
  body; the configuration is created or replaced and the next Bootstrap-Request
  of that endpoint uses it. 400 with a text: ``endpoint name should be specified
  in the URL`` (no name), ``..., nothing more`` (more than one path segment),
  ``no content`` (an empty or ``null`` body), the text of Leshan's configuration
  checker (``pre-shared-key mode, secret key must not be empty``, ...), Leshan's
  ``Psk identity [ID] already used for this bootstrap server [URI]``, or
  ``Invalid request: FIELD: reason`` for a body that does not parse or does not
  fit (``security.1.uri: ...``); on any 400 nothing changed;
* ``DELETE /api/bootstrap/{endpoint}`` -- 204, or 404 ``no config for ENDPOINT``;
* ``/api/security/clients`` -- the credentials clients use with the bootstrap
  server itself (:mod:`~lwm2m.server.rest.security`); the DTLS listener reads
  them at every handshake;
* ``GET /api/server/security``, ``GET /api/server/endpoint`` -- the bootstrap
  server's own certificate (if any) and its listeners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from aiohttp import web

from lwm2m.server.bootstrap_config import (
    MODE_PSK,
    ConfigError,
    EndpointConfig,
    endpoint_to_leshan,
    leshan_to_endpoint,
)
from lwm2m.server.rest import auth, security
from lwm2m.server.rest.responses import (
    MAX_BODY,
    HttpError,
    Json,
    RestInputError,
    error_middleware,
    json_response,
    read_json,
)
from lwm2m.server.store.base import StoreError
from lwm2m.server.store.bootstrap_base import BootstrapStore
from lwm2m.server.ui import add_ui_routes

__all__ = ["add_routes", "create_bootstrap_app", "parse_bootstrap_config"]

log = logging.getLogger(__name__)

#: The endpoint name travels in one Uri-Query option ``ep=NAME`` of at most 255 bytes.
MAX_ENDPOINT_BYTES: Final = 255 - len("ep=")

_NO_NAME: Final = "endpoint name should be specified in the URL"
_MORE: Final = "endpoint name should be specified in the URL, nothing more"


def parse_bootstrap_config(body: Json) -> EndpointConfig:
    """A POST body (parsed JSON) as a configuration; :class:`HttpError` 400 otherwise."""
    if body is None:
        raise HttpError(400, "no content")
    try:
        return leshan_to_endpoint(body)
    except ConfigError as exc:
        if not exc.field:  # Leshan's own checks answer with Leshan's text
            raise HttpError(400, exc.message) from None
        raise RestInputError(str(exc)) from None


def _endpoint(request: web.Request) -> str:
    """The one endpoint name after ``/api/bootstrap/``, as Leshan's servlet takes it."""
    tail = request.match_info.get("tail")
    if tail is None:
        raise HttpError(400, _NO_NAME)
    parts = [part for part in tail.split("/") if part]
    if len(parts) != 1:
        raise HttpError(400, _MORE)
    name = parts[0]
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise RestInputError("the endpoint name is not valid Unicode text") from None
    if size > MAX_ENDPOINT_BYTES:
        raise RestInputError(
            f"the endpoint name is {size} bytes long; a Bootstrap-Request carries at most "
            f"{MAX_ENDPOINT_BYTES}"
        )
    if not name.isprintable():
        raise RestInputError("the endpoint name contains control characters")
    return name


def _bootstrap_psks(config: EndpointConfig) -> list[tuple[str, str]]:
    """(URI, PSK identity) of the Bootstrap-Server accounts ``config`` writes."""
    return [
        (sec.uri, sec.public_key_or_identity.decode("utf-8", "replace"))
        for sec in config.security
        if sec.bootstrap and sec.security_mode == MODE_PSK
    ]


def _psk_conflict(store: BootstrapStore, endpoint: str, config: EndpointConfig) -> str:
    """Leshan's rule: a PSK identity names one client per bootstrap server URI."""
    wanted = set(_bootstrap_psks(config))
    if not wanted:
        return ""
    for other, existing in store.list_configs():
        if other == endpoint:
            continue
        for uri, identity in _bootstrap_psks(existing):
            if (uri, identity) in wanted:
                return f"Psk identity [{identity}] already used for this bootstrap server [{uri}]"
    return ""


def _store_failed(exc: StoreError) -> HttpError:
    log.error("bootstrap store: %s", exc)
    return HttpError(500, f"Unexpected exception: the bootstrap store failed ({exc})")


def add_routes(app: web.Application, store: BootstrapStore) -> None:
    """Serve ``/api/bootstrap`` from ``store`` (see the module docstring)."""

    async def list_configs(request: web.Request) -> web.StreamResponse:
        try:
            configs = store.list_configs()
        except StoreError as exc:
            raise _store_failed(exc) from None
        return json_response({endpoint: endpoint_to_leshan(cfg) for endpoint, cfg in configs})

    async def bad_url(request: web.Request) -> web.StreamResponse:
        raise HttpError(404, "bad URL")

    async def post_config(request: web.Request) -> web.StreamResponse:
        endpoint = _endpoint(request)
        config = parse_bootstrap_config(await read_json(request))
        try:
            conflict = _psk_conflict(store, endpoint, config)
            if conflict:
                raise HttpError(400, conflict)
            store.put_config(endpoint, config)
        except StoreError as exc:
            raise _store_failed(exc) from None
        log.info("bootstrap configuration of %r set", endpoint)
        return web.Response(status=200)

    async def delete_config(request: web.Request) -> web.StreamResponse:
        endpoint = _endpoint(request)
        try:
            found = store.delete_config(endpoint)
        except StoreError as exc:
            raise _store_failed(exc) from None
        if not found:
            raise HttpError(404, f"no config for {endpoint}")
        log.info("bootstrap configuration of %r deleted", endpoint)
        return web.Response(status=204)

    app.add_routes(
        [
            web.get("/api/bootstrap", list_configs),
            web.get("/api/bootstrap/{tail:.*}", bad_url),
            web.post("/api/bootstrap", post_config),
            web.post("/api/bootstrap/{tail:.*}", post_config),
            web.delete("/api/bootstrap", delete_config),
            web.delete("/api/bootstrap/{tail:.*}", delete_config),
        ]
    )


def create_bootstrap_app(
    store: BootstrapStore,
    *,
    server: security.SecureSessions | None = None,
    server_info: Callable[[], dict[str, Json]] | None = None,
    access: auth.AuthConfig | None = None,
) -> web.Application:
    """The REST API of a bootstrap server whose configurations and credentials are ``store``.

    ``server`` (the :class:`~lwm2m.server.bootstrap.BootstrapServer`) lists its
    listeners on ``/api/server/endpoint`` and has the DTLS sessions of a removed
    credential closed; ``server_info()`` is the body of ``/api/server/security``
    (default ``{}``: no certificate); ``access`` the token and cross-site rules of
    :mod:`~lwm2m.server.rest.auth`.
    """
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY)
    auth.install(app, access if access is not None else auth.AuthConfig())
    add_routes(app, store)
    sessions = server
    security.add_routes(
        app,
        store,
        on_removed=security.session_closer(sessions) if sessions is not None else None,
        server_info=server_info if server_info is not None else security.server_security_json,
        endpoints=(lambda: security.server_endpoints(sessions)) if sessions is not None else None,
    )
    add_ui_routes(app, "bootstrap")
    return app

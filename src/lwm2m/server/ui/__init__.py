"""The web UIs of the server and of the bootstrap server: static files on the REST app.

Each UI is a single page of plain ES modules that uses nothing but the REST API
(:mod:`lwm2m.server.rest`), so it runs offline, needs no build step and shows
that the API is complete. The files are package data under ``static/``:

=======================  ==================================================
``static/common/``       what both pages share: the API client (token prompt,
                         event streams), DOM helpers, the PSK screen, styles
``static/server/``       the server's page: devices, the object tree and its
                         operations, live values, firmware, CoAP log
``static/bootstrap/``    the bootstrap server's page: configurations, PSKs
=======================  ==================================================

:func:`add_ui_routes` serves ``GET /`` (the page of ``which``) and ``GET
/ui/common/...`` and ``GET /ui/{which}/...`` (its modules and styles) with
explicit content types; anything else under ``/ui/`` is 404. The files carry
no data, so the REST API's token guard (:mod:`~lwm2m.server.rest.auth`) lets
these routes through without a token: the page asks for the token when the
API answers 401. A Content-Security-Policy keeps the page to its own origin
(scripts, styles and connections), so it cannot load or send anything
elsewhere.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Final, Literal

from aiohttp import web

__all__ = ["UI_NAMES", "add_ui_routes"]

UI_NAMES: Final = ("server", "bootstrap")

#: Content types by file extension; files of other types are not served.
_TYPES: Final[dict[str, str]] = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
}
_TEXT: Final = frozenset({".html", ".js", ".css", ".svg", ".json"})
_SEGMENT: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

_HEADERS: Final[dict[str, str]] = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}


def _read(parts: list[str]) -> bytes | None:
    """The bytes of ``static/<parts>``; None when there is no such file."""
    node = resources.files(__package__).joinpath("static", *parts)
    try:
        if not node.is_file():
            return None
        return node.read_bytes()
    except OSError:
        return None


def _answer(parts: list[str]) -> web.Response:
    suffix = "." + parts[-1].rpartition(".")[2] if "." in parts[-1] else ""
    content_type = _TYPES.get(suffix)
    data = _read(parts) if content_type is not None else None
    if content_type is None or data is None:
        raise web.HTTPNotFound(reason="Not Found")
    return web.Response(
        body=data,
        content_type=content_type,
        charset="utf-8" if suffix in _TEXT else None,
        headers=_HEADERS,
    )


def add_ui_routes(app: web.Application, which: Literal["server", "bootstrap"]) -> None:
    """Serve the page of ``which`` at ``/`` and its files under ``/ui/`` on ``app``."""
    # imported here: the REST package imports this module when it builds its apps
    from lwm2m.server.rest.auth import PUBLIC_ROUTE_PREFIX

    if which not in UI_NAMES:
        raise ValueError(f"no web UI named {which!r}; expected one of {', '.join(UI_NAMES)}")
    folders = ("common", which)

    async def index(request: web.Request) -> web.StreamResponse:
        return _answer([which, "index.html"])

    async def static(request: web.Request) -> web.StreamResponse:
        parts = request.match_info["tail"].split("/")
        if (
            len(parts) < 2
            or parts[0] not in folders
            or not all(_SEGMENT.fullmatch(part) for part in parts)
        ):
            raise web.HTTPNotFound(reason="Not Found")
        return _answer(parts)

    app.router.add_get("/", index, name=f"{PUBLIC_ROUTE_PREFIX}ui-index")
    app.router.add_get("/ui/{tail:.+}", static, name=f"{PUBLIC_ROUTE_PREFIX}ui-static")

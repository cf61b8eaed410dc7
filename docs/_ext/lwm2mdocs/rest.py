"""``.. lwm2m-rest-routes:: server|bootstrap``: the REST routes, checked against the page.

The directive builds the real aiohttp application (``create_app(Server(...))``
or ``create_bootstrap_app(...)``, never started) and lists every route its
router holds. The page documents each operation under a heading of the form
``METHOD /path`` (``GET /api/clients/{ep}``, several methods joined by ``|``);
each heading is resolved through the same router with sample values for its
``{placeholders}``, with and without a trailing slash. Then:

* a router route that no heading resolves to is a warning (an undocumented
  route);
* a heading that resolves to no route (404 or 405) is a warning (a documented
  route that does not exist);

and ``make docs`` turns warnings into errors. The table the directive renders
shows each route as the router has it and the headings that document it.
HEAD routes, which aiohttp adds beside each GET, are left out.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from ._nodes import Cell, literals, table

log = logging.getLogger(__name__)

METHODS = ("GET", "POST", "PUT", "DELETE")
HEADING = re.compile(
    r"^(?:#{1,6}\s+)?((?:GET|POST|PUT|DELETE)(?:\s*\|\s*(?:GET|POST|PUT|DELETE))*)\s+(/\S*)\s*$"
)
#: What a ``{placeholder}`` of a heading stands for when it is resolved.
SAMPLES = {
    "ep": "dev1",
    "endpoint": "dev1",
    "path": "3/0/0",
    "id": "5f0c6e2a9d4b4c1e8a7f3b2d1c0e9f8a",
    "tail": "main.js",
}


@dataclass
class RouteDoc:
    method: str
    pattern: str
    documented_by: list[str] = field(default_factory=list)


def build_app(kind: str) -> web.Application:
    """The application whose routes the page documents (not started, nothing bound)."""
    if kind == "server":
        from lwm2m.server.rest import create_app
        from lwm2m.server.server import Server

        return create_app(Server("127.0.0.1", 0))
    if kind == "bootstrap":
        from lwm2m.server.bootstrap import BootstrapServer
        from lwm2m.server.rest.bootstrap import create_bootstrap_app
        from lwm2m.server.store.bootstrap_memory import MemoryBootstrapStore

        store = MemoryBootstrapStore()
        return create_bootstrap_app(store, server=BootstrapServer(store=store))
    raise ValueError(f"unknown application {kind!r}: expected server or bootstrap")


def route_table(app: web.Application) -> dict[tuple[str, str], RouteDoc]:
    routes: dict[tuple[str, str], RouteDoc] = {}
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        pattern = route.resource.canonical if route.resource is not None else "?"
        routes[(route.method, pattern)] = RouteDoc(route.method, pattern)
    return routes


def headings(text: str) -> list[tuple[int, list[str], str]]:
    """(line number, methods, path) of every ``METHOD /path`` heading of a page."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        found = HEADING.match(line)
        if found:
            methods = [m.strip() for m in found.group(1).split("|")]
            out.append((number, methods, found.group(2)))
    return out


def sample_path(template: str) -> str:
    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", lambda m: SAMPLES.get(m.group(1), "x1"), template)


async def _resolve(app: web.Application, method: str, path: str) -> tuple[str, str] | None:
    request = make_mocked_request(method, path, app=app)
    match = await app.router.resolve(request)
    if match.http_exception is not None:
        return None
    route = match.route
    pattern = route.resource.canonical if route.resource is not None else "?"
    return route.method, pattern


async def check(
    app: web.Application, page: str
) -> tuple[dict[tuple[str, str], RouteDoc], list[str]]:
    """Match the page's headings with the routes; the problems found, as sentences."""
    routes = route_table(app)
    problems: list[str] = []
    for line, methods, template in headings(page):
        label = f"{'|'.join(methods)} {template}"
        for method in methods:
            path = sample_path(template)
            hits = set()
            for candidate in (path, path.rstrip("/") + "/"):
                key = await _resolve(app, method, candidate)
                if key is not None and key in routes:
                    hits.add(key)
            if not hits:
                problems.append(
                    f"line {line}: {method} {template} is documented but no route serves it"
                )
            for key in hits:
                if label not in routes[key].documented_by:
                    routes[key].documented_by.append(label)
    for doc in routes.values():
        if not doc.documented_by:
            problems.append(
                f"route {doc.method} {doc.pattern} has no documented entry "
                f"(a '{doc.method} /path' heading)"
            )
    return routes, problems


class RestRoutesDirective(SphinxDirective):
    """The routes of one application and the headings of this page that document them."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        kind = self.arguments[0]
        self.env.note_reread()  # generated from code and tests: read again at every build
        source = Path(self.env.doc2path(self.env.docname))
        page = source.read_text(encoding="utf-8")
        app = build_app(kind)
        routes, problems = asyncio.run(check(app, page))
        if not routes:
            problems.append(f"the {kind} application has no routes")
        for problem in problems:
            log.warning(
                "REST reference (%s): %s", kind, problem, location=(self.env.docname, self.lineno)
            )
        rows: list[list[Cell]] = []
        for (method, pattern), doc in sorted(
            routes.items(), key=lambda item: (item[0][1], item[0][0])
        ):
            rows.append(
                [literals([method]), literals([pattern]), literals(doc.documented_by) or "(none)"]
            )
        intro = nodes.paragraph(
            text=f"The {len(routes)} routes of the {kind} application's router (HEAD aside), "
            "generated when this page is built; the last column names the entries below that "
            "document each one."
        )
        return [
            intro,
            table(["method", "route (router pattern)", "documented under"], rows, [10, 40, 50]),
        ]

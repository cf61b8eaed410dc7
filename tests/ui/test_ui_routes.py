"""The routes behind the web UIs, through a real HTTP client (no browser).

* the page and its files are served with their content types and a
  Content-Security-Policy, without a token, while every ``/api`` route still
  needs one; the public routes are the UI's own, whatever the path looks like;
* every module a page imports is served (the import graph is walked from the page);
* ``/api/firmware`` hosts an image for pulls over HTTP and CoAP, bounded.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from urllib.parse import urljoin

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.numbers import Code
from lwm2m.server import Server
from lwm2m.server.rest import create_app
from lwm2m.server.rest.auth import AuthConfig
from lwm2m.server.rest.bootstrap import create_bootstrap_app
from lwm2m.server.rest.firmware import MAX_IMAGES
from lwm2m.server.store.bootstrap_memory import MemoryBootstrapStore

HOST = "127.0.0.1"
TOKEN = "ui-route-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
_IMPORT = re.compile(r"""^\s*import\s[^;]*?from\s+"([^"]+)";""", re.M | re.S)


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[aiohttp.ClientSession]:
    """``app`` on a loopback port, and a client session whose base URL is that port."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        base = f"http://{HOST}:{runner.addresses[0][1]}"
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(base, timeout=timeout) as session:
            yield session
    finally:
        await runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with Server(HOST, 0) as srv:
        yield srv


async def crawl(session: aiohttp.ClientSession, folder: str) -> set[str]:
    """Every file the page loads: its scripts, styles, icon and their imports."""
    async with session.get("/") as resp:
        page = await resp.text()
    pending = [urljoin("/", ref) for ref in re.findall(r'(?:src|href)="(ui/[^"]+)"', page)]
    assert f"/ui/{folder}/main.js" in pending
    seen: set[str] = set()
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        async with session.get(url) as resp:
            assert resp.status == 200, f"{url}: {resp.status}"
            body = await resp.text()
        if url.endswith(".js"):
            assert resp.content_type == "text/javascript"
            pending += [urljoin(url, target) for target in _IMPORT.findall(body)]
    return seen


async def test_server_page_and_files_are_public_but_the_api_is_not(server: Server) -> None:
    app = create_app(server, access=AuthConfig(token=TOKEN))
    async with serving(app) as session:
        async with session.get("/") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html" and resp.charset == "utf-8"
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert '<script type="module" src="ui/server/main.js">' in await resp.text()
        async with session.head("/") as resp:
            assert resp.status == 200
        files = await crawl(session, "server")
        assert {
            "/ui/common/api.js",
            "/ui/common/style.css",
            "/ui/server/device.js",
            "/ui/server/chart.js",
        } <= files
        async with session.get("/ui/common/style.css") as resp:
            assert resp.content_type == "text/css"
        async with session.get("/ui/common/icon.svg") as resp:
            assert resp.content_type == "image/svg+xml"

        # only the UI's own files: not the other page's, not a guess, not a directory
        for path in (
            "/ui/bootstrap/main.js",
            "/ui/server/missing.js",
            "/ui/server/",
            "/ui/server/.hidden.js",
            "/ui/__init__.py",
        ):
            async with session.get(path) as resp:
                assert resp.status == 404, path
        # paths that climb out of /ui/ are not public and reach no API without a token
        for raw in ("/ui/../api/clients", "/ui/%2e%2e/api/clients", "/ui%2F..%2Fapi/clients"):
            async with session.get(URL(raw, encoded=True)) as resp:
                assert resp.status in (401, 404), raw
                assert resp.content_type != "application/json", raw

        # the API needs the token, as before
        for method, path in (
            ("GET", "/api/clients"),
            ("GET", "/api/objectspecs"),
            ("GET", "/api/firmware"),
            ("POST", "/"),
        ):
            async with session.request(method, path) as resp:
                assert resp.status == 401, (method, path)
        async with session.get("/api/clients", headers=BEARER) as resp:
            assert resp.status == 200 and await resp.json() == []


async def test_bootstrap_page_and_files(server: Server) -> None:
    store = MemoryBootstrapStore()
    async with serving(create_bootstrap_app(store, access=AuthConfig(token=TOKEN))) as session:
        async with session.get("/") as resp:
            assert resp.status == 200
            assert '<script type="module" src="ui/bootstrap/main.js">' in await resp.text()
        files = await crawl(session, "bootstrap")
        assert {"/ui/bootstrap/configs.js", "/ui/common/security.js"} <= files
        async with session.get("/ui/server/main.js") as resp:
            assert resp.status == 404
        async with session.get("/api/bootstrap") as resp:
            assert resp.status == 401
        async with session.get("/api/bootstrap", headers=BEARER) as resp:
            assert resp.status == 200 and await resp.json() == {}


async def test_firmware_images_are_hosted_for_http_and_coap_pulls(server: Server) -> None:
    image = bytes(range(256)) * 20  # 5 KiB: Block2 on CoAP
    async with serving(create_app(server)) as session:
        octets = {"Content-Type": "application/octet-stream"}
        async with session.post("/api/firmware?name=fw.bin", data=image, headers=octets) as resp:
            assert resp.status == 200, await resp.text()
            entry = await resp.json()
        assert entry["name"] == "fw.bin" and entry["size"] == len(image)
        assert entry["downloads"] == 0 and entry["served"] == 0
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", entry["id"])
        assert re.fullmatch(rf"http://{HOST}:\d+/api/firmware/{entry['id']}", entry["uri"])
        assert entry["uris"]["http"] == entry["uri"]
        coap_port = server.coap_address[1]
        assert entry["uris"]["coap"] == f"coap://{HOST}:{coap_port}/fw/{entry['id']}"

        async with session.get(f"/api/firmware/{entry['id']}") as resp:
            assert resp.status == 200 and resp.content_type == "application/octet-stream"
            assert await resp.read() == image
        async with session.get("/api/firmware") as resp:
            (listed,) = await resp.json()
        assert listed["served"] == len(image) and listed["downloads"] == 1

        async with await Endpoint.create_udp(host=HOST, port=0) as device:
            answer = await device.get(f"/fw/{entry['id']}", remote=(HOST, coap_port))
            assert answer.code == Code.CONTENT and answer.payload == image
            missing = await device.get("/fw/unknown", remote=(HOST, coap_port))
            assert missing.code == Code.NOT_FOUND
        async with session.get("/api/firmware") as resp:
            assert (await resp.json())[0]["downloads"] == 2

        # refusals: a text body, an empty image; a forged text body is stopped earlier
        text = {"Content-Type": "text/plain", "X-Requested-With": "test"}
        async with session.post("/api/firmware", data=b"abc", headers=text) as resp:
            assert resp.status == 400 and "application/octet-stream" in await resp.text()
        async with session.post("/api/firmware", data=b"", headers=octets) as resp:
            assert resp.status == 400 and "empty" in await resp.text()
        async with session.post(
            "/api/firmware", data=b"abc", headers={"Content-Type": "text/plain"}
        ) as resp:
            assert resp.status == 403

        # bounded: hosting more images drops the oldest
        for n in range(MAX_IMAGES):
            async with session.post("/api/firmware", data=bytes([n]), headers=octets) as resp:
                assert resp.status == 200
        async with session.get(f"/api/firmware/{entry['id']}") as resp:
            assert resp.status == 404
            assert await resp.text() == f"no firmware image '{entry['id']}'"
        async with session.get("/api/firmware") as resp:
            kept = await resp.json()
        assert len(kept) == MAX_IMAGES
        async with session.delete(f"/api/firmware/{kept[0]['id']}") as resp:
            assert resp.status == 204
        async with session.delete(f"/api/firmware/{kept[0]['id']}") as resp:
            assert resp.status == 404

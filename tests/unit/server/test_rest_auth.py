"""The REST API's token, cross-site protection and CORS, through a real HTTP client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from tests.unit.server.test_rest_api import FAST, HOST, make_device

from lwm2m.client.events import RdEvent
from lwm2m.server import Server
from lwm2m.server.rest import create_app
from lwm2m.server.rest.auth import AuthConfig, check_binding

TOKEN = "s3cret-token"


@contextlib.asynccontextmanager
async def api_with(
    server: Server, access: AuthConfig
) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    runner = web.AppRunner(create_app(server, heartbeat=0.2, access=access))
    await runner.setup()
    try:
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        base = f"http://{HOST}:{runner.addresses[0][1]}"
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(base, timeout=timeout) as session:
            yield session, base
    finally:
        await runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with Server(HOST, 0, transmission=FAST) as srv:
        yield srv


async def status_text(resp: aiohttp.ClientResponse) -> tuple[int, str]:
    return resp.status, await resp.text()


async def test_without_token_loopback_requests_pass_but_forgeries_do_not(server: Server) -> None:
    device = make_device(server)
    await device.start()
    await device.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=5.0)
    executed: list[object] = []
    device.on_execute("3/0/4", lambda path, args: executed.append(args))
    try:
        async with api_with(server, AuthConfig()) as (api, base):
            async with api.get("/api/clients") as resp:
                assert resp.status == 200
            # a page on another site makes the browser POST Reboot with a text body
            forged = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
            async with api.post("/api/clients/dev1/3/0/4", data="x", headers=forged) as resp:
                status, text = await status_text(resp)
            assert status == 403 and "cross-site request from http://evil.example" in text
            # the same without Origin (an old browser): a simple content type needs a header
            async with api.post(
                "/api/clients/dev1/3/0/4", data="x", headers={"Content-Type": "text/plain"}
            ) as resp:
                status, text = await status_text(resp)
            assert status == 403 and "X-Requested-With" in text
            async with api.post(
                "/api/clients/dev1/3/0/4",
                data="a=b",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ) as resp:
                assert resp.status == 403
            assert executed == []  # nothing reached the device
            # the page's own origin, a bodiless POST (curl -X POST) and an explicit header pass
            async with api.post("/api/clients/dev1/3/0/4", headers={"Origin": base}) as resp:
                assert resp.status == 200
            async with api.post(
                "/api/clients/dev1/3/0/4",
                data="0='now'",
                headers={"Content-Type": "text/plain", "X-Requested-With": "cli"},
            ) as resp:
                assert resp.status == 200
    finally:
        await device.stop(timeout=1.0)
    assert len(executed) == 2


async def test_token_is_required_and_checked(server: Server) -> None:
    async with api_with(server, AuthConfig(token=TOKEN)) as (api, _):
        async with api.get("/api/clients") as resp:
            status, text = await status_text(resp)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert status == 401 and "Authorization: Bearer" in text
        for header in (f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN):
            async with api.get("/api/clients", headers={"Authorization": header}) as resp:
                status, text = await status_text(resp)
            assert status == 401 and text == "invalid token", header
        async with api.get("/api/clients", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            assert resp.status == 200 and await resp.json() == []
        # EventSource cannot set headers: a GET may carry the token in the query
        async with api.get(f"/api/event?access_token={TOKEN}") as resp:
            assert resp.status == 200
            assert (await resp.content.readline()).startswith(b":")
        async with api.get("/api/event?access_token=nope") as resp:
            assert resp.status == 401
        # ... but never a state-changing request
        async with api.delete(f"/api/clients/dev1/3/0?access_token={TOKEN}") as resp:
            assert resp.status == 401
        # with the token, a text/plain body needs no extra header (a page cannot send it)
        async with api.post(
            "/api/clients/nobody/3/0/4",
            data="x",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"},
        ) as resp:
            status, text = await status_text(resp)
        assert status == 400 and "nobody" in text


async def test_cors_is_closed_unless_an_origin_is_given(server: Server) -> None:
    async with api_with(server, AuthConfig()) as (api, _):
        async with api.get("/api/clients", headers={"Origin": "https://ops.example"}) as resp:
            assert resp.status == 403
            assert "Access-Control-Allow-Origin" not in resp.headers
        async with api.options("/api/clients", headers={"Origin": "https://ops.example"}) as resp:
            assert resp.status == 403
    access = AuthConfig(cors_origin="https://ops.example")
    async with api_with(server, access) as (api, _):
        async with api.options(
            "/api/clients",
            headers={
                "Origin": "https://ops.example",
                "Access-Control-Request-Method": "PUT",
            },
        ) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == "https://ops.example"
            assert "PUT" in resp.headers["Access-Control-Allow-Methods"]
            assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
        async with api.get("/api/clients", headers={"Origin": "https://ops.example"}) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == "https://ops.example"
        async with api.get("/api/clients", headers={"Origin": "https://other.example"}) as resp:
            assert resp.status == 403


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "127.0.0.2", "localhost"])
def test_loopback_binding_needs_no_token(host: str) -> None:
    check_binding(host, AuthConfig())


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "example.org", ""])
def test_other_bindings_need_a_token(host: str) -> None:
    with pytest.raises(ValueError, match="without authentication"):
        check_binding(host, AuthConfig())
    check_binding(host, AuthConfig(token=TOKEN))


@pytest.mark.parametrize("token", ["", "two words", "tab\there", "nl\n"])
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(ValueError, match="token"):
        AuthConfig(token=token)

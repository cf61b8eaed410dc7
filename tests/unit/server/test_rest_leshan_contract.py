"""The /api/clients and /api/event contract of Eclipse Leshan 2.x's demo server, pinned.

Each fact comes from Leshan's demo server sources:

* ``ClientServlet``: an unknown endpoint is 400 ``No registered client with id
  'E'``; a path too short for Write, or an Execute/Create path of the wrong length,
  is 400 ``Invalid path``; ``?timeout=`` is ``Long.parseLong`` seconds and anything
  that does not parse means the default 5 s; a timeout is 504 ``Request timeout``;
  a passive observe cancel is 200 with no body; an active cancel of nothing is 404
  ``no observation for path P for  client 'E'``; a request for a sleeping
  queue-mode client answers ``{"ep", "path", "requestId", "delayed": true}`` at once
  and sends the response later as a ``REQUEST_RESPONSE`` event;
* ``JacksonResponseSerializer``: ``status``, ``valid``, ``success``, ``failure``,
  then ``content`` / ``objectLinks`` / ``location``, and ``errormessage`` only on a
  failure with a message; ``ResponseCode.toString()`` is ``NAME(code)``;
* ``EventServlet``: SLEEPING and AWAKE carry ``{"ep": E}``; COAPLOG events go to
  streams that follow one endpoint, with the fields of ``CoapMessage`` plus ``ep``;
* ``ReadCompositeResponse`` content: one node per requested path, keyed by it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from tests.unit.server.test_rest_api import (
    FAST,
    HOST,
    call,
    events,
    make_device,
    refused,
    running_api,
)

from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.coap.numbers import Code
from lwm2m.model import Path, default_registry
from lwm2m.server import Server
from lwm2m.server.rest.clients import parse_timeout
from lwm2m.server.rest.nodes import composite_to_json
from lwm2m.server.rest.responses import failure, status_text, success

REGISTRY = default_registry()


# --- response objects ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (Code.CREATED, "CREATED(201)"),
        (Code.DELETED, "DELETED(202)"),
        (Code.CHANGED, "CHANGED(204)"),
        (Code.CONTENT, "CONTENT(205)"),
        (Code.CONTINUE, "CONTINUE(231)"),
        (Code.BAD_REQUEST, "BAD_REQUEST(400)"),
        (Code.UNAUTHORIZED, "UNAUTHORIZED(401)"),
        (Code.FORBIDDEN, "FORBIDDEN(403)"),
        (Code.NOT_FOUND, "NOT_FOUND(404)"),
        (Code.METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED(405)"),
        (Code.NOT_ACCEPTABLE, "NOT_ACCEPTABLE(406)"),
        (Code.REQUEST_ENTITY_INCOMPLETE, "REQUEST_ENTITY_INCOMPLETE(408)"),
        (Code.PRECONDITION_FAILED, "PRECONDITION_FAILED(412)"),
        (Code.REQUEST_ENTITY_TOO_LARGE, "REQUEST_ENTITY_TOO_LARGE(413)"),
        (Code.UNSUPPORTED_CONTENT_FORMAT, "UNSUPPORTED_CONTENT_FORMAT(415)"),
        (Code.INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR(500)"),
        (Code.SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE(503)"),
        ((4 << 5) | 31, "UNKNOWN(431)"),
    ],
)
def test_status_is_name_and_number(code: int, text: str) -> None:
    assert status_text(code) == text


def test_response_object_keys_in_leshan_order() -> None:
    ok = success(Code.CREATED, location="/3303/1")
    assert list(ok) == ["status", "valid", "success", "failure", "location"]
    assert ok == {
        "status": "CREATED(201)",
        "valid": True,
        "success": True,
        "failure": False,
        "location": "/3303/1",
    }
    assert "errormessage" not in failure(Code.NOT_FOUND, None)
    assert "errormessage" not in failure(Code.NOT_FOUND, "")
    assert failure(Code.BAD_REQUEST, "bad tlv") == {
        "status": "BAD_REQUEST(400)",
        "valid": True,
        "success": False,
        "failure": True,
        "errormessage": "bad tlv",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, 5.0),
        ("7", 7.0),
        ("600", 600.0),  # block-wise transfers of several KiB
        ("+3", 3.0),
        ("0.5", 0.5),
        ("soon", 5.0),
        ("", 5.0),
        ("-1", 5.0),
        ("0", 5.0),
        ("nan", 5.0),
        ("inf", 5.0),
        ("99999999", 3600.0),
    ],
)
def test_timeout_parameter_is_lenient(text: str | None, expected: float) -> None:
    assert parse_timeout(text, 5.0, 3600.0) == expected


# --- composite content -------------------------------------------------------------------


def test_composite_content_is_one_node_per_requested_path() -> None:
    records = {
        Path(3303, 0, 5700): 21.5,
        Path(3303, 0, 5701): "Cel",
        Path(3303, 1, 5700): 19.0,
        Path(3, 0, 0): "Acme",
        Path(3, 0, 7, 0): 3800,
        Path(3, 0, 7, 1): 5000,
    }
    shown = composite_to_json(
        records, [Path(3303), Path(3, 0, 0), Path(3, 0, 7), Path(1, 0, 1)], REGISTRY
    )
    assert list(shown) == ["/3303", "/3/0/0", "/3/0/7"]  # nothing below /1/0/1: left out
    obj = shown["/3303"]
    assert obj["kind"] == "obj" and obj["id"] == 3303
    assert [inst["id"] for inst in obj["instances"]] == [0, 1]
    assert shown["/3/0/0"] == {"kind": "singleResource", "id": 0, "type": "STRING", "value": "Acme"}
    assert shown["/3/0/7"] == {
        "kind": "multiResource",
        "id": 7,
        "type": "INTEGER",
        "values": {"0": 3800, "1": 5000},
    }


def test_composite_root_path_shows_every_object() -> None:
    records = {Path(3, 0, 0): "Acme", Path(1, 0, 1): 300}
    shown = composite_to_json(records, [Path()], REGISTRY)
    assert sorted(shown) == ["/1", "/3"]
    assert shown["/1"]["kind"] == "obj"


# --- against a live server ------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with Server(HOST, 0, transmission=FAST, default_timeout=5.0) as srv:
        yield srv


@pytest.fixture
async def api(server: Server) -> AsyncIterator[aiohttp.ClientSession]:
    async with running_api(server) as session:
        yield session


async def started(client: Client) -> Client:
    await client.start()
    await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=5.0)
    return client


async def test_read_composite_of_an_object(api: aiohttp.ClientSession, server: Server) -> None:
    client = await started(make_device(server))
    try:
        body = await call(api, "GET", "/api/clients/dev1/composite?paths=/3303,/3/0/0")
        assert body["status"] == "CONTENT(205)"
        assert list(body["content"]) == ["/3303", "/3/0/0"]
        assert body["content"]["/3303"]["kind"] == "obj"
        (inst,) = body["content"]["/3303"]["instances"]
        assert {r["id"]: r.get("value") for r in inst["resources"]}[5700] == 21.5
        # the root path is accepted for composite reads
        body = await call(api, "GET", "/api/clients/dev1/composite?paths=/")
        assert {"/3", "/3303"} <= set(body["content"])
        # ... and for Observe-Composite: a change anywhere is notified
        async with events(api, "?ep=dev1") as stream:
            body = await call(api, "POST", "/api/clients/dev1/composite/observe?paths=/")
            assert body["status"] == "CONTENT(205)" and "/3303" in body["content"]
            client.set("3/0/14", "+05:00")
            note = await stream.next("NOTIFICATION")
        assert note["kind"] == "composite" and note["paths"] == ["/"]
        assert "/3" in note["val"]
    finally:
        await client.stop(timeout=1.0)


async def test_composite_refused_for_lwm2m_1_0_before_sending(
    api: aiohttp.ClientSession, server: Server
) -> None:
    client = make_device(server, "old")
    client.settings.lwm2m_version = "1.0"
    await started(client)
    reg = server.get_registration("old")
    assert reg is not None and reg.version == "1.0"
    sent: list[object] = []
    stop = server.trace("old", lambda message, incoming: sent.append(message))
    try:
        for method, url in [
            ("GET", "/api/clients/old/composite?paths=/3/0"),
            ("POST", "/api/clients/old/composite/observe?paths=/3/0/0"),
        ]:
            text = await refused(api, method, url)
            assert "needs LwM2M 1.1" in text and "1.0" in text
        text = await refused(
            api, "PUT", "/api/clients/old/composite", json={"/3/0/14": {"id": 14, "value": "x"}}
        )
        assert "needs LwM2M 1.1" in text
        assert sent == []  # nothing went on the wire
    finally:
        stop()
        await client.stop(timeout=1.0)


async def test_invalid_paths_as_leshan(api: aiohttp.ClientSession, server: Server) -> None:
    client = await started(make_device(server))
    try:
        assert await refused(api, "PUT", "/api/clients/dev1/3", json={}) == "Invalid path"
        assert await refused(api, "POST", "/api/clients/dev1/3/0/4/0") == "Invalid path"
        assert await refused(api, "GET", "/api/clients/dev1/composite/nope") == "Invalid path"
        text = await refused(api, "GET", "/api/clients/dev1/3/zero")
        assert text.startswith("Invalid request: ")
        # a timeout that does not parse means the default; the read works
        body = await call(api, "GET", "/api/clients/dev1/3/0/0?timeout=soon")
        assert body["content"]["value"] == "Acme"
        body = await call(api, "GET", "/api/clients/dev1/3/0/0?timeout=600")
        assert body["status"] == "CONTENT(205)"
    finally:
        await client.stop(timeout=1.0)


async def test_event_stream_takes_the_endpoint_as_a_bare_key(
    api: aiohttp.ClientSession, server: Server
) -> None:
    other = make_device(server, "other")
    mine = make_device(server, "mine")
    async with events(api, "?mine") as stream:
        await started(other)
        await started(mine)
        try:
            reg = await stream.next("REGISTRATION")
        finally:
            await other.stop(timeout=1.0)
            await mine.stop(timeout=1.0)
    assert reg["endpoint"] == "mine"
    assert all(data.get("endpoint", data.get("ep")) == "mine" for _, data in stream.seen)


async def test_coap_log_of_the_followed_endpoint(
    api: aiohttp.ClientSession, server: Server
) -> None:
    client = await started(make_device(server))
    try:
        async with events(api, "?ep=dev1") as stream:
            await call(api, "GET", "/api/clients/dev1/3/0/0?format=TEXT")
            out = await stream.next("COAPLOG")
            back = await stream.next("COAPLOG")
    finally:
        await client.stop(timeout=1.0)
    assert out["incoming"] is False and out["type"] == "CON" and out["code"] == "GET"
    assert "Uri-Path: 3, 0, 0" in out["options"] and out["ep"] == "dev1"
    assert isinstance(out["mId"], int) and isinstance(out["timestamp"], int)
    assert back["incoming"] is True and back["type"] == "ACK" and back["code"] == "2.05"
    assert back["payload"] == "Acme" and back["token"] == out["token"]
    assert "Content-Format: TEXT_PLAIN" in back["options"]
    assert list(out) == ["timestamp", "incoming", "type", "mId", "token", "code", "options", "ep"]


async def test_sleeping_awake_and_delayed_requests() -> None:
    server = Server(HOST, 0, transmission=FAST, queue_awake_time=0.3)
    async with server, running_api(server) as api:
        client = make_device(server, "q1")
        client.settings.queue_mode = True
        async with events(api, "?ep=q1") as stream:
            await started(client)
            try:
                reg = await stream.next("REGISTRATION")
                assert reg["queuemode"] is True and reg["sleeping"] is False
                assert await stream.next("SLEEPING", timeout=3.0) == {"ep": "q1"}
                listed = await call(api, "GET", "/api/clients/q1")
                assert listed["sleeping"] is True
                body = await call(api, "GET", "/api/clients/q1/3/0/0")
                assert body.pop("delayed") is True
                request_id = body.pop("requestId")
                assert body == {"ep": "q1", "path": "/3/0/0"}
                client.set("1/0/1", 120)  # an Update wakes the client up
                assert await stream.next("AWAKE", timeout=3.0) == {"ep": "q1"}
                late = await stream.next("REQUEST_RESPONSE", timeout=3.0)
            finally:
                await client.stop(timeout=1.0)
    assert late["requestId"] == request_id and late["delayed"] is True
    assert late["path"] == "/3/0/0" and late["ep"] == "q1"
    assert late["response"]["status"] == "CONTENT(205)"
    assert late["response"]["content"]["value"] == "Acme"


async def test_garbage_never_500(api: aiohttp.ClientSession, server: Server) -> None:
    client = await started(make_device(server))
    try:
        before = client.get("3/0/14")
        cases: list[tuple[str, str, dict[str, object]]] = [
            ("PUT", "/api/clients/dev1/3/0/14", {"data": b"\xff\xfe", "headers": JSON}),
            ("PUT", "/api/clients/dev1/3/0/14", {"data": b"[" * 100000, "headers": JSON}),
            ("PUT", "/api/clients/dev1/3/0/14", {"data": b"1" * 5000, "headers": JSON}),
            ("PUT", "/api/clients/dev1/composite", {"data": b"{}", "headers": JSON}),
            ("PUT", "/api/clients/dev1/composite", {"data": b'{"/x": 1}', "headers": JSON}),
            ("POST", "/api/clients/dev1/3303", {"data": b'{"kind": 5}', "headers": JSON}),
            ("POST", "/api/clients/dev1/3/0/4", {"data": b"\xff", "headers": TEXT}),
            ("GET", "/api/clients/dev1/" + "9" * 5000, {}),
            ("GET", "/api/clients/dev1/composite?paths=" + ",".join(["/3"] * 3) + ",/x", {}),
            ("PUT", "/api/clients/dev1/3/0/14/attributes?pmin=1e999", {}),
            ("PUT", "/api/clients/dev1/3/0/14/attributes?gt=nan", {}),
        ]
        for method, url, kwargs in cases:
            async with api.request(method, url, **kwargs) as resp:  # type: ignore[arg-type]
                text = await resp.text()
                assert resp.status == 400, (method, url[:60], resp.status, text)
                assert text.startswith(("Invalid request: ", "Invalid path")), text
        assert client.get("3/0/14") == before
        assert (await call(api, "GET", "/api/clients/dev1/3/0/0"))["content"]["value"] == "Acme"
    finally:
        await client.stop(timeout=1.0)


JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain", "X-Requested-With": "test"}


async def test_server_keeps_serving_after_garbage_flood(
    api: aiohttp.ClientSession, server: Server
) -> None:
    client = await started(make_device(server))
    try:
        for n in range(50):
            async with api.put(
                "/api/clients/dev1/3/0/14", data=bytes([n]) * n, headers=JSON
            ) as resp:
                assert resp.status == 400
        await asyncio.sleep(0)
        body = await call(api, "GET", "/api/clients/dev1/3/0/0")
        assert body["content"]["value"] == "Acme"
    finally:
        await client.stop(timeout=1.0)

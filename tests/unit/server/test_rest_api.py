"""The REST API through a real HTTP client, against a real Server and a real Client on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.model import Path
from lwm2m.objects import Device
from lwm2m.objects.ipso import Temperature
from lwm2m.server import Server, SqliteStore
from lwm2m.server.rest import create_app

HOST = "127.0.0.1"
#: A lost message is retried after 0.1 s and given up after ~0.3 s.
FAST = TransmissionParams(ack_timeout=0.1, ack_random_factor=1.0, max_retransmit=1)


def make_server(**kwargs: Any) -> Server:
    return Server(HOST, 0, transmission=FAST, default_timeout=5.0, **kwargs)


def make_device(server: Server, name: str = "dev1") -> Client:
    client = Client(name, lwm2m_version="1.1", transmission=FAST)
    host, port = server.coap_address
    client.add_server(f"coap://{host}:{port}", short_server_id=101, lifetime=300)
    Device(client.store, manufacturer="Acme", model="M1", serial="SN-1", firmware_version="1.0.3")
    Temperature(client.store, 21.5)
    return client


@contextlib.asynccontextmanager
async def running_api(server: Server) -> AsyncIterator[aiohttp.ClientSession]:
    """The REST API of ``server`` on a free port, and an HTTP session pointed at it."""
    runner = web.AppRunner(create_app(server, heartbeat=0.2))
    await runner.setup()
    try:
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        port = runner.addresses[0][1]
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(f"http://{HOST}:{port}", timeout=timeout) as session:
            yield session
    finally:
        await runner.cleanup()


async def call(
    session: aiohttp.ClientSession, method: str, url: str, *, expect: int = 200, **kwargs: Any
) -> Any:
    """One request; checks the HTTP status and that the answer is JSON, returns it decoded."""
    async with session.request(method, url, **kwargs) as resp:
        text = await resp.text()
        assert resp.status == expect, f"{method} {url}: {resp.status} {text}"
        assert resp.content_type == "application/json", text
        return json.loads(text)


async def refused(
    session: aiohttp.ClientSession, method: str, url: str, *, expect: int = 400, **kwargs: Any
) -> str:
    """One request that must be refused with a text/plain reason; returns the reason."""
    async with session.request(method, url, **kwargs) as resp:
        text = await resp.text()
        assert resp.status == expect, f"{method} {url}: {resp.status} {text}"
        assert resp.content_type == "text/plain", text
        return text


@dataclass
class EventReader:
    """Parses a ``text/event-stream`` response into (name, data) pairs."""

    response: aiohttp.ClientResponse
    seen: list[tuple[str, Any]] = field(default_factory=list)

    async def next(self, name: str, timeout: float = 5.0) -> Any:
        """The data of the next event called ``name`` (earlier other events are kept)."""
        async with asyncio.timeout(timeout):
            event = ""
            while True:
                line = (await self.response.content.readline()).decode().rstrip("\r\n")
                if not line and self.response.content.at_eof():
                    raise AssertionError("event stream ended")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    self.seen.append((event, data))
                    if event == name:
                        return data


@contextlib.asynccontextmanager
async def events(session: aiohttp.ClientSession, query: str = "") -> AsyncIterator[EventReader]:
    async with session.get(f"/api/event{query}") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        # the stream opens with a comment: from then on every event reaches it
        assert (await resp.content.readline()).startswith(b":")
        yield EventReader(resp)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with make_server() as srv:
        yield srv


@pytest.fixture
async def api(server: Server) -> AsyncIterator[aiohttp.ClientSession]:
    async with running_api(server) as session:
        yield session


@pytest.fixture
async def device(server: Server) -> AsyncIterator[Client]:
    client = make_device(server)
    await client.start()
    try:
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=5.0)
        yield client
    finally:
        await client.stop(timeout=1.0)


def resources(content: dict[str, Any]) -> dict[int, Any]:
    """``{resource id: value or values}`` of an instance node."""
    assert content["kind"] == "instance"
    return {r["id"]: r.get("value", r.get("values")) for r in content["resources"]}


# --- clients ----------------------------------------------------------------------------


async def test_list_and_get_clients(
    api: aiohttp.ClientSession, server: Server, device: Client
) -> None:
    clients = await call(api, "GET", "/api/clients")
    assert [c["endpoint"] for c in clients] == ["dev1"]
    reg = server.get_registration("dev1")
    assert reg is not None
    one = await call(api, "GET", "/api/clients/dev1")
    assert one == clients[0]
    assert one["registrationId"] == reg.id
    assert one["lwM2mVersion"] == "1.1" and one["lifetime"] == 300
    assert one["bindingMode"] == "U" and one["secure"] is False
    assert one["address"] == f"{reg.address[0]}:{reg.address[1]}"
    assert one["registrationDate"] == round(reg.registered_at * 1000)
    assert one["lastUpdate"] >= one["registrationDate"]
    urls = {link["url"] for link in one["objectLinks"]}
    assert {"/3/0", "/3303/0"} <= urls


async def test_unknown_endpoint_is_400(api: aiohttp.ClientSession, device: Client) -> None:
    """ClientServlet: an endpoint without registration is 400 "No registered client ..."."""
    text = await refused(api, "GET", "/api/clients/nobody")
    assert text == "no registered client with id 'nobody'"
    for method, url in [
        ("GET", "/api/clients/nobody/3/0/0"),
        ("PUT", "/api/clients/nobody/3/0/14"),
        ("POST", "/api/clients/nobody/3/0/observe"),
        ("GET", "/api/clients/nobody/composite?paths=/3/0"),
    ]:
        text = await refused(api, method, url)
        assert text == "No registered client with id 'nobody'"


# --- read -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["TLV", "SENML_JSON", "senml_cbor", "JSON", "LWM2M_CBOR"])
async def test_read_device_instance(api: aiohttp.ClientSession, device: Client, fmt: str) -> None:
    body = await call(api, "GET", f"/api/clients/dev1/3/0?format={fmt}")
    assert body["status"] == "CONTENT(205)" and body["success"] is True and body["valid"] is True
    content = body["content"]
    assert content["id"] == 0
    values = resources(content)
    assert values[0] == "Acme" and values[1] == "M1" and values[3] == "1.0.3"
    by_id = {r["id"]: r for r in content["resources"]}
    assert by_id[0] == {"kind": "singleResource", "id": 0, "type": "STRING", "value": "Acme"}
    assert by_id[11] == {"kind": "multiResource", "id": 11, "type": "INTEGER", "values": {"0": 0}}
    assert by_id[13]["type"] == "TIME" and by_id[13]["value"] % 1000 == 0


@pytest.mark.parametrize("fmt", ["TEXT", "CBOR", "TLV", None])
async def test_read_single_resource(
    api: aiohttp.ClientSession, device: Client, fmt: str | None
) -> None:
    query = f"?format={fmt}" if fmt else ""
    body = await call(api, "GET", f"/api/clients/dev1/3/0/0{query}")
    assert body["content"] == {"kind": "singleResource", "id": 0, "type": "STRING", "value": "Acme"}


async def test_read_object_and_float(api: aiohttp.ClientSession, device: Client) -> None:
    body = await call(api, "GET", "/api/clients/dev1/3303")
    assert body["content"]["kind"] == "obj" and body["content"]["id"] == 3303
    (instance,) = body["content"]["instances"]
    value = resources(instance)[5700]
    assert value == 21.5
    node = (await call(api, "GET", "/api/clients/dev1/3303/0/5700"))["content"]
    assert node["type"] == "FLOAT" and node["value"] == 21.5


async def test_read_failure_answers_status_name(api: aiohttp.ClientSession, device: Client) -> None:
    body = await call(api, "GET", "/api/clients/dev1/3/7/0")
    assert (
        body["status"] == "NOT_FOUND(404)" and body["success"] is False and body["failure"] is True
    )
    body = await call(api, "GET", "/api/clients/dev1/3/0/4")  # an executable resource
    assert body["status"] == "METHOD_NOT_ALLOWED(405)" and body["success"] is False


# --- write, execute, create, delete -------------------------------------------------------


async def test_write_resource_replace_and_text(api: aiohttp.ClientSession, device: Client) -> None:
    node = {"kind": "singleResource", "id": 14, "type": "STRING", "value": "+02:00"}
    body = await call(api, "PUT", "/api/clients/dev1/3/0/14?format=TLV", json=node)
    assert body == {"status": "CHANGED(204)", "valid": True, "success": True, "failure": False}
    assert device.get("3/0/14") == "+02:00"
    await call(
        api,
        "PUT",
        "/api/clients/dev1/3/0/15",
        data="Europe/Paris",
        headers={"Content-Type": "text/plain", "X-Requested-With": "test"},
    )
    assert device.get("3/0/15") == "Europe/Paris"


async def test_write_instance_partial(api: aiohttp.ClientSession, device: Client) -> None:
    node = {
        "kind": "instance",
        "id": 0,
        "resources": [
            {"kind": "singleResource", "id": 14, "value": "+01:00"},
            {"kind": "singleResource", "id": 15, "type": "string", "value": "Europe/Rome"},
        ],
    }
    body = await call(
        api, "PUT", "/api/clients/dev1/3/0?replace=false&format=SENML_CBOR", json=node
    )
    assert body["status"] == "CHANGED(204)"
    assert device.get("3/0/14") == "+01:00" and device.get("3/0/15") == "Europe/Rome"


async def test_write_refused_by_client(api: aiohttp.ClientSession, device: Client) -> None:
    node = {"kind": "singleResource", "id": 0, "value": "Other"}  # 3/0/0 is read-only
    body = await call(api, "PUT", "/api/clients/dev1/3/0/0", json=node)
    assert body["status"] == "METHOD_NOT_ALLOWED(405)" and body["success"] is False
    assert device.get("3/0/0") == "Acme"


async def test_execute_with_arguments(api: aiohttp.ClientSession, device: Client) -> None:
    seen: list[object] = []
    device.store.callbacks.execute[Path(3, 0, 4)] = lambda path, args: seen.append(args)
    body = await call(
        api,
        "POST",
        "/api/clients/dev1/3/0/4",
        data="0='now',1",
        headers={"Content-Type": "text/plain", "X-Requested-With": "test"},
    )
    assert body["status"] == "CHANGED(204)" and body["success"] is True
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.01)
    assert seen and "0='now'" in str(seen[0])


async def test_create_and_delete_instance(api: aiohttp.ClientSession, device: Client) -> None:
    node = {
        "kind": "instance",
        "id": 7,
        "resources": [{"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": 3.5}],
    }
    body = await call(api, "POST", "/api/clients/dev1/3303?format=TLV", json=node)
    assert body["status"] == "CREATED(201)" and body["location"] == "/3303/7"
    assert device.get("3303/7/5700") == 3.5
    body = await call(api, "DELETE", "/api/clients/dev1/3303/7")
    assert body["status"] == "DELETED(202)"
    assert 7 not in list(device.store.instance_ids(3303))
    body = await call(api, "DELETE", "/api/clients/dev1/3303/7")
    assert body["status"] == "NOT_FOUND(404)" and body["success"] is False


async def test_create_on_instance_path(api: aiohttp.ClientSession, device: Client) -> None:
    node = {"kind": "instance", "resources": [{"id": 5700, "value": 1.25}]}
    body = await call(api, "POST", "/api/clients/dev1/3303/4", json=node)
    assert body["location"] == "/3303/4"
    assert device.get("3303/4/5700") == 1.25


# --- observe, attributes, discover -------------------------------------------------------


async def test_observe_notifications_reach_the_event_stream(
    api: aiohttp.ClientSession, server: Server, device: Client
) -> None:
    async with events(api, "?ep=dev1") as stream:
        body = await call(api, "POST", "/api/clients/dev1/3/0/14/observe?format=TEXT")
        assert body["status"] == "CONTENT(205)" and body["content"]["id"] == 14
        device.set("3/0/14", "+03:00")
        note = await stream.next("NOTIFICATION")
        assert note == {
            "ep": "dev1",
            "kind": "single",
            "res": "/3/0/14",
            "val": {"kind": "singleResource", "id": 14, "type": "STRING", "value": "+03:00"},
        }
        assert len(server.observations("dev1")) == 1
        body = await call(api, "DELETE", "/api/clients/dev1/3/0/14/observe?active")
        assert body["status"] == "CONTENT(205)" and body["success"] is True
        assert server.observations("dev1") == []
        text = await refused(api, "DELETE", "/api/clients/dev1/3/0/14/observe?active", expect=404)
        assert text == "no observation for path /3/0/14 for  client 'dev1'"


async def test_passive_cancel(api: aiohttp.ClientSession, server: Server, device: Client) -> None:
    await call(api, "POST", "/api/clients/dev1/3/0/15/observe")
    async with api.delete("/api/clients/dev1/3/0/15/observe") as resp:
        assert resp.status == 200 and await resp.read() == b""  # as Leshan: no body
    assert server.observations("dev1") == []


async def test_composite_read_and_observe(
    api: aiohttp.ClientSession, server: Server, device: Client
) -> None:
    body = await call(api, "GET", "/api/clients/dev1/composite?paths=/3/0/0,/3303/0/5700")
    assert body["status"] == "CONTENT(205)"
    assert body["content"]["/3/0/0"]["value"] == "Acme"
    assert body["content"]["/3303/0/5700"]["value"] == 21.5
    async with events(api) as stream:
        body = await call(api, "POST", "/api/clients/dev1/composite/observe?paths=/3/0/14")
        assert body["content"]["/3/0/14"]["kind"] == "singleResource"
        device.set("3/0/14", "+04:00")
        note = await stream.next("NOTIFICATION")
        assert note["kind"] == "composite" and note["paths"] == ["/3/0/14"]
        assert note["val"]["/3/0/14"]["value"] == "+04:00"
    body = await call(api, "DELETE", "/api/clients/dev1/composite/observe?paths=/3/0/14&active")
    assert body["status"] == "CONTENT(205)"
    assert server.observations("dev1") == []


async def test_attributes_then_discover(api: aiohttp.ClientSession, device: Client) -> None:
    body = await call(api, "PUT", "/api/clients/dev1/3/0/14/attributes?pmin=2&pmax=30")
    assert body["status"] == "CHANGED(204)"
    body = await call(api, "GET", "/api/clients/dev1/3/0/discover")
    assert body["status"] == "CONTENT(205)" and body["success"] is True
    links = {link["url"]: link["attributes"] for link in body["objectLinks"]}
    assert links["/3/0/14"] == {"pmin": "2", "pmax": "30"}
    assert "/3/0" in links
    await call(api, "PUT", "/api/clients/dev1/3/0/14/attributes?pmin")  # remove pmin
    body = await call(api, "GET", "/api/clients/dev1/3/0/14/discover")
    links = {link["url"]: link["attributes"] for link in body["objectLinks"]}
    assert links["/3/0/14"] == {"pmax": "30"}


# --- events -------------------------------------------------------------------------------


async def test_registration_events(api: aiohttp.ClientSession, server: Server) -> None:
    client = make_device(server, "dev2")
    async with events(api, "?ep=dev2") as stream:
        await client.start()
        try:
            reg = await stream.next("REGISTRATION")
            assert reg["endpoint"] == "dev2" and reg["lifetime"] == 300
        finally:
            await client.stop(timeout=1.0)
        gone = await stream.next("DEREGISTRATION")
        assert gone["registrationId"] == reg["registrationId"]


async def test_update_event_names_the_changes(api: aiohttp.ClientSession, server: Server) -> None:
    client = make_device(server, "dev3")
    async with events(api) as stream:
        await client.start()
        try:
            await stream.next("REGISTRATION")
            client.set("1/0/1", 120)  # a new lifetime makes the client send an Update
            updated = await stream.next("UPDATED")
        finally:
            await client.stop(timeout=1.0)
    assert updated["registration"]["lifetime"] == 120
    assert updated["update"]["lifetime"] == 120


# --- bad input: clear errors, the server keeps running, nothing changes ----------------------


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "fragment"),
    [
        ("GET", "/api/clients/dev1/3/0?format=XML", {}, "unknown format"),
        ("GET", "/api/clients/dev1/3/x/0", {}, "invalid path"),
        ("GET", "/api/clients/dev1/3/0/0/0/0", {}, "levels"),
        ("GET", "/api/clients/dev1/70000", {}, "out of range"),
        ("PUT", "/api/clients/dev1/3/0/14", {"data": b"{not json"}, "not JSON"),
        ("PUT", "/api/clients/dev1/3/0/14", {"json": [1, 2]}, "JSON object"),
        ("PUT", "/api/clients/dev1/3/0/14", {"json": {"id": 14}}, "not a node"),
        ("PUT", "/api/clients/dev1/3/0/14", {"json": {"id": 9, "value": "x"}}, "does not match"),
        ("PUT", "/api/clients/dev1/3/0/14", {"json": {"value": 5}}, "expected a string"),
        ("PUT", "/api/clients/dev1/3/0/14", {"json": {"value": "x", "type": "WORD"}}, "type"),
        ("PUT", "/api/clients/dev1/3/0/14?replace=maybe", {"json": {"value": "x"}}, "replace"),
        ("PUT", "/api/clients/dev1/3/0/14", {"data": b""}, "needs a node"),
        ("POST", "/api/clients/dev1/3303", {"json": {"kind": "instance"}}, "'id' is required"),
        ("POST", "/api/clients/dev1/3303", {"json": {"kind": "instance", "id": 1}}, "resources"),
        ("POST", "/api/clients/dev1/3/0/4/0", {}, "Invalid path"),
        ("PUT", "/api/clients/dev1/3", {"json": {"id": 3, "instances": []}}, "Invalid path"),
        ("PUT", "/api/clients/dev1/3/0/14", {"data": b"x"}, "content type"),
        ("PUT", "/api/clients/dev1/3/0/14", {"data": b"[" * 100000}, "JSON"),
        ("PUT", "/api/clients/dev1/3/0/14", {"data": b"9" * 5000}, "JSON"),
        ("GET", "/api/clients/dev1/composite/x", {}, "Invalid path"),
        ("PUT", "/api/clients/dev1/3/0/14/attributes?pmin=soon", {}, "pmin"),
        ("PUT", "/api/clients/dev1/3/0/14/attributes?color=red", {}, "unknown attribute"),
        ("PUT", "/api/clients/dev1/3/0/14/attributes", {}, "at least one"),
        ("GET", "/api/clients/dev1/composite", {}, "paths"),
        ("GET", "/api/clients/dev1/3/0?format=TLV&format=TEXT", {}, "2 times"),
    ],
)
async def test_bad_requests_are_400(
    api: aiohttp.ClientSession,
    server: Server,
    device: Client,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    fragment: str,
) -> None:
    before = device.get("3/0/14")
    registrations = server.registrations()
    if method == "PUT" and "data" in kwargs and fragment != "content type":
        kwargs = {**kwargs, "headers": {"Content-Type": "application/json"}}
    text = await refused(api, method, url, **kwargs)
    assert fragment in text, text
    # the server still works and nothing changed
    assert server.registrations() == registrations
    assert device.get("3/0/14") == before
    assert (await call(api, "GET", "/api/clients/dev1/3/0/0"))["content"]["value"] == "Acme"


async def test_unknown_routes_and_methods(api: aiohttp.ClientSession, device: Client) -> None:
    assert await refused(api, "GET", "/api/nothing", expect=404) == "Not Found"
    text = await refused(api, "PATCH", "/api/clients/dev1/3/0", expect=405)
    assert "PATCH" in text
    text = await refused(api, "GET", "/api/clients/dev1/3/0/observe", expect=405)
    assert "GET is not allowed" in text


async def test_timeout_is_504(server: Server, api: aiohttp.ClientSession) -> None:
    # a registered peer that never answers a request
    silent = await Endpoint.create_udp(HOST, 0, params=FAST)
    never = asyncio.Event()

    async def hang(request: Message, remote: tuple[str, int]) -> Message:
        await never.wait()
        raise AssertionError("unreachable")

    silent.set_fallback_handler(hang)
    try:
        answer = await silent.request(
            Code.POST,
            "/rd",
            remote=server.coap_address,
            query=["ep=silent", "lt=300", "lwm2m=1.1", "b=U"],
            payload=b"</3/0>",
            content_format=ContentFormat.LINK_FORMAT,
            timeout=5.0,
        )
        assert answer.code == Code.CREATED
        text = await refused(api, "GET", "/api/clients/silent/3/0/0?timeout=0.3", expect=504)
        assert text == "Request timeout"
        assert server.get_registration("silent") is not None
    finally:
        await silent.close()


async def test_event_stream_filters_by_endpoint(api: aiohttp.ClientSession, server: Server) -> None:
    other = make_device(server, "other")
    mine = make_device(server, "mine")
    async with events(api, "?ep=mine") as stream:
        await other.start()
        await other.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=5.0)
        await mine.start()
        try:
            reg = await stream.next("REGISTRATION")
        finally:
            await other.stop(timeout=1.0)
            await mine.stop(timeout=1.0)
    assert reg["endpoint"] == "mine"
    assert all(data.get("endpoint") != "other" for _, data in stream.seen)


# --- restart with sqlite -----------------------------------------------------------------


async def test_registration_survives_restart_with_sqlite(tmp_path: FsPath) -> None:
    db = str(tmp_path / "server.db")
    first = make_server(store=SqliteStore(db))
    await first.start()
    client = make_device(first)
    try:
        await client.start()
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=5.0)
        reg = first.get_registration("dev1")
        assert reg is not None
        port = first.coap_address[1]
        await first.stop()
        first.store.close()
        # a new server on the same file and port: the client never registers again
        second = Server(HOST, port, store=SqliteStore(db), transmission=FAST)
        async with second, running_api(second) as api:
            clients = await call(api, "GET", "/api/clients")
            assert [(c["endpoint"], c["registrationId"]) for c in clients] == [("dev1", reg.id)]
            body = await call(api, "GET", "/api/clients/dev1/3/0/0")
            assert body["content"]["value"] == "Acme"
        second.store.close()
    finally:
        await client.stop(deregister=False, timeout=1.0)


async def test_event_stream_ends_when_the_api_shuts_down(server: Server) -> None:
    runner = web.AppRunner(create_app(server, heartbeat=0.1))
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    url = f"http://{HOST}:{runner.addresses[0][1]}/api/event"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert (await resp.content.readline()).startswith(b":")
        await asyncio.sleep(0.25)  # heartbeats keep the idle stream open
        async with asyncio.timeout(5):
            await runner.cleanup()
            rest = await resp.content.read()
    assert b"heartbeat" in rest
    assert resp.content.at_eof()

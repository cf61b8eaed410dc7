"""Registration life, Send, queue mode, restart and bad input, server side (ETS 1xx, 306)."""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path as FsPath

import pytest

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared server_support module
from server_support import (
    HOST,
    Recorder,
    make_device,
    make_server,
    registered,
    start_registered,
)

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.formats import senml_json
from lwm2m.model import Path, ResourceNode
from lwm2m.server import (
    ClientNotRegistered,
    Deregistered,
    Expired,
    IdentityBinding,
    Notification,
    Registered,
    RequestExpired,
    SendReceived,
    Server,
    SqliteStore,
    Updated,
)

CF = ContentFormat
LINKS = b"</1/0>,</3/0>"


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with make_server(expiry_grace=0.0) as srv:
        yield srv


@pytest.fixture
async def raw() -> AsyncIterator[Endpoint]:
    """A bare CoAP endpoint for hand-made registration requests."""
    ep = await Endpoint.create_udp(HOST, 0)
    try:
        yield ep
    finally:
        await ep.close()


# --- registration life ---------------------------------------------------------------


async def test_int_101_initial_registration(server: Server) -> None:
    rec = Recorder(server)
    client = make_device(server, lifetime=120)
    async with registered(server, client) as reg:
        event = await rec.next(Registered)
        assert event.registration == reg and event.replaced is None
        assert (reg.endpoint, reg.lifetime, reg.version, reg.binding) == ("dev1", 120, "1.1", "U")
        assert {(1, 0), (3, 0)} <= {tuple(link.path) for link in reg.object_links.links}
        assert reg.address[0] == HOST and reg.address[1] != server.coap_address[1]
        assert server.registrations() == [reg]
    event = await rec.next(Deregistered)
    assert event.registration.id == reg.id and server.registrations() == []


async def test_int_102_update_after_lifetime_write(server: Server) -> None:
    rec = Recorder(server)
    client = make_device(server)
    async with registered(server, client) as reg:
        await server.write("dev1", "/1/0/1", 150)
        event = await rec.next(Updated)
        assert event.previous.id == reg.id and event.registration.lifetime == 150
        assert "lifetime" in event.changed
        assert server.get_registration("dev1").lifetime == 150  # type: ignore[union-attr]


async def test_int_103_deregister_on_disable_then_register_again(server: Server) -> None:
    rec = Recorder(server)
    client = make_device(server)
    async with registered(server, client) as reg:
        assert (await rec.next(Registered)).registration == reg
        await server.write("dev1", "/1/0/5", 1)  # Disable Timeout: 1 s
        await server.execute("dev1", "/1/0/4")
        gone = await rec.next(Deregistered)
        assert gone.registration.id == reg.id
        again = await rec.next(Registered, timeout=5)
        assert again.registration.endpoint == "dev1" and again.registration.id != reg.id


async def test_int_104_update_on_trigger(server: Server) -> None:
    rec = Recorder(server)
    client = make_device(server)
    async with registered(server, client) as reg:
        await server.execute("dev1", "/1/0/8")
        event = await rec.next(Updated)
        assert event.registration.id == reg.id
        assert event.registration.last_update >= reg.last_update


async def test_int_105_update_after_server_lost_state(server: Server) -> None:
    """A restarted server without a store answers Update 4.04; the client registers anew."""
    port = server.coap_address[1]
    client = make_device(server)
    async with registered(server, client):
        await server.stop()
        async with make_server(port) as fresh:
            rec = Recorder(fresh)
            client.set("1/0/1", 200)  # makes the client send an Update
            event = await rec.next(Registered)
            assert event.registration.endpoint == "dev1" and event.registration.lifetime == 200
            assert await fresh.read("dev1", "/3/0/0") == ResourceNode(0, "Acme")


async def test_reregistration_replaces_and_ends_observations(server: Server) -> None:
    rec = Recorder(server)
    first = make_device(server)
    reg = await start_registered(server, first)
    obs = await server.observe("dev1", "/3/0/14")
    second = make_device(server)
    async with registered(server, second) as new:
        event = await rec.next(Registered)
        event = await rec.next(Registered)
        assert event.replaced is not None and event.replaced.id == reg.id
        assert new.id != reg.id and new.address != reg.address
        assert not obs.active and server.observations() == []
        assert await server.read("dev1", "/3/0/0") == ResourceNode(0, "Acme")
    await first.stop(deregister=False)


async def test_lifetime_expiry(server: Server) -> None:
    rec = Recorder(server)
    client = make_device(server, lifetime=1)
    reg = await start_registered(server, client)
    await client.stop(deregister=False)
    event = await rec.next(Expired, timeout=3)
    assert event.registration.id == reg.id
    assert server.get_registration("dev1") is None
    with pytest.raises(ClientNotRegistered):
        await server.read("dev1", "/3/0/0")


async def test_event_stream_and_async_callbacks(server: Server) -> None:
    seen: list[str] = []

    async def callback(event: object) -> None:
        seen.append(type(event).__name__)

    server.on_event(callback)
    stream = server.events()
    client = make_device(server)
    async with registered(server, client):
        async with asyncio.timeout(3):
            first = await anext(stream)
    async with asyncio.timeout(3):
        second = await anext(stream)
    stream.close()
    assert isinstance(first, Registered) and isinstance(second, Deregistered)
    assert [n async for n in stream] == []
    await asyncio.sleep(0)
    assert seen[:2] == ["Registered", "Deregistered"]


# --- Send ----------------------------------------------------------------------------------


async def test_int_306_send(server: Server) -> None:
    rec = Recorder(server)
    client = make_device(server)
    async with registered(server, client):
        code = await client.send(["3/0/0", "3/0/11"])
        assert code == Code.CHANGED
        event = await rec.next(SendReceived)
    assert event.endpoint == "dev1" and event.content_format == CF.SENML_CBOR
    assert event.records == {Path(3, 0, 0): "Acme", Path(3, 0, 11, 0): 0}


async def test_send_refused_for_unknown_client_and_bad_payload(
    server: Server, raw: Endpoint
) -> None:
    rec = Recorder(server)
    addr = server.coap_address
    body = senml_json.encode_paths([Path(3, 0, 0)])
    r = await raw.post("/dp", body, remote=addr, content_format=CF.SENML_JSON)
    assert r.code == Code.NOT_FOUND  # not registered
    r = await raw.post("/rd", LINKS, remote=addr, query=["ep=raw"], content_format=40)
    assert r.code == Code.CREATED
    cases = [
        (b'[{"n":"/3/0/0","vs":"x"}]', CF.TEXT_PLAIN, Code.UNSUPPORTED_CONTENT_FORMAT),
        (b"[{", CF.SENML_JSON, Code.BAD_REQUEST),
        (b"[]", CF.SENML_JSON, Code.BAD_REQUEST),
        (b"\xff\x00", CF.SENML_CBOR, Code.BAD_REQUEST),
    ]
    for payload, cf, expected in cases:
        r = await raw.post("/dp", payload, remote=addr, content_format=cf)
        assert r.code == expected, (payload, r)
    assert (await raw.get("/dp", remote=addr)).code == Code.METHOD_NOT_ALLOWED
    assert (await raw.post("/dp/x", b"", remote=addr)).code == Code.NOT_FOUND
    r = await raw.post("/dp", b'[{"n":"/3/0/0","vs":"ok"}]', remote=addr, content_format=110)
    assert r.code == Code.CHANGED
    assert [e.records for e in rec.of(SendReceived)] == [{Path(3, 0, 0): "ok"}]


# --- queue mode ------------------------------------------------------------------------------


async def test_int_109_queue_mode_request_waits_for_update() -> None:
    async with make_server(queue_awake_time=0.1) as server:
        client = make_device(server, queue_mode=True)
        async with registered(server, client) as reg:
            assert reg.queue_mode
            # Within the awake window a request goes out at once.
            assert await server.read("dev1", "/3/0/0") == ResourceNode(0, "Acme")
            await asyncio.sleep(0.15)  # the client is now taken to be asleep
            first = asyncio.ensure_future(server.read("dev1", "/3/0/1"))
            second = asyncio.ensure_future(server.write("dev1", "/3/0/14", "+01:00"))
            await asyncio.sleep(0.2)
            assert not first.done() and not second.done()
            assert server.pending_requests("dev1") == 2
            assert client.get("3/0/14") == "+00:00"
            client.set("1/0/1", 400)  # the client sends an Update: it is awake
            async with asyncio.timeout(3):
                assert await first == ResourceNode(1, "M1")
                await second
            assert client.get("3/0/14") == "+01:00"
            assert server.pending_requests("dev1") == 0


async def test_queue_mode_request_expires() -> None:
    async with make_server(queue_awake_time=0.0, queue_expiry=0.1) as server:
        client = make_device(server, "q10", version="1.0", queue_mode=True)
        async with registered(server, client) as reg:
            assert reg.queue_mode and reg.binding == "U"
            with pytest.raises(RequestExpired):
                await server.read("q10", "/3/0/0")
            assert server.pending_requests("q10") == 0


async def test_queue_mode_waiting_request_fails_on_deregister() -> None:
    async with make_server(queue_awake_time=0.0) as server:
        client = make_device(server, queue_mode=True)
        await start_registered(server, client)
        waiting = asyncio.ensure_future(server.read("dev1", "/3/0/0"))
        await asyncio.sleep(0.05)
        await client.stop()
        with pytest.raises(ClientNotRegistered):
            await waiting


# --- restart with a persistent store ----------------------------------------------------------


async def test_restart_with_sqlite_keeps_registration_and_observation(
    tmp_path: FsPath,
) -> None:
    db = os.fspath(tmp_path / "server.db")
    store = SqliteStore(db)
    server = make_server(store=store)
    await server.start()
    port = server.coap_address[1]
    client = make_device(server)
    try:
        reg = await start_registered(server, client)
        obs = await server.observe("dev1", "/3/0/14")
        await server.stop()
        store.close()
        assert not obs.active

        store = SqliteStore(db)
        server = make_server(port, store=store)
        await server.start()
        rec = Recorder(server)
        assert server.get_registration("dev1") == reg
        assert [o.token for o in server.observations("dev1")] == [obs.token]
        assert await server.read("dev1", "/3/0/0") == ResourceNode(0, "Acme")
        client.set("1/0/1", 250)  # Update: the stored observation is re-established
        updated = await rec.next(Updated)
        assert updated.registration.id == reg.id
        for _ in range(100):
            if server.observation(obs.token) is not None:
                break
            await asyncio.sleep(0.01)
        client.set("3/0/14", "+09:00")
        note = await rec.next(Notification)
        assert note.token == obs.token and note.content == ResourceNode(14, "+09:00")
    finally:
        await client.stop()
        await server.stop()
        store.close()


# --- garbage to the registration interface ------------------------------------------------------


GARBAGE: list[tuple[str, int, list[str], bytes, int | None, int]] = [
    # (path, method, query, payload, content format, expected code)
    ("/rd", Code.POST, ["lt=60"], LINKS, 40, Code.BAD_REQUEST),  # no ep
    ("/rd", Code.POST, ["ep=x", "lt=abc"], LINKS, 40, Code.BAD_REQUEST),
    ("/rd", Code.POST, ["ep=x", "lt=0"], LINKS, 40, Code.BAD_REQUEST),
    ("/rd", Code.POST, ["ep=x", "lt=99999999999"], LINKS, 40, Code.BAD_REQUEST),
    ("/rd", Code.POST, ["ep=x", "ep=y"], LINKS, 40, Code.BAD_REQUEST),
    ("/rd", Code.POST, ["ep="], LINKS, 40, Code.BAD_REQUEST),
    ("/rd", Code.POST, ["ep=x", "=1"], LINKS, 40, Code.BAD_REQUEST),
    ("/rd", Code.POST, ["ep=x", "lwm2m=9.9"], LINKS, 40, Code.PRECONDITION_FAILED),
    ("/rd", Code.POST, ["ep=x", "lwm2m=one"], LINKS, 40, Code.BAD_REQUEST),
    ("/rd", Code.POST, ["ep=x", "b=XYZ"], LINKS, 40, Code.BAD_REQUEST),
    ("/rd", Code.POST, ["ep=x", "Q=1"], LINKS, 40, Code.BAD_REQUEST),
    ("/rd", Code.POST, ["ep=x"], b"", 40, Code.BAD_REQUEST),  # no object links
    ("/rd", Code.POST, ["ep=x"], b"<</3/0>", 40, Code.BAD_REQUEST),
    ("/rd", Code.POST, ["ep=x"], b"\xff\xfe\x00", 40, Code.BAD_REQUEST),
    ("/rd", Code.POST, ["ep=x"], b'{"a": 1}', 50, Code.UNSUPPORTED_CONTENT_FORMAT),
    ("/rd", Code.PUT, ["ep=x"], LINKS, 40, Code.METHOD_NOT_ALLOWED),
    ("/rd", Code.GET, [], b"", None, Code.METHOD_NOT_ALLOWED),
    ("/rd/nope", Code.POST, ["lt=60"], b"", None, Code.NOT_FOUND),
    ("/rd/nope", Code.DELETE, [], b"", None, Code.NOT_FOUND),
    ("/rd/a/b", Code.POST, [], b"", None, Code.NOT_FOUND),
]


async def test_garbage_to_registration_interface(server: Server, raw: Endpoint) -> None:
    addr = server.coap_address
    client = make_device(server)
    async with registered(server, client) as reg:
        rec = Recorder(server)
        for path, method, query, payload, cf, expected in GARBAGE:
            r = await raw.request(
                method, path, remote=addr, query=query, payload=payload, content_format=cf
            )
            assert r.code == expected, (path, method, query, payload, r)
        # Update of a real registration with bad parameters changes nothing.
        for query in (["lt=-5"], ["b=Q"], ["ep=other"], ["lt=60", "lt=70"]):
            r = await raw.post(f"/rd/{reg.id}", b"", remote=addr, query=query)
            assert r.code == Code.BAD_REQUEST, (query, r)
        r = await raw.post(f"/rd/{reg.id}", b"garbage<", remote=addr, content_format=40)
        assert r.code == Code.BAD_REQUEST
        r = await raw.request(Code.PUT, f"/rd/{reg.id}", remote=addr)
        assert r.code == Code.METHOD_NOT_ALLOWED
        # Undecodable options and datagrams.
        bad_query = Message.request(Code.POST, "/rd", options=[(15, b"ep=\xff\xfe")])
        r = await raw.request(bad_query, remote=addr)
        assert r.code == Code.BAD_REQUEST
        raw_transport = raw._transport
        for junk in (b"", b"\x00", b"\x40\x02\x00", b"\xff" * 40, os.urandom(64)):
            raw_transport.send(junk, addr)
        await asyncio.sleep(0.05)
        assert rec.events == []
        assert server.registrations() == [reg]
        assert await server.read("dev1", "/3/0/0") == ResourceNode(0, "Acme")
        # The interface still works for good requests.
        r = await raw.post("/rd", LINKS, remote=addr, query=["ep=late", "lt=60"], content_format=40)
        assert r.code == Code.CREATED and r.location_path[0] == "rd"
        r = await raw.delete("/rd/" + r.location_path[1], remote=addr)
        assert r.code == Code.DELETED
        assert [type(e) for e in rec.events] == [Registered, Deregistered]


async def test_random_requests_never_break_the_server(server: Server, raw: Endpoint) -> None:
    rng = random.Random(8)
    addr = server.coap_address
    pieces = [
        "ep=",
        "ep=r",
        "lt=",
        "lt=-1",
        "lt=1x",
        "lwm2m=1",
        "lwm2m=1.1",
        "b=",
        "b=UQ",
        "Q",
        "Q=",
    ]
    pieces += ["sms=", "x", "=", "\u00e9=\u00e9", "ep=r\x00", "lt=4294967296"]
    created = 0
    for _ in range(200):
        method = rng.choice([Code.GET, Code.POST, Code.PUT, Code.DELETE, Code.FETCH])
        path = rng.choice(["/rd", "/rd/x", "/rd//", "/dp", "/rd/" + "a" * 300, "/bs"])
        query = rng.sample(pieces, rng.randint(0, 4))
        payload = rng.choice([b"", LINKS, b"</3/0>,<", rng.randbytes(rng.randint(1, 40))])
        cf = rng.choice([None, 0, 40, 110, 112, 65535])
        r = await raw.request(
            method, path, remote=addr, query=query, payload=payload, content_format=cf
        )
        assert r.code >> 5 in (2, 4), (method, path, query, payload, cf, r)
        created += r.code == Code.CREATED
    assert len(server.registrations()) <= created
    client = make_device(server)
    async with registered(server, client):
        assert await server.read("dev1", "/3/0/0") == ResourceNode(0, "Acme")


async def test_not_started() -> None:
    server = make_server()
    with pytest.raises(RuntimeError):
        server.coap_address  # noqa: B018
    with pytest.raises(RuntimeError):
        await server.read("dev1", "/3/0/0")
    await server.stop()  # stopping a server that never started is harmless


async def test_dtls_identity_hook_binds_endpoints(raw: Endpoint) -> None:
    identities: list[tuple[str, int]] = []

    def identity_of(remote: tuple[str, int]) -> str | None:
        identities.append(remote)
        return "psk-1"

    binding = IdentityBinding({"psk-1": "dev1"})
    async with make_server(identity_of=identity_of, authorize=binding) as server:
        addr = server.coap_address
        r = await raw.post("/rd", LINKS, remote=addr, query=["ep=other"], content_format=40)
        assert r.code == Code.FORBIDDEN and server.registrations() == []
        r = await raw.post("/rd", LINKS, remote=addr, query=["ep=dev1"], content_format=40)
        assert r.code == Code.CREATED
        reg = server.get_registration("dev1")
        assert reg is not None and reg.identity == "psk-1"
        assert identities and all(a == raw.local_address for a in identities)

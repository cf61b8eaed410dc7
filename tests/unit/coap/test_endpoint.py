"""Endpoint over real UDP loopback: both roles, errors, separate responses, loss."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from lwm2m.coap.endpoint import Endpoint, EndpointHooks
from lwm2m.coap.errors import EndpointClosed, RequestTimeout, ResetReceived, TransportError
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat, Type
from lwm2m.coap.observe import ServerObservation
from lwm2m.errors import DecodeError
from lwm2m.transport.base import Address


async def echo_path(request: Message, remote: Address) -> Message:
    return Message.response_to(
        request,
        Code.CONTENT,
        "/".join(request.uri_path).encode(),
        content_format=ContentFormat.TEXT_PLAIN,
    )


MakeEndpoint = Callable[..., Awaitable[Endpoint]]
Factory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def pair(make_endpoint: MakeEndpoint) -> AsyncIterator[tuple[Endpoint, Endpoint]]:
    yield await make_endpoint(), await make_endpoint()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_get_round_trip_ipv4_and_ipv6(host: str, make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint(host)
    client = await make_endpoint(host)
    server.add_resource("/3", echo_path)
    assert server.local_address[0] == host and server.local_address[1] > 0
    resp = await client.get("/3/0/1", remote=server.local_address, timeout=5)
    assert resp.code is Code.CONTENT
    assert resp.payload == b"3/0/1"
    assert resp.content_format == ContentFormat.TEXT_PLAIN
    assert resp.type is Type.ACK


async def test_both_roles_on_one_socket(pair: tuple[Endpoint, Endpoint]) -> None:
    a, b = pair
    seen: list[Address] = []

    async def register(request: Message, remote: Address) -> Message:
        seen.append(remote)
        return Message(code=Code.CREATED)

    a.add_resource("/rd", register)
    b.add_resource("/3", echo_path)
    resp = await b.post("/rd", b"</3/0>", remote=a.local_address)
    assert resp.code is Code.CREATED
    # the "server" now sends a request back to the address the "client" used
    back = await a.get("/3/0", remote=seen[0])
    assert back.payload == b"3/0"
    assert seen[0] == b.local_address


async def test_routing_fallback_and_not_found(pair: tuple[Endpoint, Endpoint]) -> None:
    server, client = pair

    def specific(request: Message, remote: Address) -> Message:  # plain function works too
        return Message(code=Code.CONTENT, payload=b"specific")

    server.add_resource("/a", echo_path)
    server.add_resource("/a/b", specific)
    addr = server.local_address
    assert (await client.get("/a/b/c", remote=addr)).payload == b"specific"
    assert (await client.get("/a/x", remote=addr)).payload == b"a/x"
    assert (await client.get("/zzz", remote=addr)).code is Code.NOT_FOUND
    server.set_fallback_handler(echo_path)
    assert (await client.get("/zzz", remote=addr)).payload == b"zzz"
    server.remove_resource("/a/b")
    assert (await client.get("/a/b/c", remote=addr)).payload == b"a/b/c"


async def test_query_and_request_message(pair: tuple[Endpoint, Endpoint]) -> None:
    server, client = pair

    async def handler(request: Message, remote: Address) -> Message:
        return Message(code=Code.CHANGED, payload="&".join(request.uri_query).encode())

    server.add_resource("/rd", handler)
    resp = await client.post("/rd", remote=server.local_address, query="ep=dev1&lt=60")
    assert resp.code is Code.CHANGED and resp.payload == b"ep=dev1&lt=60"
    built = Message.request(Code.PUT, "/rd", query=["b=1"], token=b"\x01\x02")
    resp = await client.request(built, remote=server.local_address)
    assert resp.payload == b"b=1" and resp.token == b"\x01\x02"


async def test_handler_exception_becomes_500(
    pair: tuple[Endpoint, Endpoint], caplog: pytest.LogCaptureFixture
) -> None:
    server, client = pair

    async def broken(request: Message, remote: Address) -> Message:
        raise RuntimeError("boom")

    async def bad_input(request: Message, remote: Address) -> Message:
        raise DecodeError("bad TLV", 3)

    async def wrong_type(request: Message, remote: Address) -> Message:
        return "not a message"  # type: ignore[return-value]

    server.add_resource("/broken", broken)
    server.add_resource("/bad", bad_input)
    server.add_resource("/wrong", wrong_type)
    addr = server.local_address
    with caplog.at_level(logging.ERROR, logger="lwm2m.coap"):
        resp = await client.get("/broken", remote=addr)
    assert resp.code is Code.INTERNAL_SERVER_ERROR
    assert any("boom" in (r.exc_text or "") or r.exc_info for r in caplog.records)
    resp = await client.get("/bad", remote=addr)
    assert resp.code is Code.BAD_REQUEST and b"bad TLV" in resp.payload
    assert (await client.get("/wrong", remote=addr)).code is Code.INTERNAL_SERVER_ERROR
    # the server is still fine
    server.add_resource("/ok", echo_path)
    assert (await client.get("/ok", remote=addr)).code is Code.CONTENT


async def test_slow_handler_gets_separate_response(make_wrapped: Factory, poll: Factory) -> None:
    server, server_t = await make_wrapped()
    client, client_t = await make_wrapped()

    async def slow(request: Message, remote: Address) -> Message:
        await asyncio.sleep(0.15)
        return Message(code=Code.CONTENT, payload=b"finally")

    server.add_resource("/slow", slow)
    resp = await client.get("/slow", remote=server.local_address, timeout=5)
    assert resp.payload == b"finally"
    assert resp.type is Type.CON  # separate response
    kinds = [(m.type, m.code) for m, _ in server_t.sent]
    assert (Type.ACK, Code.EMPTY) in kinds
    assert kinds[-1] == (Type.CON, Code.CONTENT)
    # the client acknowledged the separate response, so the server never resends it
    await poll(lambda: any(m.type is Type.ACK for m, _ in client_t.sent))
    await asyncio.sleep(0.3)  # several ACK timeouts
    assert sum(m.type is Type.CON for m, _ in server_t.sent) == 1


async def test_non_request(pair: tuple[Endpoint, Endpoint]) -> None:
    server, client = pair
    server.add_resource("/x", echo_path)
    resp = await client.get("/x", remote=server.local_address, confirmable=False)
    assert resp.type is Type.NON and resp.payload == b"x"


async def test_request_timeout_without_peer(
    make_endpoint: MakeEndpoint, make_raw_peer: Factory
) -> None:
    silent = await make_raw_peer()
    client = await make_endpoint(params=TransmissionParams(ack_timeout=0.01, max_retransmit=2))
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(RequestTimeout):
        await client.get("/x", remote=silent.address)
    assert loop.time() - start < 2.0
    received = [silent.queue.get_nowait()[0] for _ in range(silent.queue.qsize())]
    assert len(received) == 3  # first transmission + MAX_RETRANSMIT
    assert len(set(received)) == 1
    with pytest.raises(RequestTimeout):
        await client.get("/x", remote=silent.address, timeout=0.001)
    assert client.layer.pending_exchanges == 0


async def test_rst_answer_raises_reset_received(
    make_endpoint: MakeEndpoint, make_raw_peer: Factory
) -> None:
    peer = await make_raw_peer()
    peer.reply = lambda data: Message(Type.RST, Code.EMPTY, Message.decode(data).mid).encode()
    client = await make_endpoint()
    with pytest.raises(ResetReceived):
        await client.get("/x", remote=peer.address, timeout=5)


async def test_close_fails_pending_requests(
    make_endpoint: MakeEndpoint, make_raw_peer: Factory
) -> None:
    silent = await make_raw_peer()
    client = await make_endpoint()
    task = asyncio.create_task(client.get("/x", remote=silent.address))
    await silent.next()
    await client.close()
    with pytest.raises(EndpointClosed):
        await task
    with pytest.raises(EndpointClosed):
        await client.get("/x", remote=silent.address)
    assert client.closed


async def test_cancelled_request_stops_retransmitting(
    make_endpoint: MakeEndpoint, make_raw_peer: Factory
) -> None:
    silent = await make_raw_peer()
    client = await make_endpoint(params=TransmissionParams(ack_timeout=0.02))
    task = asyncio.create_task(client.get("/x", remote=silent.address))
    await silent.next()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.layer.pending_exchanges == 0
    await asyncio.sleep(0.1)
    assert silent.queue.qsize() == 0


async def test_hostname_is_resolved(pair: tuple[Endpoint, Endpoint]) -> None:
    server, client = pair
    server.add_resource("/", echo_path)
    resp = await client.get("/h", remote=("localhost", server.local_address[1]), timeout=5)
    assert resp.payload == b"h"


async def test_many_concurrent_requests_respect_nstart(make_wrapped: Factory) -> None:
    server, _ = await make_wrapped()
    client, client_t = await make_wrapped()
    server.add_resource("/", echo_path)
    in_flight = 0
    peak = 0

    async def one(i: int) -> bytes:
        return (await client.get(f"/n/{i}", remote=server.local_address, timeout=10)).payload

    original = client_t.send

    def counting_send(data: bytes, remote: Address) -> None:
        nonlocal in_flight, peak
        if Message.decode(data).type is Type.CON:
            in_flight = client.layer._outstanding.get(remote, 0)
            peak = max(peak, in_flight)
        original(data, remote)

    client_t.send = counting_send  # type: ignore[method-assign]
    results = await asyncio.gather(*(one(i) for i in range(40)))
    assert results == [f"n/{i}".encode() for i in range(40)]
    assert client.layer.pending_exchanges == 0
    assert peak == 1  # NSTART = 1: never two requests outstanding to the server


async def test_ping_gets_rst(pair: tuple[Endpoint, Endpoint], make_raw_peer: Factory) -> None:
    server, _ = pair
    peer = await make_raw_peer()
    peer.send(Message(Type.CON, Code.EMPTY, 4711).encode(), server.local_address)
    data, _ = await peer.next()
    rst = Message.decode(data)
    assert rst.type is Type.RST and rst.mid == 4711


async def test_duplicate_request_answered_from_cache(
    pair: tuple[Endpoint, Endpoint], make_raw_peer: Factory
) -> None:
    server, _ = pair
    calls = []

    async def counting(request: Message, remote: Address) -> Message:
        calls.append(1)
        return Message(code=Code.CONTENT, payload=b"%d" % len(calls))

    server.add_resource("/c", counting)
    peer = await make_raw_peer()
    req = Message.request(Code.GET, "/c", token=b"tt")
    req.mid = 999
    for _ in range(3):
        peer.send(req.encode(), server.local_address)
    answers = [(await peer.next())[0] for _ in range(3)]
    assert len(set(answers)) == 1
    assert Message.decode(answers[0]).payload == b"1"
    assert calls == [1]


@pytest.mark.parametrize("seed", [1, 2])
async def test_lossy_loopback_gets_complete(seed: int, make_wrapped: Factory) -> None:
    params = TransmissionParams(ack_timeout=0.03, max_retransmit=8, empty_ack_delay=0.02)
    server, server_t = await make_wrapped(seed=seed, params=params)
    client, client_t = await make_wrapped(seed=seed + 100, params=params)
    calls: list[bytes] = []

    async def handler(request: Message, remote: Address) -> Message:
        calls.append(request.token)
        return await echo_path(request, remote)

    server.add_resource("/", handler)
    for t in (server_t, client_t):
        t.drop_out = 0.3
        t.dup_out = 0.2
    results = []
    for i in range(15):
        resp = await client.get(f"/l/{i}", remote=server.local_address, timeout=20)
        results.append(resp.payload)
    assert results == [f"l/{i}".encode() for i in range(15)]
    assert server_t.dropped + client_t.dropped > 0
    # duplicates were answered from the cache: each request handled exactly once
    assert len(calls) == len(set(calls)) == 15


async def test_transport_error_fails_request(make_endpoint: MakeEndpoint) -> None:
    client = await make_endpoint("127.0.0.1")
    errors: list[OSError] = []
    client.add_error_listener(lambda exc, remote: errors.append(exc))
    # an IPv6 destination on an IPv4 socket makes sendto fail synchronously
    with pytest.raises(TransportError):
        await client.get("/x", remote=("::1", 5683), timeout=2)
    assert errors


async def test_suspending_and_sync_handlers_that_fail(pair: tuple[Endpoint, Endpoint]) -> None:
    server, client = pair

    async def fails_later(request: Message, remote: Address) -> Message:
        await asyncio.sleep(0)
        raise ValueError("late failure")

    async def catches_inside(request: Message, remote: Address) -> Message:
        try:
            await asyncio.wait_for(asyncio.sleep(10), 0.01)
        except TimeoutError:
            return Message(code=Code.CONTENT, payload=b"recovered")
        return Message(code=Code.CONTENT)

    def sync_fails(request: Message, remote: Address) -> Message:
        raise KeyError("sync")

    server.add_resource("/late", fails_later)
    server.add_resource("/inside", catches_inside)
    server.add_resource("/sync", sync_fails)
    addr = server.local_address
    assert (await client.get("/late", remote=addr)).code is Code.INTERNAL_SERVER_ERROR
    assert (await client.get("/inside", remote=addr)).payload == b"recovered"
    assert (await client.get("/sync", remote=addr)).code is Code.INTERNAL_SERVER_ERROR


async def test_close_cancels_running_handlers(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint()
    client = await make_endpoint()
    started = asyncio.Event()
    cancelled = []

    async def forever(request: Message, remote: Address) -> Message:
        started.set()
        try:
            await asyncio.sleep(100)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return Message(code=Code.CONTENT)

    server.add_resource("/f", forever)
    task = asyncio.create_task(client.get("/f", remote=server.local_address))
    await started.wait()
    await server.close()
    assert cancelled == [True]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_dual_stack_endpoint_with_ipv4_peer(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint("::")
    client = await make_endpoint("127.0.0.1")
    server.add_resource("/", echo_path)
    resp = await client.get("/v4", remote=("127.0.0.1", server.local_address[1]), timeout=5)
    assert resp.payload == b"v4"
    # and the other way round: the IPv6 socket reaches an IPv4 peer via a mapped address
    client.add_resource("/", echo_path)
    back = await server.get("/back", remote=client.local_address, timeout=5)
    assert back.payload == b"back"


class RecordingHooks(EndpointHooks):
    """Hooks writing down what they are told; requests to /quiet are not followed."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen: list[tuple[object, ...]] = []

    def request_started(self, endpoint: Endpoint, request: Message) -> object:
        if request.uri_path == ("quiet",):
            return None
        self.seen.append(("started", endpoint, request.path_string))
        return request.path_string

    def request_ended(
        self,
        endpoint: Endpoint,
        state: object,
        response: Message | None,
        error: BaseException | None,
    ) -> None:
        code = None if response is None else response.code
        self.seen.append(("ended", endpoint, state, code, type(error).__name__ if error else None))

    def notification_pushed(
        self, endpoint: Endpoint, observation: ServerObservation, response: Message
    ) -> None:
        self.seen.append(("pushed", endpoint, response.payload))

    def observation_changed(
        self, endpoint: Endpoint, observation: ServerObservation, active: bool
    ) -> None:
        self.seen.append(("observation", endpoint, active))


async def test_hooks_see_requests_notifications_and_observations(
    pair: tuple[Endpoint, Endpoint],
) -> None:
    server, client = pair
    hooks = RecordingHooks()
    client.hooks = server.hooks = hooks  # one object serves any number of endpoints
    server.add_resource("/x", echo_path)

    async def never(request: Message, remote: Address) -> Message:
        await asyncio.sleep(10)
        return Message(code=Code.CONTENT)

    server.add_resource("/slow", never)
    server.add_resource(
        "/obs", lambda request, remote: Message.response_to(request, Code.CONTENT, b"0", observe=0)
    )
    assert (await client.get("/x", remote=server.local_address)).code is Code.CONTENT
    assert (await client.get("/quiet", remote=server.local_address)).code is Code.NOT_FOUND
    with pytest.raises(RequestTimeout):
        await client.request(Code.GET, "/slow", remote=server.local_address, timeout=0.2)
    obs = await client.observe("/obs", remote=server.local_address, timeout=5)
    [observation] = server.observations()
    server.push_notification(observation, Message(code=Code.CONTENT, payload=b"1"))
    await obs.cancel()
    assert hooks.seen == [
        ("started", client, "/x"),
        ("ended", client, "/x", Code.CONTENT, None),
        ("started", client, "/slow"),
        ("ended", client, "/slow", None, "RequestTimeout"),
        ("observation", server, True),
        ("pushed", server, b"1"),
        # the cancelling GET goes around request(): not seen
        ("observation", server, False),
    ]


async def test_an_endpoint_makes_its_containers_on_first_use(
    pair: tuple[Endpoint, Endpoint], poll: Factory
) -> None:
    """Thousands of endpoints in one process: no __dict__, nothing made before it is needed."""
    server, client = pair
    for ep in pair:
        assert not hasattr(ep, "__dict__")
        assert len(ep._tasks) == 0 and ep._tasks._tasks is None  # a TaskSet holding no set
        assert ep._resources is None and ep._streams is None
        assert ep._block1 is ep._block2_cache is ep._registry is ep._warning_gate is None
    release = asyncio.Event()

    async def slow(request: Message, remote: Address) -> Message:
        await release.wait()
        return Message(code=Code.CHANGED, payload=bytes(3000))

    server.add_resource("/slow", slow)
    answer = asyncio.ensure_future(
        client.post("/slow", bytes(3000), remote=server.local_address, timeout=5)
    )
    await poll(lambda: len(server._tasks) == 1)  # the suspended handler runs in a Task
    release.set()
    response = await answer
    assert response.code is Code.CHANGED and len(response.payload) == 3000
    assert server._tasks._tasks is None  # the last task is done: no empty set is kept
    assert server._block1 is not None and server._block2_cache is not None
    assert client._block1 is None and client._registry is None
    assert client._resolved_from == server.local_address and client._addr_cache is None
    assert server.held() == {
        "block1": 0,
        "block1_bytes": 0,
        "block2": 1,
        "pending": 0,
        "separate": 0,
        "observations": 0,
    }

"""Bootstrap server sequencing against a fake client that records every request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from lwm2m import formats
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.model import InstanceNode, ObjectNode, Path, ResourceNode
from lwm2m.server.bootstrap import (
    BootstrapDiscovered,
    BootstrapEvent,
    BootstrapFailed,
    BootstrapFinished,
    BootstrapReadDone,
    BootstrapRejected,
    BootstrapServer,
    BootstrapStarted,
    bootstrap_accounts,
    choose_write_format,
    parse_bootstrap_discover,
)
from lwm2m.server.bootstrap_config import (
    BootstrapConfig,
    BootstrapPsk,
    ConfigError,
    EndpointConfig,
    SecurityConfig,
    ServerConfig,
)
from lwm2m.transport.base import Address

FAST = TransmissionParams(ack_timeout=0.1, ack_random_factor=1.0, max_retransmit=1)
DISCOVER = b'lwm2m="1.1",</0/0>,</0/1>;ssid=101,</1/0>;ssid=101,</3/0>'
SERVER_1_0 = InstanceNode(0, {0: ResourceNode(0, 101), 1: ResourceNode(1, 86400)})

Answer = Callable[[Message], Message]


@dataclass
class FakeClient:
    """A client-side endpoint: records what the bootstrap server sends, answers by script."""

    endpoint: Endpoint
    requests: list[Message] = field(default_factory=list)
    answers: dict[tuple[int, str], Answer] = field(default_factory=dict)
    block: asyncio.Event | None = None

    def seen(self) -> list[str]:
        return [f"{Code(r.code).name} {r.path_string}" for r in self.requests]

    async def handle(self, request: Message, remote: Address) -> Message:
        self.requests.append(request)
        if self.block is not None:
            await self.block.wait()
        answer = self.answers.get((request.code, request.path_string))
        if answer is not None:
            return answer(request)
        if request.code == Code.DELETE:
            return Message.response_to(request, Code.DELETED)
        if request.code == Code.GET and request.accept == ContentFormat.LINK_FORMAT:
            return Message.response_to(
                request, Code.CONTENT, DISCOVER, content_format=ContentFormat.LINK_FORMAT
            )
        if request.code == Code.GET:
            payload = formats.encode(ContentFormat.LWM2M_TLV, ObjectNode(1, {0: SERVER_1_0}), "/1")
            return Message.response_to(
                request, Code.CONTENT, payload, content_format=ContentFormat.LWM2M_TLV
            )
        return Message.response_to(request, Code.CHANGED)

    async def bootstrap_request(self, server: Address, query: str) -> Message:
        return await self.endpoint.post("/bs", remote=server, query=query, timeout=5)


def _answer(code: int, payload: bytes = b"") -> Answer:
    return lambda req: Message.response_to(req, code, payload)


def account(port: int = 5683, ssid: int = 101, **kw: object) -> EndpointConfig:
    return EndpointConfig(
        security=[SecurityConfig(f"coap://127.0.0.1:{port}", short_server_id=ssid)],
        servers=[ServerConfig(ssid, lifetime=60)],
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeClient]:
    endpoint = await Endpoint.create_udp("127.0.0.1", 0, params=FAST)
    client = FakeClient(endpoint)
    endpoint.set_fallback_handler(client.handle)
    yield client
    if client.block is not None:
        client.block.set()
    await endpoint.close()


@pytest.fixture
async def server() -> AsyncIterator[BootstrapServer]:
    bs = BootstrapServer(transmission=FAST, request_timeout=2.0)
    await bs.start("127.0.0.1", coap_port=0)
    yield bs
    await bs.close()


def record(bs: BootstrapServer) -> list[BootstrapEvent]:
    events: list[BootstrapEvent] = []
    bs.on_event(events.append)
    return events


async def run(
    bs: BootstrapServer, fake: FakeClient, query: str = "ep=dev1"
) -> tuple[Message, BootstrapEvent]:
    done = bs.wait_for(BootstrapFinished, BootstrapFailed, timeout=10)
    response = await fake.bootstrap_request(bs.addresses[0], query)
    assert response.code == Code.CHANGED
    return response, await done


# ------------------------------------------------------------------ sequencing


async def test_full_sequence_in_order(server: BootstrapServer, fake: FakeClient) -> None:
    server.set_endpoint("dev1", account(read=["/1"], discover="/"))
    events = record(server)
    _, final = await run(server, fake)
    assert isinstance(final, BootstrapFinished)
    assert fake.seen() == [
        "GET /",
        "GET /1",
        "DELETE /",
        "PUT /0/1",
        "PUT /1/0",
        "POST /bs",
    ]
    assert [type(e) for e in events] == [
        BootstrapStarted,
        BootstrapDiscovered,
        BootstrapReadDone,
        BootstrapFinished,
    ]
    discovered = events[1]
    assert isinstance(discovered, BootstrapDiscovered)
    assert discovered.lwm2m_version == "1.1"
    assert [link.target for link in discovered.links][:2] == ["/0/0", "/0/1"]
    read = events[2]
    assert isinstance(read, BootstrapReadDone)
    assert isinstance(read.value, ObjectNode) and read.value.instances[0] == SERVER_1_0
    assert final.written == ("/0/1", "/1/0")
    assert final.reads["/1"] == read.value
    # discover said 1.1: SenML CBOR; the writes decode to what was configured
    assert final.content_format == ContentFormat.SENML_CBOR
    put_security = fake.requests[3]
    assert put_security.content_format == ContentFormat.SENML_CBOR
    node = formats.decode(ContentFormat.SENML_CBOR, put_security.payload, "/0/1")
    assert isinstance(node, InstanceNode)
    values = {rid: r.value for rid, r in node.resources.items() if isinstance(r, ResourceNode)}
    assert values[0] == "coap://127.0.0.1:5683" and values[1] is False and values[10] == 101
    assert fake.requests[0].accept == ContentFormat.LINK_FORMAT


async def test_plain_sequence_writes_tlv(server: BootstrapServer, fake: FakeClient) -> None:
    server.set_endpoint("dev1", account())
    _, final = await run(server, fake)
    assert fake.seen() == ["DELETE /", "PUT /0/1", "PUT /1/0", "POST /bs"]
    assert isinstance(final, BootstrapFinished)
    put_server = fake.requests[2]
    assert put_server.content_format == ContentFormat.LWM2M_TLV
    node = formats.decode(ContentFormat.LWM2M_TLV, put_server.payload, "/1/0")
    assert isinstance(node, InstanceNode)
    lifetime = node.resources[1]
    assert isinstance(lifetime, ResourceNode) and lifetime.value == 60


async def test_pct_selects_the_write_format(server: BootstrapServer, fake: FakeClient) -> None:
    server.set_endpoint("dev1", account(delete=[]))
    _, final = await run(server, fake, f"ep=dev1&pct={int(ContentFormat.SENML_JSON)}")
    assert isinstance(final, BootstrapFinished)
    assert {r.content_format for r in fake.requests if r.code == Code.PUT} == {
        ContentFormat.SENML_JSON
    }
    assert fake.seen()[0] == "PUT /0/1"


async def test_discovered_bootstrap_account_is_not_overwritten(
    server: BootstrapServer, fake: FakeClient
) -> None:
    fake.answers[(Code.GET, "/")] = lambda req: Message.response_to(
        req, Code.CONTENT, b'lwm2m="1.0",</0/1>,</0/2>;ssid=5', content_format=40
    )
    server.set_endpoint("dev1", account(discover="/"))
    _, final = await run(server, fake)
    assert isinstance(final, BootstrapFinished)
    assert final.written == ("/0/2", "/1/0")  # /0/1 is the Bootstrap-Server account
    assert final.content_format == ContentFormat.LWM2M_TLV  # a 1.0 client


async def test_delete_answered_not_found_is_fine(server: BootstrapServer, fake: FakeClient) -> None:
    fake.answers[(Code.DELETE, "/5")] = _answer(Code.NOT_FOUND)
    server.set_endpoint("dev1", account(delete=["/5", "/0/3"]))
    _, final = await run(server, fake)
    assert isinstance(final, BootstrapFinished)
    assert fake.seen()[:2] == ["DELETE /5", "DELETE /0/3"]


@pytest.mark.parametrize(
    ("key", "code", "step"),
    [
        ((Code.PUT, "/1/0"), Code.BAD_REQUEST, "Bootstrap-Write /1/0"),
        ((Code.DELETE, "/"), Code.UNAUTHORIZED, "Bootstrap-Delete /"),
        ((Code.GET, "/"), Code.METHOD_NOT_ALLOWED, "Bootstrap-Discover /"),
        ((Code.POST, "/bs"), Code.NOT_ACCEPTABLE, "Bootstrap-Finish"),
        ((Code.POST, "/bs"), Code.INTERNAL_SERVER_ERROR, "Bootstrap-Finish"),
    ],
)
async def test_failed_step_ends_the_session(
    server: BootstrapServer,
    fake: FakeClient,
    key: tuple[int, str],
    code: int,
    step: str,
) -> None:
    fake.answers[key] = _answer(code, b"because")
    server.set_endpoint("dev1", account(discover="/"))
    _, final = await run(server, fake)
    assert isinstance(final, BootstrapFailed)
    assert final.step == step and final.code == code
    assert "because" in final.reason
    assert fake.seen()[-1] == f"{Code(key[0]).name} {key[1]}"  # nothing after the failure
    assert server.active_sessions == []


async def test_finish_refused_names_inconsistency(
    server: BootstrapServer, fake: FakeClient
) -> None:
    fake.answers[(Code.POST, "/bs")] = _answer(Code.NOT_ACCEPTABLE)
    server.set_endpoint("dev1", account())
    _, final = await run(server, fake)
    assert isinstance(final, BootstrapFailed)
    assert "inconsistent" in final.reason and "4.06" in final.reason


async def test_garbage_discover_answer_fails(server: BootstrapServer, fake: FakeClient) -> None:
    fake.answers[(Code.GET, "/")] = lambda req: Message.response_to(
        req, Code.CONTENT, b"<</0/0>;;", content_format=40
    )
    server.set_endpoint("dev1", account(discover="/"))
    _, final = await run(server, fake)
    assert isinstance(final, BootstrapFailed)
    assert final.step == "Bootstrap-Discover /" and "DecodeError" in final.reason


async def test_garbage_read_answer_fails(server: BootstrapServer, fake: FakeClient) -> None:
    fake.answers[(Code.GET, "/1")] = lambda req: Message.response_to(
        req, Code.CONTENT, b"\xff\x00\x12", content_format=ContentFormat.LWM2M_TLV
    )
    server.set_endpoint("dev1", account(read=["/1"]))
    _, final = await run(server, fake)
    assert isinstance(final, BootstrapFailed)
    assert final.step == "Bootstrap-Read /1"


async def test_no_answer_fails_with_timeout(fake: FakeClient) -> None:
    bs = BootstrapServer(transmission=FAST, request_timeout=0.3)
    await bs.start("127.0.0.1", coap_port=0)
    try:
        bs.set_endpoint("dev1", account())
        fake.block = asyncio.Event()  # the fake never answers
        _, final = await run(bs, fake)
        assert isinstance(final, BootstrapFailed)
        assert final.step == "Bootstrap-Delete /" and "no answer" in final.reason
    finally:
        await bs.close()


async def test_new_request_replaces_the_session(server: BootstrapServer, fake: FakeClient) -> None:
    server.set_endpoint("dev1", account())
    fake.block = asyncio.Event()
    events = record(server)
    first = await fake.bootstrap_request(server.addresses[0], "ep=dev1")
    assert first.code == Code.CHANGED
    while not fake.requests:
        await asyncio.sleep(0.01)
    finished = server.wait_for(BootstrapFinished, timeout=10)
    second = await fake.bootstrap_request(server.addresses[0], "ep=dev1")
    assert second.code == Code.CHANGED
    fake.block.set()
    fake.block = None
    assert isinstance(await finished, BootstrapFinished)
    failed = [e for e in events if isinstance(e, BootstrapFailed)]
    assert len(failed) == 1 and "replaced" in failed[0].reason


async def test_close_ends_running_sessions(fake: FakeClient) -> None:
    bs = BootstrapServer(transmission=FAST)
    await bs.start("127.0.0.1", coap_port=0)
    bs.set_endpoint("dev1", account())
    events = record(bs)
    fake.block = asyncio.Event()
    await fake.bootstrap_request(bs.addresses[0], "ep=dev1")
    while not fake.requests:
        await asyncio.sleep(0.01)
    await bs.close()
    failed = [e for e in events if isinstance(e, BootstrapFailed)]
    assert len(failed) == 1 and failed[0].reason == "bootstrap server stopped"
    assert bs.active_sessions == []


async def test_server_initiated_bootstrap(server: BootstrapServer, fake: FakeClient) -> None:
    server.set_endpoint("dev1", account())
    events = record(server)
    final = await server.bootstrap("dev1", fake.endpoint.local_address)
    assert isinstance(final, BootstrapFinished)
    assert fake.seen() == ["DELETE /", "PUT /0/1", "PUT /1/0", "POST /bs"]
    started = events[0]
    assert isinstance(started, BootstrapStarted) and started.server_initiated
    with pytest.raises(KeyError):
        await server.bootstrap("nobody", fake.endpoint.local_address)


async def test_server_initiated_bootstrap_replaced_returns_failure(
    server: BootstrapServer, fake: FakeClient
) -> None:
    server.set_endpoint("dev1", account())
    fake.block = asyncio.Event()
    running = asyncio.ensure_future(server.bootstrap("dev1", fake.endpoint.local_address))
    while not fake.requests:
        await asyncio.sleep(0.01)
    response = await fake.bootstrap_request(server.addresses[0], "ep=dev1")
    assert response.code == Code.CHANGED
    result = await asyncio.wait_for(running, 5)
    assert isinstance(result, BootstrapFailed) and "replaced" in result.reason


async def test_events_iterator_and_async_callback(
    server: BootstrapServer, fake: FakeClient
) -> None:
    server.set_endpoint("dev1", account())
    seen_async: list[str] = []

    async def callback(event: BootstrapEvent) -> None:
        seen_async.append(type(event).__name__)

    server.on_event(callback)
    got: list[BootstrapEvent] = []

    async def consume() -> None:
        async for event in server.events():
            got.append(event)
            if isinstance(event, BootstrapFinished | BootstrapFailed):
                return

    consumer = asyncio.ensure_future(consume())
    await asyncio.sleep(0)  # the iterator registers on its first step
    await fake.bootstrap_request(server.addresses[0], "ep=dev1")
    await asyncio.wait_for(consumer, 10)
    assert [type(e) for e in got] == [BootstrapStarted, BootstrapFinished]
    await asyncio.sleep(0.01)
    assert seen_async == ["BootstrapStarted", "BootstrapFinished"]


# ----------------------------------------------------------- Bootstrap-Request


@pytest.mark.parametrize(
    ("query", "code", "words"),
    [
        ("pct=112", Code.BAD_REQUEST, "ep="),
        ("ep=", Code.BAD_REQUEST, "ep="),
        ("ep=dev1&pct=abc", Code.BAD_REQUEST, "pct"),
        ("ep=dev1&pct=99999999", Code.BAD_REQUEST, "pct"),
        ("ep=stranger", Code.BAD_REQUEST, "stranger"),
    ],
)
async def test_bad_requests_are_refused(
    server: BootstrapServer, fake: FakeClient, query: str, code: int, words: str
) -> None:
    server.set_endpoint("dev1", account())
    events = record(server)
    response = await fake.bootstrap_request(server.addresses[0], query)
    assert response.code == code
    assert words in response.payload.decode()
    assert isinstance(events[0], BootstrapRejected) and events[0].code == code
    assert server.active_sessions == []
    await asyncio.sleep(0.05)
    assert fake.requests == []


async def test_unknown_endpoint_not_found_when_configured(fake: FakeClient) -> None:
    bs = BootstrapServer(BootstrapConfig(unknown_endpoint_code=Code.NOT_FOUND), transmission=FAST)
    await bs.start("127.0.0.1", coap_port=0)
    try:
        response = await fake.bootstrap_request(bs.addresses[0], "ep=who")
        assert response.code == Code.NOT_FOUND
    finally:
        await bs.close()


async def test_unknown_endpoint_uses_the_default(fake: FakeClient) -> None:
    bs = BootstrapServer(BootstrapConfig(default=account(delete=[])), transmission=FAST)
    await bs.start("127.0.0.1", coap_port=0)
    try:
        _, final = await run(bs, fake, "ep=anyone")
        assert isinstance(final, BootstrapFinished) and final.endpoint == "anyone"
    finally:
        await bs.close()


async def test_other_methods_and_paths(server: BootstrapServer, fake: FakeClient) -> None:
    remote = server.addresses[0]
    assert (await fake.endpoint.get("/bs", remote=remote)).code == Code.METHOD_NOT_ALLOWED
    assert (await fake.endpoint.post("/bs/x", remote=remote)).code == Code.NOT_FOUND
    assert (await fake.endpoint.post("/rd", remote=remote)).code == Code.NOT_FOUND


async def test_identity_checks(fake: FakeClient) -> None:
    identities: dict[Address, bytes] = {}
    bs = BootstrapServer(transmission=FAST)
    listener = await Endpoint.create_udp("127.0.0.1", 0, params=FAST)
    bs.attach(listener, identity_of=identities.get)
    try:
        bs.set_endpoint("dev1", account(bootstrap_psk=BootstrapPsk(b"id-1", b"k1")))
        bs.set_endpoint("dev2", account(bootstrap_psk=BootstrapPsk(b"id-2", b"k2")))
        bs.set_endpoint("open", account())
        remote = listener.local_address
        # no identity at all: dev1 needs its PSK
        response = await fake.bootstrap_request(remote, "ep=dev1")
        assert response.code == Code.FORBIDDEN
        # dev2's identity claims dev1, or an open endpoint
        identities[fake.endpoint.local_address] = b"id-2"
        assert (await fake.bootstrap_request(remote, "ep=dev1")).code == Code.FORBIDDEN
        assert (await fake.bootstrap_request(remote, "ep=open")).code == Code.FORBIDDEN
        done = bs.wait_for(BootstrapFinished, BootstrapFailed, timeout=10)
        assert (await fake.bootstrap_request(remote, "ep=dev2")).code == Code.CHANGED
        assert isinstance(await done, BootstrapFinished)
    finally:
        await bs.close()
        assert not listener.closed  # attached endpoints belong to the caller
        await listener.close()


async def test_set_endpoint_checks_unless_told_not_to(server: BootstrapServer) -> None:
    bad = EndpointConfig(security=[SecurityConfig("coap://h", short_server_id=1)])
    with pytest.raises(ConfigError, match=r"endpoints\.x\.security\[0\]\.short_server_id"):
        server.set_endpoint("x", bad)
    server.set_endpoint("x", bad, check=False)
    assert server.config.lookup("x") is bad
    server.remove_endpoint("x")
    assert server.config.lookup("x") is None


# ------------------------------------------------------------------ pure helpers


def test_parse_bootstrap_discover() -> None:
    version, links = parse_bootstrap_discover(DISCOVER)
    assert version == "1.1"
    assert [link.target for link in links] == ["/0/0", "/0/1", "/1/0", "/3/0"]
    assert links[1].params == {"ssid": "101"}
    assert bootstrap_accounts(links) == {0}
    assert parse_bootstrap_discover(b"</0/0>,</1>")[0] is None
    assert parse_bootstrap_discover(b"lwm2m=1.0") == ("1.0", [])


@pytest.mark.parametrize("payload", [b"\xff\xfe", b'lwm2m="1.1",garbage', b"</0/0", b";;"])
def test_parse_bootstrap_discover_garbage(payload: bytes) -> None:
    from lwm2m.errors import DecodeError

    with pytest.raises(DecodeError):
        parse_bootstrap_discover(payload)


def test_bootstrap_accounts_ignores_odd_targets() -> None:
    _, links = parse_bootstrap_discover(b"</0/x>,</0>,</0/4/1>,</1/2>,</0/7>")
    assert bootstrap_accounts(links) == {7}


def test_choose_write_format() -> None:
    base = account()
    assert choose_write_format(base, None, None) == ContentFormat.LWM2M_TLV
    assert choose_write_format(base, None, "1.0") == ContentFormat.LWM2M_TLV
    assert choose_write_format(base, None, "1.1") == ContentFormat.SENML_CBOR
    assert choose_write_format(base, ContentFormat.LWM2M_CBOR, "1.0") == ContentFormat.LWM2M_CBOR
    assert choose_write_format(base, ContentFormat.TEXT_PLAIN, None) == ContentFormat.LWM2M_TLV
    fixed = account(content_format=ContentFormat.SENML_JSON, lwm2m_version="1.0")
    assert choose_write_format(fixed, ContentFormat.SENML_CBOR, "1.1") == ContentFormat.SENML_JSON
    assert choose_write_format(account(lwm2m_version="1.2"), None, None) == ContentFormat.SENML_CBOR
    assert Path.parse("/0/1") == Path(0, 1)

"""Firmware over CoAP: Package push streamed from Block1, coap:// and coaps:// pull, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from lwm2m.client.client import Client
from lwm2m.client.firmware_transfer import (
    CoapDownloader,
    FirmwareTransfer,
    attach_firmware,
    server_account_psk,
)
from lwm2m.client.store import ObjectStore
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import BlockOption, Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.objects import FirmwareUpdate, Result, State
from lwm2m.objects.firmware_errors import (
    ConnectionLost,
    InvalidUri,
    UnsupportedPackageType,
    UnsupportedProtocol,
)
from lwm2m.transport.base import Address
from lwm2m.transport.dtls import DtlsServerTransport, PskCredentials

from .conftest import server_write
from .test_firmware_update import FakeUpdater, status

IMAGE = bytes(range(256)) * 64  # 16 KiB
FAST = TransmissionParams(ack_timeout=0.05, empty_ack_delay=0.02, max_retransmit=2)
PSK = PskCredentials(b"fw-client", b"fw-secret")

MakeEndpoint = Callable[..., Awaitable[Endpoint]]


class ListSink:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.total: int | None = None

    def set_total(self, total: int | None) -> None:
        self.total = total

    async def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)


@pytest.fixture
async def make_endpoint() -> AsyncIterator[MakeEndpoint]:
    made: list[Endpoint] = []

    async def factory(**kwargs: object) -> Endpoint:
        kwargs.setdefault("params", FAST)
        ep = await Endpoint.create_udp("127.0.0.1", 0, **kwargs)  # type: ignore[arg-type]
        made.append(ep)
        return ep

    yield factory
    for ep in made:
        await ep.close()


def image_server(ep: Endpoint, body: bytes = IMAGE) -> None:
    """Serve ``body`` at /fw/image.bin (the endpoint cuts it into Block2 blocks)."""

    async def serve(request: Message, remote: Address) -> Message:
        return Message(code=Code.CONTENT, payload=body)

    ep.add_resource("/fw/image.bin", serve)


def uri(ep: Endpoint, scheme: str = "coap", path: str = "/fw/image.bin") -> str:
    host, port = ep.local_address[:2]
    return f"{scheme}://{host}:{port}{path}"


@pytest.fixture
def updater() -> FakeUpdater:
    return FakeUpdater()


@pytest.fixture
def fw(store: ObjectStore, updater: FakeUpdater) -> FirmwareUpdate:
    coap = CoapDownloader(params=FAST, block_timeout=0.5, psk=PSK)
    return FirmwareUpdate(store, updater, downloaders={"coap": coap, "coaps": coap})


# ---------------------------------------------------------------- pull
async def test_coap_pull_streams_each_block_into_the_sink(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater, make_endpoint: MakeEndpoint
) -> None:
    server = await make_endpoint()
    image_server(server)
    progress: list[tuple[int, int | None]] = []
    fw.on_progress = lambda received, total: progress.append((received, total))
    await server_write(store, "5/0/1", uri(server))
    assert status(store) == (State.DOWNLOADING, Result.INITIAL)
    await fw.join()
    assert status(store) == (State.DOWNLOADED, Result.INITIAL)
    assert updater.image == IMAGE
    assert len(updater.chunks) == 16 and max(map(len, updater.chunks)) == 1024
    assert progress[0] == (1024, len(IMAGE)) and progress[-1] == (len(IMAGE), len(IMAGE))
    assert store.get("5/0/8") == {0: 0, 1: 1}  # coap, coaps


class GoneAfter(FakeUpdater):
    """Takes ``n`` chunks, then the image server goes away in the middle of the transfer."""

    def __init__(self, n: int, server: Endpoint) -> None:
        super().__init__()
        self.n = n
        self.server = server

    async def write(self, chunk: bytes) -> None:
        await super().write(chunk)
        if len(self.chunks) == self.n:
            await self.server.close()


async def test_coap_pull_error_results(store: ObjectStore, make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint()
    image_server(server)
    updater = GoneAfter(3, server)
    fw = FirmwareUpdate(store, updater, downloaders={"coap": CoapDownloader(params=FAST)})
    await server_write(store, "5/0/1", uri(server, path="/fw/missing.bin"))
    await fw.join()
    assert status(store) == (State.IDLE, Result.INVALID_URI)
    await server_write(store, "5/0/1", uri(server))
    await fw.join()
    assert status(store) == (State.IDLE, Result.CONNECTION_LOST)
    assert len(updater.chunks) == 3  # blocks 0..2 arrived before the server went away
    await server_write(store, "5/0/1", "ftp://127.0.0.1/fw.bin")
    assert status(store) == (State.IDLE, Result.UNSUPPORTED_PROTOCOL)


async def test_coap_downloader_error_mapping(make_endpoint: MakeEndpoint) -> None:
    downloader = CoapDownloader(params=FAST, block_timeout=0.3)
    sink = ListSink()
    with pytest.raises(UnsupportedProtocol):
        await downloader.fetch("http+x://127.0.0.1/fw", sink)
    with pytest.raises(UnsupportedProtocol):
        await downloader.fetch("coaps://127.0.0.1:1/fw", sink)  # no PSK to use
    with pytest.raises(InvalidUri):
        await downloader.fetch("coap:///fw", sink)
    with pytest.raises(InvalidUri):
        await downloader.fetch("coap://127.0.0.1:99999/fw", sink)
    silent = await make_endpoint()
    silent.add_resource("/fw", lambda req, remote: asyncio.sleep(30))  # type: ignore[arg-type,return-value]
    with pytest.raises(ConnectionLost):
        await downloader.fetch(uri(silent, path="/fw"), sink)
    broken = await make_endpoint()
    broken.add_resource("/fw", lambda req, remote: Message(code=Code.SERVICE_UNAVAILABLE))
    with pytest.raises(ConnectionLost):
        await downloader.fetch(uri(broken, path="/fw"), sink)
    assert sink.chunks == []


async def test_coap_pull_query_and_small_image(make_endpoint: MakeEndpoint) -> None:
    server = await make_endpoint()
    seen: list[tuple[str, ...]] = []

    async def serve(request: Message, remote: Address) -> Message:
        seen.append(request.uri_query)
        return Message(code=Code.CONTENT, payload=b"tiny image")

    server.add_resource("/fw", serve)
    sink = ListSink()
    await CoapDownloader(params=FAST).fetch(uri(server, path="/fw/a%20b?v=2&x"), sink)
    assert sink.chunks == [b"tiny image"] and sink.total is None
    assert seen == [("v=2", "x")]


async def test_coaps_pull_with_psk(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater
) -> None:
    transport = await DtlsServerTransport.create("127.0.0.1", 0, psk_store={PSK.identity: PSK.key})
    server = Endpoint(transport, params=FAST)
    try:
        image_server(server)
        await server_write(store, "5/0/1", uri(server, "coaps"))
        await asyncio.wait_for(fw.join(), 10)
        assert status(store) == (State.DOWNLOADED, Result.INITIAL)
        assert updater.image == IMAGE and len(updater.chunks) == 16
        wrong = CoapDownloader(params=FAST, psk=(b"fw-client", b"wrong"), handshake_timeout=2)
        with pytest.raises(ConnectionLost):
            await wrong.fetch(uri(server, "coaps"), ListSink())
    finally:
        await server.close()


async def test_server_account_psk_prefers_the_matching_host() -> None:
    client = Client("fw-test")
    client.add_server("coap://10.0.0.1:5683", short_server_id=1)
    client.add_server("coaps://a.example:5684", short_server_id=2, psk_identity="a", psk_key=b"ka")
    client.add_server("coaps://b.example:5684", short_server_id=3, psk_identity="b", psk_key=b"kb")
    lookup = server_account_psk(client)
    assert lookup("coaps://b.example/fw") == PskCredentials(b"b", b"kb")
    assert lookup("coaps://elsewhere/fw") == PskCredentials(b"a", b"ka")
    assert server_account_psk(Client("none"))("coaps://a.example/fw") is None


# ---------------------------------------------------------------- push
@pytest.fixture
async def device(
    fw: FirmwareUpdate, make_endpoint: MakeEndpoint
) -> tuple[Endpoint, FirmwareTransfer]:
    ep = await make_endpoint()
    transfer = FirmwareTransfer(fw, idle_timeout=0.2)
    transfer.setup_endpoint(ep, 101)
    return ep, transfer


@pytest.fixture
async def server(make_endpoint: MakeEndpoint) -> Endpoint:
    """The LwM2M server's endpoint, pushing to ``device``."""
    return await make_endpoint()


async def test_push_streams_blocks_into_the_sink(
    store: ObjectStore,
    fw: FirmwareUpdate,
    updater: FakeUpdater,
    device: tuple[Endpoint, FirmwareTransfer],
    server: Endpoint,
) -> None:
    ep, _ = device
    totals: list[int | None] = []
    fw.on_progress = lambda received, total: totals.append(total)
    resp = await server.put(
        "/5/0/0",
        IMAGE,
        remote=ep.local_address,
        content_format=ContentFormat.OCTET_STREAM,
        timeout=5,
    )
    assert resp.code is Code.CHANGED and resp.block1 == BlockOption(15, False, 6)
    assert status(store) == (State.DOWNLOADED, Result.INITIAL)
    assert len(updater.chunks) == 16 and updater.image == IMAGE
    assert set(totals) == {len(IMAGE)}  # Size1 of block 0
    assert store.get("5/0/0") == b""


async def test_push_refusals(
    store: ObjectStore,
    fw: FirmwareUpdate,
    updater: FakeUpdater,
    device: tuple[Endpoint, FirmwareTransfer],
    server: Endpoint,
) -> None:
    ep, transfer = device
    remote = ep.local_address
    tlv = await server.put(
        "/5/0/0", IMAGE, remote=remote, content_format=ContentFormat.LWM2M_TLV, timeout=5
    )
    assert tlv.code is Code.UNSUPPORTED_CONTENT_FORMAT
    deeper = await server.put("/5/0/0/1", IMAGE, remote=remote, timeout=5)
    assert deeper.code is Code.NOT_FOUND
    post = await server.post("/5/0/0", IMAGE, remote=remote, timeout=5)
    assert post.code is Code.CHANGED  # POST is a partial update of the same resource
    assert status(store) == (State.DOWNLOADED, Result.INITIAL)
    again = await server.put("/5/0/0", IMAGE, remote=remote, timeout=5)
    assert again.code is Code.METHOD_NOT_ALLOWED  # Downloaded: Package write not allowed
    transfer.setup_endpoint(ep, None)  # the bootstrap connection gets nothing new
    assert status(store) == (State.DOWNLOADED, Result.INITIAL)


@pytest.mark.parametrize(
    ("error", "code", "result"),
    [
        (MemoryError(), Code.REQUEST_ENTITY_TOO_LARGE, Result.OUT_OF_RAM),
        (
            OSError(28, "No space left on device"),
            Code.REQUEST_ENTITY_TOO_LARGE,
            Result.NOT_ENOUGH_FLASH,
        ),
        (UnsupportedPackageType(), Code.INTERNAL_SERVER_ERROR, Result.UNSUPPORTED_PACKAGE_TYPE),
    ],
)
async def test_push_sink_failure_stops_the_transfer(
    store: ObjectStore,
    updater: FakeUpdater,
    device: tuple[Endpoint, FirmwareTransfer],
    server: Endpoint,
    error: BaseException,
    code: Code,
    result: Result,
) -> None:
    ep, _ = device
    updater.fail_write = error
    resp = await server.put("/5/0/0", IMAGE, remote=ep.local_address, timeout=5)
    assert resp.code == code
    assert status(store) == (State.IDLE, result)
    assert updater.cancelled == 1


def raw_block(num: int, more: bool, payload: bytes, size1: int | None = None) -> Message:
    msg = Message.request(Code.PUT, "/5/0/0", payload=payload)
    msg.block1 = BlockOption(num, more, 6)
    if size1 is not None:
        msg.size1 = size1
    return msg


async def test_push_abandoned_or_too_large_ends_in_update_result(
    store: ObjectStore,
    fw: FirmwareUpdate,
    updater: FakeUpdater,
    make_endpoint: MakeEndpoint,
) -> None:
    ep = await make_endpoint()
    FirmwareTransfer(fw, max_size=4096, idle_timeout=0.1).setup_endpoint(ep, 1)
    server = await make_endpoint()
    remote = ep.local_address
    first = await server.request(raw_block(0, True, IMAGE[:1024]), remote=remote, timeout=5)
    assert first.code is Code.CONTINUE
    assert status(store) == (State.DOWNLOADING, Result.INITIAL)
    for _ in range(100):  # the server never sends block 1
        if fw.state is State.IDLE:
            break
        await asyncio.sleep(0.01)
    assert status(store) == (State.IDLE, Result.CONNECTION_LOST)
    # no Size1: the limit is noticed when the body grows past it
    for num in range(4):
        resp = await server.request(
            raw_block(num, True, IMAGE[num * 1024 : (num + 1) * 1024]), remote=remote, timeout=5
        )
        assert resp.code is Code.CONTINUE
    resp = await server.request(raw_block(4, True, IMAGE[4096:5120]), remote=remote, timeout=5)
    assert resp.code is Code.REQUEST_ENTITY_TOO_LARGE and resp.size1 == 4096
    await asyncio.sleep(0.01)
    assert status(store) == (State.IDLE, Result.NOT_ENOUGH_FLASH)
    # Size1 announced: refused at once, the download never starts
    resp = await server.put("/5/0/0", IMAGE, remote=remote, timeout=5)
    assert resp.code is Code.REQUEST_ENTITY_TOO_LARGE
    assert status(store) == (State.IDLE, Result.NOT_ENOUGH_FLASH)
    assert updater.opened == 2


async def test_push_restart_and_a_second_server(
    store: ObjectStore,
    fw: FirmwareUpdate,
    updater: FakeUpdater,
    device: tuple[Endpoint, FirmwareTransfer],
    make_endpoint: MakeEndpoint,
    server: Endpoint,
) -> None:
    ep, _ = device
    other = await make_endpoint()
    remote = ep.local_address
    await server.request(raw_block(0, True, b"x" * 1024), remote=remote, timeout=5)
    await server.request(raw_block(1, True, b"y" * 1024), remote=remote, timeout=5)
    intruder = await other.request(raw_block(0, True, b"z" * 1024), remote=remote, timeout=5)
    assert intruder.code is Code.METHOD_NOT_ALLOWED
    # the first server starts over: the partial image is dropped
    await server.request(raw_block(0, True, IMAGE[:1024]), remote=remote, timeout=5)
    done = await server.request(raw_block(1, False, IMAGE[1024:1500]), remote=remote, timeout=5)
    assert done.code is Code.CHANGED
    assert updater.opened == 2 and updater.cancelled == 1
    assert updater.image == IMAGE[:1500]
    assert status(store) == (State.DOWNLOADED, Result.INITIAL)


async def test_empty_last_block_resets(
    store: ObjectStore,
    fw: FirmwareUpdate,
    updater: FakeUpdater,
    device: tuple[Endpoint, FirmwareTransfer],
    server: Endpoint,
) -> None:
    ep, _ = device
    await server.put("/5/0/0", IMAGE, remote=ep.local_address, timeout=5)
    assert status(store) == (State.DOWNLOADED, Result.INITIAL)
    resp = await server.request(raw_block(0, False, b""), remote=ep.local_address, timeout=5)
    assert resp.code is Code.CHANGED
    assert status(store) == (State.IDLE, Result.INITIAL)


# -------------------------------------------------------------- wiring
async def test_attach_firmware_uses_the_endpoint_setup_hook(updater: FakeUpdater) -> None:
    client = Client("fw-hook")
    hooks: list[object] = []
    client.endpoint_setup = hooks  # type: ignore[attr-defined]
    fw = FirmwareUpdate(client.store, updater, downloaders={})
    transfer = attach_firmware(client, fw)
    assert hooks == [transfer.setup_endpoint]
    assert set(fw.downloaders) == {"coap", "coaps"}
    assert client.get("5/0/8") == {0: 0, 1: 1}
    assert client.get("5/0/9") == 2  # push and pull


async def test_attach_firmware_keeps_existing_downloaders(updater: FakeUpdater) -> None:
    client = Client("fw-keep")
    mine = CoapDownloader(params=FAST)
    fw = FirmwareUpdate(client.store, updater, downloaders={"coap": mine})
    attach_firmware(client, fw)
    assert fw.downloaders["coap"] is mine
    assert isinstance(fw.downloaders["coaps"], CoapDownloader)
    assert fw.downloaders["coaps"] is not mine


async def test_int_778_coap_host_that_does_not_resolve_is_invalid_uri(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    async def no_such_host(self: object, host: object, *args: object, **kw: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(type(loop), "getaddrinfo", no_such_host)
    downloader = CoapDownloader(params=FAST, block_timeout=0.3)
    with pytest.raises(InvalidUri, match="not found"):
        await downloader.fetch("coap://firmware.invalid/fw", ListSink())

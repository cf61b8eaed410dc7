"""Firmware Update object: push (chunked and whole), pull over HTTP, update, every error result."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from lwm2m.client.store import ObjectStore
from lwm2m.errors import BadRequest, MethodNotAllowed, OperationError
from lwm2m.objects import FirmwareUpdate, FirmwareUpdater, HttpDownloader, Result, State
from lwm2m.objects.firmware_errors import (
    FirmwareError,
    IntegrityCheckFailed,
    NotEnoughStorage,
    UnsupportedPackageType,
    UpdateFailed,
)

from .conftest import server_execute, server_write, snapshot

IMAGE = bytes(range(256)) * 64  # 16 KiB


class FakeUpdater(FirmwareUpdater):
    """Records what the object asks of it; failures are injected per hook."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.opened = 0
        self.cancelled = 0
        self.applied = 0
        self.fail_open: BaseException | None = None
        self.fail_write: BaseException | None = None
        self.fail_apply: BaseException | None = None
        self.verify_ok = True
        self.defer_update = False

    async def open_sink(self) -> None:
        self.opened += 1
        self.chunks.clear()
        if self.fail_open is not None:
            raise self.fail_open

    async def write(self, chunk: bytes) -> None:
        if self.fail_write is not None:
            raise self.fail_write
        self.chunks.append(chunk)

    async def verify(self) -> bool:
        return self.verify_ok

    def defer(self) -> bool:
        return self.defer_update

    async def apply(self) -> None:
        self.applied += 1
        if self.fail_apply is not None:
            raise self.fail_apply

    async def cancel(self) -> None:
        self.cancelled += 1

    @property
    def image(self) -> bytes:
        return b"".join(self.chunks)


def status(store: ObjectStore) -> tuple[int, int]:
    return store.get("5/0/3"), store.get("5/0/5")


@pytest.fixture
def updater() -> FakeUpdater:
    return FakeUpdater()


@pytest.fixture
def fw(store: ObjectStore, updater: FakeUpdater) -> FirmwareUpdate:
    return FirmwareUpdate(store, updater, downloaders={"http": HttpDownloader(chunk_size=1024)})


async def push_blocks(fw: FirmwareUpdate, image: bytes, size: int = 1024) -> None:
    for offset in range(0, len(image), size):
        block = image[offset : offset + size]
        await fw.write_package_chunk(offset, block, offset + size >= len(image))


# ------------------------------------------------------------------ resources
def test_initial_resources(store: ObjectStore, fw: FirmwareUpdate) -> None:
    assert status(store) == (State.IDLE, Result.INITIAL)
    assert store.get("5/0/1") == ""
    assert store.get("5/0/8") == {0: 2}  # HTTP
    assert store.get("5/0/9") == 2  # push and pull


def test_protocol_support_and_delivery_method(store: ObjectStore, updater: FakeUpdater) -> None:
    http = HttpDownloader()
    fw = FirmwareUpdate(store, updater, downloaders={"https": http, "coap": http}, push=False)
    assert store.get("5/0/8") == {0: 0, 1: 3}
    assert store.get("5/0/9") == 0  # pull only
    other = ObjectStore()
    FirmwareUpdate(other, updater, downloaders={})
    assert other.get("5/0/9") == 1  # push only
    assert other.get("5/0/8") == {}
    assert fw.push is False


# ----------------------------------------------------------------------- push
async def test_chunked_push_streams_into_sink(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater
) -> None:
    seen: list[tuple[int, int | None]] = []
    fw.on_progress = lambda received, total: seen.append((received, total))
    await fw.write_package_chunk(0, IMAGE[:1024], False)
    assert status(store) == (State.DOWNLOADING, Result.INITIAL)
    await push_blocks_from(fw, IMAGE, 1024)
    assert status(store) == (State.DOWNLOADED, Result.INITIAL)
    # The sink saw each block separately: the image was never assembled by the object.
    assert len(updater.chunks) == 16
    assert all(len(c) == 1024 for c in updater.chunks)
    assert updater.image == IMAGE
    assert seen[-1] == (len(IMAGE), None)
    assert store.get("5/0/0") == b""


async def push_blocks_from(fw: FirmwareUpdate, image: bytes, start: int) -> None:
    for offset in range(start, len(image), 1024):
        await fw.write_package_chunk(
            offset, image[offset : offset + 1024], offset + 1024 >= len(image)
        )


async def test_block_out_of_sequence_is_4_08(fw: FirmwareUpdate, updater: FakeUpdater) -> None:
    await fw.write_package_chunk(0, b"a" * 16, False)
    with pytest.raises(OperationError) as err:
        await fw.write_package_chunk(32, b"b" * 16, False)
    assert err.value.code == 0x88
    assert updater.image == b"a" * 16
    with pytest.raises(OperationError) as err:
        await FirmwareUpdate(ObjectStore(), updater).write_package_chunk(16, b"x", True)
    assert err.value.code == 0x88  # a later block with no push under way
    assert updater.image == b"a" * 16


async def test_whole_payload_write_then_update_success(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater
) -> None:
    await server_write(store, "5/0/0", IMAGE)
    assert status(store) == (State.DOWNLOADED, Result.INITIAL)
    assert updater.image == IMAGE
    assert store.get("5/0/0") == b""  # the store does not keep the payload
    await server_execute(store, "5/0/2")
    assert status(store)[0] in (State.UPDATING, State.IDLE)
    await fw.join()
    assert status(store) == (State.IDLE, Result.SUCCESS)
    assert updater.applied == 1
    assert isinstance(store.get("5/0/12"), int)


async def test_empty_package_resets(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater
) -> None:
    await push_blocks(fw, IMAGE)
    assert status(store) == (State.DOWNLOADED, Result.INITIAL)
    await server_write(store, "5/0/0", b"")
    assert status(store) == (State.IDLE, Result.INITIAL)
    assert updater.cancelled == 1
    # Also in the middle of a transfer.
    await fw.write_package_chunk(0, b"abc", False)
    await fw.write_package_chunk(0, b"", True)
    assert status(store) == (State.IDLE, Result.INITIAL)


async def test_package_write_in_wrong_state_refused(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater
) -> None:
    await push_blocks(fw, IMAGE)
    with pytest.raises(MethodNotAllowed):
        await server_write(store, "5/0/0", b"another image")
    with pytest.raises(MethodNotAllowed):
        await server_write(store, "5/0/1", "http://127.0.0.1/fw.bin")
    assert status(store) == (State.DOWNLOADED, Result.INITIAL)
    assert updater.image == IMAGE


async def test_update_only_when_downloaded(store: ObjectStore, fw: FirmwareUpdate) -> None:
    with pytest.raises(MethodNotAllowed):
        await server_execute(store, "5/0/2")
    assert status(store) == (State.IDLE, Result.INITIAL)


async def test_push_refused_when_pull_only(store: ObjectStore, updater: FakeUpdater) -> None:
    FirmwareUpdate(store, updater, downloaders={"http": HttpDownloader()}, push=False)
    with pytest.raises(MethodNotAllowed):
        await server_write(store, "5/0/0", IMAGE)
    assert status(store) == (State.IDLE, Result.INITIAL)
    assert updater.opened == 0


@pytest.mark.parametrize(
    ("hook", "error", "result"),
    [
        ("fail_open", NotEnoughStorage(), Result.NOT_ENOUGH_FLASH),
        ("fail_open", OSError(28, "No space left on device"), Result.NOT_ENOUGH_FLASH),
        ("fail_write", MemoryError(), Result.OUT_OF_RAM),
        ("fail_write", UnsupportedPackageType(), Result.UNSUPPORTED_PACKAGE_TYPE),
        ("fail_write", IntegrityCheckFailed(), Result.INTEGRITY_FAILURE),
    ],
)
async def test_push_storage_failures(
    store: ObjectStore,
    fw: FirmwareUpdate,
    updater: FakeUpdater,
    hook: str,
    error: BaseException,
    result: Result,
) -> None:
    setattr(updater, hook, error)
    await fw.write_package_chunk(0, IMAGE[:1024], False)
    assert status(store) == (State.IDLE, result)
    assert updater.cancelled == 1
    with pytest.raises(OperationError) as err:  # the rest of the transfer is refused
        await fw.write_package_chunk(1024, IMAGE[1024:2048], False)
    assert err.value.code == 0x88  # 4.08: the push ended, the block follows nothing
    assert status(store) == (State.IDLE, result)


async def test_push_integrity_failure_on_verify(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater
) -> None:
    updater.verify_ok = False
    await push_blocks(fw, IMAGE)
    assert status(store) == (State.IDLE, Result.INTEGRITY_FAILURE)
    assert updater.cancelled == 1


# --------------------------------------------------------- update / cancel
@pytest.mark.parametrize(
    ("error", "end"),
    [
        (UpdateFailed("flash write failed"), (State.DOWNLOADED, Result.UPDATE_FAILED)),
        (RuntimeError("boom"), (State.DOWNLOADED, Result.UPDATE_FAILED)),
        (IntegrityCheckFailed(), (State.IDLE, Result.INTEGRITY_FAILURE)),
        (NotEnoughStorage(), (State.IDLE, Result.NOT_ENOUGH_FLASH)),
    ],
)
async def test_update_failures(
    store: ObjectStore,
    fw: FirmwareUpdate,
    updater: FakeUpdater,
    error: BaseException,
    end: tuple[State, Result],
) -> None:
    await push_blocks(fw, IMAGE)
    updater.fail_apply = error
    await server_execute(store, "5/0/2")
    await fw.join()
    assert status(store) == end


async def test_update_failed_can_be_retried(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater
) -> None:
    await push_blocks(fw, IMAGE)
    updater.fail_apply = UpdateFailed()
    await server_execute(store, "5/0/2")
    await fw.join()
    updater.fail_apply = None
    await server_execute(store, "5/0/2")
    await fw.join()
    assert status(store) == (State.IDLE, Result.SUCCESS)
    assert updater.applied == 2


async def test_deferred_update(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater
) -> None:
    await push_blocks(fw, IMAGE)
    updater.defer_update = True
    await server_execute(store, "5/0/2")
    assert status(store) == (State.DOWNLOADED, Result.DEFERRED)
    assert updater.applied == 0
    fw.start_update()
    await fw.join()
    assert status(store) == (State.IDLE, Result.SUCCESS)


async def test_cancel(store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater) -> None:
    with pytest.raises(MethodNotAllowed):
        await server_execute(store, "5/0/10")
    await push_blocks(fw, IMAGE)
    await server_execute(store, "5/0/10")
    assert status(store) == (State.IDLE, Result.CANCELLED)
    assert updater.cancelled == 1


# ----------------------------------------------------------------------- pull
class FirmwareServer:
    """A local HTTP server: /fw.bin, /missing (404), /cut (connection lost), /stall."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_get("/fw.bin", self.image)
        self.app.router.add_get("/cut", self.cut)
        self.app.router.add_get("/stall", self.stall)
        self.base = ""

    async def image(self, request: web.Request) -> web.Response:
        return web.Response(body=IMAGE, content_type="application/octet-stream")

    async def cut(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_length = len(IMAGE)
        await resp.prepare(request)
        await resp.write(IMAGE[:4096])
        assert request.transport is not None
        request.transport.close()
        return resp

    async def stall(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_length = len(IMAGE)
        await resp.prepare(request)
        await resp.write(IMAGE[:1024])
        await asyncio.wait_for(self.release.wait(), 10)
        return resp


@pytest.fixture
async def http_server() -> AsyncIterator[FirmwareServer]:
    server = FirmwareServer()
    runner = web.AppRunner(server.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.base = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        server.release.set()
        await runner.cleanup()


async def test_pull_success_with_progress(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater, http_server: FirmwareServer
) -> None:
    seen: list[tuple[int, int | None]] = []
    fw.on_progress = lambda received, total: seen.append((received, total))
    await server_write(store, "5/0/1", f"{http_server.base}/fw.bin")
    assert status(store) == (State.DOWNLOADING, Result.INITIAL)
    await asyncio.wait_for(fw.join(), 10)
    assert status(store) == (State.DOWNLOADED, Result.INITIAL)
    assert updater.image == IMAGE
    assert len(updater.chunks) >= 2  # streamed
    assert seen[-1] == (len(IMAGE), len(IMAGE))
    await server_execute(store, "5/0/2")
    await fw.join()
    assert status(store) == (State.IDLE, Result.SUCCESS)


async def test_pull_404_is_invalid_uri(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater, http_server: FirmwareServer
) -> None:
    await server_write(store, "5/0/1", f"{http_server.base}/missing")
    await asyncio.wait_for(fw.join(), 10)
    assert status(store) == (State.IDLE, Result.INVALID_URI)
    assert updater.cancelled == 1


async def test_pull_connection_lost_mid_stream(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater, http_server: FirmwareServer
) -> None:
    await server_write(store, "5/0/1", f"{http_server.base}/cut")
    await asyncio.wait_for(fw.join(), 10)
    assert status(store) == (State.IDLE, Result.CONNECTION_LOST)


async def test_pull_connection_refused(store: ObjectStore, fw: FirmwareUpdate) -> None:
    await server_write(store, "5/0/1", "http://127.0.0.1:1/fw.bin")
    await asyncio.wait_for(fw.join(), 10)
    assert status(store) == (State.IDLE, Result.CONNECTION_LOST)


async def test_pull_integrity_failure(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater, http_server: FirmwareServer
) -> None:
    updater.verify_ok = False
    await server_write(store, "5/0/1", f"{http_server.base}/fw.bin")
    await asyncio.wait_for(fw.join(), 10)
    assert status(store) == (State.IDLE, Result.INTEGRITY_FAILURE)


async def test_pull_no_storage(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater, http_server: FirmwareServer
) -> None:
    updater.fail_write = OSError(28, "No space left on device")
    await server_write(store, "5/0/1", f"{http_server.base}/fw.bin")
    await asyncio.wait_for(fw.join(), 10)
    assert status(store) == (State.IDLE, Result.NOT_ENOUGH_FLASH)


@pytest.mark.parametrize("action", ["cancel", "empty uri"])
async def test_stop_a_running_download(
    store: ObjectStore,
    fw: FirmwareUpdate,
    updater: FakeUpdater,
    http_server: FirmwareServer,
    action: str,
) -> None:
    await server_write(store, "5/0/1", f"{http_server.base}/stall")
    for _ in range(200):
        if updater.chunks:
            break
        await asyncio.sleep(0.01)
    assert status(store) == (State.DOWNLOADING, Result.INITIAL)
    if action == "cancel":
        await server_execute(store, "5/0/10")
        assert status(store) == (State.IDLE, Result.CANCELLED)
    else:
        await server_write(store, "5/0/1", "")
        assert status(store) == (State.IDLE, Result.INITIAL)
    assert updater.cancelled == 1
    assert store.get("5/0/1") == ""


@pytest.mark.parametrize(
    ("uri", "result"),
    [
        ("not a uri at all", Result.INVALID_URI),
        ("http//missing-colon/fw.bin", Result.INVALID_URI),
        ("http://", Result.INVALID_URI),
        ("http://host:99999999/fw", Result.INVALID_URI),
        ("ftp://127.0.0.1/fw.bin", Result.UNSUPPORTED_PROTOCOL),
        ("coaps://127.0.0.1/fw.bin", Result.UNSUPPORTED_PROTOCOL),
    ],
)
async def test_bad_uri_reported_in_update_result_only(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater, uri: str, result: Result
) -> None:
    before = snapshot(store)
    await server_write(store, "5/0/1", uri)
    after = snapshot(store)
    assert status(store) == (State.IDLE, result)
    changed = {p for p in after if after[p] != before.get(p)}
    assert {str(p) for p in changed} == {"/5/0/5"}
    assert updater.opened == 0


async def test_overlong_uri_rejected_nothing_changed(
    store: ObjectStore, fw: FirmwareUpdate
) -> None:
    before = snapshot(store)
    with pytest.raises(BadRequest):
        await server_write(store, "5/0/1", "http://127.0.0.1/" + "a" * 300)
    assert snapshot(store) == before


def test_firmware_error_default_message() -> None:
    assert str(FirmwareError(result=Result.OUT_OF_RAM)) == "out of ram"


# ----------------------------------------------- Appendix E.6 and the ETS firmware cases
async def test_int_756_a_nul_byte_written_to_package_resets_like_an_empty_one(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater
) -> None:
    # In Idle: no 1-byte image is stored, nothing is downloaded.
    await server_write(store, "5/0/0", b"\x00")
    assert status(store) == (State.IDLE, Result.INITIAL)
    assert updater.opened == 0 and updater.image == b""
    assert store.get("5/0/0") == b""
    # After a download (Downloaded): back to Idle, the image dropped; no 4.05.
    await push_blocks(fw, IMAGE)
    assert status(store) == (State.DOWNLOADED, Result.INITIAL)
    await server_write(store, "5/0/0", b"\x00")
    assert status(store) == (State.IDLE, Result.INITIAL)
    assert updater.cancelled == 1
    # As the only block of a Block1 push as well.
    await fw.write_package_chunk(0, b"abc", False)
    await fw.write_package_chunk(0, b"\x00", True)
    assert status(store) == (State.IDLE, Result.INITIAL)
    # Two bytes are an image, not a reset.
    await server_write(store, "5/0/0", b"\x00\x00")
    assert status(store) == (State.DOWNLOADED, Result.INITIAL)


@pytest.mark.parametrize(
    "uri",
    [
        "http://ho$t.example/fw.bin",
        "http://-leading-hyphen.example/fw.bin",
        "http://" + "a" * 64 + ".example/fw.bin",
        "http://exa_mple..com/fw.bin",
    ],
)
async def test_int_778_malformed_host_is_invalid_uri(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater, uri: str
) -> None:
    await server_write(store, "5/0/1", uri)
    assert status(store) == (State.IDLE, Result.INVALID_URI)
    assert updater.opened == 0


async def test_int_778_host_that_does_not_resolve_is_invalid_uri(
    store: ObjectStore, fw: FirmwareUpdate, updater: FakeUpdater, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    real = socket.getaddrinfo

    def no_such_host(host: object, *args: object, **kw: object) -> object:
        if host == "firmware.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    await server_write(store, "5/0/1", "http://firmware.invalid/fw.bin")
    await fw.join()
    assert status(store) == (State.IDLE, Result.INVALID_URI)

"""Firmware Update (object 5) end to end: a registered Client driven by a test server over loopback.

The test server is a plain Endpoint: /rd answers Register with 2.01, then it
sends Write / Read / Execute requests to the address the client registered
from, exactly as an LwM2M server would. Images: push through a Block1 write
of /5/0/0, pull through Package URI from a CoAP file server (an Endpoint
serving the image) and from an aiohttp server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.client.firmware_transfer import attach_firmware
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import BlockOption, Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.objects import FirmwareUpdate, FirmwareUpdater, Result, State
from lwm2m.objects.firmware_errors import (
    IntegrityCheckFailed,
    NotEnoughStorage,
    UnsupportedPackageType,
    UpdateFailed,
)
from lwm2m.transport.base import Address

IMAGE = bytes(i * 31 % 256 for i in range(200 * 1024))  # 200 KiB
FAST = TransmissionParams(ack_timeout=0.2, empty_ack_delay=0.05, max_retransmit=2)
TIMEOUT = 10.0


class Updater(FirmwareUpdater):
    """Stores chunks, remembering their sizes; each hook can be made to fail."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.fail_open: BaseException | None = None
        self.fail_write: BaseException | None = None
        self.fail_apply: BaseException | None = None
        self.verify_ok = True
        self.applied = 0
        self.on_write: Callable[[int], None] | None = None

    async def open_sink(self) -> None:
        self.chunks.clear()
        if self.fail_open is not None:
            raise self.fail_open

    async def write(self, chunk: bytes) -> None:
        if self.fail_write is not None:
            raise self.fail_write
        self.chunks.append(chunk)
        if self.on_write is not None:
            self.on_write(len(self.chunks))

    async def verify(self) -> bool:
        return self.verify_ok and b"".join(self.chunks) == IMAGE

    async def apply(self) -> None:
        self.applied += 1
        if self.fail_apply is not None:
            raise self.fail_apply


@dataclass
class Rig:
    """A registered client with Firmware Update, and the test server talking to it."""

    client: Client
    fw: FirmwareUpdate
    updater: Updater
    server: Endpoint
    device: Address
    seen: list[tuple[int, int]] = field(default_factory=list)

    async def read_int(self, path: str) -> int:
        resp = await self.server.get(
            path, remote=self.device, accept=ContentFormat.TEXT_PLAIN, timeout=TIMEOUT
        )
        assert resp.code is Code.CONTENT, resp
        return int(resp.payload)

    async def status(self) -> tuple[int, int]:
        return await self.read_int("/5/0/3"), await self.read_int("/5/0/5")

    async def wait_status(self, state: State, result: Result) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + TIMEOUT
        while await self.status() != (state, result):
            assert loop.time() < end, f"still {await self.status()}, wanted {(state, result)}"
            await asyncio.sleep(0.02)

    async def write_uri(self, uri: str) -> Message:
        return await self.server.put(
            "/5/0/1",
            uri.encode(),
            remote=self.device,
            content_format=ContentFormat.TEXT_PLAIN,
            timeout=TIMEOUT,
        )

    async def push(self, image: bytes) -> Message:
        return await self.server.put(
            "/5/0/0",
            image,
            remote=self.device,
            content_format=ContentFormat.OCTET_STREAM,
            timeout=TIMEOUT,
        )

    async def execute_update(self) -> Message:
        return await self.server.post("/5/0/2", remote=self.device, timeout=TIMEOUT)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    server = await Endpoint.create_udp("127.0.0.1", 0, params=FAST)
    registered: list[Address] = []

    async def rd(request: Message, remote: Address) -> Message:
        registered.append(remote)
        return Message(code=Code.CREATED, options=[(8, b"rd"), (8, b"1")])

    server.add_resource("/rd", rd)
    client = Client("fw-device", transmission=FAST)
    client.add_server(f"coap://127.0.0.1:{server.local_address[1]}", short_server_id=1)
    updater = Updater()
    fw = FirmwareUpdate(client.store, updater)
    attach_firmware(client, fw, idle_timeout=1.0)
    rig = Rig(client, fw, updater, server, ("", 0))

    fw.on_state_change = lambda state, result: rig.seen.append((state, result))
    await client.start()
    try:
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=TIMEOUT)
        rig.device = registered[-1]
        yield rig
    finally:
        await client.stop(deregister=False)
        await server.close()


@pytest.fixture
async def file_server() -> AsyncIterator[Endpoint]:
    """A CoAP server holding the image at /fw/image.bin."""
    ep = await Endpoint.create_udp("127.0.0.1", 0, params=FAST)

    async def serve(request: Message, remote: Address) -> Message:
        return Message(code=Code.CONTENT, payload=IMAGE)

    ep.add_resource("/fw/image.bin", serve)
    yield ep
    await ep.close()


def coap_uri(ep: Endpoint, path: str = "/fw/image.bin") -> str:
    return f"coap://127.0.0.1:{ep.local_address[1]}{path}"


IDLE, DOWNLOADING, DOWNLOADED, UPDATING = State


# ---------------------------------------------------------------- success
async def test_int_770_firmware_update_via_coap_push(rig: Rig) -> None:
    assert await rig.status() == (IDLE, Result.INITIAL)
    assert await rig.read_int("/5/0/9") == 2  # push and pull
    resp = await rig.push(IMAGE)
    assert resp.code is Code.CHANGED
    assert await rig.status() == (DOWNLOADED, Result.INITIAL)
    chunks = rig.updater.chunks
    assert len(chunks) == 200  # one per 1 KiB Block1 block
    assert max(map(len, chunks)) == 1024  # the image never arrived whole
    assert b"".join(chunks) == IMAGE
    assert (await rig.execute_update()).code is Code.CHANGED
    await rig.wait_status(IDLE, Result.SUCCESS)
    assert rig.updater.applied == 1
    assert rig.seen == [
        (DOWNLOADING, Result.INITIAL),
        (DOWNLOADED, Result.INITIAL),
        (UPDATING, Result.INITIAL),
        (IDLE, Result.SUCCESS),
    ]


async def test_int_771_firmware_update_via_coap_uri_pull(rig: Rig, file_server: Endpoint) -> None:
    assert (await rig.write_uri(coap_uri(file_server))).code is Code.CHANGED
    await rig.wait_status(DOWNLOADED, Result.INITIAL)
    assert len(rig.updater.chunks) == 200 and max(map(len, rig.updater.chunks)) == 1024
    assert (await rig.execute_update()).code is Code.CHANGED
    await rig.wait_status(IDLE, Result.SUCCESS)
    assert rig.seen[0] == (DOWNLOADING, Result.INITIAL)
    assert rig.seen[-2:] == [(UPDATING, Result.INITIAL), (IDLE, Result.SUCCESS)]


async def test_int_771_firmware_update_via_http_uri_pull(rig: Rig) -> None:
    async def image(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_length = len(IMAGE)
        await resp.prepare(request)
        for offset in range(0, len(IMAGE), 8192):
            await resp.write(IMAGE[offset : offset + 8192])
        return resp

    app = web.Application()
    app.router.add_get("/fw.bin", image)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        assert (await rig.write_uri(f"http://127.0.0.1:{port}/fw.bin")).code is Code.CHANGED
        await rig.wait_status(DOWNLOADED, Result.INITIAL)
        assert len(rig.updater.chunks) > 1
        assert (await rig.execute_update()).code is Code.CHANGED
        await rig.wait_status(IDLE, Result.SUCCESS)
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------- errors
async def test_int_772_update_without_package_refused(rig: Rig) -> None:
    resp = await rig.execute_update()
    assert resp.code is Code.METHOD_NOT_ALLOWED
    assert await rig.status() == (IDLE, Result.INITIAL)
    assert rig.updater.applied == 0 and rig.seen == []


async def test_int_773_not_enough_storage(rig: Rig) -> None:
    rig.updater.fail_open = NotEnoughStorage("flash full")
    resp = await rig.push(IMAGE)
    assert resp.code is Code.REQUEST_ENTITY_TOO_LARGE  # the rest of the transfer is refused
    assert await rig.status() == (IDLE, Result.NOT_ENOUGH_FLASH)
    assert rig.seen == [(DOWNLOADING, Result.INITIAL), (IDLE, Result.NOT_ENOUGH_FLASH)]


async def test_int_774_out_of_memory(rig: Rig, file_server: Endpoint) -> None:
    rig.updater.fail_write = MemoryError()
    assert (await rig.write_uri(coap_uri(file_server))).code is Code.CHANGED
    await rig.wait_status(IDLE, Result.OUT_OF_RAM)


async def test_int_775_connection_lost_mid_transfer(rig: Rig, file_server: Endpoint) -> None:
    closing: list[asyncio.Task[None]] = []

    def cut(count: int) -> None:
        if count == 20:
            closing.append(asyncio.ensure_future(file_server.close()))

    rig.updater.on_write = cut
    assert (await rig.write_uri(coap_uri(file_server))).code is Code.CHANGED
    await rig.wait_status(IDLE, Result.CONNECTION_LOST)
    assert len(rig.updater.chunks) == 20


async def test_int_775_push_abandoned_mid_transfer(rig: Rig) -> None:
    # Three blocks, then the server stops sending: the idle timeout ends the download.
    for num in range(3):
        msg = Message.request(Code.PUT, "/5/0/0", payload=IMAGE[num * 1024 : (num + 1) * 1024])
        msg.block1 = BlockOption(num, True, 6)
        resp = await rig.server.request(msg, remote=rig.device, timeout=TIMEOUT)
        assert resp.code is Code.CONTINUE
    assert await rig.status() == (DOWNLOADING, Result.INITIAL)
    await rig.wait_status(IDLE, Result.CONNECTION_LOST)


async def test_int_776_integrity_check_failure(rig: Rig) -> None:
    rig.updater.verify_ok = False
    assert (await rig.push(IMAGE)).code is Code.CHANGED  # E.6: reported in Update Result only
    assert await rig.status() == (IDLE, Result.INTEGRITY_FAILURE)
    assert (await rig.execute_update()).code is Code.METHOD_NOT_ALLOWED


async def test_int_777_unsupported_package_type(rig: Rig) -> None:
    rig.updater.fail_write = UnsupportedPackageType("not our format")
    resp = await rig.push(IMAGE)
    assert resp.code is Code.INTERNAL_SERVER_ERROR
    assert await rig.status() == (IDLE, Result.UNSUPPORTED_PACKAGE_TYPE)


async def test_int_778_invalid_uri(rig: Rig, file_server: Endpoint) -> None:
    assert (await rig.write_uri(coap_uri(file_server, "/fw/none.bin"))).code is Code.CHANGED
    await rig.wait_status(IDLE, Result.INVALID_URI)
    assert (await rig.write_uri("coap://[broken/fw")).code is Code.CHANGED
    assert await rig.status() == (IDLE, Result.INVALID_URI)
    assert rig.updater.chunks == []


async def test_int_779_update_failed(rig: Rig) -> None:
    rig.updater.fail_apply = UpdateFailed("flash write failed")
    assert (await rig.push(IMAGE)).code is Code.CHANGED
    assert (await rig.execute_update()).code is Code.CHANGED
    await rig.wait_status(DOWNLOADED, Result.UPDATE_FAILED)
    # the image is kept: the update can be tried again
    rig.updater.fail_apply = None
    assert (await rig.execute_update()).code is Code.CHANGED
    await rig.wait_status(IDLE, Result.SUCCESS)
    assert rig.updater.applied == 2


async def test_int_779_update_rejected_image(rig: Rig) -> None:
    rig.updater.fail_apply = IntegrityCheckFailed("signature")
    assert (await rig.push(IMAGE)).code is Code.CHANGED
    assert (await rig.execute_update()).code is Code.CHANGED
    await rig.wait_status(IDLE, Result.INTEGRITY_FAILURE)


async def test_int_780_unsupported_protocol(rig: Rig) -> None:
    assert (await rig.write_uri("ftp://127.0.0.1/fw.bin")).code is Code.CHANGED
    assert await rig.status() == (IDLE, Result.UNSUPPORTED_PROTOCOL)
    assert rig.seen == [(IDLE, Result.UNSUPPORTED_PROTOCOL)]


async def test_int_756_nul_package_resets_the_state_machine(rig: Rig) -> None:
    # Appendix E.6: an empty Package resets to Idle; servers that cannot send an empty
    # Opaque write a single NUL byte, which must do the same (not store a 1-byte image).
    assert (await rig.push(b"\x00")).code is Code.CHANGED
    assert await rig.status() == (IDLE, Result.INITIAL)
    assert rig.updater.chunks == []
    assert (await rig.push(IMAGE)).code is Code.CHANGED
    assert await rig.status() == (DOWNLOADED, Result.INITIAL)
    assert (await rig.push(b"\x00")).code is Code.CHANGED  # not 4.05 outside Idle
    assert await rig.status() == (IDLE, Result.INITIAL)


async def test_int_778_unresolvable_package_uri_host(rig: Rig) -> None:
    assert (await rig.write_uri("coap://no-such-host.invalid/fw.bin")).code is Code.CHANGED
    await rig.wait_status(IDLE, Result.INVALID_URI)
    assert (await rig.write_uri("coap://bad_host!/fw.bin")).code is Code.CHANGED
    assert await rig.status() == (IDLE, Result.INVALID_URI)

"""Every call of the seed's application API (Zephyr's LwM2M library) has a Python counterpart
that does the same thing; the README lists the mapping. Each test names the seed call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from test_rd_support import ScriptedServer, registered_client

from lwm2m.client.client import Client
from lwm2m.client.engine import ServerContext
from lwm2m.client.events import RdEvent
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.errors import ModelError
from lwm2m.model import Path

#: The LWM2M_RD_CLIENT_EVENT_* names of the seed's rd_client_event callback.
SEED_EVENTS = (
    "NONE",
    "BOOTSTRAP_REG_FAILURE",
    "BOOTSTRAP_REG_COMPLETE",
    "BOOTSTRAP_TRANSFER_COMPLETE",
    "REGISTRATION_FAILURE",
    "REGISTRATION_COMPLETE",
    "REG_UPDATE_FAILURE",
    "REG_UPDATE_COMPLETE",
    "DEREGISTER_FAILURE",
    "DISCONNECT",
)
SERVER = ServerContext(short_id=101)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    srv = await ScriptedServer.start()
    yield srv
    await srv.close()


def test_lwm2m_ctx_and_engine_set_calls() -> None:
    client = Client("unique-endpoint-name")  # struct lwm2m_ctx client
    client.create_instance(0, 0)
    client.set("0/0/0", "coaps://192.0.2.1")  # lwm2m_engine_set_string
    client.set("0/0/2", 0)  # lwm2m_engine_set_u8: 0 = PSK
    client.set("0/0/3", b"Client_identity")  # lwm2m_engine_set_string of the identity
    client.set("0/0/5", bytes(range(16)))  # lwm2m_engine_set_opaque
    assert client.get("0/0/2") == 0 and client.get("0/0/5") == bytes(range(16))
    with pytest.raises(ModelError):
        client.set("0/0/2", 9)  # Security Mode is 0..4: type and range checked
    # client.tls_tag: nothing to do, coaps:// and the mode select DTLS
    assert client._security_for(None) is None


async def test_lwm2m_engine_set_res_data_read_only_and_callable() -> None:
    client = Client("dev")
    client.create_instance(3, 0)
    client.set("3/0/0", "Zephyr Manufacturer")  # lwm2m_engine_set_res_data(..., RO)
    write = Message.request(
        Code.PUT, "/3/0/0", payload=b"x", content_format=ContentFormat.TEXT_PLAIN
    )
    assert (await client.engine.handle(write, SERVER)).code == Code.METHOD_NOT_ALLOWED
    level = iter([90, 80])
    client.set("3/0/9", lambda: next(level))  # a buffer read on demand
    assert client.get("3/0/9") == 90 and client.get("3/0/9") == 80


async def test_lwm2m_engine_register_exec_callback() -> None:
    client = Client("dev")
    client.create_instance(3, 0)
    seen: list[tuple[Path, str]] = []

    @client.on_execute("3/0/4")  # lwm2m_engine_register_exec_callback("3/0/4", cb)
    def device_reboot_cb(path: Path, args: str) -> None:
        seen.append((path, args))

    r = await client.engine.handle(Message.request(Code.POST, "/3/0/4", payload=b"5"), SERVER)
    assert r.code == Code.CHANGED and seen == [(Path(3, 0, 4), "5")]


async def test_other_engine_calls_create_delete_get_and_callbacks() -> None:
    client = Client("dev")
    iid = client.create_instance(3303)  # lwm2m_engine_create_obj_inst("3303/0")
    client.set(f"3303/{iid}/5700", 21.5)
    assert client.get(f"3303/{iid}/5700") == 21.5  # lwm2m_engine_get_float
    written: list[object] = []
    client.on_post_write("3303/0/5750", lambda p, v: written.append(v))  # post_write cb
    client.on_validate("3303/0/5750", lambda p, v: v != "bad")  # validate cb
    put = Message.request(
        Code.PUT, "/3303/0/5750", payload=b"kitchen", content_format=ContentFormat.TEXT_PLAIN
    )
    assert (await client.engine.handle(put, SERVER)).code == Code.CHANGED
    bad = Message.request(
        Code.PUT, "/3303/0/5750", payload=b"bad", content_format=ContentFormat.TEXT_PLAIN
    )
    assert (await client.engine.handle(bad, SERVER)).code == Code.BAD_REQUEST
    assert written == ["kitchen"]
    client.delete_instance(3303, iid)  # lwm2m_engine_delete_obj_inst
    assert client.store.instance_ids(3303) == []


def test_rd_client_event_names_are_the_seeds() -> None:
    for name in SEED_EVENTS:
        assert RdEvent[name].name == name  # LWM2M_RD_CLIENT_EVENT_<name>


async def test_lwm2m_rd_client_start_update_stop(server: ScriptedServer) -> None:
    # lwm2m_rd_client_start / lwm2m_rd_client_update / lwm2m_rd_client_stop
    async with registered_client(server) as (client, log):
        client.update()
        [update] = await server.wait_requests("update", 1)
        assert update.message.uri_query == () and update.message.payload == b""
        await log.wait(RdEvent.REG_UPDATE_COMPLETE)
        client.update(short_server_id=999)  # an unknown server: nothing is sent
        await asyncio.sleep(0.05)
        assert len(server.of("update")) == 1
    assert server.of("deregister")


def test_update_needs_a_started_client() -> None:
    with pytest.raises(RuntimeError):
        Client("dev").update()

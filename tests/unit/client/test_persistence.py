"""The state file: format, atomic writes, refusals, and a Client that keeps its state."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path as FsPath

import pytest

from lwm2m.client.client import Client
from lwm2m.client.engine import ServerContext
from lwm2m.client.persistence import (
    STATE_FILE,
    VERSION,
    SavedState,
    StateError,
    StateStore,
    decode_value,
    encode_value,
)
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.model import ObjLink, Path
from lwm2m.objects.device import Device

TEXT = ContentFormat.TEXT_PLAIN


def sample_state() -> SavedState:
    return SavedState(
        "dev-1",
        objects={
            0: {0: {0: "coaps://10.0.0.1:5684", 1: False, 2: 0, 3: b"id", 5: b"\x00\xffkey"}},
            1: {0: {0: 101, 1: 300, 6: True, 7: "U"}},
            2: {0: {0: 3, 1: 0, 2: {101: 7, 0: 1}, 3: 101}},
        },
        attributes={101: {Path(3, 0, 9): {"pmin": 10.0, "gt": 50.5}}},
        resources={Path(3, 0, 14): "+02:00", Path(3, 0, 22): {0: ObjLink(3, 0)}},
    )


def test_round_trip_keeps_every_type(tmp_path: FsPath) -> None:
    store = StateStore(tmp_path / "state")
    store.save(sample_state())
    assert store.load() == sample_state()
    doc = json.loads((tmp_path / "state" / STATE_FILE).read_text())
    assert doc["format"] == "lwm2m-client-state" and doc["version"] == VERSION
    assert doc["objects"]["0"]["0"]["5"] == ["o", "AP9rZXk="]  # keys as base64, tagged
    # it holds keys: readable by its owner only
    mode = stat.S_IMODE(os.stat(tmp_path / "state" / STATE_FILE).st_mode)
    assert mode & 0o077 == 0


def test_write_is_atomic_a_temporary_file_then_rename(
    tmp_path: FsPath, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore(tmp_path)
    store.save(sample_state())
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(
        os, "replace", lambda a, b: calls.append(f"replace {FsPath(a).name}") or real_replace(a, b)
    )
    newer = sample_state()
    newer.objects[1][0][1] = 600
    store.save(newer)
    assert calls == ["fsync", f"replace {STATE_FILE}.tmp", "fsync"]  # file, rename, directory
    assert store.load() == newer
    # a crash before the rename leaves the old file whole
    monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(OSError("crash")))
    crashed = sample_state()
    crashed.objects[1][0][1] = 900
    with pytest.raises(OSError):
        store.save(crashed)
    assert store.load() == newer


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not a valid state file"),
        (b"\xff\xfe", "not a valid state file"),
        (b"[]", "no JSON object"),
        (b'{"format": "something-else", "version": 1}', "format 'something-else'"),
        (
            b'{"format": "lwm2m-client-state", "version": 99, "endpoint": "dev-1"}',
            "version 99 is not supported",
        ),
        (
            b'{"format": "lwm2m-client-state", "version": 1, "endpoint": "dev-1",'
            b' "objects": {"3": {}}}',
            "object '3' is not kept",
        ),
        (
            b'{"format": "lwm2m-client-state", "version": 1, "endpoint": "dev-1",'
            b' "objects": {"1": {"0": {"1": ["x", 5]}}}}',
            "bad value",
        ),
    ],
)
def test_a_corrupt_or_unknown_file_is_refused_with_the_reason(
    tmp_path: FsPath, content: bytes, reason: str
) -> None:
    (tmp_path / STATE_FILE).write_bytes(content)
    with pytest.raises(StateError, match=reason) as info:
        StateStore(tmp_path).load()
    assert str(tmp_path / STATE_FILE) in str(info.value)


def test_values_encode_unambiguously() -> None:
    for value in (True, 0, -5, 2.0, "2", b"2", ObjLink(1, 2), {0: 1, 5: "x"}, None):
        assert decode_value(encode_value(value), "v") == value
        assert type(decode_value(encode_value(value), "v")) is type(value)
    with pytest.raises(StateError):
        encode_value(object())


def test_missing_file_is_no_state_and_erase(tmp_path: FsPath) -> None:
    store = StateStore(tmp_path / "nowhere")
    assert store.load() is None
    store.save(sample_state())
    store.erase()
    assert store.load() is None


# --------------------------------------------------------------------------- the client


def factory_client(state_dir: FsPath, *, bootstrap: bool = True) -> Client:
    client = Client("dev-1", state_dir=state_dir)
    Device(client.store, manufacturer="ACME")
    client.set("3/0/14", "+00:00")
    client.add_server("coap://127.0.0.1:5783", bootstrap=bootstrap)
    return client


async def test_client_saves_after_each_change_and_restores_at_start(tmp_path: FsPath) -> None:
    first = factory_client(tmp_path)
    first.persist("3/0/14")
    first.add_server("coap://127.0.0.1:1", short_server_id=7, lifetime=300)
    await first.start()
    try:
        context = first._conns.context(7)
        r = await first.engine.handle(
            Message.request(Code.PUT, "/1/0/1", payload=b"600", content_format=TEXT),
            context,
        )
        assert r.code == Code.CHANGED
        await first.engine.handle(
            Message.request(Code.PUT, "/3/0/14", query=["pmin=5", "pmax=50"]), context
        )
        first.set("3/0/14", "+05:00")
        await _settle()
        saved = StateStore(tmp_path).load()
        assert saved is not None and saved.objects[1][0][1] == 600
        assert saved.attributes == {7: {Path(3, 0, 14): {"pmin": 5.0, "pmax": 50.0}}}
        assert saved.resources == {Path(3, 0, 14): "+05:00"}
    finally:
        await first.stop(deregister=False)
    second = factory_client(tmp_path)
    second.persist("3/0/14")
    await second.start()
    try:
        assert second.get("1/0/1") == 600 and second.get("1/0/0") == 7
        assert second.get("3/0/14") == "+05:00"
        assert second._conns.contexts[7].attributes.get(Path(3, 0, 14)) == {
            "pmin": 5.0,
            "pmax": 50.0,
        }
        assert second.state_problem is None
    finally:
        await second.stop(deregister=False)


async def test_refused_state_falls_back_to_the_factory_configuration(tmp_path: FsPath) -> None:
    (tmp_path / STATE_FILE).write_text('{"format": "lwm2m-client-state", "version": 7}')
    client = factory_client(tmp_path)
    await client.start()
    try:
        assert client.state_problem is not None and "version 7" in client.state_problem
        security, servers = client._config_values()
        assert [v[1] for v in security.values()] == [True] and servers == {}  # bootstrap only
        assert client._coord is not None and client._coord.bootstrap is not None
        assert (tmp_path / (STATE_FILE + ".refused")).exists()  # kept for inspection
    finally:
        await client.stop(deregister=False)


async def test_state_of_another_endpoint_is_refused(tmp_path: FsPath) -> None:
    other = sample_state()
    other.endpoint = "someone-else"
    StateStore(tmp_path).save(other)
    client = factory_client(tmp_path)
    await client.start()
    try:
        assert client.state_problem is not None and "someone-else" in client.state_problem
    finally:
        await client.stop(deregister=False)


async def test_factory_reset_forgets_the_state(tmp_path: FsPath) -> None:
    StateStore(tmp_path).save(_dev1_state())
    client = factory_client(tmp_path)
    await client.start()
    assert client.get("1/0/0") == 101  # restored
    await client.factory_reset()
    try:
        assert StateStore(tmp_path).load() is None
        security, servers = client._config_values()
        assert servers == {} and [v[1] for v in security.values()] == [True]
        assert client._started  # running again, from the factory configuration
    finally:
        await client.stop(deregister=False)


def test_persist_needs_a_state_dir_and_a_writable_resource(tmp_path: FsPath) -> None:
    with pytest.raises(RuntimeError):
        Client("x").persist("3/0/14")
    client = factory_client(tmp_path)
    with pytest.raises(ValueError, match="writable"):
        client.persist("3/0/0")


def _dev1_state() -> SavedState:
    return SavedState(
        "dev-1",
        objects={
            0: {
                0: {0: "coap://127.0.0.1:5783", 1: True, 2: 3, 3: b"", 4: b"", 5: b""},
                1: {0: "coap://127.0.0.1:1", 1: False, 2: 3, 3: b"", 4: b"", 5: b"", 10: 101},
            },
            1: {0: {0: 101, 1: 300, 6: True, 7: "U"}},
        },
    )


async def _settle() -> None:
    import asyncio

    for _ in range(3):
        await asyncio.sleep(0)


def test_server_context_is_shared_per_ssid(tmp_path: FsPath) -> None:
    client = factory_client(tmp_path)
    assert client._conns.context(5) is client._conns.context(5)
    assert isinstance(client._conns.context(5), ServerContext)

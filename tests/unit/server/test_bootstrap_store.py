"""The bootstrap store: memory and SQLite keep the same rules (configurations, bootstrap
credentials, seeding from a file), and a damaged or foreign SQLite file is refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path as FsPath

import pytest

from lwm2m.coap.numbers import ContentFormat
from lwm2m.server.bootstrap_config import EndpointConfig, SecurityConfig, ServerConfig
from lwm2m.server.store import SecurityInfo, SqliteStore, StoreCorrupt, StoreError
from lwm2m.server.store.bootstrap_base import BootstrapStore
from lwm2m.server.store.bootstrap_memory import MemoryBootstrapStore
from lwm2m.server.store.bootstrap_sqlite import SqliteBootstrapStore


def rich() -> EndpointConfig:
    """A configuration that uses every field of the model."""
    return EndpointConfig(
        security=[
            SecurityConfig(
                "coaps://h:5684",
                short_server_id=7,
                security_mode=0,
                public_key_or_identity=b"id\xff",
                server_public_key=b"\x00\x01",
                secret_key=b"\x80\x7f",
                client_hold_off=3,
                bootstrap_account_timeout=0,
                instance_id=4,
            ),
            SecurityConfig("coap://bs:5783", bootstrap=True, instance_id=0),
        ],
        servers=[
            ServerConfig(
                7,
                lifetime=60,
                default_pmin=1,
                default_pmax=30,
                disable_timeout=10,
                notification_storing=False,
                binding="UQ",
                bootstrap_on_failure=True,
                mute_send=False,
                instance_id=2,
            )
        ],
        delete=["/0", "/1"],
        discover="/",
        read=["/1"],
        content_format=ContentFormat.SENML_CBOR,
        lwm2m_version="1.1",
        auto_security_ids=True,
    )


def simple(ssid: int = 1) -> EndpointConfig:
    return EndpointConfig(
        security=[SecurityConfig("coap://127.0.0.1:5683", short_server_id=ssid)],
        servers=[ServerConfig(ssid)],
    )


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: FsPath) -> Iterator[BootstrapStore]:
    opened: BootstrapStore = (
        MemoryBootstrapStore()
        if request.param == "memory"
        else SqliteBootstrapStore(tmp_path / "bs.db")
    )
    yield opened
    opened.close()


def test_configurations_round_trip(store: BootstrapStore) -> None:
    store.put_config("dev1", rich())
    store.put_config("dev2", simple())
    assert store.get_config("dev1") == rich()
    assert store.list_configs() == [("dev1", rich()), ("dev2", simple())]
    store.put_config("dev1", simple(5))  # replaced, keeps its place
    assert [name for name, _ in store.list_configs()] == ["dev1", "dev2"]
    assert store.get_config("dev1") == simple(5)
    assert store.delete_config("dev1") is True
    assert store.delete_config("dev1") is False
    assert store.get_config("dev1") is None


def test_a_read_configuration_is_a_copy(store: BootstrapStore) -> None:
    store.put_config("dev1", simple())
    got = store.get_config("dev1")
    assert got is not None
    got.servers[0].lifetime = 1
    assert store.get_config("dev1") == simple()


@pytest.mark.parametrize(
    ("name", "config", "words"),
    [
        ("", simple(), "endpoint name"),
        ("dev1", EndpointConfig(security=[SecurityConfig("ftp://x", short_server_id=1)]), "uri"),
        ("dev1", EndpointConfig(servers=[ServerConfig(0)]), "short_server_id"),
    ],
)
def test_unusable_configurations_are_refused(
    store: BootstrapStore, name: str, config: EndpointConfig, words: str
) -> None:
    store.put_config("keep", simple())
    with pytest.raises(StoreError, match=words):
        store.put_config(name, config)
    assert store.list_configs() == [("keep", simple())]


def test_security_info_and_identity_uniqueness(store: BootstrapStore) -> None:
    first = SecurityInfo.psk("dev1", "id1", b"\x01")
    store.put_security(first)
    with pytest.raises(StoreError, match="used by 'dev1'"):
        store.put_security(SecurityInfo.psk("dev2", "id1", b"\x02"))
    assert store.list_security() == [first]
    assert store.get_security_by_identity("id1") == first
    store.put_security(SecurityInfo.psk("dev1", "id2", b"\x03"))  # replaced: id1 is free
    assert store.get_security_by_identity("id1") is None
    store.put_security(SecurityInfo.psk("dev2", "id1", b"\x02"))
    assert store.delete_security("dev1") == SecurityInfo.psk("dev1", "id2", b"\x03")
    assert store.delete_security("dev1") is None
    assert [info.endpoint for info in store.list_security()] == ["dev2"]


def test_seeding_applies_new_or_changed_file_entries_only(store: BootstrapStore) -> None:
    psk = SecurityInfo.psk("dev1", "dev1-bs", b"\x0a")
    assert store.seed("dev1", simple(1), psk) is True
    assert store.get_config("dev1") == simple(1)
    assert store.get_security("dev1") == psk
    # a restart with the same file: what the REST API changed stays
    store.put_config("dev1", simple(2))
    assert store.seed("dev1", simple(1), psk) is False
    assert store.get_config("dev1") == simple(2)
    store.delete_config("dev1")
    assert store.seed("dev1", simple(1), psk) is False
    assert store.get_config("dev1") is None
    # the file's entry changed: it is applied again
    assert store.seed("dev1", simple(3), psk) is True
    assert store.get_config("dev1") == simple(3)


def test_a_seed_that_fails_changes_nothing(store: BootstrapStore) -> None:
    store.put_security(SecurityInfo.psk("other", "shared", b"\x01"))
    with pytest.raises(StoreError, match="used by 'other'"):
        store.seed("dev1", simple(), SecurityInfo.psk("dev1", "shared", b"\x02"))
    assert store.get_config("dev1") is None
    assert store.get_security("dev1") is None
    # and it was not remembered as applied
    store.delete_security("other")
    assert store.seed("dev1", simple(), SecurityInfo.psk("dev1", "shared", b"\x02")) is True


def test_sqlite_keeps_everything_across_a_restart(tmp_path: FsPath) -> None:
    path = tmp_path / "bs.db"
    with SqliteBootstrapStore(path) as first:
        first.put_config("dev1", rich())
        first.seed("dev2", simple(), SecurityInfo.psk("dev2", "id2", b"\x02"))
        first.put_security(SecurityInfo.psk("dev1", "id1", b"\x01"))
    with SqliteBootstrapStore(path) as again:
        assert again.get_config("dev1") == rich()
        assert again.get_security_by_identity("id1") == SecurityInfo.psk("dev1", "id1", b"\x01")
        assert again.seed("dev2", simple(), SecurityInfo.psk("dev2", "id2", b"\x02")) is False


def test_sqlite_refuses_a_file_that_is_not_sqlite(tmp_path: FsPath) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database, just text\n" * 100)
    with pytest.raises(StoreCorrupt, match="not a usable bootstrap database") as info:
        SqliteBootstrapStore(path)
    assert str(path) in str(info.value)
    assert path.read_bytes().startswith(b"this is not a database")  # untouched


def test_sqlite_refuses_the_servers_database(tmp_path: FsPath) -> None:
    path = tmp_path / "server.db"
    SqliteStore(path).close()
    with pytest.raises(StoreCorrupt, match="belongs to another application"):
        SqliteBootstrapStore(path)


def test_sqlite_refuses_a_newer_schema(tmp_path: FsPath) -> None:
    path = tmp_path / "bs.db"
    SqliteBootstrapStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="schema version 99"):
        SqliteBootstrapStore(path)


def test_sqlite_names_a_damaged_record(tmp_path: FsPath) -> None:
    path = tmp_path / "bs.db"
    with SqliteBootstrapStore(path) as store:
        store.put_config("dev1", simple())
    with sqlite3.connect(path) as db:
        db.execute("UPDATE configs SET data = '{\"security\": 5}' WHERE endpoint = 'dev1'")
    with SqliteBootstrapStore(path) as store:
        with pytest.raises(StoreCorrupt, match="'dev1'"):
            store.get_config("dev1")
        with pytest.raises(StoreCorrupt, match="security"):
            store.list_configs()
        assert store.delete_config("dev1") is True  # a damaged record can still go
        assert store.list_configs() == []

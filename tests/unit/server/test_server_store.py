"""Server stores: one suite run against MemoryStore and SqliteStore, then SQLite specifics."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path as FsPath

import pytest

from lwm2m.model.path import Path
from lwm2m.server.object_links import parse_object_links
from lwm2m.server.registration import Registration, RegistrationTable
from lwm2m.server.store import (
    MemoryStore,
    Observation,
    SecurityInfo,
    SecurityMode,
    ServerStore,
    SqliteStore,
    StoreCorrupt,
    StoreError,
)
from lwm2m.server.store.codec import (
    decode_observation,
    decode_registration,
    decode_security,
    encode_observation,
    encode_registration,
    encode_security,
)
from lwm2m.server.store.sqlite import APPLICATION_ID, SCHEMA_VERSION


def reg(reg_id: str = "r1", endpoint: str = "dev1", **changes: object) -> Registration:
    fields: dict[str, object] = {
        "id": reg_id,
        "endpoint": endpoint,
        "lifetime": 300,
        "version": "1.1",
        "binding": "U",
        "queue_mode": False,
        "sms_number": None,
        "object_links": parse_object_links('</>;rt="oma.lwm2m";ct=110, </1/0>,</3/0>,</5>;ver=1.1'),
        "address": ("127.0.0.1", 5683),
        "registered_at": 1000.0,
        "last_update": 1000.5,
        "expires_at": 1310.5,
        "identity": None,
        "extra": (("imei", "35"), ("flag", None)),
    }
    fields.update(changes)
    return Registration(**fields)  # type: ignore[arg-type]


def obs(token: bytes = b"\x01\x02", reg_id: str = "r1", **changes: object) -> Observation:
    fields: dict[str, object] = {
        "token": token,
        "registration_id": reg_id,
        "endpoint": "dev1",
        "paths": (Path(3, 0, 9),),
        "content_format": 112,
        "attributes": (("pmin", "5"), ("pmax", "60")),
        "created_at": 1001.0,
    }
    fields.update(changes)
    return Observation(**fields)  # type: ignore[arg-type]


PSK = SecurityInfo.psk("dev1", "id-1", bytes.fromhex("00112233"))


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: FsPath) -> Iterator[ServerStore]:
    s: ServerStore = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.db")
    yield s
    s.close()


# --- shared suite --------------------------------------------------------------------


class TestRegistrations:
    def test_put_get_list_delete(self, store: ServerStore) -> None:
        a, b = reg("r1", "dev1"), reg("r2", "dev2", identity="id-2", sms_number="123")
        store.put_registration(a)
        store.put_registration(b)
        assert store.get_registration("r1") == a
        assert store.get_registration_by_endpoint("dev2") == b
        assert sorted(store.list_registrations(), key=lambda r: r.id) == [a, b]
        assert store.delete_registration("r1") == a
        assert store.delete_registration("r1") is None
        assert store.get_registration("r1") is None
        assert store.get_registration_by_endpoint("dev1") is None
        assert store.list_registrations() == [b]

    def test_put_same_id_updates_and_keeps_observations(self, store: ServerStore) -> None:
        store.put_registration(reg())
        store.put_observation(obs())
        updated = reg(lifetime=60, last_update=2000.0, expires_at=2070.0)
        store.put_registration(updated)
        assert store.get_registration("r1") == updated
        assert store.list_observations("r1") == [obs()]

    def test_new_id_for_endpoint_replaces_old_and_its_observations(
        self, store: ServerStore
    ) -> None:
        store.put_registration(reg("r1"))
        store.put_observation(obs(b"\x01", "r1"))
        store.put_registration(reg("r9"))
        assert store.get_registration("r1") is None
        assert store.get_registration_by_endpoint("dev1") == reg("r9")
        assert store.get_observation(b"\x01") is None
        assert store.list_registrations() == [reg("r9")]

    def test_missing_lookups(self, store: ServerStore) -> None:
        assert store.get_registration("x") is None
        assert store.get_registration_by_endpoint("x") is None
        assert store.list_registrations() == []


class TestObservations:
    def test_put_get_list_delete(self, store: ServerStore) -> None:
        store.put_registration(reg("r1", "dev1"))
        store.put_registration(reg("r2", "dev2"))
        o1 = obs(b"\x01", "r1")
        o2 = obs(b"\x02", "r2", endpoint="dev2", composite=True, paths=(Path(3, 0), Path()))
        store.put_observation(o1)
        store.put_observation(o2)
        assert store.get_observation(b"\x01") == o1
        assert store.list_observations("r2") == [o2]
        assert sorted(store.list_observations(), key=lambda o: o.token) == [o1, o2]
        assert store.delete_observation(b"\x01") == o1
        assert store.delete_observation(b"\x01") is None
        assert store.list_observations("r1") == []

    def test_put_replaces_same_token(self, store: ServerStore) -> None:
        store.put_registration(reg())
        store.put_observation(obs())
        store.put_observation(obs(content_format=None, attributes=()))
        assert store.list_observations() == [obs(content_format=None, attributes=())]

    def test_unknown_registration_refused(self, store: ServerStore) -> None:
        with pytest.raises(StoreError):
            store.put_observation(obs(reg_id="ghost"))
        assert store.list_observations() == []

    def test_deleting_registration_deletes_its_observations(self, store: ServerStore) -> None:
        store.put_registration(reg("r1", "dev1"))
        store.put_registration(reg("r2", "dev2"))
        store.put_observation(obs(b"\x01", "r1"))
        store.put_observation(obs(b"\x02", "r2"))
        store.delete_registration("r1")
        assert [o.token for o in store.list_observations()] == [b"\x02"]


class TestSecurity:
    def test_put_get_list_delete(self, store: ServerStore) -> None:
        rpk = SecurityInfo.rpk("dev2", b"\x30\x59")
        x509 = SecurityInfo.x509("dev3")
        for info in (PSK, rpk, x509):
            store.put_security(info)
        assert store.get_security("dev1") == PSK
        assert store.get_security_by_identity("id-1") == PSK
        assert store.get_security_by_identity("nobody") is None
        assert sorted(store.list_security(), key=lambda i: i.endpoint) == [PSK, rpk, x509]
        assert store.delete_security("dev1") == PSK
        assert store.delete_security("dev1") is None
        assert store.get_security_by_identity("id-1") is None

    def test_replace_frees_old_identity(self, store: ServerStore) -> None:
        store.put_security(PSK)
        store.put_security(SecurityInfo.psk("dev1", "id-new", b"\x01"))
        assert store.get_security_by_identity("id-1") is None
        assert store.get_security_by_identity("id-new") is not None
        store.put_security(SecurityInfo.psk("dev2", "id-1", b"\x02"))  # now free
        assert store.get_security_by_identity("id-1") == SecurityInfo.psk("dev2", "id-1", b"\x02")

    def test_identity_of_another_endpoint_refused(self, store: ServerStore) -> None:
        store.put_security(PSK)
        with pytest.raises(StoreError, match="id-1"):
            store.put_security(SecurityInfo.psk("dev2", "id-1", b"\x09"))
        assert store.get_security("dev2") is None
        assert store.get_security_by_identity("id-1") == PSK


# --- values ----------------------------------------------------------------------------


class TestValues:
    @pytest.mark.parametrize(
        "make",
        [
            lambda: SecurityInfo("dev", SecurityMode.PSK, psk_identity="x"),
            lambda: SecurityInfo("dev", SecurityMode.PSK, psk_identity="x", psk_key=b""),
            lambda: SecurityInfo("dev", SecurityMode.RPK),
            lambda: SecurityInfo("dev", SecurityMode.X509, psk_key=b"\x01"),
            lambda: SecurityInfo("", SecurityMode.X509),
            lambda: obs(token=b""),
            lambda: obs(token=b"123456789"),
            lambda: obs(paths=()),
            lambda: obs(paths=(Path(3), Path(4))),
        ],
    )
    def test_invalid_values_refused(self, make: object) -> None:
        with pytest.raises(StoreError):
            make()  # type: ignore[operator]

    def test_codec_round_trips(self) -> None:
        r = reg(identity="id", sms_number="49", queue_mode=True)
        assert decode_registration(encode_registration(r)) == r
        o = obs(composite=True, paths=(Path(), Path(3, 0, 1, 2)))
        assert decode_observation(encode_observation(o)) == o
        cert = SecurityInfo.x509("dev", b"\x30\x82")
        for info in (PSK, SecurityInfo.rpk("d", b"\x01"), cert):
            assert decode_security(encode_security(info)) == info

    @pytest.mark.parametrize(
        "text",
        [
            "not json",
            "[]",
            '{"id": "r1"}',
            encode_registration(reg()).replace('"lifetime":300', '"lifetime":"300"'),
            encode_registration(reg()).replace('"lifetime":300', '"lifetime":true'),
            encode_registration(reg()).replace('"address":["127.0.0.1",5683]', '"address":[1]'),
            encode_registration(reg()).replace("</1/0>", "</1/0/0/0/0>"),
            encode_registration(reg()).replace('"extra":[["imei","35"]', '"extra":[["imei",35]'),
        ],
    )
    def test_damaged_records_raise_store_corrupt(self, text: str) -> None:
        with pytest.raises(StoreCorrupt):
            decode_registration(text)

    @pytest.mark.parametrize(
        ("decode", "text"),
        [
            (decode_observation, encode_observation(obs()).replace('"0102"', '"zz"')),
            (decode_observation, encode_observation(obs()).replace('"/3/0/9"', '"/x"')),
            (decode_observation, encode_observation(obs()).replace('"0102"', "null")),
            (decode_security, encode_security(PSK).replace('"psk"', '"magic"')),
            (
                decode_security,
                encode_security(PSK).replace('"psk_key":"00112233"', '"psk_key":null'),
            ),
        ],
    )
    def test_damaged_other_records(self, decode: object, text: str) -> None:
        with pytest.raises(StoreCorrupt):
            decode(text)  # type: ignore[operator]


# --- SQLite specifics ---------------------------------------------------------------------


class TestSqlite:
    def test_everything_survives_reopen(self, tmp_path: FsPath) -> None:
        path = tmp_path / "server.db"
        with SqliteStore(path) as store:
            store.put_registration(reg("r1", "dev1"))
            store.put_registration(reg("r2", "dev2"))
            store.put_observation(obs(b"\x01", "r2"))
            store.put_security(PSK)
            store.delete_registration("r1")
        with SqliteStore(path) as store:
            assert store.list_registrations() == [reg("r2", "dev2")]
            assert store.list_observations() == [obs(b"\x01", "r2")]
            assert store.get_security_by_identity("id-1") == PSK

    def test_registration_table_survives_restart(self, tmp_path: FsPath) -> None:
        path = tmp_path / "server.db"
        with SqliteStore(path) as store:
            table = RegistrationTable(store=store)
            event = table.register(["ep=dev1", "lt=60"], b"</1/0>,</3/0>", 40, ("::1", 5), 1e9)
        with SqliteStore(path) as store:
            table = RegistrationTable(store=store)
            assert table.get(event.registration.id) == event.registration
            assert table.get_by_endpoint("dev1") == event.registration

    def test_file_is_marked_versioned_and_in_wal_mode(self, tmp_path: FsPath) -> None:
        path = tmp_path / "server.db"
        SqliteStore(path).close()
        db = sqlite3.connect(path)
        try:
            assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            db.close()

    def test_garbage_file_is_refused_and_left_alone(self, tmp_path: FsPath) -> None:
        path = tmp_path / "server.db"
        garbage = b"this is not a database at all\n" * 200
        path.write_bytes(garbage)
        with pytest.raises(StoreCorrupt, match=r"server\.db"):
            SqliteStore(path)
        assert path.read_bytes() == garbage

    def test_damaged_database_is_refused(self, tmp_path: FsPath) -> None:
        path = tmp_path / "server.db"
        with SqliteStore(path) as store:
            for i in range(200):
                store.put_registration(reg(f"r{i}", f"dev{i}"))
        db = sqlite3.connect(path)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        data = bytearray(path.read_bytes())
        page_size = 4096
        for offset in range(page_size, len(data), 7):  # scribble over every page but the first
            data[offset] = 0xA5
        path.write_bytes(bytes(data))
        with pytest.raises(StoreCorrupt, match="integrity check"):
            SqliteStore(path)

    def test_foreign_database_is_refused(self, tmp_path: FsPath) -> None:
        path = tmp_path / "other.db"
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE things (x)")
        db.commit()
        db.close()
        with pytest.raises(StoreCorrupt, match="another application"):
            SqliteStore(path)
        db = sqlite3.connect(path)
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("things",)]
        db.close()

    def test_newer_schema_is_refused(self, tmp_path: FsPath) -> None:
        path = tmp_path / "server.db"
        SqliteStore(path).close()
        db = sqlite3.connect(path)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        db.close()
        with pytest.raises(StoreError, match="schema version"):
            SqliteStore(path)

    def test_missing_table_is_refused(self, tmp_path: FsPath) -> None:
        path = tmp_path / "server.db"
        SqliteStore(path).close()
        db = sqlite3.connect(path)
        db.execute("DROP TABLE security")
        db.close()
        with pytest.raises(StoreCorrupt, match="incomplete schema"):
            SqliteStore(path)

    def test_damaged_row_raises_on_read(self, tmp_path: FsPath) -> None:
        path = tmp_path / "server.db"
        with SqliteStore(path) as store:
            store.put_registration(reg())
        db = sqlite3.connect(path)
        db.execute("UPDATE registrations SET data = '{broken'")
        db.commit()
        db.close()
        with SqliteStore(path) as store, pytest.raises(StoreCorrupt, match="'r1'"):
            store.list_registrations()
        with SqliteStore(path) as store, pytest.raises(StoreCorrupt):
            store.delete_registration("r1")
        db = sqlite3.connect(path)
        assert db.execute("SELECT count(*) FROM registrations").fetchone()[0] == 1
        db.close()

    def test_unopenable_path_is_store_error(self, tmp_path: FsPath) -> None:
        with pytest.raises(StoreError):
            SqliteStore(tmp_path / "missing-dir" / "server.db")

    def test_failed_write_rolls_back(self, tmp_path: FsPath) -> None:
        with SqliteStore(tmp_path / "server.db") as store:
            store.put_registration(reg())
            with pytest.raises(StoreError):
                store.put_observation(obs(reg_id="ghost"))
            # The connection is usable and consistent after the failure.
            store.put_observation(obs())
            assert store.list_observations() == [obs()]

"""The bootstrap store in one SQLite file (stdlib ``sqlite3``), for ``--db PATH``.

The file has its own ``application_id`` (the LwM2M server's database is
refused); opening, checking and transactions are those of
:class:`~lwm2m.server.store.sqlite_file.SqliteFile`. Records are the
JSON text of :mod:`lwm2m.server.store.bootstrap_base` and
:mod:`lwm2m.server.store.codec`.
"""

from __future__ import annotations

import sqlite3

from lwm2m.server.bootstrap_config import EndpointConfig
from lwm2m.server.store.base import SecurityInfo, StoreError
from lwm2m.server.store.bootstrap_base import decode_config, encode_config, seed_record
from lwm2m.server.store.codec import decode_security, encode_security
from lwm2m.server.store.sqlite_file import SqliteFile

__all__ = ["BOOTSTRAP_APPLICATION_ID", "BOOTSTRAP_SCHEMA_VERSION", "SqliteBootstrapStore"]

#: Marks the file as a bootstrap store of this package ("LwMB").
BOOTSTRAP_APPLICATION_ID = 0x4C774D42
BOOTSTRAP_SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE configs (endpoint TEXT PRIMARY KEY, data TEXT NOT NULL)",
    """CREATE TABLE security (
        endpoint TEXT PRIMARY KEY,
        identity TEXT UNIQUE,
        data TEXT NOT NULL
    )""",
    "CREATE TABLE seeded (endpoint TEXT PRIMARY KEY, data TEXT NOT NULL)",
)
_TABLES = frozenset({"configs", "security", "seeded"})


class SqliteBootstrapStore(SqliteFile):
    """Implements :class:`~lwm2m.server.store.bootstrap_base.BootstrapStore` in one file."""

    APPLICATION_ID = BOOTSTRAP_APPLICATION_ID
    SCHEMA_VERSION = BOOTSTRAP_SCHEMA_VERSION
    SCHEMA = _SCHEMA
    TABLES = _TABLES
    KIND = "bootstrap database"

    # --- configurations -------------------------------------------------------------
    def put_config(self, endpoint: str, config: EndpointConfig) -> None:
        text = encode_config(endpoint, config)
        with self._write() as db:
            db.execute(
                "INSERT INTO configs (endpoint, data) VALUES (?, ?) "
                "ON CONFLICT(endpoint) DO UPDATE SET data = excluded.data",
                (endpoint, text),
            )

    def get_config(self, endpoint: str) -> EndpointConfig | None:
        row = self._one("SELECT data FROM configs WHERE endpoint = ?", (endpoint,))
        return None if row is None else decode_config(row[0], endpoint)

    def delete_config(self, endpoint: str) -> bool:
        with self._write() as db:
            gone = db.execute("DELETE FROM configs WHERE endpoint = ?", (endpoint,)).rowcount
        return gone > 0

    def list_configs(self) -> list[tuple[str, EndpointConfig]]:
        return [
            (endpoint, decode_config(data, endpoint))
            for endpoint, data in self._rows("SELECT endpoint, data FROM configs ORDER BY rowid")
        ]

    # --- security info --------------------------------------------------------------
    def _put_security(self, db: sqlite3.Connection, info: SecurityInfo) -> None:
        if info.psk_identity is not None:
            owner = db.execute(
                "SELECT endpoint FROM security WHERE identity = ? AND endpoint <> ?",
                (info.psk_identity, info.endpoint),
            ).fetchone()
            if owner is not None:
                raise StoreError(f"PSK identity {info.psk_identity!r} is used by {owner[0]!r}")
        db.execute(
            "INSERT INTO security (endpoint, identity, data) VALUES (?, ?, ?) "
            "ON CONFLICT(endpoint) DO UPDATE SET identity = excluded.identity, "
            "data = excluded.data",
            (info.endpoint, info.psk_identity, encode_security(info)),
        )

    def put_security(self, info: SecurityInfo) -> None:
        with self._write() as db:
            self._put_security(db, info)

    def get_security(self, endpoint: str) -> SecurityInfo | None:
        row = self._one("SELECT data FROM security WHERE endpoint = ?", (endpoint,))
        return None if row is None else decode_security(row[0], f"security info {endpoint!r}")

    def get_security_by_identity(self, identity: str) -> SecurityInfo | None:
        row = self._one("SELECT endpoint, data FROM security WHERE identity = ?", (identity,))
        return None if row is None else decode_security(row[1], f"security info {row[0]!r}")

    def delete_security(self, endpoint: str) -> SecurityInfo | None:
        with self._write() as db:
            row = db.execute("SELECT data FROM security WHERE endpoint = ?", (endpoint,)).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM security WHERE endpoint = ?", (endpoint,))
        return decode_security(row[0], f"security info {endpoint!r}")

    def list_security(self) -> list[SecurityInfo]:
        return [
            decode_security(data, f"security info {endpoint!r}")
            for endpoint, data in self._rows("SELECT endpoint, data FROM security ORDER BY rowid")
        ]

    # --- seeding --------------------------------------------------------------------
    def seed(self, endpoint: str, config: EndpointConfig, security: SecurityInfo | None) -> bool:
        record = seed_record(endpoint, config, security)
        text = encode_config(endpoint, config)
        with self._write() as db:
            row = db.execute("SELECT data FROM seeded WHERE endpoint = ?", (endpoint,)).fetchone()
            if row is not None and row[0] == record:
                return False
            if security is not None:
                self._put_security(db, security)
            db.execute(
                "INSERT INTO configs (endpoint, data) VALUES (?, ?) "
                "ON CONFLICT(endpoint) DO UPDATE SET data = excluded.data",
                (endpoint, text),
            )
            db.execute(
                "INSERT INTO seeded (endpoint, data) VALUES (?, ?) "
                "ON CONFLICT(endpoint) DO UPDATE SET data = excluded.data",
                (endpoint, record),
            )
        return True

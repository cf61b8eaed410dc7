"""The bootstrap store in one SQLite file (stdlib ``sqlite3``), for ``--db PATH``.

The file is marked with its own ``application_id`` and the schema version in
``user_version``: a file that is not SQLite, is damaged, belongs to another
program (the LwM2M server's database included) or has a newer schema raises
:class:`StoreCorrupt` (or :class:`StoreError`) on opening, naming the file, and
is left untouched. The journal runs in WAL mode and every write is one
transaction, so a crash keeps either the old or the new state. Records are the
JSON text of :mod:`lwm2m.server.store.bootstrap_base` and
:mod:`lwm2m.server.store.codec`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any

from lwm2m.server.bootstrap_config import EndpointConfig
from lwm2m.server.store.base import SecurityInfo, StoreCorrupt, StoreError
from lwm2m.server.store.bootstrap_base import decode_config, encode_config, seed_record
from lwm2m.server.store.codec import decode_security, encode_security

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


class SqliteBootstrapStore:
    """Implements :class:`~lwm2m.server.store.bootstrap_base.BootstrapStore` in one file."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open bootstrap database {self.path!r}: {exc}") from None
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreCorrupt(
                f"{self.path!r} is not a usable bootstrap database (damaged or not SQLite): {exc}"
            ) from None
        except BaseException:
            self._db.close()
            raise

    # --- opening ----------------------------------------------------------------
    def _pragma(self, name: str) -> Any:
        return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    def _open(self) -> None:
        app_id = self._pragma("application_id")  # fails here on a file that is not SQLite
        version = self._pragma("user_version")
        tables = {
            row[0]
            for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if app_id == 0 and version == 0 and not tables:
            self._create()
        elif app_id != BOOTSTRAP_APPLICATION_ID:
            raise StoreCorrupt(
                f"{self.path!r} is not a bootstrap database (it belongs to another application)"
            )
        elif version > BOOTSTRAP_SCHEMA_VERSION:
            raise StoreError(
                f"{self.path!r} has bootstrap schema version {version}; this version of "
                f"lwm2m reads up to {BOOTSTRAP_SCHEMA_VERSION}"
            )
        elif version < 1 or not tables >= _TABLES:
            raise StoreCorrupt(f"{self.path!r} has an incomplete schema (version {version})")
        check = self._pragma("quick_check(1)")
        if check != "ok":
            raise StoreCorrupt(f"{self.path!r} failed its integrity check: {check}")
        self._db.execute("PRAGMA synchronous = NORMAL")  # durable enough with WAL

    def _create(self) -> None:
        if str(self._pragma("journal_mode=WAL")).lower() != "wal" and self.path != ":memory:":
            raise StoreError(f"{self.path!r}: cannot switch the journal to WAL mode")
        with self._write() as db:
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA application_id = {BOOTSTRAP_APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {BOOTSTRAP_SCHEMA_VERSION}")

    # --- transactions -------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; any failure rolls back and raises StoreError."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path!r}: cannot start a transaction: {exc}") from None
        try:
            yield self._db
        except BaseException as exc:
            if self._db.in_transaction:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"{self.path!r}: write failed: {exc}") from None
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise StoreError(f"{self.path!r}: commit failed: {exc}") from None

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path!r}: read failed: {exc}") from None

    def _one(self, sql: str, args: tuple[Any, ...]) -> Any:
        rows = self._rows(sql, args)
        return rows[0] if rows else None

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

    # --- lifetime -------------------------------------------------------------------
    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqliteBootstrapStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

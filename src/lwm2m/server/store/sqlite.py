"""The default persistent store: one SQLite file (stdlib ``sqlite3``).

The file is marked with an ``application_id`` and its schema version in
``user_version``; opening a file that is not a database, belongs to another
program, is damaged, or has a newer schema raises :class:`StoreCorrupt` (or
:class:`StoreError`) at once and leaves the file untouched. The journal runs in
WAL mode and every write is one transaction, so a crash keeps either the old or
the new state. Records are JSON (see :mod:`lwm2m.server.store.codec`) beside
the columns the queries need.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any, TypeVar

from lwm2m.server.store.base import (
    Observation,
    Registration,
    SecurityInfo,
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

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "SqliteStore"]

#: Marks the file as a server store of this package ("LwMS").
APPLICATION_ID = 0x4C774D53
SCHEMA_VERSION = 1

_SCHEMA = (
    """CREATE TABLE registrations (
        id TEXT PRIMARY KEY,
        endpoint TEXT NOT NULL UNIQUE,
        expires_at REAL NOT NULL,
        data TEXT NOT NULL
    )""",
    """CREATE TABLE observations (
        token BLOB PRIMARY KEY,
        registration_id TEXT NOT NULL REFERENCES registrations(id) ON DELETE CASCADE,
        data TEXT NOT NULL
    )""",
    "CREATE INDEX observations_by_registration ON observations(registration_id)",
    """CREATE TABLE security (
        endpoint TEXT PRIMARY KEY,
        identity TEXT UNIQUE,
        data TEXT NOT NULL
    )""",
)
_TABLES = frozenset({"registrations", "observations", "security"})
_T = TypeVar("_T")


class SqliteStore:
    """Implements :class:`~lwm2m.server.store.ServerStore` in one SQLite file."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open server database {self.path!r}: {exc}") from None
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreCorrupt(
                f"{self.path!r} is not a usable server database (damaged or not SQLite): {exc}"
            ) from None
        except BaseException:
            self._db.close()
            raise

    # --- opening ----------------------------------------------------------------
    def _pragma(self, name: str) -> Any:
        return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    def _open(self) -> None:
        app_id = self._pragma("application_id")  # fails here on a non-database file
        version = self._pragma("user_version")
        tables = {
            row[0]
            for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if app_id == 0 and version == 0 and not tables:
            self._create()
        elif app_id != APPLICATION_ID:
            raise StoreCorrupt(f"{self.path!r} is a database of another application")
        elif version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path!r} has schema version {version}; this version of lwm2m "
                f"reads up to {SCHEMA_VERSION}"
            )
        elif version < 1 or not tables >= _TABLES:
            raise StoreCorrupt(f"{self.path!r} has an incomplete schema (version {version})")
        check = self._pragma("quick_check(1)")  # first problem only
        if check != "ok":
            raise StoreCorrupt(f"{self.path!r} failed its integrity check: {check}")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA synchronous = NORMAL")  # durable enough with WAL

    def _create(self) -> None:
        if str(self._pragma("journal_mode=WAL")).lower() != "wal" and self.path != ":memory:":
            raise StoreError(f"{self.path!r}: cannot switch the journal to WAL mode")
        with self._write() as db:
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

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
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"{self.path!r}: write failed: {exc}") from None
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"{self.path!r}: commit failed: {exc}") from None

    def _rollback(self) -> None:
        if self._db.in_transaction:
            with suppress(sqlite3.Error):  # SQLite may have rolled back on its own
                self._db.execute("ROLLBACK")

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path!r}: read failed: {exc}") from None

    def _one(self, sql: str, args: tuple[Any, ...]) -> Any:
        rows = self._rows(sql, args)
        return rows[0] if rows else None

    def _pop(
        self, table: str, key: str, value: object, decode: Callable[[str, str], _T], what: str
    ) -> _T | None:
        """Delete the row of ``table`` whose column ``key`` is ``value``; its record or None."""
        with self._write() as db:
            row = db.execute(f"SELECT data FROM {table} WHERE {key} = ?", (value,)).fetchone()
            if row is None:
                return None
            record = decode(row[0], what)
            db.execute(f"DELETE FROM {table} WHERE {key} = ?", (value,))
        return record

    # --- registrations -------------------------------------------------------------
    def put_registration(self, registration: Registration) -> None:
        data = encode_registration(registration)
        with self._write() as db:
            # Another id for the same endpoint is replaced; ON DELETE CASCADE drops
            # its observations. An upsert (not REPLACE) keeps this id's observations.
            db.execute(
                "DELETE FROM registrations WHERE endpoint = ? AND id <> ?",
                (registration.endpoint, registration.id),
            )
            db.execute(
                "INSERT INTO registrations (id, endpoint, expires_at, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET endpoint = excluded.endpoint, "
                "expires_at = excluded.expires_at, data = excluded.data",
                (registration.id, registration.endpoint, registration.expires_at, data),
            )

    def get_registration(self, reg_id: str) -> Registration | None:
        row = self._one("SELECT data FROM registrations WHERE id = ?", (reg_id,))
        return None if row is None else decode_registration(row[0], f"registration {reg_id!r}")

    def get_registration_by_endpoint(self, endpoint: str) -> Registration | None:
        row = self._one("SELECT id, data FROM registrations WHERE endpoint = ?", (endpoint,))
        return None if row is None else decode_registration(row[1], f"registration {row[0]!r}")

    def delete_registration(self, reg_id: str) -> Registration | None:
        return self._pop(
            "registrations", "id", reg_id, decode_registration, f"registration {reg_id!r}"
        )

    def list_registrations(self) -> list[Registration]:
        return [
            decode_registration(data, f"registration {reg_id!r}")
            for reg_id, data in self._rows("SELECT id, data FROM registrations ORDER BY rowid")
        ]

    # --- observations -------------------------------------------------------------
    def put_observation(self, observation: Observation) -> None:
        data = encode_observation(observation)
        with self._write() as db:
            known = db.execute(
                "SELECT 1 FROM registrations WHERE id = ?", (observation.registration_id,)
            ).fetchone()
            if known is None:
                raise StoreError(
                    f"observation for unknown registration {observation.registration_id!r}"
                )
            db.execute(
                "INSERT OR REPLACE INTO observations (token, registration_id, data) "
                "VALUES (?, ?, ?)",
                (observation.token, observation.registration_id, data),
            )

    def get_observation(self, token: bytes) -> Observation | None:
        row = self._one("SELECT data FROM observations WHERE token = ?", (token,))
        return None if row is None else decode_observation(row[0], f"observation {token.hex()}")

    def delete_observation(self, token: bytes) -> Observation | None:
        return self._pop(
            "observations", "token", token, decode_observation, f"observation {token.hex()}"
        )

    def list_observations(self, registration_id: str | None = None) -> list[Observation]:
        if registration_id is None:
            rows = self._rows("SELECT token, data FROM observations ORDER BY rowid")
        else:
            rows = self._rows(
                "SELECT token, data FROM observations WHERE registration_id = ? ORDER BY rowid",
                (registration_id,),
            )
        return [decode_observation(data, f"observation {bytes(tok).hex()}") for tok, data in rows]

    # --- security info --------------------------------------------------------
    def put_security(self, info: SecurityInfo) -> None:
        data = encode_security(info)
        with self._write() as db:
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
                (info.endpoint, info.psk_identity, data),
            )

    def get_security(self, endpoint: str) -> SecurityInfo | None:
        row = self._one("SELECT data FROM security WHERE endpoint = ?", (endpoint,))
        return None if row is None else decode_security(row[0], f"security info {endpoint!r}")

    def get_security_by_identity(self, identity: str) -> SecurityInfo | None:
        row = self._one("SELECT endpoint, data FROM security WHERE identity = ?", (identity,))
        return None if row is None else decode_security(row[1], f"security info {row[0]!r}")

    def delete_security(self, endpoint: str) -> SecurityInfo | None:
        return self._pop(
            "security", "endpoint", endpoint, decode_security, f"security info {endpoint!r}"
        )

    def list_security(self) -> list[SecurityInfo]:
        return [
            decode_security(data, f"security info {endpoint!r}")
            for endpoint, data in self._rows("SELECT endpoint, data FROM security ORDER BY rowid")
        ]

    # --- lifetime -----------------------------------------------------------------
    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

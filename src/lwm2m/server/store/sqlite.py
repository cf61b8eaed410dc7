"""The default persistent store: one SQLite file (stdlib ``sqlite3``).

Opening, checking and transactions are those of
:class:`~lwm2m.server.store.sqlite_file.SqliteFile`. Records are JSON (see
:mod:`lwm2m.server.store.codec`) beside the columns the queries need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from lwm2m.server.store.base import (
    Observation,
    Registration,
    SecurityInfo,
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
from lwm2m.server.store.sqlite_file import SqliteFile

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


class SqliteStore(SqliteFile):
    """Implements :class:`~lwm2m.server.store.ServerStore` in one SQLite file."""

    APPLICATION_ID = APPLICATION_ID
    SCHEMA_VERSION = SCHEMA_VERSION
    SCHEMA = _SCHEMA
    TABLES = _TABLES
    KIND = "server database"
    PRAGMAS = ("foreign_keys = ON", "synchronous = NORMAL")  # durable enough with WAL

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

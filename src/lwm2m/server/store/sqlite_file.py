"""One SQLite file of this package: how the stores open, check and write it.

A file is marked with an ``application_id`` and its schema version in
``user_version``. Opening a file that is not a database, belongs to another
program (or to another store of this package), is damaged, or has a newer schema
raises :class:`StoreCorrupt` (or :class:`StoreError`) at once, naming the file,
and leaves it untouched. The journal runs in WAL mode and every write is one
transaction, so a crash keeps either the old or the new state.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any, ClassVar, Self

from lwm2m.server.store.base import StoreCorrupt, StoreError

__all__ = ["SqliteFile"]


class SqliteFile:
    """The SQLite file under a store; subclasses give its marks and schema."""

    APPLICATION_ID: ClassVar[int]
    SCHEMA_VERSION: ClassVar[int]
    SCHEMA: ClassVar[tuple[str, ...]]
    TABLES: ClassVar[frozenset[str]]
    #: What the file is, in messages ("server database").
    KIND: ClassVar[str]
    #: PRAGMAs run on every opening, after the checks.
    PRAGMAS: ClassVar[tuple[str, ...]] = ("synchronous = NORMAL",)  # durable enough with WAL

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.KIND} {self.path!r}: {exc}") from None
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreCorrupt(
                f"{self.path!r} is not a usable {self.KIND} (damaged or not SQLite): {exc}"
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
        elif app_id != self.APPLICATION_ID:
            raise StoreCorrupt(
                f"{self.path!r} is not a {self.KIND} (it belongs to another application)"
            )
        elif version > self.SCHEMA_VERSION:
            raise StoreError(
                f"{self.path!r} has {self.KIND} schema version {version}; this version of "
                f"lwm2m reads up to {self.SCHEMA_VERSION}"
            )
        elif version < 1 or not tables >= self.TABLES:
            raise StoreCorrupt(f"{self.path!r} has an incomplete schema (version {version})")
        check = self._pragma("quick_check(1)")  # first problem only
        if check != "ok":
            raise StoreCorrupt(f"{self.path!r} failed its integrity check: {check}")
        for pragma in self.PRAGMAS:
            self._db.execute(f"PRAGMA {pragma}")

    def _create(self) -> None:
        if str(self._pragma("journal_mode=WAL")).lower() != "wal" and self.path != ":memory:":
            raise StoreError(f"{self.path!r}: cannot switch the journal to WAL mode")
        with self._write() as db:
            for statement in self.SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA application_id = {self.APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {self.SCHEMA_VERSION}")

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

    # --- lifetime -----------------------------------------------------------------
    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

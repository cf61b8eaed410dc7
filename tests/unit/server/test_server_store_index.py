"""Observations by registration: the memory store's index and the SQLite index.

The server lists one registration's observations on every Update, so neither
store may scan all observations for it. The memory store keeps a per-registration
index; a random sequence of operations must leave it equal to a full scan (and to
what the SQLite store answers), whatever registrations are replaced or deleted.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path as FsPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwm2m.model.path import Path
from lwm2m.server.object_links import parse_object_links
from lwm2m.server.registration import Registration
from lwm2m.server.store import MemoryStore, Observation, SqliteStore, StoreError

REG_IDS = ("r1", "r2", "r3")
ENDPOINTS = ("dev1", "dev2")
TOKENS = tuple(bytes([n]) for n in range(1, 6))


def registration(reg_id: str, endpoint: str) -> Registration:
    return Registration(
        id=reg_id,
        endpoint=endpoint,
        lifetime=300,
        version="1.1",
        binding="U",
        queue_mode=False,
        sms_number=None,
        object_links=parse_object_links("</3/0>"),
        address=("127.0.0.1", 5683),
        registered_at=1000.0,
        last_update=1000.0,
        expires_at=1300.0,
    )


def observation(token: bytes, reg_id: str) -> Observation:
    return Observation(token, reg_id, "dev", (Path(3, 0, token[0]),))


def tokens(observations: list[Observation]) -> list[bytes]:
    return [o.token for o in observations]


def scan(store: MemoryStore, reg_id: str) -> list[bytes]:
    return [o.token for o in store.list_observations() if o.registration_id == reg_id]


def test_index_follows_put_delete_and_registration_changes() -> None:
    store = MemoryStore()
    store.put_registration(registration("r1", "dev1"))
    store.put_registration(registration("r2", "dev2"))
    for token in TOKENS[:3]:
        store.put_observation(observation(token, "r1"))
    store.put_observation(observation(TOKENS[3], "r2"))
    assert tokens(store.list_observations("r1")) == list(TOKENS[:3])  # insertion order

    store.put_observation(observation(TOKENS[1], "r2"))  # the token moves to r2
    assert tokens(store.list_observations("r1")) == [TOKENS[0], TOKENS[2]]
    assert tokens(store.list_observations("r2")) == [TOKENS[3], TOKENS[1]]

    assert store.delete_observation(TOKENS[0]) is not None
    assert tokens(store.list_observations("r1")) == [TOKENS[2]]

    store.put_registration(registration("r3", "dev1"))  # dev1 registers again: r1 replaced
    assert store.list_observations("r1") == []
    assert store.get_observation(TOKENS[2]) is None

    assert store.delete_registration("r2") is not None
    assert store.list_observations("r2") == []
    assert store.list_observations() == []


def test_refused_observation_leaves_the_index_alone() -> None:
    store = MemoryStore()
    store.put_registration(registration("r1", "dev1"))
    store.put_observation(observation(TOKENS[0], "r1"))
    with pytest.raises(StoreError):
        store.put_observation(observation(TOKENS[0], "unknown"))
    assert tokens(store.list_observations("r1")) == [TOKENS[0]]
    assert store.list_observations("unknown") == []


_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.sampled_from(REG_IDS), st.sampled_from(ENDPOINTS)),
        st.tuples(st.just("observe"), st.sampled_from(TOKENS), st.sampled_from(REG_IDS)),
        st.tuples(st.just("forget"), st.sampled_from(TOKENS)),
        st.tuples(st.just("deregister"), st.sampled_from(REG_IDS)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(_OPERATIONS)
def test_index_matches_a_full_scan_and_sqlite(operations: list[tuple[object, ...]]) -> None:
    memory = MemoryStore()
    reference = SqliteStore(":memory:")
    try:
        for op in operations:
            outcomes = []
            for store in (memory, reference):
                try:
                    if op[0] == "register":
                        store.put_registration(registration(str(op[1]), str(op[2])))
                    elif op[0] == "observe":
                        assert isinstance(op[1], bytes)
                        store.put_observation(observation(op[1], str(op[2])))
                    elif op[0] == "forget":
                        assert isinstance(op[1], bytes)
                        store.delete_observation(op[1])
                    else:
                        store.delete_registration(str(op[1]))
                    outcomes.append("ok")
                except StoreError:
                    outcomes.append("refused")
            assert outcomes[0] == outcomes[1], op
            for reg_id in REG_IDS:
                indexed = tokens(memory.list_observations(reg_id))
                assert indexed == scan(memory, reg_id)
                assert sorted(indexed) == sorted(tokens(reference.list_observations(reg_id)))
    finally:
        reference.close()


def test_sqlite_lists_a_registrations_observations_through_its_index(tmp_path: FsPath) -> None:
    path = tmp_path / "server.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    try:
        indexes = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'observations' "
            "AND sql IS NOT NULL"
        ).fetchall()
        plan = " ".join(
            str(row[-1])
            for row in db.execute(
                "EXPLAIN QUERY PLAN SELECT token, data FROM observations "
                "WHERE registration_id = ? ORDER BY rowid",
                ("r1",),
            )
        )
    finally:
        db.close()
    assert indexes == [("observations_by_registration",)]
    assert "USING INDEX observations_by_registration" in plan

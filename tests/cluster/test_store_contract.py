"""The shared store suite of tests/unit/server/test_server_store.py, run against RedisStore.

The classes of that suite are imported here and get this module's ``store``
fixture: a RedisStore on a real Redis. After each test a second store opened on
the same Redis (a node that starts now) must read exactly what the first one
holds, so the suite checks what reached Redis, not only the copy in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_support import load_suite

from lwm2m.server.store.redis import RedisStore

SUITE = Path(__file__).resolve().parents[1] / "unit" / "server" / "test_server_store.py"


_suite = load_suite("server_store_suite", SUITE)
TestRegistrations = _suite.TestRegistrations
TestObservations = _suite.TestObservations
TestSecurity = _suite.TestSecurity


def _contents(store: RedisStore) -> tuple[list[object], list[object], list[object]]:
    return (
        sorted(store.list_registrations(), key=lambda r: r.id),
        sorted(store.list_observations(), key=lambda o: o.token),
        sorted(store.list_security(), key=lambda i: i.endpoint),
    )


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    first = RedisStore(redis_url, node_id="n1")
    try:
        yield first
        assert first.flush(5.0), "Redis did not run the writes"
        second = RedisStore(redis_url, node_id="n2")
        try:
            assert _contents(second) == _contents(first)
            assert second.damaged == [] and first.damaged == []
        finally:
            second.close()
    finally:
        first.close()

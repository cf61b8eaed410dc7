"""The shared bootstrap-store tests of tests/unit/server/test_bootstrap_store.py, run
against RedisBootstrapStore on a real Redis, plus what only Redis has: two stores
(two bootstrap servers) see each other's writes at once, and placement."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_support import load_suite
from redis_support import RedisServer

from lwm2m.server.store import SecurityInfo, StoreCorrupt, StoreError
from lwm2m.server.store.bootstrap_redis import RedisBootstrapStore

SUITE = Path(__file__).resolve().parents[1] / "unit" / "server" / "test_bootstrap_store.py"


_suite = load_suite("bootstrap_store_suite", SUITE)
test_configurations_round_trip = _suite.test_configurations_round_trip
test_a_read_configuration_is_a_copy = _suite.test_a_read_configuration_is_a_copy
test_unusable_configurations_are_refused = _suite.test_unusable_configurations_are_refused
test_security_info_and_identity_uniqueness = _suite.test_security_info_and_identity_uniqueness
test_seeding_applies_new_or_changed_file_entries_only = (
    _suite.test_seeding_applies_new_or_changed_file_entries_only
)
test_a_seed_that_fails_changes_nothing = _suite.test_a_seed_that_fails_changes_nothing
simple = _suite.simple


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisBootstrapStore]:
    opened = RedisBootstrapStore(redis_url)
    try:
        yield opened
    finally:
        opened.close()


def test_two_bootstrap_servers_share_one_store(redis_url: str) -> None:
    first, second = RedisBootstrapStore(redis_url), RedisBootstrapStore(redis_url)
    try:
        first.put_config("dev1", simple(3))
        first.put_security(SecurityInfo.psk("dev1", "id1", b"\x01"))
        assert second.get_config("dev1") == simple(3)
        assert second.get_security_by_identity("id1") == SecurityInfo.psk("dev1", "id1", b"\x01")
        with pytest.raises(StoreError, match="used by 'dev1'"):
            second.put_security(SecurityInfo.psk("dev2", "id1", b"\x02"))
        assert second.delete_config("dev1") is True
        assert first.get_config("dev1") is None
    finally:
        first.close()
        second.close()


def test_placement_takes_the_least_loaded_live_node(
    redis_url: str, redis_server: RedisServer
) -> None:
    store = RedisBootstrapStore(redis_url)
    try:
        assert store.place() is None  # no node alive: the configured URI stays
        now_ms = int(redis_server.command("TIME").split(b"\r\n")[2]) * 1000
        nodes = {
            "a": {"devices": 5, "uris": ["coap://127.0.0.1:1"]},
            "b": {"devices": 1, "uris": ["coap://127.0.0.1:2"]},
            "dead": {"devices": 0, "uris": ["coap://127.0.0.1:3"]},
        }
        for name, info in nodes.items():
            redis_server.command("HSET", "lwm2m:nodes", name, json.dumps(info))
            seen = now_ms - (60_000 if name == "dead" else 0)
            redis_server.command("HSET", "lwm2m:nodes:seen", name, str(seen))
        assert {n.node_id for n in store.live_nodes()} == {"a", "b"}
        # b has 1 device: it takes placements until it has as many as a (5)
        picks = [store.place() for _ in range(6)]
        names = [p.node_id for p in picks if p is not None]
        assert names[:4] == ["b"] * 4 and sorted(names[4:]) == ["a", "b"]
        assert picks[0] is not None and picks[0].uris == ("coap://127.0.0.1:2",)
    finally:
        store.close()


def test_wrong_url_and_unreachable_redis_are_clear_errors() -> None:
    with pytest.raises(StoreError, match="not a Redis URL"):
        RedisBootstrapStore("http://127.0.0.1:1/0")
    with pytest.raises(StoreError, match=r"Redis at redis://127\.0\.0\.1:1/0 unreachable"):
        RedisBootstrapStore("redis://127.0.0.1:1/0", timeout=0.5)


def test_damaged_records_name_their_key(redis_url: str, redis_server: RedisServer) -> None:
    store = RedisBootstrapStore(redis_url)
    try:
        store.put_config("good", simple())
        redis_server.command("HSET", "lwm2m:bs:cfg", "bad", "{not json")
        assert store.get_config("good") == simple()
        with pytest.raises(StoreCorrupt, match="'bad'"):
            store.get_config("bad")
        redis_server.command("DEL", "lwm2m:bs:sec")
        redis_server.command("SET", "lwm2m:bs:sec", "a string")
        with pytest.raises(StoreCorrupt, match="not a bootstrap store"):
            store.list_security()
    finally:
        store.close()

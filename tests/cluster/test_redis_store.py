"""What only the shared store does: two stores (two nodes) on one Redis converge in
Redis's commit order, moves keep observations, expiry claims win once, and a write
that lost a race is refused and read again."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import pytest

from lwm2m.model.path import Path
from lwm2m.server.object_links import parse_object_links
from lwm2m.server.store import Observation, Registration, SecurityInfo, StoreError
from lwm2m.server.store.redis import RedisStore, StoreChange


def reg(reg_id: str, endpoint: str = "dev1", expires_at: float = 2000.0) -> Registration:
    return Registration(
        id=reg_id,
        endpoint=endpoint,
        lifetime=60,
        version="1.1",
        binding="U",
        queue_mode=False,
        sms_number=None,
        object_links=parse_object_links("</3/0>"),
        address=("127.0.0.1", 5683),
        registered_at=1000.0,
        last_update=1000.0,
        expires_at=expires_at,
    )


def obs(token: bytes, reg_id: str) -> Observation:
    return Observation(token, reg_id, "dev1", (Path(3303, 0, 5700),), 0, created_at=1.0)


@pytest.fixture
def pair(redis_url: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    a = RedisStore(redis_url, node_id="a")
    b = RedisStore(redis_url, node_id="b")
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def settle(*stores: RedisStore) -> None:
    for store in stores:
        assert store.flush(5.0)
    for store in stores:
        assert store.wait_applied(5.0)


def test_writes_reach_the_other_node_and_its_listener(pair: tuple[RedisStore, RedisStore]) -> None:
    a, b = pair
    heard: list[StoreChange] = []
    b.add_listener(heard.append)  # no loop: called in the I/O thread
    a.put_registration(reg("r1"))
    a.put_observation(obs(b"\x01", "r1"))
    a.put_security(SecurityInfo.psk("dev1", "id1", b"\x01"))
    settle(a, b)
    assert b.get_registration_by_endpoint("dev1") == reg("r1")
    assert b.owner_of("r1") == "a" and b.owned_count() == 0 and a.owned_count() == 1
    assert b.list_observations("r1") == [obs(b"\x01", "r1")]
    assert b.get_security_by_identity("id1") is not None
    assert [c.kind for c in heard] == ["registration", "observation", "security"]
    a.delete_registration("r1")
    settle(a, b)
    assert b.get_registration("r1") is None and b.list_observations() == []
    assert heard[-1].kind == "registration_removed" and heard[-1].reason == "deregistered"


def test_a_register_on_another_node_moves_the_observations(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    a, b = pair
    a.put_registration(reg("r1"))
    a.put_observation(obs(b"\x01", "r1"))
    a.put_observation(obs(b"\x02", "r1"))
    settle(a, b)
    b.put_registration(reg("r2"))  # the device came to node b
    assert b.take_move("r2")[1:] == ("a", (b"\x01", b"\x02"))
    settle(a, b)
    for store in (a, b):
        assert store.get_registration("r1") is None
        assert store.owner_of("r2") == "b"
        moved = sorted(store.list_observations("r2"), key=lambda o: o.token)
        assert moved == [
            dataclasses.replace(obs(t, "r1"), registration_id="r2") for t in (b"\x01", b"\x02")
        ]
    # the same node registering the device again (a reboot) ends them instead
    b.put_registration(reg("r3"))
    settle(a, b)
    assert a.list_observations() == [] == b.list_observations()


def test_an_expiry_is_claimed_once(pair: tuple[RedisStore, RedisStore]) -> None:
    a, b = pair
    a.put_registration(reg("r1", expires_at=1500.0))
    settle(a, b)
    claims = [a.claim_expiry(reg("r1", expires_at=1500.0)), b.claim_expiry(reg("r1", 1500.0))]
    assert sorted(f.result(5.0) for f in claims) == [False, True]
    # an Update in between: the claim made with the old expiry time loses
    a.put_registration(reg("r2", expires_at=1500.0))
    settle(a, b)
    a.put_registration(reg("r2", expires_at=1900.0))
    assert a.flush(5.0)
    assert b.claim_expiry(reg("r2", expires_at=1500.0)).result(5.0) is False
    settle(a, b)
    assert b.get_registration("r2") == reg("r2", expires_at=1900.0)


def test_an_update_that_lost_a_race_is_refused_and_read_again(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    a, b = pair
    a.put_registration(reg("r1"))
    settle(a, b)
    b.put_registration(reg("r2"))  # the device moved to b ...
    a.put_registration(reg("r1", expires_at=2500.0))  # ... while a still updates r1
    settle(a, b)
    settle(a, b)  # the refusal's re-read went through the feed
    for store in (a, b):
        assert store.get_registration_by_endpoint("dev1") == reg("r2")
        assert store.get_registration("r1") is None


def test_one_psk_identity_for_two_endpoints_at_once(pair: tuple[RedisStore, RedisStore]) -> None:
    a, b = pair
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def put(store: RedisStore, endpoint: str) -> None:
        barrier.wait()
        try:
            store.put_security(SecurityInfo.psk(endpoint, "shared", b"\x01"))
        except StoreError as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=put, args=(a, "dev-a")),
        threading.Thread(target=put, args=(b, "dev-b")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    settle(a, b)
    settle(a, b)
    owners = {a.get_security_by_identity("shared"), b.get_security_by_identity("shared")}
    assert len(owners) == 1 and None not in owners  # both copies agree on one owner
    assert len(a.list_security()) == len(b.list_security()) == 1

"""The registration table's expiry heap and address index stay right through every change."""

from __future__ import annotations

import itertools
import random

from lwm2m.server.registration import Expired, RegistrationTable

LINKS = b"</1/0>,</3/0>"
T0 = 1_700_000_000.0


def make_table() -> RegistrationTable:
    counter = itertools.count(1)
    return RegistrationTable(grace=0.0, id_factory=lambda: f"r{next(counter)}")


def reg(table: RegistrationTable, ep: str, lt: int, port: int, now: float = T0) -> str:
    event = table.register([f"ep={ep}", f"lt={lt}"], LINKS, 40, ("127.0.0.1", port), now)
    return event.registration.id


def test_next_expiry_follows_updates_deregistrations_and_replacements() -> None:
    table = make_table()
    assert table.next_expiry() is None
    a = reg(table, "a", 100, 1)
    reg(table, "b", 200, 2)
    assert table.next_expiry() == T0 + 100
    table.update(a, ["lt=500"], b"", None, ("127.0.0.1", 1), T0 + 10)
    assert table.next_expiry() == T0 + 200
    table.update(a, ["lt=50"], b"", None, ("127.0.0.1", 1), T0 + 20)  # earlier again
    assert table.next_expiry() == T0 + 70
    table.deregister(a)
    assert table.next_expiry() == T0 + 200
    reg(table, "b", 30, 3, T0 + 40)  # replaces b's registration
    assert table.next_expiry() == T0 + 70


def test_expire_removes_exactly_the_expired_in_time_order() -> None:
    table = make_table()
    ids = {
        ep: reg(table, ep, lt, port)
        for port, (ep, lt) in enumerate([("x", 30), ("y", 10), ("z", 20)])
    }
    table.update(ids["y"], ["lt=100"], b"", None, ("127.0.0.1", 1), T0 + 5)
    events = table.expire(T0 + 30)
    assert all(isinstance(e, Expired) for e in events)
    assert [e.registration.endpoint for e in events] == ["z", "x"]
    assert [r.endpoint for r in table.all()] == ["y"]
    assert table.expire(T0 + 104) == []
    assert [e.registration.endpoint for e in table.expire(T0 + 105)] == ["y"]
    assert table.next_expiry() is None


def test_expiry_index_matches_a_scan_under_random_traffic() -> None:
    rnd = random.Random(7)
    table = make_table()
    now = T0
    for _ in range(3000):
        now += rnd.random()
        live = table.all()
        action = rnd.random()
        if action < 0.4 or not live:
            reg(table, f"ep{rnd.randrange(50)}", rnd.randrange(1, 60), rnd.randrange(1, 20), now)
        elif action < 0.75:
            target = rnd.choice(live)
            table.update(
                target.id,
                [f"lt={rnd.randrange(1, 60)}"],
                b"",
                None,
                ("127.0.0.1", rnd.randrange(1, 20)),
                now,
            )
        elif action < 0.85:
            table.deregister(rnd.choice(live).id)
        else:
            expected = sorted(r.id for r in live if r.is_expired(now))
            assert sorted(e.registration.id for e in table.expire(now)) == expected
        regs = table.all()
        assert table.next_expiry() == min((r.expires_at for r in regs), default=None)
        assert len(table._expiries) <= 2 * len(regs) + 65
        for port in range(1, 20):
            address = ("127.0.0.1", port)
            assert table.at_address(address) == [r for r in regs if r.address == address]


def test_at_address_follows_the_address_of_the_last_update() -> None:
    table = make_table()
    a = reg(table, "a", 100, 1)
    b = reg(table, "b", 100, 1)
    assert [r.id for r in table.at_address(("127.0.0.1", 1))] == [a, b]
    table.update(a, [], b"", None, ("127.0.0.1", 2), T0 + 1)
    assert [r.id for r in table.at_address(("127.0.0.1", 1))] == [b]
    assert [r.id for r in table.at_address(("127.0.0.1", 2))] == [a]
    table.deregister(b)
    assert table.at_address(("127.0.0.1", 1)) == []

"""Pure helpers of the RD client: Uri-Query builders, Location-Path, bootstrap validation."""

from __future__ import annotations

import pytest

from lwm2m.client.events import Event, RdEvent
from lwm2m.client.rd import (
    ClientSettings,
    ServerAccount,
    bootstrap_request_query,
    check_bootstrap_config,
    parse_location,
    register_query,
    server_accounts,
    update_query,
)
from lwm2m.errors import DecodeError

# --------------------------------------------------------------------------- queries


def test_register_query_minimal_order() -> None:
    assert register_query("dev", 86400) == ["lwm2m=1.1", "ep=dev", "lt=86400"]


def test_register_query_full_order() -> None:
    query = register_query("dev", 60, binding="UT", queue_mode=True, sms="+4412345")
    assert query == ["lwm2m=1.1", "ep=dev", "lt=60", "b=UT", "Q", "sms=+4412345"]


def test_register_query_defaults_are_left_out() -> None:
    assert register_query("dev", None, binding="U") == ["lwm2m=1.1", "ep=dev"]


def test_register_query_1_0_queue_mode_is_in_the_binding() -> None:
    query = register_query("dev", 30, lwm2m_version="1.0", queue_mode=True)
    assert query == ["lwm2m=1.0", "ep=dev", "lt=30", "b=UQ"]


def test_update_query_order_and_omissions() -> None:
    assert update_query() == []
    assert update_query(lifetime=10) == ["lt=10"]
    assert update_query(sms="1", binding="U", lifetime=5) == ["lt=5", "b=U", "sms=1"]


def test_bootstrap_request_query() -> None:
    assert bootstrap_request_query("dev") == ["ep=dev"]
    assert bootstrap_request_query("dev", 112) == ["ep=dev", "pct=112"]


# --------------------------------------------------------------------------- Location-Path


def test_parse_location_accepts_text_and_bytes() -> None:
    assert parse_location(["rd", "5a3f"]) == ("rd", "5a3f")
    assert parse_location([b"rd", bytearray(b"x")]) == ("rd", "x")


@pytest.mark.parametrize(
    "segments",
    [[], [""], ["rd", "."], ["a/b"], ["\x00"], [b"\xc3"], [None], ["y" * 256], [1, 2]],
)
def test_parse_location_rejects_garbage(segments: list[object]) -> None:
    with pytest.raises(DecodeError):
        parse_location(segments)


# --------------------------------------------------------------------------- validation

BS = {0: "coap://bs", 1: True, 2: 3}
PSK = {0: "coaps://s:5684", 1: False, 2: 0, 3: b"id", 5: b"key", 10: 1}
NOSEC = {0: "coap://s", 1: False, 2: 3, 10: 2}
SERVER_1 = {0: 1, 1: 300, 7: "U"}
SERVER_2 = {0: 2, 1: 60}


def test_valid_configurations() -> None:
    assert check_bootstrap_config({0: BS, 1: PSK}, {0: SERVER_1}) == []
    assert check_bootstrap_config({1: PSK, 2: NOSEC}, {0: SERVER_1, 5: SERVER_2}) == []
    rpk = {**PSK, 2: 1, 4: b"server-pub"}
    assert check_bootstrap_config({0: rpk}, {0: SERVER_1}) == []
    cert = {**PSK, 2: 2}
    assert check_bootstrap_config({0: cert}, {0: SERVER_1}) == []


@pytest.mark.parametrize(
    ("security", "server", "expected"),
    [
        ({0: BS}, {}, "no LwM2M server account"),
        ({0: BS, 1: PSK}, {}, "no Server instance with short server id 1"),
        ({0: BS}, {0: SERVER_1}, "no Security instance with short server id 1"),
        ({1: PSK}, {0: SERVER_2}, "no Security instance with short server id 2"),
        ({1: {**PSK, 0: "coap://s"}}, {0: SERVER_1}, "coap:// URI with a secure mode"),
        ({1: {**NOSEC, 0: "coaps://s"}}, {0: SERVER_2}, "coaps:// URI with NoSec"),
        ({1: {**PSK, 5: b""}}, {0: SERVER_1}, "/0/1/5: key material missing"),
        ({1: {**PSK, 3: None}}, {0: SERVER_1}, "/0/1/3: key material missing"),
        ({1: {**PSK, 2: 1}}, {0: SERVER_1}, "/0/1/4: key material missing"),
        ({1: {**NOSEC, 0: "http://s"}}, {0: SERVER_2}, "not coap:// or coaps://"),
        ({1: {**NOSEC, 0: "coap://"}}, {0: SERVER_2}, "with a host"),
        ({1: {**NOSEC, 0: "coap://[::1"}}, {0: SERVER_2}, "with a host"),
        ({1: {**NOSEC, 0: 42}}, {0: SERVER_2}, "server URI missing"),
        ({1: {**NOSEC, 2: 9}}, {0: SERVER_2}, "security mode 9 invalid"),
        ({1: {**NOSEC, 2: "3"}}, {0: SERVER_2}, "security mode '3' invalid"),
        ({1: {**NOSEC, 10: "2"}}, {0: SERVER_2}, "/0/1/10: short server id '2' invalid"),
        ({1: {**NOSEC, 10: 65535}}, {0: SERVER_2}, "short server id 65535 invalid"),
        ({0: BS, 1: BS, 2: NOSEC}, {0: SERVER_2}, "more than one bootstrap"),
        ({1: NOSEC, 2: NOSEC}, {0: SERVER_2}, "short server id 2 also in /0/1"),
        ({1: NOSEC}, {0: SERVER_2, 1: SERVER_2}, "short server id 2 also in /1/0"),
        ({1: NOSEC}, {0: {**SERVER_2, 1: 0}}, "/1/0/1: lifetime 0 invalid"),
        ({1: NOSEC}, {0: {**SERVER_2, 7: "X"}}, "/1/0/7: binding 'X' invalid"),
        ({1: NOSEC}, {0: {**SERVER_2, 0: True}}, "/1/0/0: short server id True invalid"),
    ],
)
def test_inconsistent_configurations(
    security: dict[int, dict[int, object]], server: dict[int, dict[int, object]], expected: str
) -> None:
    problems = check_bootstrap_config(security, server)
    assert any(expected in p for p in problems), problems


def test_one_good_account_does_not_hide_a_broken_one() -> None:
    problems = check_bootstrap_config({1: PSK, 2: {**NOSEC, 0: "ftp://x"}}, {0: SERVER_1})
    assert problems and all("/0/2" in p for p in problems)


def test_server_accounts_from_the_configuration() -> None:
    server_1 = {**SERVER_1, 5: 600, 14: 3, 16: False}
    accounts = server_accounts({0: BS, 1: PSK, 2: NOSEC}, {0: server_1, 1: {0: 2}})
    assert [a.short_server_id for a in accounts] == [1, 2]
    first, second = accounts
    assert first.uri == "coaps://s:5684" and first.lifetime == 300 and first.binding == "U"
    assert first.disable_timeout == 600 and first.initial_delay == 3
    assert not first.bootstrap_on_failure
    assert second.lifetime is None and second.bootstrap_on_failure
    assert second.disable_timeout == 86400


def test_server_accounts_skip_inconsistent_ones() -> None:
    accounts = server_accounts({1: {**PSK, 5: b""}, 2: NOSEC}, {0: SERVER_1, 1: SERVER_2})
    assert [a.short_server_id for a in accounts] == [2]


# --------------------------------------------------------------------------- settings, events


def test_settings_and_accounts_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        ClientSettings(endpoint="")
    with pytest.raises(ValueError):
        ClientSettings(endpoint="x", queue_rx_time=0)
    with pytest.raises(ValueError):
        ServerAccount(0)
    with pytest.raises(ValueError):
        ServerAccount(1, lifetime=0)


def test_event_text_names_the_server() -> None:
    assert str(Event(RdEvent.REGISTRATION_COMPLETE, 3, "/rd/1", 1.0)) == (
        "REGISTRATION_COMPLETE (server 3): /rd/1"
    )
    assert str(Event(RdEvent.BOOTSTRAP_REG_FAILURE, None)) == "BOOTSTRAP_REG_FAILURE (bootstrap)"


def test_event_names_include_the_seed_names() -> None:
    seed = [
        "NONE",
        "BOOTSTRAP_REG_FAILURE",
        "BOOTSTRAP_REG_COMPLETE",
        "BOOTSTRAP_TRANSFER_COMPLETE",
        "REGISTRATION_FAILURE",
        "REGISTRATION_COMPLETE",
        "REG_UPDATE_FAILURE",
        "REG_UPDATE_COMPLETE",
        "DEREGISTER_FAILURE",
        "DISCONNECT",
        "QUEUE_MODE_RX_OFF",
        "NETWORK_ERROR",
        "REG_TIMEOUT",
        "SERVER_DISABLED",
    ]
    assert [e.name for e in RdEvent][: len(seed)] == seed

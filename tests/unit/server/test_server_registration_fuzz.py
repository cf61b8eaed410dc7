"""Garbage into Register and Update: only the project's errors, and nothing changes on error."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lwm2m.errors import OperationError
from lwm2m.server.registration import RegistrationTable
from lwm2m.server.store import MemoryStore

ADDR = ("127.0.0.1", 5683)
ALLOWED_CODES = {0x80, 0x83, 0x84, 0x8C, 0x8F}

_keys = st.sampled_from(["ep", "lt", "lwm2m", "b", "Q", "sms", "x", ""])
_values = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["1.0", "1.1", "1.2", "2.0", "U", "UQ", "UQS", "T", "60", "-1", "0", "dev"]),
)
_param = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", _keys, _values),
    _keys,
    st.text(max_size=20),
)
queries = st.lists(_param, max_size=8)

_fragments = st.sampled_from(
    [
        "</>",
        "</1/0>",
        "</3/0>",
        "</5>",
        ";ver=1.1",
        ';rt="oma.lwm2m"',
        ";ct=110",
        ",",
        " ",
        "<",
        ">",
        '"',
        ";",
        "=",
        "/",
        "</lwm2m>",
        "</lwm2m/3/0>",
        "</65535>",
        "\\",
        "\x00",
        "é",
    ]
)
payloads = st.one_of(
    st.binary(max_size=64),
    st.lists(_fragments, max_size=12).map(lambda parts: "".join(parts).encode()),
)
content_formats = st.one_of(st.none(), st.just(40), st.integers(0, 0xFFFF))


def _table() -> tuple[RegistrationTable, MemoryStore]:
    store = MemoryStore()
    table = RegistrationTable(store=store)
    table.register(["ep=existing", "lwm2m=1.1"], b"</1/0>,</3/0>", 40, ADDR, 0.0)
    return table, store


def _state(table: RegistrationTable, store: MemoryStore) -> tuple[object, ...]:
    key = lambda r: r.id  # noqa: E731
    return (sorted(table.all(), key=key), sorted(store.list_registrations(), key=key))


def _check_register(query: list[str], payload: bytes, content_format: int | None) -> None:
    table, store = _table()
    before = _state(table, store)
    try:
        event = table.register(query, payload, content_format, ADDR, 1.0)
    except OperationError as exc:
        assert exc.code in ALLOWED_CODES
        assert _state(table, store) == before
    else:
        assert table.get(event.registration.id) == event.registration
        assert store.get_registration(event.registration.id) == event.registration


def _check_update(query: list[str], payload: bytes, content_format: int | None) -> None:
    table, store = _table()
    reg = table.all()[0]
    before = _state(table, store)
    try:
        event = table.update(reg.id, query, payload, content_format, ("10.0.0.1", 1), 2.0)
    except OperationError as exc:
        assert exc.code in ALLOWED_CODES
        assert _state(table, store) == before
    else:
        assert table.get(reg.id) == event.registration == store.get_registration(reg.id)


_quick = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_long = settings(max_examples=20_000, deadline=None, suppress_health_check=list(HealthCheck))


@_quick
@given(queries, payloads, content_formats)
def test_register_garbage(query: list[str], payload: bytes, content_format: int | None) -> None:
    _check_register(query, payload, content_format)


@_quick
@given(st.lists(_param, max_size=8).map(lambda q: ["ep=fuzz", *q]), payloads)
def test_register_garbage_payload_with_endpoint(query: list[str], payload: bytes) -> None:
    _check_register(query, payload, 40)


@_quick
@given(queries, payloads, content_formats)
def test_update_garbage(query: list[str], payload: bytes, content_format: int | None) -> None:
    _check_update(query, payload, content_format)


@pytest.mark.slow
@_long
@given(queries, payloads, content_formats)
def test_register_garbage_long(
    query: list[str], payload: bytes, content_format: int | None
) -> None:
    _check_register(query, payload, content_format)


@pytest.mark.slow
@_long
@given(queries, payloads, content_formats)
def test_update_garbage_long(query: list[str], payload: bytes, content_format: int | None) -> None:
    _check_update(query, payload, content_format)

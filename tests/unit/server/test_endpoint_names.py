"""Endpoint names: normalised comparison, look-alikes, control characters.

The names a server refuses and keeps apart (see "Endpoint names" in
:mod:`lwm2m.server.registration`): look-alikes of an endpoint with security
info, a second device under a name that compares equal, names with control
characters. After every refusal nothing is stored.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from lwm2m.cli.server import _binding
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.numbers import Code
from lwm2m.errors import OperationError
from lwm2m.server import Server
from lwm2m.server.registration import (
    IdentityBinding,
    Registered,
    RegistrationTable,
    endpoint_skeleton,
    normalise_endpoint,
)
from lwm2m.server.store import MemoryStore, SecurityInfo

LINKS = b"</1/0>,</3/0>"
A = ("127.0.0.1", 40001)
B = ("127.0.0.1", 40002)
T0 = 1_700_000_000.0
CYRILLIC_E = "\u0435"
LOOKALIKES = [
    "PSKDEV",
    "pskdev ",
    " PskDev",
    f"pskd{CYRILLIC_E}v",
    "\uff50\uff53\uff4b\uff44\uff45\uff56",
]


def make_table(store: MemoryStore, **kwargs: object) -> RegistrationTable:
    counter = itertools.count(1)
    kwargs.setdefault("id_factory", lambda: f"r{next(counter)}")
    return RegistrationTable(store=store, **kwargs)  # type: ignore[arg-type]


def psk_store() -> MemoryStore:
    store = MemoryStore()
    store.put_security(SecurityInfo.psk("pskdev", "psk-id", b"secret-key"))
    return store


def register(
    table: RegistrationTable,
    name: str,
    remote: tuple[str, int] = A,
    identity: str | None = None,
    now: float = T0,
) -> Registered:
    return table.register([f"ep={name}", "lt=300"], LINKS, 40, remote, now, identity)


def code_of(call: Callable[[], object]) -> int:
    with pytest.raises(OperationError) as info:
        call()
    return info.value.code


def assert_nothing_stored(store: MemoryStore, table: RegistrationTable, count: int = 0) -> None:
    assert len(store.list_registrations()) == count
    assert len(table) == count


# --- the comparison forms ------------------------------------------------------------


def test_normalised_form_and_skeleton() -> None:
    assert normalise_endpoint("  PSKDev\t") == "pskdev"
    assert normalise_endpoint("\uff30\uff33\uff2b") == "psk"  # fullwidth letters (NFKC)
    assert normalise_endpoint("Stra\u00dfe") == "strasse"  # case folding, not lower()
    # NFKC and case folding leave Cyrillic letters alone; the skeleton maps them.
    assert normalise_endpoint(f"pskd{CYRILLIC_E}v") != "pskdev"
    assert endpoint_skeleton(f"pskd{CYRILLIC_E}v") == "pskdev"
    assert endpoint_skeleton("\u0420\u0405\u041a") == "psk"  # Cyrillic capitals ER, DZE, KA
    assert endpoint_skeleton("\u039d\u039f\u0394\u0395") == "no\u03b4e"  # Greek Nu, Omicron
    assert endpoint_skeleton("\u03bd") == "v"  # small nu looks like v, not n
    assert endpoint_skeleton("d\u0451v") == endpoint_skeleton("d\u00ebv")  # io and e-diaeresis
    assert endpoint_skeleton("urn:imei:12345") == "urn:imei:12345"


# --- look-alikes of an endpoint with security info ------------------------------------------


@pytest.mark.parametrize("name", LOOKALIKES)
def test_lookalike_of_a_psk_endpoint_is_refused_over_plain_udp(name: str) -> None:
    store = psk_store()
    table = make_table(store, authorize=_binding(store))
    assert code_of(lambda: register(table, name)) == Code.FORBIDDEN
    assert_nothing_stored(store, table)


@pytest.mark.parametrize("name", LOOKALIKES)
def test_lookalike_is_refused_next_to_the_registered_psk_endpoint(name: str) -> None:
    store = psk_store()
    table = make_table(store, authorize=_binding(store))
    register(table, "pskdev", A, identity="psk-id")
    assert code_of(lambda: register(table, name, B)) == Code.FORBIDDEN
    # Not even with the right identity: the identity is bound to the exact name.
    assert code_of(lambda: register(table, name, A, identity="psk-id")) == Code.FORBIDDEN
    assert_nothing_stored(store, table, 1)
    assert store.list_registrations()[0].endpoint == "pskdev"


def test_lookalike_is_refused_without_any_authorize_hook() -> None:
    # The table reads the security info from its store itself.
    store = psk_store()
    table = make_table(store)
    assert code_of(lambda: register(table, f"PSKD{CYRILLIC_E.upper()}V")) == Code.FORBIDDEN
    assert_nothing_stored(store, table)


def test_the_exact_psk_endpoint_with_its_identity_registers() -> None:
    store = psk_store()
    table = make_table(store, authorize=_binding(store))
    assert code_of(lambda: register(table, "pskdev")) == Code.FORBIDDEN  # no identity
    assert code_of(lambda: register(table, "pskdev", identity="other")) == Code.FORBIDDEN
    event = register(table, "pskdev", identity="psk-id")
    assert event.registration.identity == "psk-id"


def test_the_secured_device_displaces_a_lookalike_registered_before_its_psk() -> None:
    store = MemoryStore()
    table = make_table(store, authorize=_binding(store))
    squatter = register(table, "PSKDEV", B).registration
    store.put_security(SecurityInfo.psk("pskdev", "psk-id", b"secret-key"))
    table.security_changed()
    event = register(table, "pskdev", A, identity="psk-id")
    assert event.replaced == squatter
    assert [r.endpoint for r in store.list_registrations()] == ["pskdev"]
    assert table.get(squatter.id) is None and len(table) == 1


def test_security_info_is_cached_for_security_refresh_seconds() -> None:
    store = MemoryStore()
    table = make_table(store, security_refresh=10.0)
    register(table, "other", A)  # reads the (empty) security info
    store.put_security(SecurityInfo.psk("pskdev", "psk-id", b"secret-key"))
    # Within the refresh time the new PSK is not seen yet ...
    assert register(table, "PSKDEV", B, now=T0 + 5).registration.endpoint == "PSKDEV"
    table.deregister(table.get_by_endpoint("PSKDEV").id)  # type: ignore[union-attr]
    # ... after it, it is.
    assert code_of(lambda: register(table, "PSKDEV", B, now=T0 + 11)) == Code.FORBIDDEN
    assert [r.endpoint for r in store.list_registrations()] == ["other"]


def test_two_secured_names_that_look_alike_both_register() -> None:
    store = psk_store()
    store.put_security(SecurityInfo.psk("PSKDEV", "psk-id-2", b"other-key"))
    table = make_table(store, authorize=_binding(store))
    register(table, "pskdev", A, identity="psk-id")
    register(table, "PSKDEV", B, identity="psk-id-2")
    assert len(table) == 2 and len(store.list_registrations()) == 2


# --- plain endpoints whose names compare equal ---------------------------------------------------


@pytest.mark.parametrize("other", ["DEV1", "dev1 ", f"d{CYRILLIC_E}v1", "\uff44\uff45\uff56\uff11"])
def test_a_second_plain_device_under_an_equal_name_is_refused(other: str) -> None:
    store = MemoryStore()
    table = make_table(store)
    first = register(table, "dev1", A).registration
    assert code_of(lambda: register(table, other, B)) == Code.FORBIDDEN
    assert store.list_registrations() == [first]
    assert table.get_alike(other) == first


def test_the_same_device_reregisters_under_its_exact_name_from_anywhere() -> None:
    store = MemoryStore()
    table = make_table(store)
    first = register(table, "Dev1", A).registration
    again = register(table, "Dev1", B)  # rebooted, new port
    assert again.replaced == first
    assert [r.address for r in store.list_registrations()] == [B]


def test_the_same_client_may_change_the_spelling_from_its_address() -> None:
    store = MemoryStore()
    table = make_table(store)
    first = register(table, "Dev1", A).registration
    event = register(table, "dev1", A)
    assert event.replaced == first
    assert [r.endpoint for r in store.list_registrations()] == ["dev1"]
    assert table.get_by_endpoint("Dev1") is None and len(table) == 1


def test_a_spelling_change_needs_the_same_identity() -> None:
    store = MemoryStore()
    table = make_table(store)
    register(table, "dev1", A, identity="cert-subject")
    assert code_of(lambda: register(table, "DEV1", A)) == Code.FORBIDDEN
    assert code_of(lambda: register(table, "DEV1", A, identity="another")) == Code.FORBIDDEN
    assert register(table, "DEV1", A, identity="cert-subject").replaced is not None
    assert [r.endpoint for r in store.list_registrations()] == ["DEV1"]


def test_the_name_is_free_again_after_deregistration() -> None:
    store = MemoryStore()
    table = make_table(store)
    first = register(table, "dev1", A).registration
    table.deregister(first.id)
    assert register(table, "DEV1", B).registration.endpoint == "DEV1"


def test_a_failing_store_leaves_the_displaced_registration_in_place() -> None:
    class Failing(MemoryStore):
        def delete_registration(self, reg_id: str):  # type: ignore[no-untyped-def]
            if reg_id == "r1":
                raise OSError("disk full")
            return super().delete_registration(reg_id)

    store = Failing()
    table = make_table(store)
    first = register(table, "Dev1", A).registration
    with pytest.raises(OSError):
        register(table, "dev1", A)
    assert store.list_registrations() == [first]
    assert table.get_by_endpoint("Dev1") == first and len(table) == 1


# --- names that are not well formed --------------------------------------------------------------


@pytest.mark.parametrize(
    "char",
    [
        "\u202e",
        "\u200e",
        "\u200f",
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",
        "\u200b",
        "\ufeff",
        "\x00",
        "\x1b",
        "\x7f",
    ],
)
def test_control_characters_are_refused_with_4_00(char: str) -> None:
    store = psk_store()
    table = make_table(store, authorize=_binding(store))
    with pytest.raises(OperationError) as info:
        register(table, f"dev{char}1")
    assert info.value.code == Code.BAD_REQUEST
    assert f"U+{ord(char):04X}" in str(info.value)
    assert_nothing_stored(store, table)


@pytest.mark.parametrize("name", [" ", "   ", "\u3000"])
def test_white_space_only_names_are_refused_with_4_00(name: str) -> None:
    store = MemoryStore()
    table = make_table(store)
    assert code_of(lambda: register(table, name)) == Code.BAD_REQUEST
    assert_nothing_stored(store, table)


# --- IdentityBinding with mappings ------------------------------------------------------------


def test_identity_binding_mappings_refuse_lookalikes() -> None:
    binding = IdentityBinding({"psk-id": "pskdev"}, {"pskdev": "psk-id"})
    assert binding("pskdev", "psk-id")
    assert not binding("pskdev", None)
    for name in LOOKALIKES:
        assert not binding(name, None)
        assert not binding(name, "psk-id")
    assert binding("dev2", None)
    # Only identity -> endpoint known: its endpoint is bound all the same.
    assert not IdentityBinding({"psk-id": "pskdev"})("PSKDEV", None)
    # Lookup functions cannot be listed: only the exact checks apply.
    functions = IdentityBinding(lambda identity: None, lambda endpoint: None)
    assert functions("PSKDEV", None)


# --- over the wire, as ``lwm2m server`` is configured -------------------------------------------


async def test_server_refuses_lookalikes_over_udp_and_stores_nothing() -> None:
    store = psk_store()
    server = Server("127.0.0.1", 0, store=store, authorize=_binding(store))
    await server.start()
    client = await Endpoint.create_udp("127.0.0.1", 0)
    try:
        for name in [*LOOKALIKES, "dev\u202e1"]:
            answer = await client.post(
                "/rd",
                LINKS,
                remote=server.coap_address,
                query=[f"ep={name}", "lt=300"],
                content_format=40,
            )
            expected = Code.BAD_REQUEST if "\u202e" in name else Code.FORBIDDEN
            assert answer.code == expected, name
        ok = await client.post(
            "/rd", LINKS, remote=server.coap_address, query=["ep=dev1"], content_format=40
        )
        assert ok.code == Code.CREATED
        assert [r.endpoint for r in store.list_registrations()] == ["dev1"]
    finally:
        await client.close()
        await server.stop()

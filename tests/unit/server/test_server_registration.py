"""Registration interface, server side (Core TS 1.1 section 6.2, 1.0.2 section 5.3)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from lwm2m.coap.numbers import Code
from lwm2m.errors import OperationError
from lwm2m.model.path import Path
from lwm2m.server.registration import (
    DEFAULT_LIFETIME,
    Deregistered,
    Expired,
    IdentityBinding,
    Registered,
    Registration,
    RegistrationTable,
    Updated,
)
from lwm2m.server.store import MemoryStore, Observation, StoreError

LINKS = b'</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>,</5>;ver=1.1'
ADDR = ("127.0.0.1", 56830)
T0 = 1_700_000_000.0
GRACE = 10.0


def make_table(**kwargs: object) -> RegistrationTable:
    counter = itertools.count(1)
    kwargs.setdefault("id_factory", lambda: f"r{next(counter)}")
    kwargs.setdefault("grace", GRACE)
    return RegistrationTable(**kwargs)  # type: ignore[arg-type]


def register(
    table: RegistrationTable,
    query: list[str] | None = None,
    payload: bytes = LINKS,
    content_format: int | None = 40,
    now: float = T0,
    identity: str | None = None,
) -> Registered:
    q = ["lwm2m=1.1", "ep=dev1", "lt=300"] if query is None else query
    return table.register(q, payload, content_format, ADDR, now, identity)


def code_of(call: Callable[[], object]) -> int:
    with pytest.raises(OperationError) as info:
        call()
    return info.value.code


# --- Register ----------------------------------------------------------------------


class TestRegister:
    def test_int_101_initial_registration(self) -> None:
        table = make_table()
        event = register(table, ["lwm2m=1.1", "ep=dev1", "lt=300", "b=U", "sms=4912345"])
        reg = event.registration
        assert event.replaced is None
        assert reg.id == "r1"
        assert reg.location == ("rd", "r1")
        assert (reg.endpoint, reg.lifetime, reg.version, reg.binding) == ("dev1", 300, "1.1", "U")
        assert reg.sms_number == "4912345"
        assert not reg.queue_mode
        assert reg.address == ADDR
        assert reg.registered_at == reg.last_update == T0
        assert reg.expires_at == T0 + 300 + GRACE
        assert reg.object_links.objects == {1: None, 3: None, 5: "1.1"}
        assert reg.object_links.content_formats == (11543,)
        assert table.get("r1") == reg
        assert table.get_by_endpoint("dev1") == reg
        assert len(table) == 1

    def test_defaults(self) -> None:
        reg = register(make_table(), ["ep=dev1"]).registration
        assert reg.lifetime == DEFAULT_LIFETIME
        assert reg.version == "1.0"  # clients from before 1.0 send no lwm2m
        assert reg.binding == "U"
        assert not reg.queue_mode
        assert reg.sms_number is None

    def test_default_ids_are_short_url_safe_and_distinct(self) -> None:
        table = RegistrationTable()
        ids = {register(table, [f"ep=d{i}"]).registration.id for i in range(50)}
        assert len(ids) == 50
        assert all(4 <= len(i) <= 16 and i.replace("-", "").replace("_", "").isalnum() for i in ids)

    @pytest.mark.parametrize(
        "query",
        [
            ["lwm2m=1.1", "lt=300"],  # missing ep
            ["ep=", "lt=300"],
            ["ep"],
            ["ep=dev\x01"],
            ["ep=dev1", "lt=-1"],
            ["ep=dev1", "lt=0"],
            ["ep=dev1", "lt=abc"],
            ["ep=dev1", "lt="],
            ["ep=dev1", "lt"],
            ["ep=dev1", "lt=+5"],
            ["ep=dev1", "lt=1.5"],
            ["ep=dev1", "lt=4294967296"],
            ["ep=dev1", "lt=99999999999999999999"],
            ["ep=dev1", "lwm2m=abc"],
            ["ep=dev1", "lwm2m=1"],
            ["ep=dev1", "lwm2m=1.0.2"],
            ["ep=dev1", "lwm2m="],
            ["ep=dev1", "ep=dev2"],  # duplicate parameter
            ["ep=dev1", "lt=60", "lt=60"],
            ["ep=dev1", "Q=1"],
            ["ep=dev1", "sms="],
            ["ep=dev1", "=x"],
            ["ep=dev1", "b="],
        ],
    )
    def test_bad_query_is_4_00(self, query: list[str]) -> None:
        table = make_table()
        assert code_of(lambda: register(table, query)) == Code.BAD_REQUEST
        assert len(table) == 0

    @pytest.mark.parametrize("version", ["2.0", "1.3", "0.9"])
    def test_unsupported_version_is_4_12(self, version: str) -> None:
        table = make_table()
        code = code_of(lambda: register(table, [f"lwm2m={version}", "ep=dev1"]))
        assert code == Code.PRECONDITION_FAILED
        assert len(table) == 0

    def test_supported_versions_are_configurable(self) -> None:
        table = make_table(supported_versions=("1.1",))
        assert code_of(lambda: register(table, ["lwm2m=1.0", "ep=a"])) == Code.PRECONDITION_FAILED
        assert register(table, ["lwm2m=1.1", "ep=a"]).registration.version == "1.1"

    @pytest.mark.parametrize(
        ("binding", "transports", "queue"),
        [
            ("U", "U", False),
            ("UQ", "U", True),
            ("S", "S", False),
            ("SQ", "S", True),
            ("US", "US", False),
            ("UQS", "US", True),
        ],
    )
    def test_bindings_1_0(self, binding: str, transports: str, queue: bool) -> None:
        reg = register(make_table(), ["lwm2m=1.0", "ep=a", f"b={binding}"]).registration
        assert (reg.binding, reg.queue_mode) == (transports, queue)

    @pytest.mark.parametrize("binding", ["T", "N", "UT", "UTSN", "US"])
    def test_bindings_1_1(self, binding: str) -> None:
        reg = register(make_table(), ["lwm2m=1.1", "ep=a", f"b={binding}"]).registration
        assert reg.binding == binding

    def test_queue_mode_parameter_1_1(self) -> None:
        reg = register(make_table(), ["lwm2m=1.1", "ep=a", "b=U", "Q"]).registration
        assert reg.queue_mode
        assert reg.binding == "U"

    def test_bindings_1_2_add_mqtt_and_http(self) -> None:
        reg = register(make_table(), ["lwm2m=1.2", "ep=a", "b=UMH"]).registration
        assert reg.binding == "UMH"
        assert code_of(lambda: register(make_table(), ["lwm2m=1.1", "ep=a", "b=M"])) == 0x80

    @pytest.mark.parametrize(
        ("version", "binding"),
        [
            ("1.0", "T"),
            ("1.0", "SU"),
            ("1.0", "QU"),
            ("1.0", "u"),
            ("1.1", "UQ"),  # 1.1 carries queue mode in the Q parameter
            ("1.1", "UU"),
            ("1.1", "X"),
            ("1.1", "U S"),
        ],
    )
    def test_bad_binding_is_4_00(self, version: str, binding: str) -> None:
        table = make_table()
        code = code_of(lambda: register(table, [f"lwm2m={version}", "ep=a", f"b={binding}"]))
        assert code == Code.BAD_REQUEST

    def test_unknown_parameters_are_kept_by_default(self) -> None:
        reg = register(make_table(), ["ep=a", "imei=123", "flag"]).registration
        assert reg.attributes == {"imei": "123", "flag": None}

    def test_unknown_parameters_refused_when_strict(self) -> None:
        table = make_table(keep_unknown_params=False)
        assert code_of(lambda: register(table, ["ep=a", "imei=123"])) == Code.BAD_REQUEST

    @pytest.mark.parametrize("content_format", [0, 50, 11542, 112])
    def test_payload_not_link_format_is_4_15(self, content_format: int) -> None:
        table = make_table()
        code = code_of(lambda: register(table, content_format=content_format))
        assert code == Code.UNSUPPORTED_CONTENT_FORMAT
        assert len(table) == 0

    def test_missing_content_format_accepted_unless_strict(self) -> None:
        assert register(make_table(), content_format=None).registration.object_links.links
        strict = make_table(strict_content_format=True)
        code = code_of(lambda: register(strict, content_format=None))
        assert code == Code.UNSUPPORTED_CONTENT_FORMAT

    @pytest.mark.parametrize(
        "payload",
        [b"", b"garbage", b"</1/0/0>", b"</1/0>,", b"\xc3\x28", b"</3/0>;ver=abc", b"<>"],
    )
    def test_bad_payload_is_4_00(self, payload: bytes) -> None:
        table = make_table()
        assert code_of(lambda: register(table, payload=payload)) == Code.BAD_REQUEST
        assert len(table) == 0

    def test_reregistration_replaces_old_registration(self) -> None:
        table = make_table()
        first = register(table).registration
        event = register(table, ["lwm2m=1.1", "ep=dev1", "lt=600"], now=T0 + 5)
        assert event.replaced == first
        assert event.registration.id != first.id
        assert table.get(first.id) is None
        assert table.get_by_endpoint("dev1") == event.registration
        assert len(table) == 1
        # The old location no longer works.
        assert code_of(lambda: table.update(first.id, [], b"", None, ADDR, T0 + 6)) == 0x84
        assert code_of(lambda: table.deregister(first.id)) == Code.NOT_FOUND

    def test_failed_reregistration_keeps_old_registration(self) -> None:
        table = make_table()
        first = register(table).registration
        code_of(lambda: register(table, ["ep=dev1", "lt=x"]))
        assert table.get_by_endpoint("dev1") == first

    def test_id_factory_collisions_are_skipped(self) -> None:
        ids = iter(["same", "same", "", "other"])
        table = RegistrationTable(id_factory=lambda: next(ids))
        assert register(table, ["ep=a"]).registration.id == "same"
        assert register(table, ["ep=b"]).registration.id == "other"

    def test_id_factory_exhausted_is_5_00(self) -> None:
        table = RegistrationTable(id_factory=lambda: "same")
        register(table, ["ep=a"])
        assert code_of(lambda: register(table, ["ep=b"])) == Code.INTERNAL_SERVER_ERROR
        assert len(table) == 1


class TestIdentityBinding:
    def test_identity_bound_to_another_endpoint_is_4_03(self) -> None:
        table = make_table(authorize=IdentityBinding({"id-a": "dev-a"}))
        code = code_of(lambda: register(table, ["ep=dev-b"], identity="id-a"))
        assert code == Code.FORBIDDEN
        assert len(table) == 0
        reg = register(table, ["ep=dev-a"], identity="id-a").registration
        assert reg.identity == "id-a"

    def test_unbound_identity_and_no_identity_allowed(self) -> None:
        table = make_table(authorize=IdentityBinding(lambda identity: None))
        assert register(table, ["ep=x"], identity="whoever").registration.endpoint == "x"
        assert register(table, ["ep=y"]).registration.identity is None

    def test_endpoint_with_security_requires_its_identity(self) -> None:
        binding = IdentityBinding({"id-a": "dev-a"}, {"dev-a": "id-a"})
        table = make_table(authorize=binding)
        assert code_of(lambda: register(table, ["ep=dev-a"])) == Code.FORBIDDEN
        assert code_of(lambda: register(table, ["ep=dev-a"], identity="id-z")) == 0x83
        assert register(table, ["ep=dev-a"], identity="id-a").registration.endpoint == "dev-a"

    def test_update_and_deregister_need_the_registering_identity(self) -> None:
        table = make_table()
        reg = register(table, ["ep=dev-a"], identity="id-a").registration
        assert code_of(lambda: table.update(reg.id, [], b"", None, ADDR, T0)) == 0x84
        assert code_of(lambda: table.deregister(reg.id, identity="id-b")) == Code.NOT_FOUND
        assert table.update(reg.id, [], b"", None, ADDR, T0 + 1, identity="id-a")
        assert table.deregister(reg.id, identity="id-a").registration.id == reg.id


# --- Update ------------------------------------------------------------------------


class TestUpdate:
    def test_empty_update_refreshes_only_timestamps(self) -> None:
        table = make_table()
        reg = register(table).registration
        event = table.update(reg.id, [], b"", None, ADDR, T0 + 100)
        assert isinstance(event, Updated)
        assert event.previous == reg
        assert event.changed == frozenset()
        new = event.registration
        assert new.last_update == T0 + 100
        assert new.expires_at == T0 + 100 + 300 + GRACE
        assert new.registered_at == T0
        assert table.get(reg.id) == new

    def test_int_102_lifetime_change(self) -> None:
        table = make_table()
        reg = register(table).registration
        new = table.update(reg.id, ["lt=20"], b"", None, ADDR, T0 + 1).registration
        assert new.lifetime == 20
        assert new.expires_at == T0 + 1 + 20 + GRACE
        assert new.object_links == reg.object_links

    def test_new_object_links_binding_sms_and_address(self) -> None:
        table = make_table()
        reg = register(table).registration
        event = table.update(
            reg.id, ["b=UT", "sms=123", "Q"], b"</1/0>, </3/0>, </3303/0>", 40, ("10.0.0.1", 9), T0
        )
        new = event.registration
        assert new.object_links.objects == {1: None, 3: None, 3303: None}
        assert (new.binding, new.sms_number, new.queue_mode) == ("UT", "123", True)
        assert new.address == ("10.0.0.1", 9)
        assert event.changed == {"object_links", "binding", "sms_number", "queue_mode", "address"}

    def test_binding_1_0_updates_queue_mode(self) -> None:
        table = make_table()
        reg = register(table, ["lwm2m=1.0", "ep=a", "b=UQ"]).registration
        assert reg.queue_mode
        new = table.update(reg.id, ["b=U"], b"", None, ADDR, T0).registration
        assert (new.binding, new.queue_mode) == ("U", False)

    def test_extra_attributes_merge(self) -> None:
        table = make_table()
        reg = register(table, ["ep=a", "x=1", "y=2"]).registration
        new = table.update(reg.id, ["y=3", "z"], b"", None, ADDR, T0).registration
        assert new.attributes == {"x": "1", "y": "3", "z": None}

    def test_unknown_id_is_4_04(self) -> None:
        table = make_table()
        register(table)
        assert code_of(lambda: table.update("nope", [], b"", None, ADDR, T0)) == Code.NOT_FOUND

    @pytest.mark.parametrize(
        "query",
        [["lt=-1"], ["lt=abc"], ["ep=other"], ["lwm2m=1.1"], ["b=UQ"], ["lt=5", "lt=6"], ["Q=x"]],
    )
    def test_bad_update_is_4_00_and_changes_nothing(self, query: list[str]) -> None:
        table = make_table()
        reg = register(table).registration
        assert code_of(lambda: table.update(reg.id, query, b"", None, ADDR, T0 + 1)) == 0x80
        assert table.get(reg.id) == reg

    def test_bad_update_payload_changes_nothing(self) -> None:
        table = make_table()
        reg = register(table).registration
        assert code_of(lambda: table.update(reg.id, ["lt=5"], b"junk", 40, ADDR, T0)) == 0x80
        code = code_of(lambda: table.update(reg.id, [], b"</1/0>", 50, ADDR, T0))
        assert code == Code.UNSUPPORTED_CONTENT_FORMAT
        assert table.get(reg.id) == reg


# --- De-register and expiry --------------------------------------------------------------


class TestDeregisterAndExpiry:
    def test_int_103_deregister(self) -> None:
        table = make_table()
        reg = register(table).registration
        event = table.deregister(reg.id)
        assert event == Deregistered(reg)
        assert table.get(reg.id) is None
        assert table.get_by_endpoint("dev1") is None
        assert code_of(lambda: table.deregister(reg.id)) == Code.NOT_FOUND

    def test_expiry_on_fake_clock(self) -> None:
        table = make_table()
        short = register(table, ["ep=short", "lt=60"]).registration
        long_ = register(table, ["ep=long", "lt=600"]).registration
        assert table.next_expiry() == T0 + 60 + GRACE
        assert table.expire(T0 + 60 + GRACE - 0.001) == []
        assert table.expire(T0 + 60 + GRACE) == [Expired(short)]
        assert table.all() == [long_]
        assert table.expire(T0 + 61 + GRACE) == []
        assert table.next_expiry() == T0 + 600 + GRACE

    def test_update_postpones_expiry(self) -> None:
        table = make_table()
        reg = register(table, ["ep=a", "lt=60"]).registration
        table.update(reg.id, [], b"", None, ADDR, T0 + 50)
        assert table.expire(T0 + 60 + GRACE) == []
        assert [e.registration.id for e in table.expire(T0 + 110 + GRACE)] == [reg.id]
        assert table.next_expiry() is None


# --- write-through to a store ------------------------------------------------------------


class TestStoreWriteThrough:
    def test_every_change_reaches_the_store(self) -> None:
        store = MemoryStore()
        table = make_table(store=store)
        first = register(table).registration
        store.put_observation(Observation(b"\x01", first.id, "dev1", (Path(3, 0),)))
        second = register(table, ["ep=dev1", "lt=50"]).registration
        assert store.list_registrations() == [second]
        assert store.list_observations() == []  # went with the replaced registration
        updated = table.update(second.id, ["lt=70"], b"", None, ADDR, T0 + 1).registration
        assert store.get_registration(second.id) == updated
        table.expire(T0 + 1000)
        assert store.list_registrations() == []

    def test_table_loads_from_store(self) -> None:
        store = MemoryStore()
        reg = register(make_table(store=store), ["ep=a"]).registration
        table = make_table(store=store)
        assert table.get(reg.id) == reg
        assert table.get_by_endpoint("a") == reg
        table.deregister(reg.id)
        assert store.get_registration(reg.id) is None

    def test_store_failure_leaves_table_unchanged(self) -> None:
        class FailingStore(MemoryStore):
            fail = False

            def put_registration(self, registration: Registration) -> None:
                if self.fail:
                    raise StoreError("disk full")
                super().put_registration(registration)

            def delete_registration(self, reg_id: str) -> Registration | None:
                if self.fail:
                    raise StoreError("disk full")
                return super().delete_registration(reg_id)

        store = FailingStore()
        table = make_table(store=store)
        reg = register(table).registration
        store.fail = True
        with pytest.raises(StoreError):
            register(table, ["ep=dev1", "lt=5"])
        with pytest.raises(StoreError):
            table.update(reg.id, ["lt=5"], b"", None, ADDR, T0 + 1)
        with pytest.raises(StoreError):
            table.deregister(reg.id)
        with pytest.raises(StoreError):
            table.expire(T0 + 10_000)
        assert table.all() == [reg]
        assert store.list_registrations() == [reg]

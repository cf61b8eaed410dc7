"""JSON shapes of the REST API: values, nodes, registrations, events (no network)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from lwm2m.coap.numbers import ContentFormat
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    ObjectNode,
    ObjLink,
    Path,
    ResourceNode,
    ResourceType,
    default_registry,
)
from lwm2m.server import Deregistered, Expired, Registered, SendReceived, Updated
from lwm2m.server.object_links import parse_object_links
from lwm2m.server.registration import Registration
from lwm2m.server.rest.events import event_to_json
from lwm2m.server.rest.nodes import (
    RestInputError,
    node_from_json,
    node_to_json,
    parse_format,
    records_from_json,
    value_from_json,
    value_to_json,
)
from lwm2m.server.rest.registrations import registration_to_json

REGISTRY = default_registry()
T = ResourceType


def registration(**changes: Any) -> Registration:
    fields: dict[str, Any] = {
        "id": "r1",
        "endpoint": "dev1",
        "lifetime": 300,
        "version": "1.1",
        "binding": "U",
        "queue_mode": False,
        "sms_number": None,
        "object_links": parse_object_links('</>;rt="oma.lwm2m";ct=112,</1/0>,</3/0>;ver=1.1'),
        "address": ("127.0.0.1", 5700),
        "registered_at": 1700000000.25,
        "last_update": 1700000010.5,
        "expires_at": 1700000310.5,
    }
    fields.update(changes)
    return Registration(**fields)


@pytest.mark.parametrize(
    ("name", "cf"),
    [
        ("TLV", ContentFormat.LWM2M_TLV),
        ("json", ContentFormat.LWM2M_JSON),
        ("Senml_Json", ContentFormat.SENML_JSON),
        ("SENML_CBOR", ContentFormat.SENML_CBOR),
        ("LWM2M_CBOR", ContentFormat.LWM2M_CBOR),
        ("TEXT", ContentFormat.TEXT_PLAIN),
        ("OPAQUE", ContentFormat.OCTET_STREAM),
        ("CBOR", ContentFormat.CBOR),
        (None, None),
        ("", None),
    ],
)
def test_format_names(name: str | None, cf: int | None) -> None:
    assert parse_format(name) == cf


def test_unknown_format_name() -> None:
    with pytest.raises(RestInputError, match="unknown format 'XML'"):
        parse_format("XML")


@pytest.mark.parametrize(
    ("rtype", "value", "shown"),
    [
        (T.STRING, "abc", "abc"),
        (T.INTEGER, -5, -5),
        (T.UNSIGNED_INTEGER, 2**64 - 1, 2**64 - 1),
        (T.FLOAT, 1.5, 1.5),
        (T.BOOLEAN, False, False),
        (T.OPAQUE, b"\x00\xab", "00ab"),
        (T.TIME, 1700000000, 1700000000000),
        (T.OBJLNK, ObjLink(3, 0), {"objectId": 3, "objectInstanceId": 0}),
        (T.CORELNK, "</3/0>", "</3/0>"),
        (T.NONE, None, None),
    ],
)
def test_value_round_trip(rtype: ResourceType, value: object, shown: object) -> None:
    assert value_to_json(rtype, value) == shown  # type: ignore[arg-type]
    # a path without a definition: the declared type decides
    path = Path(30000, 0, 0)
    assert value_from_json(path, shown, rtype, REGISTRY, "v") == value


def test_non_finite_floats_are_strings() -> None:
    assert value_to_json(T.FLOAT, math.inf) == "Infinity"
    assert value_to_json(T.FLOAT, -math.inf) == "-Infinity"
    assert value_to_json(T.FLOAT, math.nan) == "NaN"
    assert value_from_json(Path(30000, 0, 0), "-Infinity", T.FLOAT, REGISTRY, "v") == -math.inf


@pytest.mark.parametrize(
    ("path", "raw", "declared", "value"),
    [
        (Path(3, 0, 9), "87", None, 87),  # numeric strings are accepted
        (Path(3, 0, 9), 87.0, T.INTEGER, 87),
        (Path(3303, 0, 5700), 21, None, 21.0),  # an integer for a Float resource
        (Path(3303, 0, 5700), "21.5", T.FLOAT, 21.5),
        (Path(3, 0, 13), 1700000000999, None, 1700000000),  # milliseconds -> seconds
        (Path(30000, 0, 0), "5:1", T.OBJLNK, ObjLink(5, 1)),
        (Path(30000, 0, 0), 7, None, 7),  # no definition, no type: the JSON type
        (Path(30000, 0, 0), True, None, True),
    ],
)
def test_values_from_json(
    path: Path, raw: object, declared: ResourceType | None, value: object
) -> None:
    assert value_from_json(path, raw, declared, REGISTRY, "v") == value


@pytest.mark.parametrize(
    ("path", "raw", "declared", "fragment"),
    [
        (Path(3, 0, 0), 5, None, "expected a string"),
        (Path(3, 0, 0), "x", T.INTEGER, "does not match"),
        (Path(3, 0, 9), "many", None, "expected an integer"),
        (Path(3, 0, 9), True, None, "boolean"),
        (Path(3, 0, 9), 10**30, None, "64-bit"),
        (Path(30000, 0, 0), "zz", T.OPAQUE, "hex"),
        (Path(30000, 0, 0), "true", T.BOOLEAN, "true or false"),
        (Path(30000, 0, 0), {"objectId": 70000, "objectInstanceId": 0}, T.OBJLNK, "range"),
        (Path(30000, 0, 0), None, T.STRING, "required"),
        (Path(30000, 0, 0), [1], None, "type"),
        (Path(30000, 0, 0), "inf", T.FLOAT, "number"),
    ],
)
def test_bad_values(path: Path, raw: object, declared: ResourceType | None, fragment: str) -> None:
    with pytest.raises(RestInputError, match=fragment):
        value_from_json(path, raw, declared, REGISTRY, "v")


def test_nodes_round_trip() -> None:
    instance = InstanceNode(
        0,
        {
            0: ResourceNode(0, "Acme"),
            7: MultiResourceNode(7, {0: 3800, 1: 5000}),
            13: ResourceNode(13, 1700000000),
        },
    )
    shown = node_to_json(instance, Path(3, 0), REGISTRY)
    assert shown == {
        "kind": "instance",
        "id": 0,
        "resources": [
            {"kind": "singleResource", "id": 0, "type": "STRING", "value": "Acme"},
            {"kind": "multiResource", "id": 7, "type": "INTEGER", "values": {"0": 3800, "1": 5000}},
            {"kind": "singleResource", "id": 13, "type": "TIME", "value": 1700000000000},
        ],
    }
    assert node_from_json(shown, Path(3, 0), REGISTRY) == instance
    obj = ObjectNode(3, {0: instance})
    shown_obj = node_to_json(obj, Path(3), REGISTRY)
    assert shown_obj["kind"] == "obj" and shown_obj["instances"] == [shown]
    assert node_from_json(shown_obj, Path(3), REGISTRY) == obj


def test_resource_instance_node() -> None:
    shown = node_to_json(ResourceNode(1, 5000), Path(3, 0, 7, 1), REGISTRY)
    assert shown == {"kind": "resourceInstance", "id": 1, "type": "INTEGER", "value": 5000}
    assert node_from_json(shown, Path(3, 0, 7, 1), REGISTRY) == ResourceNode(1, 5000)


def test_value_that_does_not_fit_the_definition_shows_its_own_type() -> None:
    shown = node_to_json(ResourceNode(0, 12), Path(3, 0, 0), REGISTRY)
    assert shown["type"] == "INTEGER" and shown["value"] == 12


@pytest.mark.parametrize(
    ("body", "path", "fragment"),
    [
        ({"kind": "instance", "id": 0, "resources": {}}, Path(3, 0), "expected a list"),
        ({"kind": "thing"}, Path(3, 0), "unknown node kind"),
        ({"kind": "instance", "id": 0, "resources": [5]}, Path(3, 0), "JSON object"),
        (
            {"id": 0, "resources": [{"id": 1, "value": "a"}, {"id": 1, "value": "b"}]},
            Path(3, 0),
            "given twice",
        ),
        ({"id": 7, "values": {"x": 1}}, Path(3, 0, 7), "integer"),
        ({"id": 7, "values": {"70000": 1}}, Path(3, 0, 7), "out of range"),
        ({"kind": "obj", "id": 3, "instances": []}, Path(3, 0), "instance"),
        ({"kind": "multiResource", "id": 1, "values": {}}, Path(3, 0, 7, 1), "resourceInstance"),
        ({"value": "x"}, Path(), "object, instance or resource"),
    ],
)
def test_bad_nodes(body: object, path: Path, fragment: str) -> None:
    with pytest.raises(RestInputError, match=fragment):
        node_from_json(body, path, REGISTRY)


def test_composite_write_body() -> None:
    body = {
        "/3/0/14": {"id": 14, "kind": "singleResource", "value": "+01:00"},
        "/3/0/7": {"id": 7, "kind": "multiResource", "values": {"0": 1, "1": 2}},
    }
    assert records_from_json(body, REGISTRY) == {
        Path(3, 0, 14): "+01:00",
        Path(3, 0, 7, 0): 1,
        Path(3, 0, 7, 1): 2,
    }
    with pytest.raises(RestInputError, match="resource paths"):
        records_from_json({"/3/0": {"id": 0, "resources": []}}, REGISTRY)
    with pytest.raises(RestInputError, match="at least one"):
        records_from_json({}, REGISTRY)


def test_registration_json() -> None:
    shown = registration_to_json(registration())
    assert shown == {
        "endpoint": "dev1",
        "registrationId": "r1",
        "registrationDate": 1700000000250,
        "lastUpdate": 1700000010500,
        "address": "127.0.0.1:5700",
        "smsNumber": None,
        "lwM2mVersion": "1.1",
        "lifetime": 300,
        "bindingMode": "U",
        "rootPath": "/",
        "objectLinks": [
            {"url": "/", "attributes": {"rt": '"oma.lwm2m"', "ct": "112"}},
            {"url": "/1/0", "attributes": {}},
            {"url": "/3/0", "attributes": {"ver": "1.1"}},
        ],
        "secure": False,
        "additionalRegistrationAttributes": {},
        "queuemode": False,
        "availableInstances": {"1": [0], "3": [0]},
        "supportedContentFormats": [112],
    }
    # the same keys in Leshan's order (JacksonRegistrationSerializer writes a LinkedHashMap)
    assert list(shown) == [
        "endpoint", "registrationId", "registrationDate", "lastUpdate", "address",
        "smsNumber", "lwM2mVersion", "lifetime", "bindingMode", "rootPath", "objectLinks",
        "secure", "additionalRegistrationAttributes", "queuemode", "availableInstances",
        "supportedContentFormats",
    ]  # fmt: skip
    other = registration_to_json(
        registration(address=("::1", 5700), sms_number="+331234", identity="id", queue_mode=True)
    )
    # Java's getHostAddress() + ":" + port: no brackets
    assert other["address"] == "::1:5700" and other["smsNumber"] == "+331234"
    assert other["secure"] is True and other["queuemode"] is True
    assert other["sleeping"] is False  # only queue-mode registrations carry it
    assert registration_to_json(registration(queue_mode=True), sleeping=True)["sleeping"] is True


def test_events() -> None:
    reg = registration()
    name, data = event_to_json(Registered(reg), REGISTRY)
    assert name == "REGISTRATION" and data["endpoint"] == "dev1"
    later = registration(lifetime=60, last_update=1700000020.0)
    name, data = event_to_json(Updated(reg, later), REGISTRY)
    assert name == "UPDATED"
    # JacksonRegistrationUpdateSerializer: every key, null where the Update said nothing
    assert data["update"] == {
        "registrationId": "r1",
        "address": "127.0.0.1:5700",
        "smsNumber": None,
        "lifetime": 60,
        "alternatePath": None,
        "objectLinks": None,
        "secure": False,
        "additionalAttributes": {},
    }
    assert data["registration"]["lifetime"] == 60
    assert event_to_json(Deregistered(reg), REGISTRY)[0] == "DEREGISTRATION"
    assert event_to_json(Expired(reg), REGISTRY)[0] == "DEREGISTRATION"
    send = SendReceived(reg, {Path(3303, 0, 5700): 20.5}, ContentFormat.SENML_CBOR)
    assert event_to_json(send, REGISTRY) == (
        "SEND",
        {
            "ep": "dev1",
            "val": {
                "/3303/0/5700": {
                    "kind": "singleResource",
                    "id": 5700,
                    "type": "FLOAT",
                    "value": 20.5,
                }
            },
        },
    )

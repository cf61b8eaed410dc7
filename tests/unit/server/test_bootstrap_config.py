"""Bootstrap server configuration: JSON/TOML loading, field-naming errors, planned writes."""

from __future__ import annotations

import json
from pathlib import Path as FsPath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwm2m.coap.numbers import ContentFormat
from lwm2m.model import InstanceNode, Path, ResourceNode
from lwm2m.server.bootstrap_config import (
    BootstrapConfig,
    BootstrapPsk,
    ConfigError,
    EndpointConfig,
    SecurityConfig,
    ServerConfig,
    load_config,
    parse_config,
    planned_writes,
)

GOOD: dict[str, Any] = {
    "unknown_endpoint": "4.04",
    "endpoints": {
        "dev1": {
            "bootstrap_psk": {"identity": "dev1-bs", "key": "00112233"},
            "delete": ["/", "/2"],
            "discover": True,
            "read": ["/1"],
            "content_format": "senml-cbor",
            "lwm2m_version": "1.1",
            "security": [
                {
                    "uri": "coaps://lwm2m.example:5684",
                    "short_server_id": 101,
                    "security_mode": "psk",
                    "psk_identity": "dev1",
                    "psk_key": "a1b2c3",
                    "client_hold_off": 3,
                }
            ],
            "servers": [
                {
                    "short_server_id": 101,
                    "lifetime": 300,
                    "binding": "UQ",
                    "notification_storing": False,
                    "default_pmin": 1,
                    "default_pmax": 60,
                    "bootstrap_on_failure": True,
                }
            ],
        }
    },
    "default": {
        "security": [{"uri": "coap://127.0.0.1:5683", "short_server_id": 1}],
        "servers": [{"short_server_id": 1}],
    },
}

TOML = """
unknown_endpoint = "4.00"

[endpoints.dev2]
delete = ["/0", "/1"]
discover = "/0"

[[endpoints.dev2.security]]
uri = "coap://10.0.0.1:5683"
short_server_id = 7

[[endpoints.dev2.servers]]
short_server_id = 7
lifetime = 120
"""


def _good() -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(GOOD))  # a deep copy to mutate
    return copy


def test_json_document_loads_every_field() -> None:
    config = parse_config(_good())
    assert config.unknown_endpoint_code == 0x84
    dev1 = config.endpoints["dev1"]
    assert dev1.bootstrap_psk == BootstrapPsk(b"dev1-bs", bytes.fromhex("00112233"))
    assert dev1.delete == ["/", "/2"]
    assert dev1.discover == "/"
    assert dev1.read == ["/1"]
    assert dev1.content_format == ContentFormat.SENML_CBOR
    sec = dev1.security[0]
    assert (sec.security_mode, sec.public_key_or_identity, sec.secret_key) == (
        0,
        b"dev1",
        bytes.fromhex("a1b2c3"),
    )
    assert sec.client_hold_off == 3 and sec.short_server_id == 101 and not sec.bootstrap
    srv = dev1.servers[0]
    assert (srv.lifetime, srv.binding, srv.notification_storing) == (300, "UQ", False)
    assert (srv.default_pmin, srv.default_pmax, srv.bootstrap_on_failure) == (1, 60, True)
    assert config.default is not None and config.default.delete == ["/"]
    assert config.lookup("dev1") is dev1
    assert config.lookup("someone-else") is config.default


def test_toml_file_loads(tmp_path: FsPath) -> None:
    path = tmp_path / "bs.toml"
    path.write_text(TOML)
    config = load_config(path)
    dev2 = config.endpoints["dev2"]
    assert config.unknown_endpoint_code == 0x80
    assert dev2.delete == ["/0", "/1"] and dev2.discover == "/0"
    assert dev2.security[0].uri == "coap://10.0.0.1:5683"
    assert dev2.security[0].security_mode == 3  # nosec by default
    assert dev2.servers[0].lifetime == 120 and dev2.servers[0].binding == "U"
    assert config.lookup("unknown") is None


def test_json_file_loads(tmp_path: FsPath) -> None:
    path = tmp_path / "bs.json"
    path.write_text(json.dumps(GOOD))
    assert set(load_config(path).endpoints) == {"dev1"}


def test_psk_key_store_and_identity_owner() -> None:
    config = parse_config(_good())
    assert config.psk_key(b"dev1-bs") == bytes.fromhex("00112233")
    assert config.psk_key(b"nobody") is None
    assert config.owner_of(b"dev1-bs") == "dev1"
    assert config.owner_of("dev1-bs") == "dev1"
    assert config.owner_of(b"nobody") is None


def _set(doc: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    target: Any = doc
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = keys[-1]
    if isinstance(target, list):
        target[int(last)] = value
    elif value is _DELETE:
        del target[last]
    else:
        target[last] = value


_DELETE = object()
_SEC = "endpoints.dev1.security.0"
_SRV = "endpoints.dev1.servers.0"


@pytest.mark.parametrize(
    ("where", "value", "field", "words"),
    [
        (f"{_SEC}.psk_key", "zz12", "endpoints.dev1.security[0].psk_key", "hex"),
        (f"{_SEC}.psk_key", 1234, "endpoints.dev1.security[0].psk_key", "string"),
        (f"{_SEC}.uri", "http://x", "endpoints.dev1.security[0].uri", "coap"),
        (f"{_SEC}.uri", "coaps://host:99999", "endpoints.dev1.security[0].uri", "URI"),
        (f"{_SEC}.uri", _DELETE, "endpoints.dev1.security[0].uri", "missing"),
        (f"{_SEC}.security_mode", "magic", "endpoints.dev1.security[0].security_mode", "psk"),
        (f"{_SEC}.security_mode", "nosec", "endpoints.dev1.security[0].security_mode", "coaps"),
        (f"{_SEC}.short_server_id", 0, "endpoints.dev1.security[0].short_server_id", "1..65534"),
        (f"{_SEC}.short_server_id", "101", "endpoints.dev1.security[0].short_server_id", "integer"),
        (f"{_SEC}.psk_identity", _DELETE, "endpoints.dev1.security[0].psk_identity", "identity"),
        (f"{_SEC}.colour", "red", "endpoints.dev1.security[0].colour", "unknown field"),
        (f"{_SEC}.bootstrap", "yes", "endpoints.dev1.security[0].bootstrap", "true or false"),
        (f"{_SEC}.instance_id", -1, "endpoints.dev1.security[0].instance_id", "0..65534"),
        (f"{_SRV}.short_server_id", 102, "endpoints.dev1.servers[0].short_server_id", "id 102"),
        (f"{_SRV}.short_server_id", _DELETE, "endpoints.dev1.servers[0].short_server_id", "miss"),
        (f"{_SRV}.lifetime", 0, "endpoints.dev1.servers[0].lifetime", "> 0"),
        (f"{_SRV}.lifetime", True, "endpoints.dev1.servers[0].lifetime", "integer"),
        (f"{_SRV}.binding", "X", "endpoints.dev1.servers[0].binding", "U, M"),
        ("endpoints.dev1.servers", {"a": 1}, "endpoints.dev1.servers", "list"),
        ("endpoints.dev1.servers.0", "text", "endpoints.dev1.servers[0]", "table"),
        ("endpoints.dev1.delete", ["/0/1/2"], "endpoints.dev1.delete[0]", "instance"),
        ("endpoints.dev1.delete", ["/x"], "endpoints.dev1.delete[0]", "path"),
        ("endpoints.dev1.delete", [3], "endpoints.dev1.delete[0]", "path string"),
        ("endpoints.dev1.discover", 5, "endpoints.dev1.discover", "path"),
        ("endpoints.dev1.content_format", "xml", "endpoints.dev1.content_format", "tlv"),
        ("endpoints.dev1.content_format", 0, "endpoints.dev1.content_format", "tlv"),
        ("endpoints.dev1.lwm2m_version", "2.0", "endpoints.dev1.lwm2m_version", "1.1"),
        ("endpoints.dev1.bootstrap_psk", {"identity": "x"}, "endpoints.dev1.bootstrap_psk.key", ""),
        ("endpoints.dev1.bootstrap_psk", "k", "endpoints.dev1.bootstrap_psk", "table"),
        ("unknown_endpoint", "4.03", "unknown_endpoint", "4.04"),
        ("endpoints", [], "endpoints", "table"),
    ],
)
def test_bad_field_is_named(where: str, value: Any, field: str, words: str) -> None:
    doc = _good()
    _set(doc, where, value)
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    assert info.value.field == field
    assert words in str(info.value)


def test_duplicate_short_server_id_is_named() -> None:
    doc = _good()
    doc["endpoints"]["dev1"]["security"].append(dict(doc["endpoints"]["dev1"]["security"][0]))
    with pytest.raises(ConfigError, match=r"security\[1\]\.short_server_id: used twice"):
        parse_config(doc)


def test_security_without_server_is_named() -> None:
    doc = _good()
    doc["endpoints"]["dev1"]["servers"] = []
    with pytest.raises(ConfigError, match=r"security\[0\]\.short_server_id: no servers entry"):
        parse_config(doc)


def test_empty_document_needs_an_endpoint() -> None:
    with pytest.raises(ConfigError, match="no endpoint configured"):
        parse_config({})
    with pytest.raises(ConfigError, match="top level"):
        parse_config([1, 2])


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("bad.json", "{ not json", "not valid JSON"),
        ("bad.toml", "[endpoints\nx=", "not valid TOML"),
        ("bad.json", "\xff\xfe garbage", "not valid JSON"),
        ("deep.json", "[" * 100_000, "not valid JSON"),
        ("bad.toml", "endpoints = 3", "endpoints: expected a table"),
    ],
)
def test_garbage_files(tmp_path: FsPath, name: str, content: str, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert words in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: FsPath) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.json")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["endpoints", "default", "unknown_endpoint"]), _json_values, max_size=3
    )
)
def test_random_documents_give_config_or_config_error(doc: dict[str, Any]) -> None:
    try:
        config = parse_config(doc)
    except ConfigError as exc:
        assert str(exc)
    else:
        assert isinstance(config, BootstrapConfig)


def test_planned_writes_allocate_free_ids_around_the_bootstrap_account() -> None:
    config = EndpointConfig(
        security=[
            SecurityConfig("coap://a", short_server_id=1),
            SecurityConfig("coap://b", short_server_id=2, instance_id=5),
            SecurityConfig("coap://c", short_server_id=3),
        ],
        servers=[ServerConfig(1), ServerConfig(2, instance_id=0), ServerConfig(3)],
    )
    writes = planned_writes(config, reserved_security={1, 2})
    assert [str(p) for p, _ in writes] == ["/0/3", "/0/5", "/0/4", "/1/1", "/1/0", "/1/2"]
    assert all(node.id == path[1] for path, node in writes)


def test_instance_nodes_carry_the_resources() -> None:
    sec = SecurityConfig(
        "coaps://h:1",
        short_server_id=9,
        security_mode=0,
        public_key_or_identity=b"id",
        secret_key=b"\x01",
        client_hold_off=4,
    )
    node = sec.to_node(2)
    assert node == InstanceNode(
        2,
        {
            0: ResourceNode(0, "coaps://h:1"),
            1: ResourceNode(1, False),
            2: ResourceNode(2, 0),
            3: ResourceNode(3, b"id"),
            4: ResourceNode(4, b""),
            5: ResourceNode(5, b"\x01"),
            10: ResourceNode(10, 9),
            11: ResourceNode(11, 4),
        },
    )
    srv = ServerConfig(9, lifetime=30, mute_send=True).to_node(0)
    assert {rid: r.value for rid, r in srv.resources.items() if isinstance(r, ResourceNode)} == {
        0: 9,
        1: 30,
        6: True,
        7: "U",
        23: True,
    }
    assert Path(1, 0).is_prefix_of(Path(1, 0, 1))


def test_api_config_problems_list_everything() -> None:
    config = EndpointConfig(
        security=[SecurityConfig("ftp://x", short_server_id=70000)],
        servers=[ServerConfig(5, lifetime=-1)],
        delete=["bad"],
    )
    fields = [f for f, _ in config.problems()]
    assert "security[0].uri" in fields
    assert "security[0].short_server_id" in fields
    assert "servers[0].lifetime" in fields
    assert "delete[0]" in fields
    with pytest.raises(ConfigError) as info:
        config.check("endpoints.x")
    assert info.value.field.startswith("endpoints.x.")

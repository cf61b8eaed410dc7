"""The mapping between our bootstrap configuration and Leshan's BootstrapConfig JSON, and
the file form the stores keep: round trips, and nothing but ConfigError for any input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwm2m.server.bootstrap_config import (
    ConfigError,
    EndpointConfig,
    SecurityConfig,
    ServerConfig,
    dump_endpoint,
    endpoint_to_leshan,
    leshan_to_endpoint,
    parse_config,
    parse_endpoint,
    planned_writes,
)

FILE: dict[str, Any] = {
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
            "servers": [{"short_server_id": 101, "lifetime": 300, "binding": "UQ"}],
        },
        "dev2": {"auto_security_ids": True, "delete": ["/0"]},
    }
}


def test_file_entries_dump_and_parse_back_equal() -> None:
    config = parse_config(FILE)
    for name, endpoint in config.endpoints.items():
        dumped = dump_endpoint(endpoint)
        assert parse_endpoint(json.loads(json.dumps(dumped)), name) == endpoint


def test_auto_security_ids_in_a_file_imply_a_discover() -> None:
    dev2 = parse_config(FILE).endpoints["dev2"]
    assert dev2.auto_security_ids and dev2.discover == "/"
    with pytest.raises(ConfigError, match="auto_security_ids"):
        EndpointConfig(auto_security_ids=True).check()


def test_auto_ids_without_a_discovered_account_start_at_0() -> None:
    config = EndpointConfig(
        security=[
            SecurityConfig("coap://b", short_server_id=2, instance_id=9),
            SecurityConfig("coap://a", short_server_id=1, instance_id=3),
            SecurityConfig("coap://bs", bootstrap=True, instance_id=0),
        ],
        servers=[ServerConfig(1), ServerConfig(2)],
        discover="/",
        auto_security_ids=True,
    )
    paths = [str(path) for path, _ in planned_writes(config)]
    assert paths == ["/0/0", "/0/1", "/0/2", "/1/0", "/1/1"]  # key order: bs, a, b


def test_file_configuration_shown_as_leshan_json() -> None:
    """Instances without ids are shown where a bootstrap without discover writes them."""
    dev1 = parse_config(FILE).endpoints["dev1"]
    shown = endpoint_to_leshan(dev1)
    assert list(shown["security"]) == ["1"] and list(shown["servers"]) == ["0"]
    assert shown["security"]["1"]["publicKeyOrId"] == list(b"dev1")
    assert shown["servers"]["0"]["binding"] == "UQ"
    assert shown["contentFormat"]["code"] == 112
    # Like Leshan (NON_NULL), an unset value is left out, and reading it back gives
    # BootstrapConfig's default: a file's missing default_pmin comes back as 1.
    assert "defaultMinPeriod" not in shown["servers"]["0"]
    again = leshan_to_endpoint(shown)
    assert again.servers[0].default_pmin == 1
    assert leshan_to_endpoint(endpoint_to_leshan(again)) == again


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-300, 70000) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
_security = st.fixed_dictionaries(
    {},
    optional={
        "uri": st.sampled_from(["coap://h:5683", "coaps://h:5684", "http://x", "", 5]),
        "bootstrapServer": st.booleans() | _json,
        "securityMode": st.sampled_from(["PSK", "NO_SEC", "RPK", "X509", "EST", 3, "x"]),
        "publicKeyOrId": st.lists(st.integers(-130, 260), max_size=4) | _json,
        "secretKey": st.lists(st.integers(-130, 260), max_size=4) | _json,
        "serverId": st.integers(-1, 70000) | _json,
        "clientOldOffTime": st.integers(-2, 5) | _json,
    },
)
_server = st.fixed_dictionaries(
    {},
    optional={
        "shortId": st.integers(-1, 70000) | _json,
        "lifetime": st.integers(-1, 100) | _json,
        "binding": st.sampled_from(["U", "UQ", "X", ""]) | _json,
        "notifIfDisabled": st.booleans() | _json,
        "defaultMinPeriod": st.integers(-1, 5) | _json,
    },
)
_ids = st.sampled_from(["0", "1", "2", "x", "70000"])
_leshan = st.fixed_dictionaries(
    {},
    optional={
        "autoIdForSecurityObject": st.booleans() | _json,
        "toDelete": st.lists(st.sampled_from(["/", "/0", "/1", "/a", "/3/0/1", ""])) | _json,
        "security": st.dictionaries(_ids, _security | _json, max_size=3) | _json,
        "servers": st.dictionaries(_ids, _server | _json, max_size=3) | _json,
        "oscore": st.just({}) | _json,
        "contentFormat": st.sampled_from([None, 11542, 0, 112]) | _json,
    },
)


@settings(max_examples=250, deadline=None)
@given(_leshan | _json)
def test_any_body_gives_a_configuration_or_a_config_error(body: Any) -> None:
    try:
        config = leshan_to_endpoint(body)
    except ConfigError as exc:
        assert exc.message and len(str(exc)) < 400
        return
    shown = endpoint_to_leshan(config)
    assert leshan_to_endpoint(json.loads(json.dumps(shown))) == config
    assert parse_endpoint(dump_endpoint(config)) == config

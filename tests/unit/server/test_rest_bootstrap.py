"""The bootstrap server's REST API against the contract of Eclipse Leshan 2.x's bootstrap demo.

Each test names the Leshan file its facts come from (paths in the eclipse-leshan/leshan
repository). Refusals are checked to leave the stored configurations as they were.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import test_utils

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.formats.link import Link
from lwm2m.server.bootstrap import BootstrapFinished, BootstrapServer
from lwm2m.server.bootstrap_config import leshan_to_endpoint, planned_writes
from lwm2m.server.rest.auth import AuthConfig
from lwm2m.server.rest.bootstrap import create_bootstrap_app
from lwm2m.server.rest.responses import MAX_BODY
from lwm2m.server.store import SecurityInfo
from lwm2m.server.store.bootstrap_base import BootstrapStore
from lwm2m.server.store.bootstrap_memory import MemoryBootstrapStore
from lwm2m.server.store.bootstrap_sqlite import SqliteBootstrapStore
from lwm2m.transport.base import Address

FAST = TransmissionParams(ack_timeout=0.1, ack_random_factor=1.0, max_retransmit=1)

#: What Leshan's bootstrap UI posts for one PSK management server and a NO_SEC
#: bootstrap server (leshan-demo-bsserver/webapp/src/views/BootstrapView.vue, addConfig,
#: through configFromUIToRest): the bootstrap account at key 0, the server from key 1.
UI_BODY: dict[str, Any] = {
    "servers": {
        "0": {
            "binding": "U",
            "defaultMinPeriod": 1,
            "lifetime": 300,
            "notifIfDisabled": True,
            "shortId": 123,
        }
    },
    "security": {
        "0": {
            "bootstrapServer": True,
            "clientOldOffTime": 1,
            "publicKeyOrId": [],
            "secretKey": [],
            "securityMode": "NO_SEC",
            "serverSmsNumber": "",
            "smsBindingKeyParam": [],
            "smsBindingKeySecret": [],
            "smsSecurityMode": "NO_SEC",
            "uri": "coap://bs.example:5783",
        },
        "1": {
            "bootstrapServer": False,
            "clientOldOffTime": 1,
            "publicKeyOrId": [100, 101, 118, 49],  # "dev1"
            "secretKey": [1, 35, -1, -128],  # Java bytes: 0x01 0x23 0xff 0x80
            "securityMode": "PSK",
            "serverId": 123,
            "serverSmsNumber": "",
            "smsBindingKeyParam": [],
            "smsBindingKeySecret": [],
            "smsSecurityMode": "NO_SEC",
            "uri": "coaps://dm.example:5684",
        },
    },
    "oscore": {},
    "toDelete": ["/0", "/1"],
}

#: GET's answer for UI_BODY: every field of BootstrapConfig with its default filled in,
#: nulls left out (leshan-lwm2m-bsserver/src/main/java/org/eclipse/leshan/bsserver/
#: BootstrapConfig.java; BootstrapServlet's mapper uses JsonInclude.Include.NON_NULL),
#: byte arrays as unsigned numbers (BootstrapServlet registers ByteArraySerializer with
#: ByteMode.UNSIGNED), the binding as a string (json/EnumSetSerializer.java) and the
#: security mode by its enum name (leshan-lwm2m-core/.../core/SecurityMode.java).
UI_EXPECTED: dict[str, Any] = {
    "autoIdForSecurityObject": False,
    "toDelete": ["/0", "/1"],
    "servers": {
        "0": {
            "shortId": 123,
            "lifetime": 300,
            "defaultMinPeriod": 1,
            "notifIfDisabled": True,
            "binding": "U",
        }
    },
    "security": {
        "0": {
            "uri": "coap://bs.example:5783",
            "bootstrapServer": True,
            "securityMode": "NO_SEC",
            "publicKeyOrId": [],
            "serverPublicKey": [],
            "secretKey": [],
            "smsSecurityMode": "NO_SEC",
            "smsBindingKeyParam": [],
            "smsBindingKeySecret": [],
            "serverSmsNumber": "",
            "clientOldOffTime": 1,
            "bootstrapServerAccountTimeout": 0,
        },
        "1": {
            "uri": "coaps://dm.example:5684",
            "bootstrapServer": False,
            "securityMode": "PSK",
            "publicKeyOrId": [100, 101, 118, 49],
            "serverPublicKey": [],
            "secretKey": [1, 35, 255, 128],
            "smsSecurityMode": "NO_SEC",
            "smsBindingKeyParam": [],
            "smsBindingKeySecret": [],
            "serverSmsNumber": "",
            "serverId": 123,
            "clientOldOffTime": 1,
            "bootstrapServerAccountTimeout": 0,
        },
    },
    "acls": {},
    "oscore": {},
}


def dm_config(uri: str = "coap://127.0.0.1:5683", ssid: int = 1, **security: Any) -> dict[str, Any]:
    """A one-server configuration; ``security`` overrides fields of the Security entry."""
    entry: dict[str, Any] = {"uri": uri, "securityMode": "NO_SEC", "serverId": ssid}
    entry.update(security)
    return {"security": {"1": entry}, "servers": {"0": {"shortId": ssid}}}


@dataclass
class Api:
    client: test_utils.TestClient
    store: BootstrapStore

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, str, str]:
        """(status, content type, text) of a request; ``body`` str/bytes go as they are."""
        data = body if body is None or isinstance(body, str | bytes) else json.dumps(body)
        headers = {"Content-Type": "application/json"}
        async with self.client.request(method, path, data=data, headers=headers) as resp:
            return resp.status, resp.content_type, await resp.text()

    async def configs(self) -> dict[str, Any]:
        status, kind, text = await self.call("GET", "/api/bootstrap")
        assert (status, kind) == (200, "application/json"), text
        result: dict[str, Any] = json.loads(text)
        return result


@pytest.fixture(params=["memory", "sqlite"])
async def api(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Api]:
    store: BootstrapStore = (
        MemoryBootstrapStore()
        if request.param == "memory"
        else SqliteBootstrapStore(tmp_path / "bs.db")
    )
    app = create_bootstrap_app(store)
    try:
        async with test_utils.TestClient(test_utils.TestServer(app, host="127.0.0.1")) as client:
            yield Api(client, store)
    finally:
        store.close()


# ----------------------------------------------------------------------- the routes


async def test_get_all_is_a_json_object_keyed_by_endpoint(api: Api) -> None:
    """BootstrapServlet.doGet: 200, application/json, ``bsStore.getAll()`` (a map by endpoint)."""
    assert await api.configs() == {}
    assert (await api.call("POST", "/api/bootstrap/dev1", dm_config()))[0] == 200
    assert (await api.call("POST", "/api/bootstrap/dev2", dm_config()))[0] == 200
    assert sorted(await api.configs()) == ["dev1", "dev2"]


async def test_post_of_the_ui_body_then_get_shows_leshan_json(api: Api) -> None:
    """BootstrapServlet.doPost: 200 and no body; GET shows Leshan's serialization
    (BootstrapConfig.java defaults, NON_NULL, ByteArraySerializer UNSIGNED)."""
    status, _, text = await api.call("POST", "/api/bootstrap/dev1", UI_BODY)
    assert (status, text) == (200, "")
    assert await api.configs() == {"dev1": UI_EXPECTED}


async def test_get_output_posts_back_to_the_same_configuration(api: Api) -> None:
    """What GET writes is what POST reads (Leshan's UI edits and re-posts it)."""
    await api.call("POST", "/api/bootstrap/dev1", UI_BODY)
    shown = (await api.configs())["dev1"]
    assert (await api.call("POST", "/api/bootstrap/dev2", shown))[0] == 200
    configs = await api.configs()
    assert configs["dev2"] == configs["dev1"] == UI_EXPECTED


async def test_absent_fields_take_the_defaults_of_bootstrap_config(api: Api) -> None:
    """BootstrapConfig.java: autoIdForSecurityObject false, toDelete [], lifetime 86400,
    defaultMinPeriod 1, notifIfDisabled true, binding U, clientOldOffTime 1,
    bootstrapServerAccountTimeout 0, empty byte arrays, smsSecurityMode NO_SEC."""
    body = {
        "security": {"1": {"uri": "coap://h:5683", "securityMode": "NO_SEC", "serverId": 9}},
        "servers": {"0": {"shortId": 9}},
    }
    await api.call("POST", "/api/bootstrap/dev1", body)
    shown = (await api.configs())["dev1"]
    assert shown["autoIdForSecurityObject"] is False and shown["toDelete"] == []
    assert shown["servers"]["0"] == {
        "shortId": 9,
        "lifetime": 86400,
        "defaultMinPeriod": 1,
        "notifIfDisabled": True,
        "binding": "U",
    }
    sec = shown["security"]["1"]
    assert (sec["clientOldOffTime"], sec["bootstrapServerAccountTimeout"]) == (1, 0)
    assert sec["publicKeyOrId"] == sec["serverPublicKey"] == sec["secretKey"] == []
    assert sec["bootstrapServer"] is False and sec["smsSecurityMode"] == "NO_SEC"
    # and what the bootstrap writes: Leshan's BootstrapUtil writes those defaults too
    stored = api.store.get_config("dev1")
    assert stored is not None and stored.delete == []
    (_, security), (_, server) = planned_writes(stored)
    assert {rid: security.resources[rid].value for rid in (11, 12)} == {11: 1, 12: 0}  # type: ignore[union-attr]
    assert server.resources[2].value == 1  # type: ignore[union-attr]


async def test_explicit_nulls_follow_jackson(api: Api) -> None:
    """Jackson sets an Integer field to null (then left out: NON_NULL) and a primitive
    boolean to false (BootstrapConfig.java: ``Integer defaultMinPeriod``, ``boolean
    notifIfDisabled``)."""
    body = dm_config(clientOldOffTime=None)
    body["servers"]["0"].update(defaultMinPeriod=None, notifIfDisabled=None, muteSend=None)
    await api.call("POST", "/api/bootstrap/dev1", body)
    shown = (await api.configs())["dev1"]
    assert "defaultMinPeriod" not in shown["servers"]["0"]
    assert shown["servers"]["0"]["notifIfDisabled"] is False
    assert "clientOldOffTime" not in shown["security"]["1"]


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ([-1, -128, 0, 127], [255, 128, 0, 127]),  # Java's signed bytes
        ([255, 128], [255, 128]),  # Jackson also reads 128..255 as bytes
        ("AQL/", [1, 2, 255]),  # and base64 text, its default byte[] form
        (None, []),
    ],
)
async def test_byte_arrays_in_and_out(api: Api, given: Any, written: list[int]) -> None:
    """Jackson's byte[] reader takes numbers -128..255 or base64; BootstrapServlet writes
    unsigned numbers (json/ByteArraySerializer.java, ByteMode.UNSIGNED)."""
    body = dm_config("coaps://h:5684", securityMode="PSK", publicKeyOrId=[105], secretKey=given)
    if given is None:  # a PSK needs a key: show null on the server public key instead
        body = dm_config(serverPublicKey=None)
    status, _, text = await api.call("POST", "/api/bootstrap/dev1", body)
    assert status == 200, text
    sec = (await api.configs())["dev1"]["security"]["1"]
    assert sec["serverPublicKey" if given is None else "secretKey"] == written


async def test_post_replaces_the_configuration(api: Api) -> None:
    """EditableBootstrapConfigStore.add: a second POST for an endpoint replaces its config."""
    await api.call("POST", "/api/bootstrap/dev1", dm_config(ssid=1))
    await api.call("POST", "/api/bootstrap/dev1", dm_config(ssid=2))
    assert (await api.configs())["dev1"]["servers"]["0"]["shortId"] == 2


async def test_delete(api: Api) -> None:
    """BootstrapServlet.doDelete: 204 when removed, 404 ``no config for ENDPOINT`` otherwise."""
    await api.call("POST", "/api/bootstrap/dev1", dm_config())
    assert await api.call("DELETE", "/api/bootstrap/dev1") == (204, "application/octet-stream", "")
    assert await api.call("DELETE", "/api/bootstrap/dev1") == (
        404,
        "text/plain",
        "no config for dev1",
    )
    assert await api.configs() == {}


NO_NAME = "endpoint name should be specified in the URL"
MORE = "endpoint name should be specified in the URL, nothing more"


@pytest.mark.parametrize(
    ("method", "path", "status", "text"),
    [
        # BootstrapServlet.doGet: any path info is "bad URL"
        ("GET", "/api/bootstrap/dev1", 404, "bad URL"),
        ("GET", "/api/bootstrap/", 404, "bad URL"),
        # doPost / doDelete: StringUtils.split(pathInfo, '/') must give one name
        ("POST", "/api/bootstrap", 400, NO_NAME),
        ("POST", "/api/bootstrap/", 400, MORE),
        ("POST", "/api/bootstrap/a/b", 400, MORE),
        ("DELETE", "/api/bootstrap", 400, NO_NAME),
        ("DELETE", "/api/bootstrap/a/b", 400, MORE),
    ],
)
async def test_url_errors(api: Api, method: str, path: str, status: int, text: str) -> None:
    """BootstrapServlet.java: the URL checks and their texts (text/plain)."""
    assert await api.call(method, path, dm_config()) == (status, "text/plain", text)


async def test_a_name_split_like_leshan_does(api: Api) -> None:
    """StringUtils.split drops empty segments: ``/api/bootstrap/dev1/`` is dev1."""
    assert (await api.call("POST", "/api/bootstrap/dev1/", dm_config()))[0] == 200
    assert list(await api.configs()) == ["dev1"]


@pytest.mark.parametrize("body", ["", "   ", "null"])
async def test_no_content(api: Api, body: str) -> None:
    """BootstrapServlet.doPost: a body that maps to null is 400 ``no content``."""
    assert await api.call("POST", "/api/bootstrap/dev1", body) == (400, "text/plain", "no content")


_KEY = {"securityMode": "PSK", "publicKeyOrId": [105, 100], "secretKey": [1]}


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"toDelete": ["/a"]}, " /a is not a valid path"),
        (dm_config(securityMode=None), "Security Mode is mandatory"),
        (dm_config(secretKey=[1]), "NO-SEC mode, secret key must be empty"),
        (dm_config(publicKeyOrId=[1]), "NO-SEC mode, public key or ID must be empty"),
        (dm_config(serverPublicKey=[1]), "NO-SEC mode, server public key must be empty"),
        (
            dm_config("coaps://h", **{**_KEY, "secretKey": []}),
            "pre-shared-key mode, secret key must not be empty",
        ),
        (
            dm_config("coaps://h", **{**_KEY, "publicKeyOrId": []}),
            "pre-shared-key mode, public key or id must not be empty",
        ),
        (
            dm_config("coaps://h", **{**_KEY, "publicKeyOrId": [255]}),
            "pre-shared-key mode, public key or id must not be an utf8 string",
        ),
        (
            dm_config("coaps://h", securityMode="RPK"),
            "raw-public-key mode, secret key must not be empty",
        ),
        (
            dm_config("coaps://h", securityMode="RPK", secretKey=[1, 2]),
            "Failed to decode RFC5958 private key",
        ),
        (
            dm_config("coaps://h", securityMode="X509"),
            "x509 mode, secret key must not be empty",
        ),
        (
            dm_config("coaps://h", securityMode="X509", secretKey=[4, 2, 0]),
            "Failed to decode RFC5958 private key",
        ),
        (dm_config("coaps://h", securityMode="EST"), "EST is not currently supported."),
        (dm_config(""), "LwM2M Server URI is mandatory"),
        ({**dm_config(), "servers": {"0": {"shortId": 0}}}, "short ID must not be 0"),
        (
            {**dm_config(), "servers": {"4": {"shortId": 5}}},
            "no security entry for server instance: 4",
        ),
    ],
)
async def test_leshan_checker_texts(api: Api, body: dict[str, Any], text: str) -> None:
    """leshan-lwm2m-bsserver/.../bsserver/DefaultConfigurationChecker.java: each refusal's
    text, as BootstrapServlet sends an InvalidConfigurationException's message with 400."""
    await api.call("POST", "/api/bootstrap/dev1", dm_config())
    before = await api.configs()
    assert await api.call("POST", "/api/bootstrap/dev1", body) == (400, "text/plain", text)
    assert await api.configs() == before


async def test_bootstrap_psk_identity_is_unique_per_bootstrap_server(api: Api) -> None:
    """InMemoryBootstrapConfigStore.add: a PSK identity of a Bootstrap-Server account may
    serve one endpoint per bootstrap server URI; replacing the same endpoint's is fine."""
    bs = {
        "uri": "coaps://bs.example:5784",
        "bootstrapServer": True,
        "securityMode": "PSK",
        "publicKeyOrId": [98, 115],  # "bs"
        "secretKey": [7],
    }
    first = {**dm_config(), "security": {**dm_config()["security"], "0": bs}}
    assert (await api.call("POST", "/api/bootstrap/dev1", first))[0] == 200
    assert (await api.call("POST", "/api/bootstrap/dev1", first))[0] == 200
    status, _, text = await api.call("POST", "/api/bootstrap/dev2", first)
    assert (status, text) == (
        400,
        "Psk identity [bs] already used for this bootstrap server [coaps://bs.example:5784]",
    )
    other = {**first, "security": {**first["security"], "0": {**bs, "uri": "coaps://b2:5684"}}}
    assert (await api.call("POST", "/api/bootstrap/dev2", other))[0] == 200


async def test_auto_id_for_security_object(api: Api) -> None:
    """BootstrapConfig.autoIdForSecurityObject: the session starts with a Bootstrap-Discover
    (BootstrapConfigStoreTaskProvider.java) and BootstrapUtil.toRequests(config, format,
    bootstrapServerID) numbers the Security instances: the bootstrap account takes the
    discovered id, the others 0, 1, ... in key order, skipping it."""
    body = {
        "autoIdForSecurityObject": True,
        "security": {
            "0": {"uri": "coap://bs:5783", "bootstrapServer": True, "securityMode": "NO_SEC"},
            "3": {"uri": "coap://a:5683", "securityMode": "NO_SEC", "serverId": 1},
            "5": {"uri": "coap://b:5683", "securityMode": "NO_SEC", "serverId": 2},
        },
        "servers": {"0": {"shortId": 1}, "1": {"shortId": 2}},
    }
    assert (await api.call("POST", "/api/bootstrap/dev1", body))[0] == 200
    shown = (await api.configs())["dev1"]
    assert shown["autoIdForSecurityObject"] is True
    assert sorted(shown["security"]) == ["0", "3", "5"]
    config = api.store.get_config("dev1")
    assert config is not None and config.discover == "/"
    writes = [(str(path), node.resources[0].value) for path, node in planned_writes(config, {1})]  # type: ignore[union-attr]
    assert writes == [
        ("/0/1", "coap://bs:5783"),
        ("/0/0", "coap://a:5683"),
        ("/0/2", "coap://b:5683"),
        ("/1/0", 1),
        ("/1/1", 2),
    ]


async def test_content_format(api: Api) -> None:
    """BootstrapConfig.contentFormat: Jackson reads a code (ContentFormat(int)) and writes the
    bean's getters name/mediaType/code (leshan-lwm2m-core/.../request/ContentFormat.java)."""
    body = {**dm_config(), "contentFormat": 11542}
    assert (await api.call("POST", "/api/bootstrap/dev1", body))[0] == 200
    shown = (await api.configs())["dev1"]
    bean = {"name": "TLV", "mediaType": "application/vnd.oma.lwm2m+tlv", "code": 11542}
    assert shown["contentFormat"] == bean
    assert (await api.call("POST", "/api/bootstrap/dev2", shown))[0] == 200
    stored = api.store.get_config("dev2")
    assert stored is not None and stored.content_format == 11542


# --------------------------------------------------------------------------- garbage

_DEEP = "[" * 100_000 + "]" * 100_000


def _sec(**fields: Any) -> str:
    return json.dumps(dm_config(**fields))


def _srv(**fields: Any) -> str:
    body = dm_config()
    body["servers"]["0"].update(fields)
    return json.dumps(body)


GARBAGE: list[tuple[str | bytes, str]] = [
    # (body, words of the answer: the field it names)
    (b"{", "not JSON"),
    (b"\xff\xfe\x00", "not JSON"),
    (b"[1, 2]", "body: expected a JSON object, got an array"),
    (b'"text"', "body: expected a JSON object, got a string"),
    (b"42", "body: expected a JSON object, got a number"),
    (_DEEP, "not acceptable JSON"),
    ('{"security": {"1": ' + _DEEP + "}}", "not acceptable JSON"),
    ('{"toDelete": ' + "[" * 500 + "]" * 500 + "}", "toDelete[0]: expected a path string"),
    ('{"endpoint": "dev1"}', "endpoint: unknown field"),
    ('{"autoIdForSecurityObject": "true"}', "autoIdForSecurityObject: expected true or false"),
    ('{"contentFormat": "TLV"}', "contentFormat: expected a content format code"),
    ('{"contentFormat": 0}', "contentFormat: 0 is not one of"),
    ('{"toDelete": "/"}', "toDelete: expected an array of paths"),
    ('{"toDelete": [5]}', "toDelete[0]: expected a path string"),
    ('{"toDelete": ["/3/0/1"]}', "toDelete[0]: '/3/0/1': bootstrap operations address"),
    ('{"security": []}', "security: expected a JSON object, got an array"),
    ('{"security": {"abc": {}}}', "security: key 'abc' is not an instance id"),
    ('{"security": {"70000": {}}}', "security: key '70000' is not an instance id"),
    ('{"security": {"-1": {}}}', "security: key '-1' is not an instance id"),
    ('{"security": {"1": 5}}', "security.1: expected a JSON object, got a number"),
    ('{"servers": {"0": []}}', "servers.0: expected a JSON object, got an array"),
    ('{"acls": {"0": {}}}', "acls: Access Control instances are not supported"),
    ('{"oscore": {"0": {}}}', "oscore: OSCORE is not supported"),
    (_sec(uri=5), "security.1.uri: expected a string, got a number"),
    (_sec(uri="http://h:80"), "security.1.uri: is not a coap:// or coaps:// URI"),
    (_sec(uri="coap://"), "security.1.uri: is not a coap:// or coaps:// URI with a host"),
    (_sec(uri="coap://h:99999"), "security.1.uri: is not a valid URI"),
    (_sec(uri="coaps://h:5684"), "security.1.securityMode: a coaps:// URI needs"),
    (_sec(bootstrapServer="yes"), "security.1.bootstrapServer: expected true or false"),
    (_sec(securityMode="FOO"), "security.1.securityMode: 'FOO' is not one of PSK"),
    (_sec(securityMode=9), "security.1.securityMode: a number is not one of"),
    (_sec(serverId="1"), "security.1.serverId: expected an integer, got a string"),
    (_sec(serverId=2**40), "security.1.serverId: 1099511627776 is not in"),
    (json.dumps(dm_config(ssid=70000)), "security.1.serverId: 70000 is not in 1..65534"),
    (
        json.dumps({"security": dm_config(serverId=None)["security"]}),
        "security.1.serverId: missing",
    ),
    (_sec(publicKeyOrId="not base64!"), "security.1.publicKeyOrId: a string here must be base64"),
    (_sec(publicKeyOrId=[256]), "security.1.publicKeyOrId[0]: 256 is not a byte (-128..255)"),
    (_sec(publicKeyOrId=[1, -129]), "security.1.publicKeyOrId[1]: -129 is not a byte"),
    (_sec(secretKey=[1.5]), "security.1.secretKey[0]: a number is not a byte"),
    (_sec(secretKey=[True]), "security.1.secretKey[0]: a boolean is not a byte"),
    (_sec(secretKey=[[1]]), "security.1.secretKey[0]: an array is not a byte"),
    (_sec(secretKey={"a": 1}), "security.1.secretKey: expected an array of bytes"),
    (_sec(serverPublicKey=7), "security.1.serverPublicKey: expected an array of bytes"),
    (_sec(clientOldOffTime=-1), "security.1.clientOldOffTime: -1 is not in 0.."),
    (_sec(oscoreSecurityMode=0), "security.1.oscoreSecurityMode: OSCORE is not supported"),
    (_sec(sni="h"), "security.1.sni: the SNI resource (/0/x/14) is not supported"),
    (_sec(smsSecurityMode="SPS_DEVICE"), "security.1.smsSecurityMode: only NO_SEC"),
    (_sec(serverSmsNumber="+33"), "security.1.serverSmsNumber: must be empty"),
    (_sec(color="red"), "security.1.color: unknown field"),
    (_srv(shortId="1"), "servers.0.shortId: expected an integer, got a string"),
    (_srv(shortId=2**31), "servers.0.shortId: 2147483648 is not in"),
    (_srv(lifetime=0), "servers.0.lifetime: 0 must be > 0"),
    (_srv(lifetime=-5), "servers.0.lifetime: -5 must be > 0"),
    (_srv(binding=5), "servers.0.binding: expected a string, got a number"),
    (_srv(binding="UX"), "servers.0.binding: 'UX' is not made of U, T, S, N, Q"),
    (_srv(defaultMinPeriod=-1), "servers.0.defaultMinPeriod: -1 is not in 0.."),
    (_srv(muteSend="no"), "servers.0.muteSend: expected true or false"),
    (_srv(apnLink=1), "servers.0.apnLink: the resource /1/x/10 is not supported"),
    (_srv(foo=1), "servers.0.foo: unknown field"),
    (json.dumps({**dm_config(), "servers": {}}), "security.1.serverId: no servers entry"),
]


@pytest.mark.parametrize(("body", "words"), GARBAGE)
async def test_garbage_is_400_naming_the_field_and_changes_nothing(
    api: Api, body: str | bytes, words: str
) -> None:
    """Leshan answers 500 for what Jackson cannot map (only JsonParseException and
    InvalidConfigurationException are caught in BootstrapServlet.doPost); here every
    refusal is 400 text/plain naming the field, and the stored state is unchanged."""
    await api.call("POST", "/api/bootstrap/keep", UI_BODY)
    before = await api.configs()
    for endpoint in ("keep", "new"):
        status, kind, text = await api.call("POST", f"/api/bootstrap/{endpoint}", body)
        assert (status, kind) == (400, "text/plain"), text
        assert words in text, text
        assert len(text) < 400
    assert await api.configs() == before


async def test_oversized_body_is_refused_unparsed(api: Api) -> None:
    """Bodies past MAX_BODY are 413 before they are read whole."""
    body = b'{"toDelete": ["' + b"/1" * MAX_BODY + b'"]}'
    status, kind, _ = await api.call("POST", "/api/bootstrap/dev1", body)
    assert (status, kind) == (413, "text/plain")
    assert await api.configs() == {}


@pytest.mark.parametrize("name", ["x" * 253, "bad\u0007name"])
async def test_unusable_endpoint_names(api: Api, name: str) -> None:
    """A name that cannot travel in ``ep=`` (255-byte Uri-Query) or holds control characters."""
    status, _, text = await api.call("POST", f"/api/bootstrap/{name}", dm_config())
    assert status == 400 and text.startswith("Invalid request: the endpoint name")
    assert await api.configs() == {}


async def test_other_methods_are_405(api: Api) -> None:
    status, kind, _ = await api.call("PUT", "/api/bootstrap/dev1", dm_config())
    assert (status, kind) == (405, "text/plain")


# ---------------------------------------------------------- the server reads the store


async def test_security_routes_feed_the_dtls_key_store(api: Api) -> None:
    """LeshanBootstrapServerDemo.java serves ``/api/security/*`` (SecurityServlet) on the
    bootstrap server's EditableSecurityStore; a PSK put there is used by the next handshake."""
    server = BootstrapServer(store=api.store)
    assert server.psk_key(b"dev1-id") is None
    body = {
        "endpoint": "dev1",
        "tls": {"mode": "psk", "details": {"identity": "dev1-id", "key": "a1b2"}},
    }
    assert (await api.call("PUT", "/api/security/clients/", body))[0] == 200
    assert server.psk_key(b"dev1-id") == bytes.fromhex("a1b2")
    status, _, text = await api.call("GET", "/api/security/clients")
    assert status == 200 and json.loads(text)[0]["endpoint"] == "dev1"
    assert (await api.call("DELETE", "/api/security/clients/dev1"))[0] == 200
    assert server.psk_key(b"dev1-id") is None


async def test_a_configuration_posted_applies_to_the_next_bootstrap_request(api: Api) -> None:
    """The BootstrapServer reads the store per Bootstrap-Request (Leshan's
    BootstrapConfigStoreTaskProvider asks its store at each session)."""
    server = BootstrapServer(store=api.store, transmission=FAST, request_timeout=5.0)
    await server.start("127.0.0.1", coap_port=0)
    peer = await Endpoint.create_udp("127.0.0.1", 0, params=FAST)

    def answer(request: Message, remote: Address) -> Message:
        code = Code.DELETED if request.code == Code.DELETE else Code.CHANGED
        return Message.response_to(request, code)

    peer.set_fallback_handler(answer)
    bs = server.addresses[0]
    try:
        refused = await peer.post("/bs", remote=bs, query="ep=dev1", timeout=5)
        assert refused.code == Code.BAD_REQUEST
        await api.call("POST", "/api/bootstrap/dev1", dm_config())
        done = server.wait_for(BootstrapFinished, endpoint="dev1", timeout=10)
        accepted = await peer.post("/bs", remote=bs, query="ep=dev1", timeout=5)
        assert accepted.code == Code.CHANGED
        finished = await done
        assert isinstance(finished, BootstrapFinished)
        assert finished.written == ("/0/1", "/1/0")
        # a PSK in the store: the endpoint must now come over DTLS with it
        body = {
            "endpoint": "dev1",
            "tls": {"mode": "psk", "details": {"identity": "i", "key": "01"}},
        }
        await api.call("PUT", "/api/security/clients/", body)
        forbidden = await peer.post("/bs", remote=bs, query="ep=dev1", timeout=5)
        assert forbidden.code == Code.FORBIDDEN
    finally:
        await peer.close()
        await server.close()


async def test_server_routes_list_listeners_and_security() -> None:
    """ServerServlet.java: ``/api/server/endpoint`` lists the listeners ({"uri": {"full",
    "scheme", "host", "port"}, "description"}), ``/api/server/security`` the server's key
    material ({} without a certificate)."""
    store = MemoryBootstrapStore()
    server = BootstrapServer(store=store)
    await server.start("127.0.0.1", coap_port=0)
    port = server.addresses[0][1]
    app = create_bootstrap_app(store, server=server)
    try:
        async with test_utils.TestClient(test_utils.TestServer(app, host="127.0.0.1")) as client:
            async with client.get("/api/server/endpoint") as resp:
                endpoints = await resp.json()
            assert endpoints[0]["uri"] == {
                "full": f"coap://127.0.0.1:{port}",
                "scheme": "coap",
                "host": "127.0.0.1",
                "port": port,
            }
            async with client.get("/api/server/security") as resp:
                assert await resp.json() == {}
    finally:
        await server.close()


async def test_token_guards_every_route() -> None:
    app = create_bootstrap_app(MemoryBootstrapStore(), access=AuthConfig(token="s3cret"))
    async with test_utils.TestClient(test_utils.TestServer(app, host="127.0.0.1")) as client:
        async with client.get("/api/bootstrap") as resp:
            assert resp.status == 401
        async with client.post("/api/bootstrap/dev1", json=dm_config()) as resp:
            assert resp.status == 401
        headers = {"Authorization": "Bearer s3cret"}
        async with client.get("/api/bootstrap", headers=headers) as resp:
            assert resp.status == 200 and await resp.json() == {}


def test_discover_links_find_the_bootstrap_account() -> None:
    """BootstrapConfigStoreTaskProvider.findBootstrapServerInstanceId: the /0/x link
    without ssid is the bootstrap account (the reserved id of planned_writes)."""
    from lwm2m.server.bootstrap import bootstrap_accounts

    links = [Link("/0/4"), Link("/0/1", {"ssid": "101"}), Link("/1/0", {"ssid": "101"})]
    assert bootstrap_accounts(links) == {4}


_PSK = SecurityInfo.psk("dev1", "id1", b"\x01")
_X509 = SecurityInfo.x509("dev1")


@pytest.mark.parametrize(
    ("info", "identity", "code"),
    [
        (None, None, Code.CHANGED),
        (_PSK, b"id1", Code.CHANGED),
        (_PSK, b"other", Code.FORBIDDEN),
        (_PSK, None, Code.FORBIDDEN),
        (_X509, "C=FR, O=Acme, CN=dev1", Code.CHANGED),
        (_X509, "C=FR, CN=dev2", Code.FORBIDDEN),
        (_X509, None, Code.FORBIDDEN),
        (SecurityInfo.rpk("dev1", b"\x30\x00"), "anything", Code.FORBIDDEN),
        (SecurityInfo.psk("dev9", "id9", b"\x09"), b"id9", Code.FORBIDDEN),  # dev9's identity
    ],
)
async def test_stored_credentials_decide_who_bootstraps(
    info: SecurityInfo | None, identity: bytes | str | None, code: int
) -> None:
    """Leshan's bootstrap demo authorizes a session from its security store (a
    BootstrapSecurityStoreAdapter over the store of ``/api/security``): an endpoint with
    credentials must prove them, and an identity serves only its own endpoint."""
    store = MemoryBootstrapStore()
    store.put_config("dev1", leshan_to_endpoint(dm_config()))
    if info is not None:
        store.put_security(info)
    server = BootstrapServer(store=store, transmission=FAST, request_timeout=5.0)
    listener = await Endpoint.create_udp("127.0.0.1", 0, params=FAST)
    server.attach(listener, identity_of=lambda remote: identity)
    peer = await Endpoint.create_udp("127.0.0.1", 0, params=FAST)

    def answer(request: Message, remote: Address) -> Message:
        done = Code.DELETED if request.code == Code.DELETE else Code.CHANGED
        return Message.response_to(request, done)

    peer.set_fallback_handler(answer)
    try:
        response = await peer.post("/bs", remote=listener.local_address, query="ep=dev1", timeout=5)
        assert response.code == code, response.payload
    finally:
        await server.close()
        await listener.close()
        await peer.close()

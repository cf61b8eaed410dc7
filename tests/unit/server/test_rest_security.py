"""``/api/security`` and ``/api/server`` through a real HTTP client on loopback.

The contract is Eclipse Leshan 2.x's demo servers; each fact pinned here comes from
one of these files of eclipse-leshan/leshan:

* ``leshan-demo-servers-shared/.../json/servlet/SecurityServlet.java``:
  - ``doGet`` "clients": 200, ``application/json``, the list of security infos;
  - ``doGet`` "server": the server's own key, as ``ServerServlet`` (below);
  - ``doPut``: 200 with an empty body on success; a ``NonUniqueSecurityInfoException``
    is 400 with its message as the body; a ``JsonParseException`` is 400 with
    ``Invalid request body: <message>``; a path ``clients/<something>`` is 400;
  - ``doDelete``: the endpoint is what follows ``/clients/``; empty is 400; a removed
    credential is 200 with an empty body, an unknown one 200 with the JSON body
    ``{"message":"not_found"}``; removal is "compromised" (sessions are closed).
* ``leshan-demo-servers-shared/.../json/JacksonSecuritySerializer.java``:
  ``{"endpoint", "tls": {"mode": "psk", "details": {"identity", "key"}}}`` with the key
  in lower-case hex; rpk ``details.key`` is the hex of the DER SubjectPublicKeyInfo
  (``PublicKey.getEncoded()``); x509 is ``{"mode": "x509"}`` without details.
* ``leshan-demo-servers-shared/.../json/JacksonSecurityDeserializer.java``: the reasons
  "Security info should be a json object", "Missing endpoint", "tls field should be a
  json object", "details field should be a json object", "Missing PSK identity", "key
  parameter must be a valid hex string", "Invalid security info content" (unknown
  mode, bad rpk key); x509 reads no details.
* ``leshan-server-core/.../security/InMemorySecurityStore.java``: ``add`` replaces the
  endpoint's previous info; a PSK identity of another endpoint is refused.
* ``leshan-demo-servers-shared/.../json/servlet/ServerServlet.java``: ``GET
  /api/server/security`` is ``{"pubkey": ...}``, ``{"certificate": ...}`` or ``{}`` when
  the server has neither; ``GET /api/server/endpoint`` is a list of ``{"uri": {"full",
  "scheme", "host", "port"}, "description"}``.
* ``.../json/PublicKeySerDes.java`` and ``X509CertificateSerDes.java``: a public key is
  ``{"x", "y", "params", "b64Der"}`` (coordinates in hex without a leading zero byte,
  ``b64Der`` the padded base64 of the SubjectPublicKeyInfo); a certificate is
  ``{"pubkey": {...}, "b64Der"}``.
* ``leshan-demo-server/webapp/src/views/SecurityView.vue`` and
  ``leshan-demo-servers-shared/webapp/src/components/security/TlsInput.vue``: the UI
  PUTs to ``api/security/clients/``, DELETEs ``api/security/clients/`` +
  ``encodeURIComponent(endpoint)``, and sends ``"details": {}`` for x509.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import test_utils, web

from lwm2m.server import MemoryStore, SecurityInfo, Server, SqliteStore
from lwm2m.server.rest import create_app, security
from lwm2m.server.rest.responses import MAX_BODY as APP_MAX_BODY
from lwm2m.server.rest.responses import error_middleware
from lwm2m.server.store import ServerStore

P256 = bytes.fromhex(
    "3059301306072a8648ce3d020106082a8648ce3d03010703420004651c78dfcee13b0f074f766735a880"
    "7f8275a8c66c6e767c9995f11e97835d3809437593ea151161647d0c224ec5e84a5bc54a1b5abace4585"
    "7d812cce26284a"
)
P384 = bytes.fromhex(
    "3076301006072a8648ce3d020106052b8104002203620004c00f2ebcc8d632074f0884ec232581e21058"
    "e5c088f668fda41ee4c66b94531a2bb438354b62425c18e60a47a6a2d4fbbc27aba63e1ec0c6428b5553"
    "9ea0f314f4ccd9f7c11f94524af317852fe72f6f081c3186e0ff0b5e5f53c5f8c16e0b1f"
)
RSA1024 = bytes.fromhex(
    "30819f300d06092a864886f70d010101050003818d0030818902818100d445f43bdaaa366b35ae71a1ff"
    "598b9bf644d2d0f80a0e81ed5b4202eee394ac1da5e6d97bd21e77cfd094f764c2d80ab9c17d529f1b8a"
    "a674df0db57d81227cbd6b160bd709207405ff72b46a1774767e64ee674910e9b60a1e1706d5aaa1bf4d"
    "42f9a662d15f8fdda47a9be744564d462abbdcc0203fe7d9fc371c2d2a3e390203010001"
)


def der(tag: int, *content: bytes) -> bytes:
    """One DER element (lengths below 64 KiB)."""
    body = b"".join(content)
    n = len(body)
    length = (
        bytes([n])
        if n < 0x80
        else (bytes([0x81, n]) if n < 0x100 else b"\x82" + n.to_bytes(2, "big"))
    )
    return bytes([tag]) + length + body


EC_P256_ALGORITHM = der(
    0x30, bytes.fromhex("06072a8648ce3d0201"), bytes.fromhex("06082a8648ce3d030107")
)


def ec_key(point: bytes, algorithm: bytes = EC_P256_ALGORITHM) -> bytes:
    return der(0x30, algorithm, der(0x03, b"\0", point))


PSK_BODY = {
    "endpoint": "dev1",
    "tls": {"mode": "psk", "details": {"identity": "id1", "key": "0011AAbb"}},
}


def psk(endpoint: str = "dev1", identity: str = "id1", key: str = "0011aabb") -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "tls": {"mode": "psk", "details": {"identity": identity, "key": key}},
    }


class FakeServer:
    """The two things the routes ask of the LwM2M server."""

    def __init__(self) -> None:
        self.closed: list[bytes | str] = []
        self.sessions: dict[bytes | str, int] = {}

    def close_secure_sessions(self, identity: bytes | str) -> int:
        self.closed.append(identity)
        return self.sessions.pop(identity, 0)

    def listeners(self) -> list[tuple[str, tuple[str, int]]]:
        return [("coap", ("127.0.0.1", 5683)), ("coaps", ("::1", 5684))]


class Api:
    """An HTTP client of the security routes, with the store and what was removed."""

    def __init__(self, client: test_utils.TestClient, store: ServerStore) -> None:
        self.client = client
        self.store = store
        self.removed: list[SecurityInfo] = []

    async def request(self, method: str, url: str, **kwargs: Any) -> tuple[int, str, str]:
        async with self.client.request(method, url, **kwargs) as resp:
            return resp.status, resp.content_type, await resp.text()

    async def put(self, body: Any, url: str = "/api/security/clients/") -> tuple[int, str]:
        data = json.dumps(body) if isinstance(body, dict | list) else body
        status, _, text = await self.request("PUT", url, data=data)
        return status, text

    async def listed(self) -> Any:
        status, ctype, text = await self.request("GET", "/api/security/clients")
        assert (status, ctype) == (200, "application/json"), text
        return json.loads(text)

    async def refused(self, body: Any, *needles: str) -> str:
        """PUT ``body``: 400 with a text/plain reason holding ``needles``; nothing changed."""
        before = self.store.list_security()
        data = json.dumps(body) if isinstance(body, dict | list) else body
        status, ctype, text = await self.request("PUT", "/api/security/clients/", data=data)
        assert status == 400, (status, text)
        assert ctype == "text/plain"
        for needle in needles:
            assert needle in text, text
        assert self.store.list_security() == before
        assert self.removed == []
        return text


@contextlib.asynccontextmanager
async def serving(
    store: ServerStore | None = None,
    *,
    server: FakeServer | None = None,
    server_info: Callable[[], dict[str, Any]] | None = security.server_security_json,
) -> AsyncIterator[Api]:
    store = store if store is not None else MemoryStore()
    app = web.Application(middlewares=[error_middleware], client_max_size=APP_MAX_BODY)
    fake = server if server is not None else FakeServer()
    removed: list[SecurityInfo] = []
    security.add_routes(
        app,
        store,
        on_removed=removed.append,
        server_info=server_info,
        endpoints=(lambda: security.server_endpoints(fake)) if server_info else None,
    )
    async with test_utils.TestClient(test_utils.TestServer(app, host="127.0.0.1")) as client:
        api = Api(client, store)
        api.removed = removed
        yield api


# --- the contract -------------------------------------------------------------------------


async def test_put_list_delete_contract() -> None:
    async with serving() as api:
        assert await api.listed() == []
        status, ctype, text = await api.request("PUT", "/api/security/clients/", json=PSK_BODY)
        assert (status, text) == (200, "")
        assert await api.listed() == [psk()]  # key back in lower case
        assert api.store.get_security("dev1") == SecurityInfo.psk(
            "dev1", "id1", b"\x00\x11\xaa\xbb"
        )

        rpk = {"endpoint": "dev2", "tls": {"mode": "rpk", "details": {"key": P256.hex().upper()}}}
        x509 = {"endpoint": "dev3", "tls": {"mode": "x509", "details": {}}}
        for body in (rpk, x509):
            assert await api.put(body, "/api/security/clients") == (200, "")
        assert await api.listed() == [
            psk(),
            {"endpoint": "dev2", "tls": {"mode": "rpk", "details": {"key": P256.hex()}}},
            {"endpoint": "dev3", "tls": {"mode": "x509"}},
        ]
        assert api.store.get_security("dev2") == SecurityInfo.rpk("dev2", P256)
        assert api.store.get_security("dev3") == SecurityInfo.x509("dev3")
        assert (await api.request("GET", "/api/security/clients/"))[0] == 200

        # DELETE: found -> 200, empty; unknown -> 200 {"message":"not_found"}
        status, _, text = await api.request("DELETE", "/api/security/clients/dev1")
        assert (status, text) == (200, "")
        assert api.removed == [SecurityInfo.psk("dev1", "id1", b"\x00\x11\xaa\xbb")]
        status, ctype, text = await api.request("DELETE", "/api/security/clients/dev1")
        assert (status, ctype, json.loads(text)) == (
            200,
            "application/json",
            {"message": "not_found"},
        )
        assert len(api.removed) == 1
        assert [i["endpoint"] for i in await api.listed()] == ["dev2", "dev3"]


async def test_delete_endpoint_is_everything_after_clients() -> None:
    """An endpoint with a slash and a space, as encodeURIComponent sends it."""
    async with serving() as api:
        assert await api.put(psk("urn:a/b c", "id"), "/api/security/clients/") == (200, "")
        status, _, _ = await api.request("DELETE", "/api/security/clients/urn%3Aa%2Fb%20c")
        assert status == 200 and api.store.list_security() == []
        for url in ("/api/security/clients/", "/api/security/clients"):
            status, ctype, text = await api.request("DELETE", url)
            assert (status, ctype) == (400, "text/plain") and "endpoint" in text


async def test_paths_below_a_client_are_bad_requests() -> None:
    async with serving() as api:
        for method in ("GET", "PUT"):
            status, ctype, text = await api.request(
                method, "/api/security/clients/dev1", data=json.dumps(psk())
            )
            assert (status, ctype) == (400, "text/plain"), text
        assert api.store.list_security() == []


async def test_replacing_a_credential_reports_the_old_one() -> None:
    """Same endpoint again: replaced (InMemorySecurityStore.add); the old identity is free."""
    async with serving() as api:
        assert (await api.put(psk()))[0] == 200
        assert (await api.put(psk()))[0] == 200  # the same: nothing was removed
        assert api.removed == []
        assert (await api.put(psk(identity="id2", key="ff")))[0] == 200
        assert api.removed == [SecurityInfo.psk("dev1", "id1", b"\x00\x11\xaa\xbb")]
        assert (await api.put(psk("dev2", identity="id1")))[0] == 200
        assert [i["tls"]["details"]["identity"] for i in await api.listed()] == ["id2", "id1"]


async def test_identity_of_another_endpoint_is_refused() -> None:
    """NonUniqueSecurityInfoException: 400 with the reason as the body."""
    async with serving() as api:
        assert (await api.put(psk()))[0] == 200
        text = await api.refused(psk("dev2", "id1", "ff"), "id1", "dev1")
        assert not text.startswith("Invalid request body")


async def test_server_security_and_endpoints() -> None:
    async with serving() as api:
        for url in ("/api/server/security", "/api/security/server"):
            status, ctype, text = await api.request("GET", url)
            assert (status, ctype, json.loads(text)) == (200, "application/json", {})
        status, ctype, text = await api.request("GET", "/api/server/endpoint")
        assert (status, ctype) == (200, "application/json")
        assert json.loads(text) == [
            {
                "uri": {
                    "full": "coap://127.0.0.1:5683",
                    "scheme": "coap",
                    "host": "127.0.0.1",
                    "port": 5683,
                },
                "description": "CoAP over UDP endpoint",
            },
            {
                "uri": {
                    "full": "coaps://[::1]:5684",
                    "scheme": "coaps",
                    "host": "[::1]",
                    "port": 5684,
                },
                "description": "CoAP over DTLS endpoint (pre-shared keys and X.509 certificates)",
            },
        ]


async def test_server_routes_absent_without_their_sources() -> None:
    async with serving(server_info=None) as api:
        for url in ("/api/server/security", "/api/server/endpoint", "/api/security/server"):
            assert (await api.request("GET", url))[0] == 404
        assert await api.listed() == []


def test_server_public_key_json() -> None:
    """PublicKeySerDes: x and y without a leading zero byte, Java's curve params, b64Der."""
    body = security.server_security_json(public_key=P256)
    assert body == {
        "pubkey": {
            "x": "651c78dfcee13b0f074f766735a8807f8275a8c66c6e767c9995f11e97835d38",
            "y": "09437593ea151161647d0c224ec5e84a5bc54a1b5abace45857d812cce26284a",
            "params": "secp256r1 [NIST P-256,X9.62 prime256v1] (1.2.840.10045.3.1.7)",
            "b64Der": base64.b64encode(P256).decode(),
        }
    }
    assert security.server_security_json(public_key=P384)["pubkey"]["params"].startswith(
        "secp384r1"
    )
    # Java's BigInteger bytes: a coordinate that starts with zero bytes is shorter
    shifted = ec_key(b"\x04" + b"\0\0" + b"\x07" * 30 + b"\x01" * 32)
    assert security.server_security_json(public_key=shifted)["pubkey"]["x"] == "07" * 30
    # not an EC key: only the encoding (Leshan's serializer knows EC keys only)
    assert security.server_security_json(public_key=RSA1024) == {
        "pubkey": {"b64Der": base64.b64encode(RSA1024).decode()}
    }


def test_server_certificate_json() -> None:
    from mbedtls import hashlib, pk, x509  # the dtls extra: make test installs it

    key = pk.ECC(pk.Curve.SECP256R1)
    key.generate()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    csr = x509.CSR.new(key, "CN=lwm2m server, O=Test", hashlib.sha256())
    crt = x509.CRT.selfsign(
        csr,
        key,
        not_before=now,
        not_after=now + dt.timedelta(days=1),
        serial_number=0x1234,
        basic_constraints=x509.BasicConstraints(False, 0),
    )
    der = crt.to_DER()
    body = security.server_security_json(certificate=der)
    spki = key.export_public_key()
    assert body == {
        "certificate": {
            "pubkey": security.server_security_json(public_key=spki)["pubkey"],
            "b64Der": base64.b64encode(der).decode(),
        }
    }
    assert body["certificate"]["pubkey"]["b64Der"] == base64.b64encode(spki).decode()


async def test_create_app_wires_the_server_store(tmp_path: Path) -> None:
    """The server's REST app serves these routes from ``server.store``; a PUT survives a
    restart of the (sqlite) store."""
    path = tmp_path / "server.sqlite"
    store = SqliteStore(path)
    server = Server("127.0.0.1", 0, store=store)
    await server.start()
    try:
        app = create_app(server)
        async with test_utils.TestClient(test_utils.TestServer(app, host="127.0.0.1")) as client:
            async with client.put("/api/security/clients/", json=psk()) as resp:
                assert resp.status == 200, await resp.text()
            async with client.get("/api/server/endpoint") as resp:
                port = server.coap_address[1]
                assert await resp.json() == [
                    {
                        "uri": {
                            "full": f"coap://127.0.0.1:{port}",
                            "scheme": "coap",
                            "host": "127.0.0.1",
                            "port": port,
                        },
                        "description": "CoAP over UDP endpoint",
                    }
                ]
            async with client.get("/api/server/security") as resp:
                assert await resp.json() == {}
            async with client.delete("/api/security/clients/dev1") as resp:
                assert resp.status == 200  # a UDP-only server has no session to close
            async with client.put("/api/security/clients/", json=psk("dev2", "id2")) as resp:
                assert resp.status == 200
    finally:
        await server.stop()
        store.close()
    with SqliteStore(path) as reopened:
        assert reopened.list_security() == [SecurityInfo.psk("dev2", "id2", b"\x00\x11\xaa\xbb")]
        assert reopened.get_security_by_identity("id2") is not None


async def test_sqlite_store_keeps_what_the_api_put(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with SqliteStore(path) as store:
        async with serving(store) as api:
            assert (await api.put(psk()))[0] == 200
            rpk = {"endpoint": "dev2", "tls": {"mode": "rpk", "details": {"key": P256.hex()}}}
            assert (await api.put(rpk))[0] == 200
            await api.refused(psk("dev3", "id1"), "id1")  # identity taken: refused, unchanged
    with SqliteStore(path) as store:
        async with serving(store) as api:
            assert await api.listed() == [
                psk(),
                {"endpoint": "dev2", "tls": {"mode": "rpk", "details": {"key": P256.hex()}}},
            ]


def test_session_identity_and_closer() -> None:
    fake = FakeServer()
    fake.sessions = {b"id1": 2}
    close = security.session_closer(fake)
    close(SecurityInfo.psk("dev1", "id1", b"\x01"))
    close(SecurityInfo.x509("dev3"))
    close(SecurityInfo.rpk("dev2", P256))  # no session can use a raw public key here
    assert fake.closed == [b"id1", "dev3"]


# --- refusals: always 400 with a reason, never 500, nothing changed ---------------------------


def _deep(n: int) -> str:
    return "[" * n + "]" * n


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        (b"", ("Invalid request body: Security info should be a json object",)),
        (b"not json", ("Invalid request body:", "not JSON")),
        (b"\xff\xfe{}", ("Invalid request body:", "not JSON")),
        ('{"endpoint": "dev1", "tls": ', ("Invalid request body:", "not JSON")),
        (_deep(100_000), ("Invalid request body:",)),
        ('{"endpoint": ' + "9" * 5000 + "}", ("Invalid request body:", "5000 digits")),
        (f'{{"endpoint": "dev1", "tls": {_deep(100_000)}}}', ("Invalid request body:",)),
        ("[]", ("Security info should be a json object, not an array",)),
        ('"dev1"', ("Security info should be a json object, not a string",)),
        ("123", ("Security info should be a json object, not a number",)),
        ("null", ("Security info should be a json object",)),
        ("true", ("Security info should be a json object, not a boolean",)),
        ({"tls": PSK_BODY["tls"]}, ("Invalid request body: Missing endpoint",)),
        ({**PSK_BODY, "endpoint": 5}, ("endpoint must be a JSON string, not a number",)),
        ({**PSK_BODY, "endpoint": None}, ("endpoint must be a JSON string, not null",)),
        ({**PSK_BODY, "endpoint": ""}, ("endpoint must not be empty",)),
        ({**PSK_BODY, "endpoint": "dev\n1"}, ("endpoint contains control characters",)),
        ('{"endpoint": "\\ud800", "tls": {"mode": "x509"}}', ("lone surrogate",)),
        ({**PSK_BODY, "endpoint": "e" * 253}, ("endpoint is 253 bytes long, more than 252",)),
        ({"endpoint": "dev1"}, ("Invalid security info content", "tls")),
        ({"endpoint": "dev1", "oscore": {"rid": "01"}}, ("OSCORE", "not supported")),
        ({"endpoint": "dev1", "tls": "psk"}, ("tls field should be a json object",)),
        ({"endpoint": "dev1", "tls": [1]}, ("tls field should be a json object",)),
        ({"endpoint": "dev1", "tls": {}}, ("Invalid security info content", "mode is missing")),
        ({"endpoint": "dev1", "tls": {"mode": "oscore"}}, ("unknown tls mode 'oscore'",)),
        ({"endpoint": "dev1", "tls": {"mode": "PSK"}}, ("unknown tls mode 'PSK'",)),
        ({"endpoint": "dev1", "tls": {"mode": {"a": 1}}}, ("unknown tls mode an object",)),
        ({"endpoint": "dev1", "tls": {"mode": "psk"}}, ("details field should be a json object",)),
        (
            {"endpoint": "dev1", "tls": {"mode": "psk", "details": "id:key"}},
            ("details field should be a json object",),
        ),
        (
            {"endpoint": "dev1", "tls": {"mode": "psk", "details": {"key": "00"}}},
            ("Missing PSK identity",),
        ),
        (psk(identity=""), ("PSK identity must not be empty",)),
        (
            {"endpoint": "dev1", "tls": {"mode": "psk", "details": {"identity": 7, "key": "00"}}},
            ("PSK identity must be a JSON string",),
        ),
        (
            {"endpoint": "dev1", "tls": {"mode": "psk", "details": {"identity": "i"}}},
            ("key parameter must be a valid hex string",),
        ),
        (psk(key="zz"), ("key parameter must be a valid hex string",)),
        (psk(key="abc"), ("key parameter must be a valid hex string",)),
        (psk(key="00 11"), ("key parameter must be a valid hex string",)),
        (psk(key=""), ("key parameter must be a valid hex string",)),
        (psk(key="0x0011"), ("key parameter must be a valid hex string",)),
        (
            {"endpoint": "dev1", "tls": {"mode": "psk", "details": {"identity": "i", "key": 11}}},
            ("key parameter must be a valid hex string",),
        ),
        (psk(key="00" * 33), ("at most 32 bytes",)),
        (psk(identity="i" * 70_000), ("PSK identity is 70000 bytes long, more than 65535",)),
        ({"endpoint": "dev2", "tls": {"mode": "rpk"}}, ("details field should be a json object",)),
        (
            {"endpoint": "dev2", "tls": {"mode": "rpk", "details": {}}},
            ("Invalid security info content", "rpk key"),
        ),
        (
            {"endpoint": "dev2", "tls": {"mode": "rpk", "details": {"key": "xyz"}}},
            ("Invalid security info content", "hex"),
        ),
        (
            {"endpoint": "dev2", "tls": {"mode": "rpk", "details": {"key": "00"}}},
            ("Invalid security info content", "SubjectPublicKeyInfo"),
        ),
        (
            {"endpoint": "dev2", "tls": {"mode": "rpk", "details": {"key": P256[:-1].hex()}}},
            ("Invalid security info content",),
        ),
        (
            {"endpoint": "dev2", "tls": {"mode": "rpk", "details": {"key": (P256 + b"\0").hex()}}},
            ("Invalid security info content",),
        ),
        (
            {"endpoint": "dev2", "tls": {"mode": "rpk", "details": {"key": "020100"}}},
            ("Invalid security info content",),
        ),
        (
            # PKCS#8 shape (version, algorithm, private key): not a public key
            {
                "endpoint": "dev2",
                "tls": {"mode": "rpk", "details": {"key": "300d020100300806062a8648ce3d0201"}},
            },
            ("Invalid security info content",),
        ),
        (
            # P-256 named but the point is P-384 sized
            {
                "endpoint": "dev2",
                "tls": {"mode": "rpk", "details": {"key": ec_key(b"\x04" + b"\x01" * 96).hex()}},
            },
            ("Invalid security info content", "not a point of curve 1.2.840.10045.3.1.7"),
        ),
        (
            {
                "endpoint": "dev2",
                "tls": {
                    "mode": "rpk",
                    "details": {
                        "key": ec_key(
                            b"\x04" + b"\x01" * 64, der(0x30, bytes.fromhex("06072a8648ce3d0201"))
                        ).hex()
                    },
                },
            },
            ("Invalid security info content", "without a named curve"),
        ),
        (
            {
                "endpoint": "dev2",
                "tls": {
                    "mode": "rpk",
                    "details": {"key": der(0x30, EC_P256_ALGORITHM, der(0x03, b"\0")).hex()},
                },
            },
            ("Invalid security info content", "empty"),
        ),
        (
            {"endpoint": "dev2", "tls": {"mode": "rpk", "details": {"key": "ab" * 5000}}},
            ("at most 4096 bytes",),
        ),
    ],
)
async def test_garbage_is_refused(body: Any, needles: tuple[str, ...]) -> None:
    async with serving() as api:
        assert (await api.put(psk("other", "other-id")))[0] == 200
        await api.refused(body, *needles)
        assert await api.listed() == [psk("other", "other-id")]


async def test_huge_bodies_are_refused() -> None:
    async with serving() as api:
        big = json.dumps({**psk(), "padding": "x" * 5_000_000}).encode()
        await api.refused(big, "Invalid request body: 5000", "more than 262144")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: read until too big
            yield b'{"endpoint": "dev1", "padding": "'
            for _ in range(80):
                yield b"x" * 65536
            yield b'"}'

        await api.refused(chunks(), "Invalid request body: more than")

        async def some_chunks() -> AsyncIterator[bytes]:  # below the app's limit, above ours
            for _ in range(5):
                yield b" " * 65536
            yield json.dumps(psk()).encode()

        await api.refused(some_chunks(), "Invalid request body: 327", "more than 262144")
        assert await api.listed() == []


def test_security_info_json_round_trips() -> None:
    for info in (
        SecurityInfo.psk("dev1", "id", b"\x00\xff"),
        SecurityInfo.rpk("dev2", RSA1024),
        SecurityInfo.x509("dev3"),
    ):
        assert security.parse_security_info(security.security_info_json(info)) == info

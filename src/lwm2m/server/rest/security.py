"""``/api/security`` and ``/api/server``: the clients' DTLS credentials and the server's own.

The contract is Eclipse Leshan 2.x's demo servers (``SecurityServlet``,
``ServerServlet`` and the JSON (de)serializers of security info):

* ``GET /api/security/clients`` -- 200, a JSON list of security infos::

      {"endpoint": "dev1", "tls": {"mode": "psk", "details": {"identity": "id", "key": "0011"}}}
      {"endpoint": "dev2", "tls": {"mode": "rpk", "details": {"key": "3059..."}}}
      {"endpoint": "dev3", "tls": {"mode": "x509"}}

  (keys in lower-case hex; the RPK key is the DER SubjectPublicKeyInfo; X.509
  takes no details: the client certificate's subject CN must be the endpoint).
* ``PUT /api/security/clients/`` with one such object -- 200 with an empty
  body; 400 with a text reason (``Invalid request body: ...``, or the store's
  refusal when the PSK identity belongs to another endpoint), and then nothing
  changed. Putting an endpoint's credential again replaces it.
* ``DELETE /api/security/clients/{endpoint}`` -- 200 with an empty body, or 200
  with ``{"message":"not_found"}`` when the endpoint had no credential; 400 for
  an empty endpoint. ``on_removed`` is called with the removed credential (and
  with a replaced one), so that the server can close the DTLS sessions it
  authenticated.
* ``GET /api/server/security`` (and the older ``GET /api/security/server``) --
  200, ``{"pubkey": {...}}`` or ``{"certificate": {"pubkey": {...}, "b64Der":
  ...}}``, or ``{}`` when the server has neither (:func:`server_security_json`).
* ``GET /api/server/endpoint`` -- 200, one ``{"uri": {"full", "scheme", "host",
  "port"}, "description"}`` per CoAP listener (:func:`endpoint_json`).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from aiohttp import web

from lwm2m.server.rest.responses import HttpError, Json, RestInputError, json_response, read_json
from lwm2m.server.store import SecurityInfo, SecurityMode, StoreError
from lwm2m.transport.base import Address

__all__ = [
    "MAX_BODY",
    "MAX_ENDPOINT_BYTES",
    "MAX_PSK_IDENTITY_BYTES",
    "MAX_PSK_KEY_BYTES",
    "SecureSessions",
    "SecurityStore",
    "add_routes",
    "endpoint_json",
    "parse_security_info",
    "security_info_json",
    "server_endpoints",
    "server_security_json",
    "session_closer",
    "session_identity",
]

log = logging.getLogger(__name__)

#: A security info is a few hundred bytes (a PSK identity may reach 64 KiB).
MAX_BODY: Final = 256 * 1024
#: The endpoint name travels in one Uri-Query option ``ep=NAME`` of at most 255
#: bytes (RFC 7252 section 5.10), so a longer name could never register.
MAX_ENDPOINT_BYTES: Final = 255 - len("ep=")
#: RFC 4279 section 5.1: a PSK identity is at most 2^16-1 bytes.
MAX_PSK_IDENTITY_BYTES: Final = 0xFFFF
#: Mbed TLS 2.28 (python-mbedtls) refuses PSKs longer than 32 bytes in a handshake.
MAX_PSK_KEY_BYTES: Final = 32
#: An RSA-8192 SubjectPublicKeyInfo is about 1 kB; EC keys are far smaller.
MAX_PUBLIC_KEY_BYTES: Final = 4096

_BODY_ERROR: Final = "Invalid request body: "
_HEX_RE: Final = re.compile(r"(?:[0-9a-fA-F]{2})*")
_NOT_FOUND: Final = {"message": "not_found"}


class SecurityStore(Protocol):
    """Where the credentials live (the server's store, or the bootstrap server's)."""

    def put_security(self, info: SecurityInfo) -> None: ...
    def get_security(self, endpoint: str) -> SecurityInfo | None: ...
    def delete_security(self, endpoint: str) -> SecurityInfo | None: ...
    def list_security(self) -> list[SecurityInfo]: ...


# --- security info <-> JSON ------------------------------------------------------


def security_info_json(info: SecurityInfo) -> dict[str, Json]:
    """``info`` in Leshan's JSON shape (see the module docstring)."""
    tls: dict[str, Json] = {"mode": info.mode.value}
    if info.mode is SecurityMode.PSK:
        assert info.psk_identity is not None and info.psk_key is not None
        tls["details"] = {"identity": info.psk_identity, "key": info.psk_key.hex()}
    elif info.mode is SecurityMode.RPK:
        assert info.public_key is not None
        tls["details"] = {"key": info.public_key.hex()}
    return {"endpoint": info.endpoint, "tls": tls}


class _Invalid(Exception):
    """A request body that does not describe a security info; the text says why."""


def _text(value: Json, what: str, max_bytes: int) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"{what} must be a JSON string, not {_kind(value)}")
    if not value:
        raise _Invalid(f"{what} must not be empty")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise _Invalid(f"{what} is not valid Unicode text (lone surrogate)") from None
    if size > max_bytes:
        raise _Invalid(f"{what} is {size} bytes long, more than {max_bytes}")
    if not value.isprintable():
        raise _Invalid(f"{what} contains control characters")
    return value


def _hex(value: Json, what: str, max_bytes: int, limit: str = "") -> bytes:
    """Bytes from hex text (either case, no separators); ``what`` is the whole reason."""
    if not isinstance(value, str) or not value or not _HEX_RE.fullmatch(value):
        raise _Invalid(what)
    if len(value) > 2 * max_bytes:
        size = len(value) // 2
        raise _Invalid(f"{what} of at most {max_bytes} bytes{limit}, not {size}")
    return bytes.fromhex(value)


def _kind(value: Json) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"


def _details(tls: dict[str, Json]) -> dict[str, Json]:
    details = tls.get("details")
    if not isinstance(details, dict):
        raise _Invalid("details field should be a json object")
    return details


def parse_security_info(body: Json) -> SecurityInfo:
    """A PUT body as a :class:`SecurityInfo`; :class:`HttpError` 400 saying what is wrong.

    The first words of each reason are those of Leshan's deserializer ("Missing
    endpoint", "Missing PSK identity", "key parameter must be a valid hex
    string", "Invalid security info content", ...); a precise cause follows.
    """
    try:
        return _parse(body)
    except _Invalid as exc:
        raise HttpError(400, f"{_BODY_ERROR}{exc}") from None


def _parse(body: Json) -> SecurityInfo:
    if body is None:
        raise _Invalid("Security info should be a json object (the body is empty)")
    if not isinstance(body, dict):
        raise _Invalid(f"Security info should be a json object, not {_kind(body)}")
    if "endpoint" not in body:
        raise _Invalid("Missing endpoint")
    endpoint = _text(body["endpoint"], "endpoint", MAX_ENDPOINT_BYTES)
    if "tls" not in body:
        if "oscore" in body:
            raise _Invalid("OSCORE security info is not supported by this server")
        raise _Invalid("Invalid security info content: a tls field is needed")
    tls = body["tls"]
    if not isinstance(tls, dict):
        raise _Invalid("tls field should be a json object")
    mode = tls.get("mode")
    if mode == "psk":
        details = _details(tls)
        if "identity" not in details:
            raise _Invalid("Missing PSK identity")
        identity = _text(details["identity"], "PSK identity", MAX_PSK_IDENTITY_BYTES)
        key = _hex(
            details.get("key"),
            "key parameter must be a valid hex string",
            MAX_PSK_KEY_BYTES,
            " (the limit of Mbed TLS 2.28, the DTLS of this server)",
        )
        return SecurityInfo.psk(endpoint, identity, key)
    if mode == "rpk":
        details = _details(tls)
        der = _hex(
            details.get("key"),
            "Invalid security info content: the rpk key must be a hex string "
            "(DER SubjectPublicKeyInfo)",
            MAX_PUBLIC_KEY_BYTES,
        )
        try:
            _public_key_info(der)
        except ValueError as exc:
            raise _Invalid(
                f"Invalid security info content: the rpk key (a DER SubjectPublicKeyInfo) {exc}"
            ) from None
        return SecurityInfo.rpk(endpoint, der)
    if mode == "x509":
        return SecurityInfo.x509(endpoint)
    if mode is None:
        raise _Invalid("Invalid security info content: the tls mode is missing")
    shown = repr(mode) if isinstance(mode, str) else _kind(mode)
    raise _Invalid(
        f"Invalid security info content: unknown tls mode {shown[:80]} (psk, rpk or x509)"
    )


# --- DER: just enough to check a SubjectPublicKeyInfo and find one in a certificate ---

_SEQUENCE: Final = 0x30
_BIT_STRING: Final = 0x03
_OID: Final = 0x06
_EC_PUBLIC_KEY: Final = "1.2.840.10045.2.1"
#: Named curves: the field size in bytes, and how Java's ``ECParameterSpec``
#: names them (the ``params`` Leshan shows).
_CURVES: Final = {
    "1.2.840.10045.3.1.7": (32, "secp256r1 [NIST P-256,X9.62 prime256v1] (1.2.840.10045.3.1.7)"),
    "1.3.132.0.34": (48, "secp384r1 [NIST P-384] (1.3.132.0.34)"),
    "1.3.132.0.35": (66, "secp521r1 [NIST P-521] (1.3.132.0.35)"),
}


def _tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """The DER element at ``offset``: (tag, start of content, end of content)."""
    if offset + 2 > len(data):
        raise ValueError("is truncated DER")
    tag, first = data[offset], data[offset + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("uses a high-tag-number form DER does not need here")
    start = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise ValueError("has a bad DER length")
        length = int.from_bytes(data[start : start + count], "big")
        if length < 0x80 or data[start] == 0:
            raise ValueError("has a non-minimal DER length")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("is truncated DER")
    return tag, start, end


@dataclass(frozen=True, slots=True)
class _Element:
    tag: int
    offset: int  # where its tag is
    start: int  # where its content is
    end: int


def _children(data: bytes, start: int, end: int) -> list[_Element]:
    """The DER elements that fill ``data[start:end]`` exactly."""
    items = []
    while start < end:
        tag, content, stop = _tlv(data[:end], start)
        items.append(_Element(tag, start, content, stop))
        start = stop
    return items


def _oid(data: bytes) -> str:
    if not data or data[-1] & 0x80:
        raise ValueError("has a malformed object identifier")
    arcs: list[int] = []
    value = 0
    for byte in data:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(n) for n in (first, arcs[0] - 40 * first, *arcs[1:]))


@dataclass(frozen=True, slots=True)
class _PublicKeyInfo:
    algorithm: str
    curve: str | None
    key: bytes  # the BIT STRING's content after its unused-bits byte


def _public_key_info(der: bytes) -> _PublicKeyInfo:
    """Check that ``der`` is one DER SubjectPublicKeyInfo (RFC 5280 4.1.2.7)."""
    tag, start, end = _tlv(der, 0)
    if tag != _SEQUENCE or end != len(der):
        raise ValueError("is not one DER SEQUENCE")
    parts = _children(der, start, end)
    if len(parts) != 2 or parts[0].tag != _SEQUENCE or parts[1].tag != _BIT_STRING:
        raise ValueError("does not hold (algorithm, subjectPublicKey)")
    algorithm = _children(der, parts[0].start, parts[0].end)
    if not algorithm or algorithm[0].tag != _OID:
        raise ValueError("has no algorithm identifier")
    oid = _oid(der[algorithm[0].start : algorithm[0].end])
    bits = der[parts[1].start : parts[1].end]
    if len(bits) < 2 or bits[0] != 0:
        raise ValueError("has an empty or partial-byte public key")
    key = bits[1:]
    curve = None
    if oid == _EC_PUBLIC_KEY:
        if len(algorithm) != 2 or algorithm[1].tag != _OID:
            raise ValueError("is an EC key without a named curve")
        curve = _oid(der[algorithm[1].start : algorithm[1].end])
        if curve in _CURVES:
            size = _CURVES[curve][0]
            if not (
                (key[0] == 4 and len(key) == 1 + 2 * size)
                or (key[0] in (2, 3) and len(key) == 1 + size)
            ):
                raise ValueError(f"is not a point of curve {curve}")
    return _PublicKeyInfo(oid, curve, key)


def _certificate_public_key(der: bytes) -> bytes:
    """The SubjectPublicKeyInfo (DER) of an X.509 certificate (DER)."""
    tag, start, end = _tlv(der, 0)
    if tag != _SEQUENCE or end != len(der):
        raise ValueError("is not one DER SEQUENCE (certificate)")
    certificate = _children(der, start, end)
    if not certificate or certificate[0].tag != _SEQUENCE:
        raise ValueError("has no tbsCertificate")
    tbs = _children(der, certificate[0].start, certificate[0].end)
    if tbs and tbs[0].tag == 0xA0:  # [0] EXPLICIT version
        tbs = tbs[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
    if len(tbs) < 6 or tbs[5].tag != _SEQUENCE:
        raise ValueError("has no subjectPublicKeyInfo")
    return der[tbs[5].offset : tbs[5].end]


# --- the server's own credentials and listeners ----------------------------------------


def _public_key_json(der: bytes) -> dict[str, Json]:
    """A public key as Leshan shows it: x, y, params (EC keys) and b64Der."""
    info = _public_key_info(der)
    body: dict[str, Json] = {}
    if info.algorithm == _EC_PUBLIC_KEY and info.curve in _CURVES and info.key[0] == 4:
        size, params = _CURVES[info.curve]
        # Java's BigInteger bytes without a sign byte: no leading zeros
        for name, coordinate in (("x", info.key[1 : 1 + size]), ("y", info.key[1 + size :])):
            body[name] = coordinate.lstrip(b"\0").hex()
        body["params"] = params
    body["b64Der"] = base64.b64encode(der).decode("ascii")
    return body


def server_security_json(
    certificate: bytes | None = None, public_key: bytes | None = None
) -> dict[str, Json]:
    """The body of ``GET /api/server/security``.

    ``{"pubkey": {"x", "y", "params", "b64Der"}}`` for a raw public key (DER
    SubjectPublicKeyInfo), ``{"certificate": {"pubkey": {...}, "b64Der"}}`` for
    an X.509 certificate (DER), ``{}`` for a server with neither (PSK only).
    """
    if public_key is not None:
        return {"pubkey": _public_key_json(public_key)}
    if certificate is not None:
        return {
            "certificate": {
                "pubkey": _public_key_json(_certificate_public_key(certificate)),
                "b64Der": base64.b64encode(certificate).decode("ascii"),
            }
        }
    return {}


_DESCRIPTIONS: Final = {
    "coap": "CoAP over UDP endpoint",
    "coaps": "CoAP over DTLS endpoint (pre-shared keys and X.509 certificates)",
}


def endpoint_json(scheme: str, address: Address, description: str | None = None) -> dict[str, Json]:
    """One entry of ``GET /api/server/endpoint``: the listener's URI and a description."""
    host, port = address[0], address[1]
    shown = f"[{host}]" if ":" in host else host
    return {
        "uri": {
            "full": f"{scheme}://{shown}:{port}",
            "scheme": scheme,
            "host": shown,
            "port": port,
        },
        "description": description if description is not None else _DESCRIPTIONS.get(scheme, ""),
    }


class SecureSessions(Protocol):
    """What the routes need from the LwM2M server (:class:`~lwm2m.server.Server`)."""

    def close_secure_sessions(self, identity: bytes | str) -> int: ...
    def listeners(self) -> list[tuple[str, Address]]: ...


def server_endpoints(server: SecureSessions) -> list[dict[str, Json]]:
    """The body of ``GET /api/server/endpoint`` for ``server``."""
    return [endpoint_json(scheme, address) for scheme, address in server.listeners()]


def session_identity(info: SecurityInfo) -> bytes | str | None:
    """The identity a DTLS session authenticated by ``info`` has.

    The PSK identity (bytes, as on the wire), or for X.509 the certificate's
    subject common name, which is the endpoint name; None for a raw public key,
    which no session of this server can use.
    """
    if info.mode is SecurityMode.PSK:
        assert info.psk_identity is not None
        return info.psk_identity.encode("utf-8")
    if info.mode is SecurityMode.X509:
        return info.endpoint
    return None


def session_closer(server: SecureSessions) -> Callable[[SecurityInfo], None]:
    """An ``on_removed`` that closes the DTLS sessions a removed credential authenticated."""

    def close(info: SecurityInfo) -> None:
        identity = session_identity(info)
        if identity is None:
            return
        closed = server.close_secure_sessions(identity)
        if closed:
            log.info("credential of %r removed: %d DTLS session(s) closed", info.endpoint, closed)

    return close


# --- routes ---------------------------------------------------------------------------


async def _body(request: web.Request) -> Json:
    """The PUT body as JSON; 400 ``Invalid request body: ...`` when it is not usable."""
    length = request.content_length
    if length is not None and length > MAX_BODY:  # refused unread
        raise HttpError(400, f"{_BODY_ERROR}{length} bytes, more than {MAX_BODY}")
    try:
        raw = await request.read()  # kept by aiohttp: read_json parses this copy
        if len(raw) > MAX_BODY:
            raise HttpError(400, f"{_BODY_ERROR}{len(raw)} bytes, more than {MAX_BODY}")
        return await read_json(request)
    except web.HTTPRequestEntityTooLarge:
        raise HttpError(400, f"{_BODY_ERROR}more than {MAX_BODY} bytes") from None
    except RestInputError as exc:
        raise HttpError(400, f"{_BODY_ERROR}{exc}") from None


def add_routes(
    app: web.Application,
    store: SecurityStore,
    *,
    on_removed: Callable[[SecurityInfo], None] | None = None,
    on_changed: Callable[[], None] | None = None,
    server_info: Callable[[], dict[str, Json]] | None = None,
    endpoints: Callable[[], list[dict[str, Json]]] | None = None,
) -> None:
    """Serve ``/api/security/clients`` from ``store`` and, when given, ``/api/server/...``.

    ``on_removed(info)`` runs after a credential left the store (DELETE, or a PUT
    that replaced it with a different one); ``on_changed()`` after any change of
    the store (a registration table that caches who holds credentials reads them
    again). ``server_info()`` is the body of
    ``GET /api/server/security`` (see :func:`server_security_json`) and
    ``endpoints()`` that of ``GET /api/server/endpoint``; without them those
    routes are not served.
    """

    def changed() -> None:
        if on_changed is not None:
            on_changed()

    def removed(info: SecurityInfo) -> None:
        if on_removed is None:
            return
        try:
            on_removed(info)
        except Exception:  # the store already changed: the answer stays a success
            log.exception("closing the sessions of %r failed", info.endpoint)

    async def list_clients(request: web.Request) -> web.StreamResponse:
        return json_response([security_info_json(info) for info in store.list_security()])

    async def put_client(request: web.Request) -> web.StreamResponse:
        info = parse_security_info(await _body(request))
        previous = store.get_security(info.endpoint)
        try:
            store.put_security(info)
        except StoreError as exc:
            raise HttpError(400, str(exc)) from None
        log.info("security info of %r set (%s)", info.endpoint, info.mode.value)
        changed()
        if previous is not None and previous != info:
            removed(previous)
        return web.Response(status=200)

    async def delete_client(request: web.Request) -> web.StreamResponse:
        endpoint = request.match_info.get("endpoint", "")
        if not endpoint:
            raise HttpError(400, "Invalid request: no endpoint after /api/security/clients/")
        info = store.delete_security(endpoint)
        if info is None:
            return json_response(_NOT_FOUND)
        log.info("security info of %r deleted", endpoint)
        changed()
        removed(info)
        return web.Response(status=200)

    async def bad_path(request: web.Request) -> web.StreamResponse:
        raise HttpError(400, f"Invalid request: {request.method} is not served on {request.path}")

    routes = [
        web.get("/api/security/clients", list_clients),
        web.get("/api/security/clients/", list_clients),
        web.put("/api/security/clients", put_client),
        web.put("/api/security/clients/", put_client),
        web.delete("/api/security/clients", delete_client),
        web.delete("/api/security/clients/", delete_client),
        web.delete("/api/security/clients/{endpoint:.+}", delete_client),
        web.get("/api/security/clients/{endpoint:.+}", bad_path, allow_head=False),
        web.put("/api/security/clients/{endpoint:.+}", bad_path),
    ]
    if server_info is not None:
        info_source = server_info

        async def server_security(request: web.Request) -> web.StreamResponse:
            return json_response(info_source())

        routes += [
            web.get("/api/server/security", server_security),
            web.get("/api/security/server", server_security),
        ]
    if endpoints is not None:
        endpoint_source = endpoints

        async def server_endpoint(request: web.Request) -> web.StreamResponse:
            return json_response(endpoint_source())

        routes.append(web.get("/api/server/endpoint", server_endpoint))
    app.add_routes(routes)

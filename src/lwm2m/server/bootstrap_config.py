"""Bootstrap server configuration: what to delete, read and write on each client.

An :class:`EndpointConfig` describes one client's bootstrap (LwM2M Core TS 1.1
section 6.1, 1.0.2 section 5.2): the paths to Bootstrap-Delete first (default
``/``, which the client answers by removing everything but its Bootstrap-Server
account and the Device object, Core TS 1.1 6.1.7.5), optional Bootstrap-Discover
and Bootstrap-Read (1.1) to learn what the client holds, then the LwM2M Server
accounts to write -- Security instances (:class:`SecurityConfig`, Core TS E.1)
and Server instances (:class:`ServerConfig`, E.2) -- and Bootstrap-Finish.

A :class:`BootstrapConfig` maps endpoint names to their configuration, with an
optional ``default`` for endpoints not listed and the code that answers an
unknown endpoint otherwise (4.00 Bad Request, or 4.04 Not Found).

The same structure loads from JSON or TOML (:func:`load_config`,
:func:`parse_config`); every problem raises :class:`ConfigError` naming the
field, e.g. ``endpoints.dev1.security[0].psk_key: not a hex string``. JSON::

    {
      "unknown_endpoint": "4.04",
      "endpoints": {
        "dev1": {
          "bootstrap_psk": {"identity": "dev1", "key": "000102030405"},
          "delete": ["/"],
          "discover": true,
          "read": ["/1"],
          "content_format": "tlv",
          "security": [
            {"uri": "coaps://lwm2m.example:5684", "short_server_id": 101,
             "security_mode": "psk", "psk_identity": "dev1", "psk_key": "a1b2c3"}
          ],
          "servers": [
            {"short_server_id": 101, "lifetime": 300, "binding": "U",
             "notification_storing": true}
          ]
        }
      },
      "default": { ... the same fields as an endpoint ... }
    }

Binary resources (keys) are hex strings in files; ``psk_identity`` is text.
``"auto_security_ids": true`` numbers the Security instances from a
Bootstrap-Discover (see :attr:`EndpointConfig.auto_security_ids`).

:func:`dump_endpoint` writes an endpoint back in this form (what the stores
keep). :func:`leshan_to_endpoint` and :func:`endpoint_to_leshan` map to and from
the BootstrapConfig JSON of Eclipse Leshan's bootstrap demo, the REST API's
format; the comment above them lists the fields.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Final
from urllib.parse import urlsplit

from lwm2m.coap.numbers import ContentFormat
from lwm2m.errors import Lwm2mError, ModelError
from lwm2m.model import InstanceNode, MultiResourceNode, Path, ResourceNode, Value

__all__ = [
    "LESHAN_SECURITY_MODES",
    "NODE_FORMATS",
    "SECURITY_MODES",
    "BootstrapConfig",
    "BootstrapPsk",
    "ConfigError",
    "EndpointConfig",
    "SecurityConfig",
    "ServerConfig",
    "dump_endpoint",
    "endpoint_to_leshan",
    "leshan_to_endpoint",
    "load_config",
    "parse_config",
    "parse_endpoint",
    "planned_writes",
]

BAD_REQUEST: Final = 0x80  # 4.00
NOT_FOUND: Final = 0x84  # 4.04

#: Security Mode names (Core TS 1.1 E.1, /0/x/2).
SECURITY_MODES: Final[dict[str, int]] = {
    "psk": 0,
    "rpk": 1,
    "certificate": 2,
    "x509": 2,
    "nosec": 3,
    "est": 4,
}
MODE_PSK, MODE_NOSEC = 0, 3

#: Content formats that can carry a whole object instance, by their file names.
NODE_FORMATS: Final[dict[str, int]] = {
    "tlv": ContentFormat.LWM2M_TLV,
    "senml-cbor": ContentFormat.SENML_CBOR,
    "senml-json": ContentFormat.SENML_JSON,
    "lwm2m-cbor": ContentFormat.LWM2M_CBOR,
    "oma-json": ContentFormat.LWM2M_JSON,
}
_VERSIONS = ("1.0", "1.1", "1.2")
_UNKNOWN_CODES: Final[dict[str, int]] = {
    "4.00": BAD_REQUEST,
    "bad_request": BAD_REQUEST,
    "4.04": NOT_FOUND,
    "not_found": NOT_FOUND,
}


class ConfigError(Lwm2mError, ValueError):
    """A bootstrap configuration is unusable; ``field`` names the offending entry."""

    def __init__(self, field: str, message: str, source: str | None = None) -> None:
        self.field = field
        self.message = message
        self.source = source  # the file, when loaded from one
        super().__init__(": ".join([*(p for p in (source, field) if p), message]))


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class BootstrapPsk:
    """The PSK a client uses with the bootstrap server itself (coaps listener)."""

    identity: bytes
    key: bytes


@dataclass(slots=True)
class SecurityConfig:
    """One Security object instance to write (Core TS 1.1 E.1)."""

    uri: str
    short_server_id: int | None = None  # /0/x/10; required unless ``bootstrap``
    bootstrap: bool = False  # /0/x/1
    security_mode: int = MODE_NOSEC  # /0/x/2
    public_key_or_identity: bytes = b""  # /0/x/3 (the PSK identity in PSK mode)
    server_public_key: bytes = b""  # /0/x/4
    secret_key: bytes = b""  # /0/x/5 (the PSK key in PSK mode)
    client_hold_off: int | None = None  # /0/x/11
    bootstrap_account_timeout: int | None = None  # /0/x/12
    instance_id: int | None = None  # None: the bootstrap server picks a free one

    def to_node(self, instance_id: int) -> InstanceNode:
        values: dict[int, Value] = {
            0: self.uri,
            1: self.bootstrap,
            2: self.security_mode,
            3: self.public_key_or_identity,
            4: self.server_public_key,
            5: self.secret_key,
        }
        optional = {
            10: self.short_server_id,
            11: self.client_hold_off,
            12: self.bootstrap_account_timeout,
        }
        values.update({rid: v for rid, v in optional.items() if v is not None})
        return _instance(instance_id, values)

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` pairs; empty when the instance is usable on its own."""
        out: list[tuple[str, str]] = []
        try:
            parts = urlsplit(self.uri)
            scheme, host = parts.scheme.lower(), parts.hostname
            parts.port  # noqa: B018 -- raises ValueError for a bad port
        except ValueError as exc:
            return [("uri", f"{self.uri!r} is not a valid URI ({exc})")]
        if scheme not in ("coap", "coaps") or not host:
            out.append(("uri", f"{self.uri!r} is not a coap:// or coaps:// URI with a host"))
        if self.security_mode not in SECURITY_MODES.values():
            out.append(("security_mode", f"{self.security_mode!r} is not 0..4"))
        elif scheme == "coap" and self.security_mode != MODE_NOSEC:
            out.append(("security_mode", "a coap:// URI needs security mode nosec (3)"))
        elif scheme == "coaps" and self.security_mode == MODE_NOSEC:
            out.append(("security_mode", "a coaps:// URI needs a secure mode, not nosec"))
        if self.security_mode == MODE_PSK:
            if not self.public_key_or_identity:
                out.append(("psk_identity", "PSK mode needs an identity"))
            if not self.secret_key:
                out.append(("psk_key", "PSK mode needs a key"))
        if self.short_server_id is None:
            if not self.bootstrap:
                out.append(("short_server_id", "missing (needed for an LwM2M server account)"))
        elif not 1 <= self.short_server_id <= 65534:
            out.append(("short_server_id", f"{self.short_server_id} is not in 1..65534"))
        return out


@dataclass(slots=True)
class ServerConfig:
    """One Server object instance to write (Core TS 1.1 E.2)."""

    short_server_id: int  # /1/x/0
    lifetime: int = 86400  # /1/x/1
    default_pmin: int | None = None  # /1/x/2
    default_pmax: int | None = None  # /1/x/3
    disable_timeout: int | None = None  # /1/x/5
    notification_storing: bool = True  # /1/x/6
    binding: str = "U"  # /1/x/7
    bootstrap_on_failure: bool | None = None  # /1/x/16 (1.1)
    mute_send: bool | None = None  # /1/x/23 (1.1)
    instance_id: int | None = None

    def to_node(self, instance_id: int) -> InstanceNode:
        values: dict[int, Value] = {
            0: self.short_server_id,
            1: self.lifetime,
            6: self.notification_storing,
            7: self.binding,
        }
        optional: dict[int, Value] = {
            2: self.default_pmin,
            3: self.default_pmax,
            5: self.disable_timeout,
            16: self.bootstrap_on_failure,
            23: self.mute_send,
        }
        values.update({rid: v for rid, v in optional.items() if v is not None})
        return _instance(instance_id, values)

    def problems(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if not 1 <= self.short_server_id <= 65534:
            out.append(("short_server_id", f"{self.short_server_id} is not in 1..65534"))
        if self.lifetime <= 0:
            out.append(("lifetime", f"{self.lifetime} must be > 0"))
        if not self.binding or not set(self.binding) <= set("UMHTSNQ"):
            out.append(("binding", f"{self.binding!r} is not made of U, M, H, T, S, N, Q"))
        for name in ("default_pmin", "default_pmax", "disable_timeout"):
            value = getattr(self, name)
            if value is not None and value < 0:
                out.append((name, f"{value} must be >= 0"))
        return out


@dataclass(slots=True)
class EndpointConfig:
    """The whole bootstrap of one client (see the module docstring)."""

    security: list[SecurityConfig] = field(default_factory=list)
    servers: list[ServerConfig] = field(default_factory=list)
    #: Bootstrap-Delete these paths first, in order ("/" keeps the bootstrap account).
    delete: list[str] = field(default_factory=lambda: ["/"])
    #: Bootstrap-Discover this path first ("/" for everything), or None.
    discover: str | None = None
    #: Bootstrap-Read these paths (LwM2M 1.1: /1, /1/x, /2, /2/x) before deleting.
    read: list[str] = field(default_factory=list)
    #: Content format of the writes; None: the client's ``pct``, else by version.
    content_format: int | None = None
    #: The client's LwM2M version if known ("1.0": TLV writes, "1.1": SenML CBOR).
    lwm2m_version: str | None = None
    #: Credentials of this client with the bootstrap server (coaps listener).
    bootstrap_psk: BootstrapPsk | None = None
    #: Security instance ids come from the Bootstrap-Discover: Bootstrap-Server
    #: accounts take the client's own account id, the others free ids from 0 in
    #: the order of their ``instance_id`` (Leshan's ``autoIdForSecurityObject``).
    auto_security_ids: bool = False

    def problems(self) -> list[tuple[str, str]]:
        """Every ``(field, message)`` that makes this configuration unusable."""
        out: list[tuple[str, str]] = []
        if self.auto_security_ids and self.discover is None:
            out.append(("auto_security_ids", "needs a Bootstrap-Discover (discover)"))
        for i, sec in enumerate(self.security):
            out += [(f"security[{i}].{f}", m) for f, m in sec.problems()]
        for i, srv in enumerate(self.servers):
            out += [(f"servers[{i}].{f}", m) for f, m in srv.problems()]
        for name, paths in (("delete", self.delete), ("read", self.read)):
            for i, text in enumerate(paths):
                if _path_problem(text):
                    out.append((f"{name}[{i}]", _path_problem(text)))
        if self.discover is not None and _path_problem(self.discover):
            out.append(("discover", _path_problem(self.discover)))
        if self.lwm2m_version is not None and self.lwm2m_version not in _VERSIONS:
            out.append(("lwm2m_version", f"{self.lwm2m_version!r} is not one of {_VERSIONS}"))
        if self.content_format is not None and self.content_format not in NODE_FORMATS.values():
            out.append(("content_format", f"{self.content_format} cannot carry an instance"))
        out += self._account_problems()
        return out

    def _account_problems(self) -> list[tuple[str, str]]:
        """Cross checks (Core TS 1.1 6.1.7): Security and Server pair by Short Server ID."""
        out: list[tuple[str, str]] = []
        sec_ids: dict[int, int] = {}
        for i, sec in enumerate(self.security):
            if sec.bootstrap or sec.short_server_id is None:
                continue
            if sec.short_server_id in sec_ids:
                out.append((f"security[{i}].short_server_id", "used twice"))
            sec_ids.setdefault(sec.short_server_id, i)
        srv_ids: set[int] = set()
        for i, srv in enumerate(self.servers):
            if srv.short_server_id in srv_ids:
                out.append((f"servers[{i}].short_server_id", "used twice"))
            srv_ids.add(srv.short_server_id)
            if srv.short_server_id not in sec_ids:
                msg = f"no security entry with short server id {srv.short_server_id}"
                out.append((f"servers[{i}].short_server_id", msg))
        for ssid, i in sec_ids.items():
            if ssid not in srv_ids:
                msg = f"no servers entry with short server id {ssid}"
                out.append((f"security[{i}].short_server_id", msg))
        out += _duplicate_instances("security", [s.instance_id for s in self.security])
        out += _duplicate_instances("servers", [s.instance_id for s in self.servers])
        return out

    def check(self, where: str = "") -> None:
        """Raise :class:`ConfigError` for the first problem (fields prefixed by ``where``)."""
        problems = self.problems()
        if problems:
            name, message = problems[0]
            raise ConfigError(f"{where}.{name}" if where else name, message)


@dataclass(slots=True)
class BootstrapConfig:
    """Per-endpoint configurations, a default, and how to answer unknown endpoints."""

    endpoints: dict[str, EndpointConfig] = field(default_factory=dict)
    default: EndpointConfig | None = None
    #: Answer to a Bootstrap-Request from an endpoint with no configuration (4.00 or 4.04).
    unknown_endpoint_code: int = BAD_REQUEST

    def lookup(self, endpoint: str) -> EndpointConfig | None:
        found = self.endpoints.get(endpoint)
        return found if found is not None else self.default

    def check(self) -> None:
        if self.unknown_endpoint_code not in (BAD_REQUEST, NOT_FOUND):
            raise ConfigError("unknown_endpoint", "must be 4.00 or 4.04")
        for name, cfg in self.endpoints.items():
            if not name:
                raise ConfigError("endpoints", "an endpoint name is empty")
            cfg.check(f"endpoints.{name}")
        if self.default is not None:
            self.default.check("default")

    def psk_key(self, identity: bytes) -> bytes | None:
        """The bootstrap PSK key of ``identity`` (the coaps listener's key store)."""
        for cfg in (*self.endpoints.values(), self.default):
            if cfg is not None and cfg.bootstrap_psk and cfg.bootstrap_psk.identity == identity:
                return cfg.bootstrap_psk.key
        return None

    def owner_of(self, identity: bytes | str) -> str | None:
        """The endpoint whose bootstrap PSK identity is ``identity``, if any."""
        for name, cfg in self.endpoints.items():
            psk = cfg.bootstrap_psk
            if psk is not None and identity in (psk.identity, _text(psk.identity)):
                return name
        return None


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _instance(instance_id: int, values: Mapping[int, Value]) -> InstanceNode:
    resources: dict[int, ResourceNode | MultiResourceNode] = {
        rid: ResourceNode(rid, v) for rid, v in values.items()
    }
    return InstanceNode(instance_id, resources)


def _path_problem(text: str) -> str:
    try:
        path = Path.parse(text)
    except (ModelError, ValueError) as exc:
        return f"{text!r} is not an LwM2M path ({exc})"
    if path.level > 2:
        return f"{text!r}: bootstrap operations address /, an object or an instance"
    return ""


def _duplicate_instances(name: str, ids: list[int | None]) -> list[tuple[str, str]]:
    seen: set[int] = set()
    out: list[tuple[str, str]] = []
    for i, iid in enumerate(ids):
        if iid is None:
            continue
        if iid in seen:
            out.append((f"{name}[{i}].instance_id", f"instance {iid} used twice"))
        seen.add(iid)
    return out


# --------------------------------------------------------------------------- writes


def _allocate(wanted: list[int | None], reserved: Iterable[int], first: int) -> list[int]:
    taken = set(reserved) | {i for i in wanted if i is not None}
    out: list[int] = []
    candidate = first
    for iid in wanted:
        if iid is not None:
            out.append(iid)
            continue
        while candidate in taken:
            candidate += 1
        taken.add(candidate)
        out.append(candidate)
    return out


def _auto_security_ids(
    security: list[SecurityConfig], reserved: Iterable[int]
) -> list[tuple[SecurityConfig, int]]:
    """``auto_security_ids``: entries in ``instance_id`` order; a Bootstrap-Server
    account goes to the client's own (the lowest reserved id), the others to free
    ids from 0 that skip every reserved one."""
    taken = sorted(set(reserved))
    order = sorted(
        range(len(security)),
        key=lambda i: (security[i].instance_id is None, security[i].instance_id or 0, i),
    )
    out: list[tuple[SecurityConfig, int]] = []
    candidate = 0
    for i in order:
        sec = security[i]
        if sec.bootstrap and taken:
            out.append((sec, taken[0]))
            continue
        while candidate in taken:
            candidate += 1
        out.append((sec, candidate))
        candidate += 1
    return out


def planned_writes(
    config: EndpointConfig, reserved_security: Iterable[int] = ()
) -> list[tuple[Path, InstanceNode]]:
    """The Bootstrap-Writes of ``config``: one ``(/o/i, instance)`` per instance, in order.

    Security instances without an ``instance_id`` get free ids from 1 up, skipping
    ``reserved_security`` (the client's Bootstrap-Server account when a discover told
    where it is); Server instances get free ids from 0 up. With ``auto_security_ids``
    the Security ids are chosen as that field says.
    """
    out: list[tuple[Path, InstanceNode]] = []
    if config.auto_security_ids:
        for sec, iid in _auto_security_ids(config.security, reserved_security):
            out.append((Path(0, iid), sec.to_node(iid)))
    else:
        sec_ids = _allocate([s.instance_id for s in config.security], reserved_security, 1)
        for sec, iid in zip(config.security, sec_ids, strict=True):
            out.append((Path(0, iid), sec.to_node(iid)))
    srv_ids = _allocate([s.instance_id for s in config.servers], (), 0)
    for srv, iid in zip(config.servers, srv_ids, strict=True):
        out.append((Path(1, iid), srv.to_node(iid)))
    return out


# --------------------------------------------------------------------------- parsing


class _Section:
    """A mapping from a file, with typed getters that name the field on error."""

    def __init__(self, data: object, where: str, allowed: Iterable[str]) -> None:
        if not isinstance(data, dict):
            found = type(data).__name__
            raise ConfigError(where or "top level", f"expected a table/object, got {found}")
        self.where = where
        self.data: dict[str, Any] = data
        known = set(allowed)
        for key in data:
            if not isinstance(key, str) or key not in known:
                raise ConfigError(self.name(str(key)), f"unknown field (known: {sorted(known)})")

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def required(self, key: str) -> Any:
        if key not in self.data:
            raise ConfigError(self.name(key), "missing")
        return self.data[key]

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.required(key) if required else self.data.get(key, default)
        if value is not None and not isinstance(value, str):
            raise ConfigError(self.name(key), f"expected a string, got {value!r}")
        return value

    def integer(
        self, key: str, default: int | None = None, *, required: bool = False
    ) -> int | None:
        value = self.required(key) if required else self.data.get(key, default)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ConfigError(self.name(key), f"expected an integer, got {value!r}")
        return value

    def flag(self, key: str, default: bool | None = None) -> bool | None:
        value = self.data.get(key, default)
        if value is not None and not isinstance(value, bool):
            raise ConfigError(self.name(key), f"expected true or false, got {value!r}")
        return value

    def hex_bytes(self, key: str) -> bytes | None:
        value = self.text(key)
        if value is None:
            return None
        cleaned = value.replace(":", "").replace(" ", "")
        try:
            return bytes.fromhex(cleaned)
        except ValueError:
            raise ConfigError(self.name(key), f"not a hex string: {value!r}") from None

    def list_of(self, key: str) -> list[Any]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise ConfigError(self.name(key), f"expected a list, got {type(value).__name__}")
        return value


_SECURITY_FIELDS = (
    "uri",
    "short_server_id",
    "bootstrap",
    "security_mode",
    "psk_identity",
    "psk_key",
    "public_key_or_identity",
    "server_public_key",
    "secret_key",
    "client_hold_off",
    "bootstrap_account_timeout",
    "instance_id",
)
_SERVER_FIELDS = (
    "short_server_id",
    "lifetime",
    "default_pmin",
    "default_pmax",
    "disable_timeout",
    "notification_storing",
    "binding",
    "bootstrap_on_failure",
    "mute_send",
    "instance_id",
)
_ENDPOINT_FIELDS = (
    "security",
    "servers",
    "delete",
    "discover",
    "read",
    "content_format",
    "lwm2m_version",
    "bootstrap_psk",
    "auto_security_ids",
)


def _security_mode(sec: _Section) -> int:
    raw = sec.raw("security_mode")
    if raw is None:
        return MODE_PSK if sec.has("psk_key") else MODE_NOSEC
    if isinstance(raw, str) and raw.lower() in SECURITY_MODES:
        return SECURITY_MODES[raw.lower()]
    if isinstance(raw, int) and not isinstance(raw, bool) and raw in SECURITY_MODES.values():
        return raw
    names = ", ".join(SECURITY_MODES)
    raise ConfigError(sec.name("security_mode"), f"{raw!r} is not one of {names} or 0..4")


def _exclusive(sec: _Section, first: str, second: str) -> None:
    if sec.has(first) and sec.has(second):
        raise ConfigError(sec.name(second), f"give either {first} or {second}, not both")


def _parse_security(data: object, where: str) -> SecurityConfig:
    sec = _Section(data, where, _SECURITY_FIELDS)
    uri = sec.text("uri", required=True)
    assert uri is not None
    _exclusive(sec, "psk_identity", "public_key_or_identity")
    _exclusive(sec, "psk_key", "secret_key")
    identity_text = sec.text("psk_identity")
    if identity_text is not None:
        identity = identity_text.encode()
    else:
        identity = sec.hex_bytes("public_key_or_identity") or b""
    secret = sec.hex_bytes("psk_key") if sec.has("psk_key") else sec.hex_bytes("secret_key")
    config = SecurityConfig(
        uri=uri,
        short_server_id=sec.integer("short_server_id"),
        bootstrap=bool(sec.flag("bootstrap", False)),
        security_mode=_security_mode(sec),
        public_key_or_identity=identity,
        server_public_key=sec.hex_bytes("server_public_key") or b"",
        secret_key=secret or b"",
        client_hold_off=sec.integer("client_hold_off"),
        bootstrap_account_timeout=sec.integer("bootstrap_account_timeout"),
        instance_id=_instance_id(sec),
    )
    _raise_first(where, config.problems())
    return config


def _instance_id(sec: _Section) -> int | None:
    iid = sec.integer("instance_id")
    if iid is not None and not 0 <= iid <= 65534:
        raise ConfigError(sec.name("instance_id"), f"{iid} is not in 0..65534")
    return iid


def _parse_server(data: object, where: str) -> ServerConfig:
    srv = _Section(data, where, _SERVER_FIELDS)
    ssid = srv.integer("short_server_id", required=True)
    assert ssid is not None
    config = ServerConfig(
        short_server_id=ssid,
        lifetime=srv.integer("lifetime", 86400) or 0,
        default_pmin=srv.integer("default_pmin"),
        default_pmax=srv.integer("default_pmax"),
        disable_timeout=srv.integer("disable_timeout"),
        notification_storing=bool(srv.flag("notification_storing", True)),
        binding=srv.text("binding", "U") or "",
        bootstrap_on_failure=srv.flag("bootstrap_on_failure"),
        mute_send=srv.flag("mute_send"),
        instance_id=_instance_id(srv),
    )
    _raise_first(where, config.problems())
    return config


def _raise_first(where: str, problems: list[tuple[str, str]]) -> None:
    if problems:
        name, message = problems[0]
        raise ConfigError(f"{where}.{name}" if where else name, message)


def _content_format(sec: _Section) -> int | None:
    raw = sec.raw("content_format")
    if raw is None:
        return None
    if isinstance(raw, str) and raw.lower() in NODE_FORMATS:
        return NODE_FORMATS[raw.lower()]
    if isinstance(raw, int) and not isinstance(raw, bool) and raw in NODE_FORMATS.values():
        return raw
    names = ", ".join(NODE_FORMATS)
    raise ConfigError(sec.name("content_format"), f"{raw!r} is not one of {names}")


def _paths(sec: _Section, key: str) -> list[str]:
    out: list[str] = []
    for i, item in enumerate(sec.list_of(key)):
        where = f"{sec.name(key)}[{i}]"
        if not isinstance(item, str):
            raise ConfigError(where, f"expected a path string, got {item!r}")
        problem = _path_problem(item)
        if problem:
            raise ConfigError(where, problem)
        out.append(item)
    return out


def _discover(sec: _Section) -> str | None:
    raw = sec.raw("discover")
    if raw is None or raw is False:
        return None
    if raw is True:
        return "/"
    if not isinstance(raw, str):
        raise ConfigError(sec.name("discover"), f"expected true, false or a path, got {raw!r}")
    problem = _path_problem(raw)
    if problem:
        raise ConfigError(sec.name("discover"), problem)
    return raw


def _bootstrap_psk(sec: _Section) -> BootstrapPsk | None:
    if not sec.has("bootstrap_psk"):
        return None
    psk = _Section(sec.raw("bootstrap_psk"), sec.name("bootstrap_psk"), ("identity", "key"))
    identity = psk.text("identity", required=True) or ""
    key = psk.hex_bytes("key") if psk.has("key") else None
    if not identity:
        raise ConfigError(psk.name("identity"), "must not be empty")
    if not key:
        raise ConfigError(psk.name("key"), "missing or empty")
    return BootstrapPsk(identity.encode(), key)


def parse_endpoint(data: object, where: str = "") -> EndpointConfig:
    """One endpoint's configuration from a parsed JSON/TOML table."""
    sec = _Section(data, where, _ENDPOINT_FIELDS)
    version = sec.text("lwm2m_version")
    auto_ids = bool(sec.flag("auto_security_ids", False))
    discover = _discover(sec)
    config = EndpointConfig(
        security=[
            _parse_security(item, f"{sec.name('security')}[{i}]")
            for i, item in enumerate(sec.list_of("security"))
        ],
        servers=[
            _parse_server(item, f"{sec.name('servers')}[{i}]")
            for i, item in enumerate(sec.list_of("servers"))
        ],
        delete=_paths(sec, "delete") if sec.has("delete") else ["/"],
        discover="/" if auto_ids and discover is None else discover,
        read=_paths(sec, "read"),
        content_format=_content_format(sec),
        lwm2m_version=version,
        bootstrap_psk=_bootstrap_psk(sec),
        auto_security_ids=auto_ids,
    )
    config.check(where)
    return config


def parse_config(data: object) -> BootstrapConfig:
    """A :class:`BootstrapConfig` from a parsed JSON/TOML document."""
    top = _Section(data, "", ("endpoints", "default", "unknown_endpoint"))
    endpoints = top.raw("endpoints") if top.has("endpoints") else {}
    if not isinstance(endpoints, dict):
        raise ConfigError("endpoints", f"expected a table/object, got {type(endpoints).__name__}")
    config = BootstrapConfig()
    for name, item in endpoints.items():
        if not isinstance(name, str) or not name:
            raise ConfigError("endpoints", f"endpoint name {name!r} is empty or not a string")
        config.endpoints[name] = parse_endpoint(item, f"endpoints.{name}")
    if top.has("default"):
        config.default = parse_endpoint(top.raw("default"), "default")
    unknown = top.raw("unknown_endpoint")
    if unknown is not None:
        if not isinstance(unknown, str) or unknown.lower() not in _UNKNOWN_CODES:
            raise ConfigError("unknown_endpoint", f'{unknown!r} is not "4.00" or "4.04"')
        config.unknown_endpoint_code = _UNKNOWN_CODES[unknown.lower()]
    if not config.endpoints and config.default is None:
        raise ConfigError("endpoints", "no endpoint configured and no default")
    return config


def load_config(path: str | FsPath) -> BootstrapConfig:
    """Read a ``.toml`` file, or JSON (any other name); raise :class:`ConfigError`."""
    fs_path = FsPath(path)
    source = str(fs_path)
    try:
        raw = fs_path.read_bytes()
    except OSError as exc:
        raise ConfigError("", f"cannot read: {exc.strerror or exc}", source) from None
    try:
        if fs_path.suffix.lower() == ".toml":
            kind = "TOML"
            data: object = tomllib.loads(raw.decode("utf-8"))
        else:
            kind = "JSON"
            data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ConfigError("", f"not valid {kind}: {exc}", source) from None
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError(exc.field, exc.message, source) from None


# --------------------------------------------------------------------------- dumping


def _dump_security(sec: SecurityConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "uri": sec.uri,
        "security_mode": sec.security_mode,
        "public_key_or_identity": sec.public_key_or_identity.hex(),
        "server_public_key": sec.server_public_key.hex(),
        "secret_key": sec.secret_key.hex(),
    }
    if sec.bootstrap:
        out["bootstrap"] = True
    optional = {
        "short_server_id": sec.short_server_id,
        "client_hold_off": sec.client_hold_off,
        "bootstrap_account_timeout": sec.bootstrap_account_timeout,
        "instance_id": sec.instance_id,
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


def _dump_server(srv: ServerConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "short_server_id": srv.short_server_id,
        "lifetime": srv.lifetime,
        "notification_storing": srv.notification_storing,
        "binding": srv.binding,
    }
    optional: dict[str, Any] = {
        "default_pmin": srv.default_pmin,
        "default_pmax": srv.default_pmax,
        "disable_timeout": srv.disable_timeout,
        "bootstrap_on_failure": srv.bootstrap_on_failure,
        "mute_send": srv.mute_send,
        "instance_id": srv.instance_id,
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


def dump_endpoint(config: EndpointConfig) -> dict[str, Any]:
    """``config`` as a file table: :func:`parse_endpoint` reads it back to an equal one.

    Binary values are hex; raises :class:`ConfigError` for a bootstrap PSK identity
    that is not UTF-8 text (files hold it as text).
    """
    out: dict[str, Any] = {
        "delete": list(config.delete),
        "security": [_dump_security(s) for s in config.security],
        "servers": [_dump_server(s) for s in config.servers],
    }
    if config.discover is not None:
        out["discover"] = config.discover
    if config.read:
        out["read"] = list(config.read)
    if config.content_format is not None:
        names = {code: name for name, code in NODE_FORMATS.items()}
        out["content_format"] = names.get(config.content_format, config.content_format)
    if config.lwm2m_version is not None:
        out["lwm2m_version"] = config.lwm2m_version
    if config.bootstrap_psk is not None:
        try:
            identity = config.bootstrap_psk.identity.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError("bootstrap_psk.identity", "is not UTF-8 text") from None
        out["bootstrap_psk"] = {"identity": identity, "key": config.bootstrap_psk.key.hex()}
    if config.auto_security_ids:
        out["auto_security_ids"] = True
    return out


# ------------------------------------------------------ Leshan's BootstrapConfig JSON
#
# The REST API of the bootstrap server speaks the JSON of Eclipse Leshan 2.x's
# bootstrap demo (its BootstrapConfig class as its Jackson mapper writes it), so
# tools written for Leshan work unchanged. Mapping, field by field:
#
#   autoIdForSecurityObject   auto_security_ids (and a Bootstrap-Discover of /)
#   contentFormat             content_format (a code, or {"code": ...} as written)
#   toDelete                  delete (absent: nothing, as in Leshan)
#   security {"id": {...}}    security, instance_id = the key
#     uri, bootstrapServer, securityMode ("PSK"...), publicKeyOrId, serverPublicKey,
#     secretKey (byte arrays), serverId, clientOldOffTime (default 1),
#     bootstrapServerAccountTimeout (default 0)
#   servers {"id": {...}}     servers, instance_id = the key
#     shortId, lifetime (default 86400), defaultMinPeriod (default 1),
#     defaultMaxPeriod, disableTimeout, notifIfDisabled (default true), binding
#     ("U"), bootstrapOnRegistrationFailure, muteSend
#
# What the model cannot express is refused naming the field: OSCORE objects and
# links, ACL instances, SMS settings other than Leshan's defaults, and the
# Security/Server resources of LwM2M 1.1 this server does not write (matchingType,
# sni, certificateUsage, cipherSuite, apnLink, registration priority and retry
# settings, trigger, preferredTransport). Leshan's own checks answer with Leshan's
# texts (ConfigError with an empty field); every other problem names the field.

#: Leshan's SecurityMode enum, by name (Jackson also reads its ordinal, the same number).
LESHAN_SECURITY_MODES: Final[dict[str, int]] = {
    "PSK": 0,
    "RPK": 1,
    "X509": 2,
    "NO_SEC": 3,
    "EST": 4,
}
_LESHAN_MODE_NAMES: Final = {code: name for name, code in LESHAN_SECURITY_MODES.items()}
#: Leshan's BindingMode letters, in the enum's order (the order it writes them in).
_LESHAN_BINDINGS: Final = "UTSNQ"
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
#: The ContentFormat bean Leshan writes for a configured content format.
_LESHAN_FORMATS: Final[dict[int, tuple[str, str]]] = {
    ContentFormat.LWM2M_TLV: ("TLV", "application/vnd.oma.lwm2m+tlv"),
    ContentFormat.LWM2M_JSON: ("JSON", "application/vnd.oma.lwm2m+json"),
    ContentFormat.SENML_JSON: ("SENML_JSON", "application/senml+json"),
    ContentFormat.SENML_CBOR: ("SENML_CBOR", "application/senml+cbor"),
    ContentFormat.LWM2M_CBOR: ("LWM2M_CBOR", "application/vnd.oma.lwm2m+cbor"),
}

_LESHAN_TOP = (
    "autoIdForSecurityObject",
    "contentFormat",
    "toDelete",
    "servers",
    "security",
    "acls",
    "oscore",
)
_LESHAN_SECURITY = (
    "uri",
    "bootstrapServer",
    "securityMode",
    "publicKeyOrId",
    "serverPublicKey",
    "secretKey",
    "smsSecurityMode",
    "smsBindingKeyParam",
    "smsBindingKeySecret",
    "serverSmsNumber",
    "serverId",
    "clientOldOffTime",
    "bootstrapServerAccountTimeout",
    "oscoreSecurityMode",
    "matchingType",
    "sni",
    "certificateUsage",
    "cipherSuite",
)
_LESHAN_SERVER = (
    "shortId",
    "lifetime",
    "defaultMinPeriod",
    "defaultMaxPeriod",
    "disableTimeout",
    "notifIfDisabled",
    "binding",
    "apnLink",
    "registrationPriority",
    "initialDelay",
    "registrationFailure",
    "bootstrapOnRegistrationFailure",
    "communicationRetryCount",
    "CommunicationRetryTimer",
    "SequenceDelayTimer",
    "SequenceRetryCount",
    "trigger",
    "preferredTransport",
    "muteSend",
)
#: Fields accepted only when absent or null: this server does not write them.
_UNSUPPORTED_SECURITY: Final = {
    "oscoreSecurityMode": "OSCORE is not supported by this bootstrap server",
    "matchingType": "the Matching Type resource (/0/x/13) is not supported",
    "sni": "the SNI resource (/0/x/14) is not supported",
    "certificateUsage": "the Certificate Usage resource (/0/x/15) is not supported",
    "cipherSuite": "the DTLS/TLS Ciphersuite resource (/0/x/16) is not supported",
}
_UNSUPPORTED_SERVER: Final = {
    "apnLink": "/1/x/10",
    "registrationPriority": "/1/x/13",
    "initialDelay": "/1/x/14",
    "registrationFailure": "/1/x/15",
    "communicationRetryCount": "/1/x/17",
    "CommunicationRetryTimer": "/1/x/18",
    "SequenceDelayTimer": "/1/x/19",
    "SequenceRetryCount": "/1/x/20",
    "trigger": "/1/x/21",
    "preferredTransport": "/1/x/22",
}
_ABSENT: Final = object()


def _kind(value: object) -> str:
    """A JSON value's kind for messages (never its text: it may be huge or deep)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class _LeshanObject:
    """One JSON object of Leshan's BootstrapConfig, with Jackson's defaults and null rules."""

    def __init__(self, data: object, where: str, known: tuple[str, ...]) -> None:
        if not isinstance(data, dict):
            raise ConfigError(where or "body", f"expected a JSON object, got {_kind(data)}")
        self.where = where
        self.data: dict[str, Any] = data
        for key in data:
            if key not in known:
                raise ConfigError(self.name(key[:40]), "unknown field")

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def raw(self, key: str) -> Any:
        return self.data.get(key, _ABSENT)

    def integer(
        self, key: str, default: int | None, low: int = _INT32_MIN, high: int = _INT32_MAX
    ) -> int | None:
        """An Integer field: absent gives ``default``, null gives None."""
        value = self.raw(key)
        if value is _ABSENT:
            return default
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(self.name(key), f"expected an integer, got {_kind(value)}")
        if not low <= value <= high:
            raise ConfigError(self.name(key), f"{value} is not in {low}..{high}")
        return value

    def primitive_int(self, key: str, default: int) -> int:
        """An ``int`` field: absent gives ``default``, null gives 0 (Java's zero value)."""
        value = self.integer(key, default)
        return 0 if value is None else value

    def boolean(self, key: str, default: bool) -> bool:
        """A ``boolean`` field: absent gives ``default``, null gives false."""
        value = self.raw(key)
        if value is _ABSENT:
            return default
        if value is None:
            return False
        if not isinstance(value, bool):
            raise ConfigError(self.name(key), f"expected true or false, got {_kind(value)}")
        return value

    def optional_boolean(self, key: str) -> bool | None:
        value = self.raw(key)
        if value is _ABSENT or value is None:
            return None
        if not isinstance(value, bool):
            raise ConfigError(self.name(key), f"expected true or false, got {_kind(value)}")
        return value

    def string(self, key: str) -> str | None:
        value = self.raw(key)
        if value is _ABSENT or value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(self.name(key), f"expected a string, got {_kind(value)}")
        return value

    def byte_array(self, key: str) -> bytes:
        """A ``byte[]``: an array of numbers -128..255 (Jackson's range) or base64 text."""
        value = self.raw(key)
        if value is _ABSENT or value is None:
            return b""
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                msg = "a string here must be base64; give an array of bytes -128..255"
                raise ConfigError(self.name(key), msg) from None
        if not isinstance(value, list):
            raise ConfigError(self.name(key), f"expected an array of bytes, got {_kind(value)}")
        out = bytearray()
        for i, item in enumerate(value):
            if not isinstance(item, int) or isinstance(item, bool) or not -128 <= item <= 255:
                number = isinstance(item, int) and not isinstance(item, bool)
                what = str(item) if number else _kind(item)
                raise ConfigError(f"{self.name(key)}[{i}]", f"{what} is not a byte (-128..255)")
            out.append(item & 0xFF)
        return bytes(out)

    def unsupported(self, key: str, why: str) -> None:
        value = self.raw(key)
        if value is not _ABSENT and value is not None:
            raise ConfigError(self.name(key), why)

    def instances(self, key: str) -> list[tuple[int, Any]]:
        """A ``Map<Integer, ...>``: ``(instance id, value)`` sorted by id."""
        value = self.raw(key)
        if value is _ABSENT or value is None:
            return []
        if not isinstance(value, dict):
            raise ConfigError(self.name(key), f"expected a JSON object, got {_kind(value)}")
        out: dict[int, Any] = {}
        for text, item in value.items():
            if not (text.isascii() and text.isdigit()) or int(text) > 65534:
                msg = f"key {text[:20]!r} is not an instance id (0..65534)"
                raise ConfigError(self.name(key), msg)
            if int(text) in out:
                raise ConfigError(self.name(key), f"instance {int(text)} given twice")
            out[int(text)] = item
        return sorted(out.items())


def _leshan_sms_defaults(sec: _LeshanObject) -> None:
    """SMS settings: only Leshan's defaults (no SMS binding) can be taken."""
    mode = sec.raw("smsSecurityMode")
    if mode not in (_ABSENT, None, "NO_SEC", 3):
        raise ConfigError(sec.name("smsSecurityMode"), "only NO_SEC: SMS is not supported")
    for key in ("smsBindingKeyParam", "smsBindingKeySecret"):
        if sec.byte_array(key):
            raise ConfigError(sec.name(key), "must be empty: SMS is not supported")
    if sec.string("serverSmsNumber"):
        raise ConfigError(sec.name("serverSmsNumber"), "must be empty: SMS is not supported")


def _leshan_mode(sec: _LeshanObject) -> int | None:
    raw = sec.raw("securityMode")
    if raw is _ABSENT or raw is None:
        return None
    if isinstance(raw, str) and raw in LESHAN_SECURITY_MODES:
        return LESHAN_SECURITY_MODES[raw]
    if isinstance(raw, int) and not isinstance(raw, bool) and raw in _LESHAN_MODE_NAMES:
        return raw
    names = ", ".join(LESHAN_SECURITY_MODES)
    what = repr(raw[:20]) if isinstance(raw, str) else _kind(raw)
    raise ConfigError(sec.name("securityMode"), f"{what} is not one of {names}")


def _der_sequence(data: bytes) -> bool:
    """Whether ``data`` is one DER SEQUENCE (how keys and certificates are encoded)."""
    if len(data) < 2 or data[0] != 0x30:
        return False
    first = data[1]
    if first < 0x80:
        return len(data) == 2 + first
    count = first & 0x7F
    if not 1 <= count <= 4 or len(data) < 2 + count:
        return False
    return len(data) == 2 + count + int.from_bytes(data[2 : 2 + count], "big")


def _leshan_key_checks(mode: int, sec: SecurityConfig) -> str:
    """Leshan's DefaultConfigurationChecker on one Security entry: its message, or ''."""
    secret, own, server = sec.secret_key, sec.public_key_or_identity, sec.server_public_key
    if mode == MODE_NOSEC:
        checks = [
            (bool(secret), "NO-SEC mode, secret key must be empty"),
            (bool(own), "NO-SEC mode, public key or ID must be empty"),
            (bool(server), "NO-SEC mode, server public key must be empty"),
        ]
    elif mode == MODE_PSK:
        try:
            own.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        checks = [
            (not secret, "pre-shared-key mode, secret key must not be empty"),
            (not own, "pre-shared-key mode, public key or id must not be empty"),
            (not utf8, "pre-shared-key mode, public key or id must not be an utf8 string"),
        ]
    elif mode in (1, 2):
        label, own_kind = ("raw-public-key", "RFC7250") if mode == 1 else ("x509", "X509")
        own_error = (
            "Failed to decode RFC7250 public key"
            if own_kind == "RFC7250"
            else "Failed to decode X.509 certificate"
        )
        checks = [
            (not secret, f"{label} mode, secret key must not be empty"),
            (not _der_sequence(secret), "Failed to decode RFC5958 private key"),
            (not own, f"{label} mode, public key or id must not be empty"),
            (not _der_sequence(own), own_error),
            (not server, f"{label} mode, server public key must not be empty"),
            (not _der_sequence(server), own_error),
        ]
    else:
        checks = [(True, "EST is not currently supported.")]
    return next((message for failed, message in checks if failed), "")


def _leshan_security(data: object, where: str, iid: int) -> tuple[SecurityConfig, int | None]:
    sec = _LeshanObject(data, where, _LESHAN_SECURITY)
    for key, why in _UNSUPPORTED_SECURITY.items():
        sec.unsupported(key, why)
    _leshan_sms_defaults(sec)
    config = SecurityConfig(
        uri=sec.string("uri") or "",
        bootstrap=sec.boolean("bootstrapServer", False),
        public_key_or_identity=sec.byte_array("publicKeyOrId"),
        server_public_key=sec.byte_array("serverPublicKey"),
        secret_key=sec.byte_array("secretKey"),
        short_server_id=sec.integer("serverId", None),
        client_hold_off=sec.integer("clientOldOffTime", 1, low=0),
        bootstrap_account_timeout=sec.integer("bootstrapServerAccountTimeout", 0, low=0),
        instance_id=iid,
    )
    mode = _leshan_mode(sec)
    if mode is not None:
        config.security_mode = mode
    return config, mode


def _leshan_server(data: object, where: str, iid: int) -> ServerConfig:
    srv = _LeshanObject(data, where, _LESHAN_SERVER)
    for key, resource in _UNSUPPORTED_SERVER.items():
        srv.unsupported(key, f"the resource {resource} is not supported by this bootstrap server")
    binding = srv.raw("binding")
    if binding is _ABSENT:
        binding = "U"
    if not isinstance(binding, str):
        raise ConfigError(srv.name("binding"), f"expected a string, got {_kind(binding)}")
    if not binding or not set(binding) <= set(_LESHAN_BINDINGS):
        raise ConfigError(srv.name("binding"), f"{binding[:20]!r} is not made of U, T, S, N, Q")
    return ServerConfig(
        short_server_id=srv.primitive_int("shortId", 0),
        lifetime=srv.primitive_int("lifetime", 86400),
        default_pmin=srv.integer("defaultMinPeriod", 1, low=0),
        default_pmax=srv.integer("defaultMaxPeriod", None, low=0),
        disable_timeout=srv.integer("disableTimeout", None, low=0),
        notification_storing=srv.boolean("notifIfDisabled", True),
        binding="".join(b for b in _LESHAN_BINDINGS if b in binding),
        bootstrap_on_failure=srv.optional_boolean("bootstrapOnRegistrationFailure"),
        mute_send=srv.optional_boolean("muteSend"),
        instance_id=iid,
    )


def _leshan_content_format(top: _LeshanObject) -> int | None:
    raw = top.raw("contentFormat")
    if raw is _ABSENT or raw is None:
        return None
    code = raw
    if isinstance(raw, dict):  # the bean Leshan writes: {"name", "mediaType", "code"}
        code = _LeshanObject(raw, top.name("contentFormat"), ("name", "mediaType", "code")).raw(
            "code"
        )
    if not isinstance(code, int) or isinstance(code, bool):
        what = _kind(code) if code is not _ABSENT else "nothing"
        raise ConfigError(top.name("contentFormat"), f"expected a content format code, got {what}")
    if code not in NODE_FORMATS.values():
        codes = ", ".join(str(c) for c in sorted(NODE_FORMATS.values()))
        raise ConfigError(top.name("contentFormat"), f"{code} is not one of {codes}")
    return code


def _leshan_delete(top: _LeshanObject) -> list[str]:
    raw = top.raw("toDelete")
    if raw is _ABSENT or raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError("toDelete", f"expected an array of paths, got {_kind(raw)}")
    out: list[str] = []
    for i, item in enumerate(raw):
        if not isinstance(item, str):
            raise ConfigError(f"toDelete[{i}]", f"expected a path string, got {_kind(item)}")
        out.append(item)
    return out


#: Our field names, as Leshan's JSON names them (for the checks of the model).
_LESHAN_NAMES: Final = {
    "uri": "uri",
    "security_mode": "securityMode",
    "psk_identity": "publicKeyOrId",
    "psk_key": "secretKey",
    "short_server_id": "serverId",
    "lifetime": "lifetime",
    "binding": "binding",
    "default_pmin": "defaultMinPeriod",
    "default_pmax": "defaultMaxPeriod",
    "disable_timeout": "disableTimeout",
}


_MODEL_FIELD = re.compile(r"(\w+)\[(\d+)\](?:\.(\w+))?")


def _leshan_field(field: str, config: EndpointConfig) -> str:
    """``security[2].short_server_id`` -> ``security.5.serverId`` (the map key, Leshan's name)."""
    match = _MODEL_FIELD.fullmatch(field)
    if match is None:
        return field
    name, index, attr = match.group(1), int(match.group(2)), match.group(3)
    if name == "delete":
        return f"toDelete[{index}]"
    entries: list[SecurityConfig] | list[ServerConfig] = (
        config.security if name == "security" else config.servers
    )
    if name not in ("security", "servers") or index >= len(entries):
        return field
    key = entries[index].instance_id
    leshan = _LESHAN_NAMES.get(attr or "", attr or "")
    if name == "servers" and leshan == "serverId":
        leshan = "shortId"
    return f"{name}.{key}.{leshan}" if leshan else f"{name}.{key}"


def leshan_to_endpoint(data: object) -> EndpointConfig:
    """Our configuration from Leshan's BootstrapConfig JSON (already parsed).

    Raises :class:`ConfigError`: with an empty ``field`` and Leshan's text for what
    Leshan's configuration checker refuses, else naming the field as the JSON does
    (``security.1.uri``, ``toDelete[0]``). Nothing is partially taken.
    """
    top = _LeshanObject(data, "", _LESHAN_TOP)
    auto_ids = top.boolean("autoIdForSecurityObject", False)
    content_format = _leshan_content_format(top)
    delete = _leshan_delete(top)
    security = [
        _leshan_security(item, f"security.{iid}", iid) for iid, item in top.instances("security")
    ]
    servers = [
        _leshan_server(item, f"servers.{iid}", iid) for iid, item in top.instances("servers")
    ]
    if top.instances("acls"):
        raise ConfigError("acls", "Access Control instances are not supported by this server")
    if top.instances("oscore"):
        raise ConfigError("oscore", "OSCORE is not supported by this bootstrap server")
    # Leshan's DefaultConfigurationChecker, in its order and with its texts.
    for text in delete:
        try:
            Path.parse(text or "-")  # an empty path is no path (not "/")
        except (ModelError, ValueError):
            raise ConfigError("", f" {text[:100]} is not a valid path") from None
    for sec, mode in security:
        if mode is None:
            raise ConfigError("", "Security Mode is mandatory")
        problem = _leshan_key_checks(mode, sec)
        if problem:
            raise ConfigError("", problem)
        if not sec.uri:
            raise ConfigError("", "LwM2M Server URI is mandatory")
    for srv in servers:
        if srv.short_server_id == 0:
            raise ConfigError("", "short ID must not be 0")
        if not any(
            not s.bootstrap and s.short_server_id == srv.short_server_id for s, _ in security
        ):
            raise ConfigError("", f"no security entry for server instance: {srv.instance_id}")
    config = EndpointConfig(
        security=[sec for sec, _ in security],
        servers=servers,
        delete=delete,
        discover="/" if auto_ids else None,
        content_format=content_format,
        auto_security_ids=auto_ids,
    )
    _leshan_scheme_checks(config)
    problems = config.problems()
    if problems:
        name, message = problems[0]
        raise ConfigError(_leshan_field(name, config), message)
    return config


def _leshan_scheme_checks(config: EndpointConfig) -> None:
    """The URI and its security mode must agree (coap: NO_SEC, coaps: a secure mode)."""
    for sec in config.security:
        where = f"security.{sec.instance_id}"
        try:
            parts = urlsplit(sec.uri)
            scheme, host = parts.scheme.lower(), parts.hostname
            parts.port  # noqa: B018 -- raises ValueError for a bad port
        except ValueError:
            raise ConfigError(f"{where}.uri", "is not a valid URI") from None
        if scheme not in ("coap", "coaps") or not host:
            raise ConfigError(f"{where}.uri", "is not a coap:// or coaps:// URI with a host")
        if scheme == "coap" and sec.security_mode != MODE_NOSEC:
            raise ConfigError(f"{where}.securityMode", "a coap:// URI needs NO_SEC")
        if scheme == "coaps" and sec.security_mode == MODE_NOSEC:
            raise ConfigError(f"{where}.securityMode", "a coaps:// URI needs PSK, RPK or X509")
        if not sec.bootstrap and sec.short_server_id is None:
            raise ConfigError(f"{where}.serverId", "missing (needed for an LwM2M server account)")


def _unsigned(data: bytes) -> list[int]:
    # Leshan's bootstrap servlet writes byte[] as unsigned numbers (ByteMode.UNSIGNED).
    return list(data)


def endpoint_to_leshan(config: EndpointConfig) -> dict[str, Any]:
    """Leshan's BootstrapConfig JSON of ``config``, as Leshan's servlet writes it.

    Instances without an ``instance_id`` are shown at the ids a bootstrap without a
    discover would write them to. Fields Leshan's JSON has no place for (Bootstrap-Read
    paths, a Bootstrap-Discover without automatic ids, the LwM2M version, the
    bootstrap PSK) are not shown.
    """
    sec_ids = _allocate([s.instance_id for s in config.security], (), 1)
    srv_ids = _allocate([s.instance_id for s in config.servers], (), 0)
    out: dict[str, Any] = {"autoIdForSecurityObject": config.auto_security_ids}
    if config.content_format is not None:
        name, media = _LESHAN_FORMATS.get(config.content_format, ("UNKNOWN", "unknown/unknown"))
        out["contentFormat"] = {"name": name, "mediaType": media, "code": config.content_format}
    out["toDelete"] = list(config.delete)
    out["servers"] = {
        str(iid): _server_to_leshan(srv) for srv, iid in zip(config.servers, srv_ids, strict=True)
    }
    out["security"] = {
        str(iid): _security_to_leshan(sec)
        for sec, iid in zip(config.security, sec_ids, strict=True)
    }
    out["acls"] = {}
    out["oscore"] = {}
    return out


def _security_to_leshan(sec: SecurityConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "uri": sec.uri,
        "bootstrapServer": sec.bootstrap,
        "securityMode": _LESHAN_MODE_NAMES.get(sec.security_mode, str(sec.security_mode)),
        "publicKeyOrId": _unsigned(sec.public_key_or_identity),
        "serverPublicKey": _unsigned(sec.server_public_key),
        "secretKey": _unsigned(sec.secret_key),
        "smsSecurityMode": "NO_SEC",
        "smsBindingKeyParam": [],
        "smsBindingKeySecret": [],
        "serverSmsNumber": "",
    }
    optional = {
        "serverId": sec.short_server_id,
        "clientOldOffTime": sec.client_hold_off,
        "bootstrapServerAccountTimeout": sec.bootstrap_account_timeout,
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


def _server_to_leshan(srv: ServerConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"shortId": srv.short_server_id, "lifetime": srv.lifetime}
    optional: dict[str, Any] = {
        "defaultMinPeriod": srv.default_pmin,
        "defaultMaxPeriod": srv.default_pmax,
        "disableTimeout": srv.disable_timeout,
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    out["notifIfDisabled"] = srv.notification_storing
    out["binding"] = srv.binding
    if srv.bootstrap_on_failure is not None:
        out["bootstrapOnRegistrationFailure"] = srv.bootstrap_on_failure
    if srv.mute_send is not None:
        out["muteSend"] = srv.mute_send
    return out

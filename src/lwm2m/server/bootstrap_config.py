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
"""

from __future__ import annotations

import json
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
    "NODE_FORMATS",
    "SECURITY_MODES",
    "BootstrapConfig",
    "BootstrapPsk",
    "ConfigError",
    "EndpointConfig",
    "SecurityConfig",
    "ServerConfig",
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

    def problems(self) -> list[tuple[str, str]]:
        """Every ``(field, message)`` that makes this configuration unusable."""
        out: list[tuple[str, str]] = []
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


def planned_writes(
    config: EndpointConfig, reserved_security: Iterable[int] = ()
) -> list[tuple[Path, InstanceNode]]:
    """The Bootstrap-Writes of ``config``: one ``(/o/i, instance)`` per instance, in order.

    Security instances without an ``instance_id`` get free ids from 1 up, skipping
    ``reserved_security`` (the client's Bootstrap-Server account when a discover told
    where it is); Server instances get free ids from 0 up.
    """
    out: list[tuple[Path, InstanceNode]] = []
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
        discover=_discover(sec),
        read=_paths(sec, "read"),
        content_format=_content_format(sec),
        lwm2m_version=version,
        bootstrap_psk=_bootstrap_psk(sec),
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

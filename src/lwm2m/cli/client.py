"""``lwm2m client``: run the sample client against a server, as a device maker would.

Everything can come from flags or from a TOML file (``--config FILE``), flags
winning; the file may also add object instances::

    server = "coaps://lwm2m.example.com:5684"
    endpoint = "dev-0042"
    lifetime = 600
    cert = "device.pem"          # certificate mode: own certificate (DER or PEM),
    key = "device.key"           # private key, the server's certificate, and
    server-cert = "server.pem"   # optionally its Certificate Usage (0..3)
    cert-usage = 3
    state = "/var/lib/lwm2m"     # the state that survives restarts
    log-format = "json"

    [objects."3303/1"]           # extra instances: object/instance, resource = value
    5700 = 21.5
    5701 = "Cel"

Relative paths in the file are relative to the file. An unknown key, or a
value of the wrong kind, is refused with the key's name (exit status 2).

Security modes: ``coap://`` is NoSec; ``coaps://`` with ``--psk-identity`` and
``--psk-key`` is PSK (mode 0); with ``--cert``, ``--key`` and ``--server-cert``
it is certificate mode (2), ``--cert-usage`` giving /0/x/15. Raw public keys (1)
and EST (4) are refused with the reason: the DTLS layer (Mbed TLS 2.28) has
neither. ``coaps://`` needs the ``dtls`` extra; without it the command says so.

``--state DIR`` keeps the configuration a bootstrap or a server wrote, the
servers' attributes and the writable resources the sample marks persistent
(Device UTC Offset and Timezone) across restarts; ``--factory-reset`` erases
that state and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import importlib.util
import re
import signal
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from lwm2m.cli._args import hex_key
from lwm2m.client.connections import DTLS_EXTRA as CONNECTION_DTLS_EXTRA
from lwm2m.client.events import Event
from lwm2m.client.persistence import StateStore
from lwm2m.errors import DecodeError, ModelError
from lwm2m.model import Path

__all__ = [
    "DTLS_EXTRA",
    "ClientConfig",
    "ConfigError",
    "add_instance",
    "add_parser",
    "build",
    "client_config",
    "load_config",
    "read_der",
    "run",
]

#: What ``coaps://`` without python-mbedtls prints (and the client reports).
DTLS_EXTRA = CONNECTION_DTLS_EXTRA
#: Resources of the sample that survive a restart with --state.
PERSISTENT_RESOURCES = ("3/0/14", "3/0/15")
_MODES = {"psk": 0, "rpk": 1, "certificate": 2, "nosec": 3, "est": 4}


class ConfigError(Exception):
    """A flag or a configuration key that cannot be used; the message names it."""


@dataclass(slots=True)
class ClientConfig:
    """Everything ``lwm2m client`` runs with, from the flags and the TOML file."""

    server: str | None = None
    endpoint: str = "lwm2m-python-sample"
    lifetime: int = 300
    psk_identity: str | None = None
    psk_key: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None
    server_cert: bytes | None = None
    cert_usage: int | None = None
    security_mode: str | None = None
    bootstrap: bool = False
    bootstrap_hold_off: float | None = None
    queue_mode: bool = False
    lwm2m_version: str = "1.1"
    objects: str | None = None
    firmware_dir: str | None = None
    state: str | None = None
    factory_reset: bool = False
    log_format: str = "text"
    instances: dict[Path, dict[int, Any]] = field(default_factory=dict)


# --------------------------------------------------------------------------- value checks


def _lifetime(value: object) -> int:
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise ValueError(f"lifetime must be an integer, got {value!r}") from None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"lifetime must be an integer, got {value!r}")
    if not 1 <= value <= 2**32 - 1:
        raise ValueError(f"lifetime {value} out of range 1..4294967295")
    return value


def _server_uri(value: object) -> str:
    if not isinstance(value, str) or not value.startswith(("coap://", "coaps://")):
        raise ValueError(f"server must be a coap:// or coaps:// URI, got {value!r}")
    return value


def _cert_usage(value: object) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 3:
        raise ValueError(f"certificate usage must be 0, 1, 2 or 3, got {value!r}")
    return value


def _hold_off(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"hold-off must be a number of seconds, got {value!r}") from None
    if isinstance(value, bool) or not 0 <= number <= 86400:
        raise ValueError(f"hold-off {value!r} out of range 0..86400 s")
    return number


_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s+(.*?)-----END \1-----", re.DOTALL)
_PEM_LABELS = {
    "certificate": {"CERTIFICATE"},
    "key": {"PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"},
}


def read_der(path: str, kind: str) -> bytes:
    """A certificate or private key file, DER or PEM, as DER; ValueError naming the file."""
    try:
        data = FsPath(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if b"-----BEGIN" in data:
        match = _PEM.search(data)
        if match is None:
            raise ValueError(f"{path}: malformed PEM")
        label = match.group(1).decode()
        if label == "ENCRYPTED PRIVATE KEY":
            raise ValueError(f"{path}: encrypted private keys are not supported")
        if label not in _PEM_LABELS[kind]:
            raise ValueError(f"{path}: a PEM {label}, not a {kind}")
        try:
            der = base64.b64decode(b"".join(match.group(2).split()), validate=True)
        except binascii.Error:
            raise ValueError(f"{path}: malformed PEM body") from None
    else:
        der = data
    if not der or der[0] != 0x30:  # an ASN.1 SEQUENCE
        raise ValueError(f"{path}: not a DER or PEM {kind}")
    return der


# --------------------------------------------------------------------------- the TOML file

#: TOML key -> (ClientConfig field, check). Paths are resolved against the file.
_KEYS: dict[str, tuple[str, Any]] = {
    "server": ("server", _server_uri),
    "endpoint": ("endpoint", str),
    "lifetime": ("lifetime", _lifetime),
    "psk-identity": ("psk_identity", str),
    "psk-key": ("psk_key", hex_key),
    "cert": ("cert", "path"),
    "key": ("key", "path"),
    "server-cert": ("server_cert", "path"),
    "cert-usage": ("cert_usage", _cert_usage),
    "security-mode": ("security_mode", "mode"),
    "bootstrap": ("bootstrap", bool),
    "bootstrap-hold-off": ("bootstrap_hold_off", _hold_off),
    "queue-mode": ("queue_mode", bool),
    "lwm2m-version": ("lwm2m_version", "version"),
    "objects": ("objects", "path"),
    "firmware-dir": ("firmware_dir", "path"),
    "state": ("state", "path"),
    "log-format": ("log_format", "log-format"),
}


def load_config(path: str) -> tuple[dict[str, Any], dict[Path, dict[int, Any]]]:
    """Read a TOML file: the settings by ClientConfig field, and the extra instances."""
    file = FsPath(path)
    try:
        doc = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config {path}: not valid TOML: {exc}") from None
    base = file.parent
    settings: dict[str, Any] = {}
    instances: dict[Path, dict[int, Any]] = {}
    for key, value in doc.items():
        if key == "objects":
            instances = _instances(path, value)
            continue
        spec = _KEYS.get(key.replace("_", "-"))
        if spec is None:
            known = ", ".join(sorted([*_KEYS, "objects"]))
            raise ConfigError(f"{path}: unknown key {key!r} (known: {known})")
        name, check = spec
        try:
            settings[name] = _checked(check, value, base)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise ConfigError(f"{path}: {key}: {exc}") from None
    return settings, instances


def _checked(check: Any, value: Any, base: FsPath) -> Any:
    if check is bool:
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r}")
        return value
    if check is str:
        if not isinstance(value, str) or not value:
            raise ValueError(f"must be a non-empty string, got {value!r}")
        return value
    if check == "path":
        if not isinstance(value, str) or not value:
            raise ValueError(f"must be a path, got {value!r}")
        return str(base / value)
    if check == "mode":
        if value not in _MODES:
            raise ValueError(f"must be one of {', '.join(_MODES)}, got {value!r}")
        return value
    if check == "version":
        if value not in ("1.0", "1.1", "1.2"):
            raise ValueError(f'must be "1.0", "1.1" or "1.2", got {value!r}')
        return value
    if check == "log-format":
        if value not in ("text", "json"):
            raise ValueError(f'must be "text" or "json", got {value!r}')
        return value
    if check is hex_key and not isinstance(value, str):
        raise ValueError(f"must be a hex string, got {value!r}")
    return check(value)


def _instances(path: str, table: object) -> dict[Path, dict[int, Any]]:
    if not isinstance(table, dict):
        raise ConfigError(f'{path}: objects must be a table of "object/instance" tables')
    out: dict[Path, dict[int, Any]] = {}
    for name, resources in table.items():
        try:
            where = Path.parse(name)
        except ModelError:
            where = Path()
        if len(where) != 2:
            raise ConfigError(f"{path}: objects.{name!r}: not an object/instance path like 3303/0")
        if not isinstance(resources, dict):
            raise ConfigError(f"{path}: objects.{name!r}: must be a table of resource = value")
        values: dict[int, Any] = {}
        for rid, value in resources.items():
            if not rid.isdigit() or len(rid) > 5:
                raise ConfigError(f"{path}: objects.{name!r}.{rid}: not a resource id")
            values[int(rid)] = value
        out[where] = values
    return out


# --------------------------------------------------------------------------- flags


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "client",
        help="run the sample LwM2M client",
        description="Run the sample LwM2M client (see --config for the TOML file).",
    )
    # Defaults are None so that the TOML file fills what the flags leave out.
    p.add_argument("--config", metavar="FILE", help="TOML file with any of these settings")
    p.add_argument("--server", help="coap[s]://HOST:PORT of the server (or bootstrap server)")
    p.add_argument("--endpoint", help="endpoint name (default lwm2m-python-sample)")
    p.add_argument("--lifetime", help="registration lifetime in seconds (default 300)")
    p.add_argument("--psk-identity", help="PSK identity (coaps://, security mode 0)")
    p.add_argument("--psk-key", type=hex_key, help="PSK key in hex")
    p.add_argument("--cert", metavar="FILE", help="own certificate, DER or PEM (mode 2)")
    p.add_argument("--key", metavar="FILE", help="private key of --cert, DER or PEM")
    p.add_argument("--server-cert", metavar="FILE", help="the server's certificate, DER or PEM")
    p.add_argument("--cert-usage", help="Certificate Usage /0/x/15: 0..3 (default 3)")
    p.add_argument("--security-mode", choices=tuple(_MODES), help="force a security mode")
    p.add_argument(
        "--bootstrap",
        action="store_true",
        default=None,
        help="--server is a bootstrap server: bootstrap first",
    )
    p.add_argument("--bootstrap-hold-off", metavar="S", help="Client Hold Off Time /0/x/11")
    p.add_argument("--queue-mode", action="store_true", default=None, help="queue mode")
    p.add_argument("--lwm2m-version", choices=("1.0", "1.1", "1.2"))
    p.add_argument("--objects", metavar="DIR", help="load extra object definitions (DDF XML)")
    p.add_argument("--firmware-dir", metavar="DIR", help="where firmware images are written")
    p.add_argument("--state", metavar="DIR", help="keep the state here across restarts")
    p.add_argument(
        "--factory-reset", action="store_true", help="erase the state in --state DIR and exit"
    )
    # Also accepted before the sub-command (lwm2m -v client ...).
    p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS)
    p.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS)
    p.add_argument("--log-format", choices=("text", "json"), default=argparse.SUPPRESS)
    p.set_defaults(func=run)


def client_config(args: argparse.Namespace) -> ClientConfig:
    """Merge the TOML file (if any) and the flags; ConfigError names what is wrong."""
    config = ClientConfig()
    if args.config:
        settings, config.instances = load_config(args.config)
        for name, value in settings.items():
            setattr(config, name, value)
    flags: dict[str, tuple[Any, Callable[[Any], Any] | None]] = {
        "server": (args.server, _server_uri),
        "endpoint": (args.endpoint, str),
        "lifetime": (args.lifetime, _lifetime),
        "psk_identity": (args.psk_identity, str),
        "psk_key": (args.psk_key, None),
        "cert_usage": (args.cert_usage, _cert_usage),
        "security_mode": (args.security_mode, None),
        "bootstrap": (args.bootstrap, None),
        "bootstrap_hold_off": (args.bootstrap_hold_off, _hold_off),
        "queue_mode": (args.queue_mode, None),
        "lwm2m_version": (args.lwm2m_version, None),
        "objects": (args.objects, None),
        "firmware_dir": (args.firmware_dir, None),
        "state": (args.state, None),
        "log_format": (getattr(args, "log_format", None), None),
    }
    for name, (value, check) in flags.items():
        if value is None:
            continue
        try:
            setattr(config, name, check(value) if check is not None else value)
        except ValueError as exc:
            raise ConfigError(f"--{name.replace('_', '-')}: {exc}") from None
    for name, flag in (("cert", args.cert), ("key", args.key), ("server_cert", args.server_cert)):
        if flag is not None:
            setattr(config, name, flag)
    config.factory_reset = bool(args.factory_reset)
    _read_credentials(config)
    _check(config)
    return config


def _read_credentials(config: ClientConfig) -> None:
    for name, kind in (("cert", "certificate"), ("key", "key"), ("server_cert", "certificate")):
        value = getattr(config, name)
        if isinstance(value, str):
            try:
                setattr(config, name, read_der(value, kind))
            except ValueError as exc:
                raise ConfigError(f"--{name.replace('_', '-')}: {exc}") from None


def _check(config: ClientConfig) -> None:
    if config.factory_reset:
        if config.state is None:
            raise ConfigError("--factory-reset needs --state DIR")
        return
    if config.server is None:
        raise ConfigError("--server is required (or server = ... in --config)")
    secure = config.server.startswith("coaps://")
    psk = config.psk_identity is not None or config.psk_key is not None
    cert = any(v is not None for v in (config.cert, config.key, config.server_cert))
    mode = config.security_mode or (
        "psk" if psk else "certificate" if cert else "nosec" if not secure else None
    )
    if mode in ("rpk", "est"):
        raise ConfigError(
            f"security mode {mode} is not supported: the DTLS layer (Mbed TLS 2.28) has "
            + ("no RFC 7250 raw public keys" if mode == "rpk" else "no EST enrolment")
        )
    if psk and cert:
        raise ConfigError("PSK (--psk-*) and certificates (--cert, --key) exclude each other")
    if secure and mode in (None, "nosec"):
        raise ConfigError(
            "coaps:// needs --psk-identity and --psk-key, or --cert, --key and --server-cert"
        )
    if not secure and mode != "nosec":
        raise ConfigError(f"security mode {mode} needs a coaps:// server URI")
    if mode == "psk" and (config.psk_identity is None or config.psk_key is None):
        raise ConfigError("--psk-identity and --psk-key go together")
    if mode == "certificate":
        missing = [
            f"--{n.replace('_', '-')}"
            for n in ("cert", "key", "server_cert")
            if getattr(config, n) is None
        ]
        if missing:
            raise ConfigError(f"certificate mode needs {', '.join(missing)}")
    elif config.cert_usage is not None:
        raise ConfigError("--cert-usage applies to certificate mode only")
    if secure and importlib.util.find_spec("mbedtls") is None:
        raise ConfigError(DTLS_EXTRA)


# --------------------------------------------------------------------------- running


def run(args: argparse.Namespace) -> int:
    try:
        config = client_config(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if config.factory_reset:
        assert config.state is not None
        StateStore(config.state).erase()
        print(f"state in {config.state} erased", flush=True)
        return 0
    try:
        sample = build(config)
    except (OSError, DecodeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_main(sample))


def build(config: ClientConfig) -> Any:
    """The sample device for ``config`` (its Client, objects and extra instances)."""
    from lwm2m.sample import build_sample_client

    assert config.server is not None
    options: dict[str, object] = {}
    if config.state is not None:
        options["state_dir"] = config.state
    if config.bootstrap_hold_off is not None:
        options["bootstrap_hold_off"] = config.bootstrap_hold_off
    sample = build_sample_client(
        endpoint=config.endpoint,
        server_uri=config.server,
        lifetime=config.lifetime,
        bootstrap=config.bootstrap,
        psk_identity=config.psk_identity,
        psk_key=config.psk_key,
        certificate=config.cert,
        private_key=config.key,
        server_certificate=config.server_cert,
        certificate_usage=config.cert_usage,
        queue_mode=config.queue_mode,
        lwm2m_version=config.lwm2m_version,
        objects_dir=config.objects,
        firmware_dir=config.firmware_dir,
        client_options=options,
    )
    client = sample.client
    for where, values in config.instances.items():
        add_instance(client, where, values)
    if config.state is not None:
        client.persist(*PERSISTENT_RESOURCES)
    return sample


def add_instance(client: Any, where: Path, values: dict[int, Any]) -> None:
    """An object instance from the TOML file; ValueError naming the resource at fault."""
    store = client.store
    oid, iid = where[0], where[1]
    if store.registry.get(oid) is None:
        raise ValueError(f"objects.{oid}/{iid}: object {oid} has no definition (see --objects)")
    if not store.has_instance(oid, iid):
        store.create_instance(oid, iid)
    for rid, value in values.items():
        path = Path(oid, iid, rid)
        rdef = store.registry.resource(path)
        if rdef is not None and rdef.type.value == "Opaque" and isinstance(value, str):
            try:
                value = bytes.fromhex(value)
            except ValueError:
                raise ValueError(f"objects.{oid}/{iid}.{rid}: opaque values are hex") from None
        if isinstance(value, dict):
            value = {int(k): v for k, v in value.items()}
        try:
            store.set(path, value)
        except (ModelError, ValueError, TypeError) as exc:
            raise ValueError(f"objects.{oid}/{iid}.{rid}: {exc}") from None


async def _main(sample: Any) -> int:
    client = sample.client
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    def show(event: Event) -> None:
        server = "bootstrap" if event.server is None else f"server {event.server}"
        print(f"[{server}] {event.kind.name} {event.detail}", flush=True)

    client.on_event(show)
    await client.start()
    if client.state_problem is not None:
        print(f"saved state refused: {client.state_problem}", flush=True)
    sample.start_drift()
    print(f"client {client.endpoint_name} started; Ctrl-C de-registers and exits", flush=True)
    await stop.wait()
    await sample.stop_drift()
    await client.stop(deregister=True)
    print("stopped", flush=True)
    return 0

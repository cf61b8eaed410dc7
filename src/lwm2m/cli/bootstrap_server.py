"""``lwm2m bootstrap-server``: a Bootstrap-Server with the REST API of Leshan's bootstrap demo.

Listens on UDP (``--coap-port``, default 5783) and, when python-mbedtls is
installed, on DTLS (``--coaps-port``, default 5784) with the clients' bootstrap
PSKs and, with ``--cert``/``--key`` (and ``--ca`` for the CAs client
certificates must chain to), X.509 certificates in DER or PEM.

Configurations and bootstrap credentials live in a store: SQLite with ``--db
PATH`` (they survive a restart), Redis with ``--store redis://HOST:PORT/DB``
(shared by several bootstrap servers; the bootstrap then also places each device
on the least-loaded live node of the server cluster on that Redis and sets
/1/x/16, see :mod:`lwm2m.server.cluster.placement`; one line ``PLACED ENDPOINT on
NODE URI`` per decision), memory otherwise. ``--config FILE`` (JSON or
TOML) seeds it at start: an entry of the file is applied when it is new or has
changed since it was last applied, so changes made through the REST API stay.
``--http-port`` serves the REST API (:mod:`lwm2m.server.rest.bootstrap`) on
``--http-host`` (default 127.0.0.1; another address needs ``--api-token`` or
``LWM2M_API_TOKEN``). Port 0 picks a free port; one line per listener tells
where it is bound::

    listening on coap://127.0.0.1:5783
    listening on coaps://127.0.0.1:5784
    listening on http://127.0.0.1:8080

then one line per event until Ctrl-C or SIGTERM. A configuration or a
credential file that does not load, or bad flags, exit with status 2 naming
the field or the file; a database or a listener that cannot be opened with 1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import dataclasses
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from lwm2m.cli._args import port
from lwm2m.cli._http import HttpOptions, add_http_arguments, http_options
from lwm2m.server.bootstrap import (
    DEFAULT_COAP_PORT,
    DEFAULT_COAPS_PORT,
    BootstrapDiscovered,
    BootstrapEvent,
    BootstrapFailed,
    BootstrapFinished,
    BootstrapReadDone,
    BootstrapRejected,
    BootstrapServer,
    BootstrapStarted,
)
from lwm2m.server.bootstrap_config import BootstrapConfig, ConfigError, load_config
from lwm2m.server.store.base import SecurityInfo, StoreError
from lwm2m.server.store.bootstrap_base import BootstrapStore
from lwm2m.server.store.bootstrap_memory import MemoryBootstrapStore
from lwm2m.server.store.bootstrap_sqlite import SqliteBootstrapStore
from lwm2m.transport.base import Address

if TYPE_CHECKING:  # python-mbedtls is optional: imported only when --cert is given
    from lwm2m.transport.dtls_common import CertificateCredentials

PROG = "lwm2m bootstrap-server"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bootstrap-server",
        help="run an LwM2M bootstrap server",
        description="Run an LwM2M Bootstrap-Server with the REST API of Leshan's bootstrap "
        "demo; configurations come from the API, a JSON or TOML file, or both.",
    )
    p.add_argument("--config", metavar="FILE", help="configurations to seed (.json/.toml)")
    p.add_argument("--db", metavar="PATH", help="SQLite file for configurations and PSKs")
    p.add_argument(
        "--store",
        metavar="URL",
        help="Redis (redis://HOST:PORT/DB) shared with the server cluster: places devices",
    )
    p.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    p.add_argument("--coap-port", type=port, default=DEFAULT_COAP_PORT, help="UDP port")
    p.add_argument("--coaps-port", type=port, default=DEFAULT_COAPS_PORT, help="DTLS port")
    p.add_argument("--http-port", type=port, help="serve the REST API on this port (0: any)")
    add_http_arguments(p)
    p.add_argument("--no-dtls", action="store_true", help="do not open the DTLS listener")
    p.add_argument("--cert", metavar="FILE", help="server certificate (DER or PEM) for coaps")
    p.add_argument("--key", metavar="FILE", help="private key of --cert (DER or PEM)")
    p.add_argument(
        "--ca",
        metavar="FILE",
        action="append",
        default=[],
        help="CA certificate(s) client certificates must chain to (repeatable)",
    )
    p.set_defaults(func=run)


def _addr(address: Address) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_event(event: BootstrapEvent) -> str:
    """One line per event for the console."""
    if isinstance(event, BootstrapStarted):
        how = "server-initiated" if event.server_initiated else "Bootstrap-Request"
        return f"STARTED {event.endpoint} from {_addr(event.address)} ({how})"
    if isinstance(event, BootstrapDiscovered):
        links = ",".join(f"<{link.target}>" for link in event.links)
        return f"DISCOVERED {event.endpoint} {event.path} lwm2m={event.lwm2m_version} {links}"
    if isinstance(event, BootstrapReadDone):
        return f"READ {event.endpoint} {event.path}: {event.value}"
    if isinstance(event, BootstrapFinished):
        written = " ".join(event.written) or "nothing"
        return f"FINISHED {event.endpoint} ({_addr(event.address)}): wrote {written}"
    if isinstance(event, BootstrapFailed):
        return f"FAILED {event.endpoint} ({_addr(event.address)}) at {event.step}: {event.reason}"
    assert isinstance(event, BootstrapRejected)
    code = f"{event.code >> 5}.{event.code & 0x1F:02d}"
    return f"REJECTED {event.endpoint!r} from {_addr(event.address)} with {code}: {event.reason}"


class CredentialError(ValueError):
    """A certificate or key file that cannot be used; the message names the file."""


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)


def _der_length_ok(der: bytes) -> bool:
    """Whether ``der`` is exactly one DER SEQUENCE (X.690 8.1.3), as certificates and keys are."""
    if len(der) < 2 or der[0] != 0x30:
        return False
    first = der[1]
    if first < 0x80:
        return len(der) == 2 + first
    count = first & 0x7F
    if not 1 <= count <= 4 or len(der) < 2 + count:
        return False
    return len(der) == 2 + count + int.from_bytes(der[2 : 2 + count], "big")


def _read_der(path: str, what: str, accept: Callable[[str], bool]) -> list[bytes]:
    """The DER items of a DER file, or of the PEM blocks whose label ``accept`` takes."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CredentialError(f"{what} {path}: cannot read ({exc.strerror or exc})") from None
    if b"-----BEGIN " not in raw:
        if not _der_length_ok(raw):
            raise CredentialError(f"{what} {path}: neither PEM nor a DER structure")
        return [raw]
    items = []
    for match in _PEM_BLOCK.finditer(raw):
        label = match.group(1).decode("ascii")
        if label == "ENCRYPTED PRIVATE KEY":
            raise CredentialError(f"{what} {path}: encrypted private keys are not supported")
        if not accept(label):
            continue
        try:
            der = base64.b64decode(b"".join(match.group(2).split()), validate=True)
        except binascii.Error:
            raise CredentialError(f"{what} {path}: bad base64 in PEM {label}") from None
        if not _der_length_ok(der):
            raise CredentialError(f"{what} {path}: PEM {label} is not a DER structure")
        items.append(der)
    if not items:
        raise CredentialError(f"{what} {path}: no usable PEM block")
    return items


def _is_certificate(label: str) -> bool:
    return label == "CERTIFICATE"


def _is_private_key(label: str) -> bool:
    # PKCS#8 "PRIVATE KEY", SEC 1 "EC PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY" (RFC 7468 10, 11).
    return label.endswith("PRIVATE KEY")


def load_certificate_credentials(
    cert: str | None, key: str | None, cas: Sequence[str]
) -> CertificateCredentials | None:
    """The coaps certificate of ``--cert``/``--key``/``--ca``, or ``None`` without ``--cert``.

    A PEM ``--cert`` may hold the intermediate CAs after the server
    certificate; they are sent as its chain. Raises :class:`CredentialError`.
    """
    if cert is None:
        if key is not None:
            raise CredentialError("--key needs --cert")
        if cas:
            raise CredentialError("--ca needs --cert")
        return None
    if key is None:
        raise CredentialError(f"--cert {cert} needs --key (its private key)")
    if not cas:
        # The DTLS listener verifies client certificates against these CAs.
        raise CredentialError(f"--cert {cert} needs at least one --ca for client certificates")
    try:
        from lwm2m.transport.dtls_common import CertificateCredentials, server_configuration
    except ImportError:
        raise CredentialError("--cert needs DTLS (python-mbedtls is not installed)") from None
    own, *chain = _read_der(cert, "--cert", _is_certificate)
    keys = _read_der(key, "--key", _is_private_key)
    if len(keys) != 1:
        raise CredentialError(f"--key {key}: {len(keys)} private keys, expected one")
    trusted = [der for ca in cas for der in _read_der(ca, "--ca", _is_certificate)]
    credentials = CertificateCredentials(own, keys[0], tuple(trusted), tuple(chain))
    try:  # what Mbed TLS makes of them, before any socket is opened
        server_configuration(None, credentials, None, 1.0, 60.0)
    except ValueError as exc:
        files = f"--cert {cert}, --key {key}, --ca {', '.join(cas)}"
        raise CredentialError(f"{files}: {exc}") from None
    return credentials


def seed_store(store: BootstrapStore, config: BootstrapConfig) -> list[str]:
    """Apply the endpoints of a configuration file to ``store``; the names applied.

    An endpoint's ``bootstrap_psk`` becomes its security info in the store (what
    the DTLS listener and ``/api/security/clients`` use). Raises :class:`StoreError`.
    """
    applied = []
    for name, endpoint in config.endpoints.items():
        psk = endpoint.bootstrap_psk
        info = None
        if psk is not None:
            try:
                identity = psk.identity.decode("utf-8")
            except UnicodeDecodeError:
                raise StoreError(
                    f"endpoint {name!r}: bootstrap PSK identity is not UTF-8"
                ) from None
            info = SecurityInfo.psk(name, identity, psk.key)
        if store.seed(name, dataclasses.replace(endpoint, bootstrap_psk=None), info):
            applied.append(name)
    return applied


async def serve(
    config: BootstrapConfig | None,
    host: str,
    coap_port: int | None,
    coaps_port: int | None,
    *,
    out: TextIO = sys.stdout,
    stop: asyncio.Event | None = None,
    certificate: CertificateCredentials | None = None,
    store: BootstrapStore | None = None,
    http_port: int | None = None,
    http: HttpOptions | None = None,
) -> None:
    """Run the server until ``stop`` is set (or forever), printing events to ``out``.

    ``config``'s endpoints are seeded into ``store`` (memory when None; closed at
    the end only then); its default and unknown-endpoint answer stay with the
    server. ``certificate`` lets the DTLS listener accept certificate clients as
    well; ``http_port`` serves the REST API as ``http`` says (loopback without a
    token by default).
    """
    own_store = store is None
    store = MemoryBootstrapStore() if store is None else store
    runner = None
    try:
        fallback = BootstrapConfig()
        if config is not None:
            seed_store(store, config)
            fallback.default = config.default
            fallback.unknown_endpoint_code = config.unknown_endpoint_code
        server = BootstrapServer(fallback, store=store)
        server.on_event(lambda ev: print(format_event(ev), file=out, flush=True))
        _place_on_cluster(server, store, out)
        try:
            await _start_listeners(server, host, coap_port, coaps_port, certificate, out)
            for scheme, address in server.listening:
                print(f"listening on {scheme}://{_addr(address)}", file=out, flush=True)
            if http_port is not None:
                runner, scheme = await _start_http(server, store, http, http_port, certificate)
                for address in runner.addresses:
                    print(f"listening on {scheme}://{_addr(address)}", file=out, flush=True)
            await (stop or asyncio.Event()).wait()
        finally:
            if runner is not None:
                await runner.cleanup()
            await server.close()
    finally:
        if own_store:
            store.close()


def _place_on_cluster(server: BootstrapServer, store: BootstrapStore, out: TextIO) -> None:
    """A Redis store is shared with a server cluster: hand out its live nodes."""
    from lwm2m.server.store.bootstrap_redis import RedisBootstrapStore

    if not isinstance(store, RedisBootstrapStore):
        return
    from lwm2m.server.cluster.placement import cluster_placement

    def placed(endpoint: str, node: Any, config: Any) -> None:
        if node is None:
            print(f"PLACED {endpoint} nowhere: no live server node", file=out, flush=True)
            return
        uris = " ".join(sec.uri for sec in config.security if not sec.bootstrap)
        print(f"PLACED {endpoint} on {node.node_id} {uris}", file=out, flush=True)

    server.placement = cluster_placement(store, on_placed=placed)


async def _start_listeners(
    server: BootstrapServer,
    host: str,
    coap_port: int | None,
    coaps_port: int | None,
    certificate: CertificateCredentials | None,
    out: TextIO,
) -> None:
    await server.start(host, coap_port, None)
    if coaps_port is not None:
        try:
            await server.start(host, None, coaps_port, coaps_certificate=certificate)
        except ImportError:
            print("DTLS unavailable (python-mbedtls is not installed)", file=out, flush=True)


async def _start_http(
    server: BootstrapServer,
    store: BootstrapStore,
    http: HttpOptions | None,
    http_port: int,
    certificate: CertificateCredentials | None,
) -> tuple[Any, str]:
    from aiohttp import web

    from lwm2m.server.rest import security
    from lwm2m.server.rest.auth import AuthConfig
    from lwm2m.server.rest.bootstrap import create_bootstrap_app

    if http is None:
        http = HttpOptions("127.0.0.1", AuthConfig(), None)
    own = certificate.certificate if certificate is not None else None
    app = create_bootstrap_app(
        store,
        server=server,
        server_info=lambda: security.server_security_json(certificate=own),
        access=http.access,
    )
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, http.host, http_port, ssl_context=http.ssl).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, http.scheme


async def _serve_until_signal(
    args: argparse.Namespace,
    config: BootstrapConfig | None,
    certificate: CertificateCredentials | None,
    store: BootstrapStore | None,
    http: HttpOptions | None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    coaps = None if args.no_dtls else args.coaps_port
    await serve(
        config,
        args.host,
        args.coap_port,
        coaps,
        stop=stop,
        certificate=certificate,
        store=store,
        http_port=args.http_port,
        http=http,
    )


def _http(args: argparse.Namespace) -> HttpOptions | None:
    """The REST API's listener settings; ValueError when they cannot be used."""
    if args.http_port is None:
        given = [
            flag
            for flag, value in (
                ("--api-token", args.api_token),
                ("--cors-origin", args.cors_origin),
                ("--http-cert", args.http_cert),
            )
            if value is not None
        ]
        if given:
            verb = "needs" if len(given) == 1 else "need"
            raise ValueError(f"{' and '.join(given)} {verb} --http-port")
        return None
    return http_options(args)


def run(args: argparse.Namespace) -> int:
    if args.config is None and args.db is None and args.store is None and args.http_port is None:
        print(
            f"{PROG}: error: nothing to serve: give --config FILE, --db PATH, --store URL "
            "or --http-port PORT",
            file=sys.stderr,
        )
        return 2
    if args.db is not None and args.store is not None:
        print(f"{PROG}: error: --db and --store are two stores: give one", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config) if args.config is not None else None
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        certificate = load_certificate_credentials(args.cert, args.key, args.ca)
        if certificate is not None and args.no_dtls:
            raise CredentialError("--cert is for the DTLS listener, not usable with --no-dtls")
        http = _http(args)
    except (CredentialError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    store: BootstrapStore | None = None
    try:
        if args.db is not None:
            store = SqliteBootstrapStore(args.db)
        elif args.store is not None:
            from lwm2m.server.store.bootstrap_redis import RedisBootstrapStore

            store = RedisBootstrapStore(args.store)
        asyncio.run(_serve_until_signal(args, config, certificate, store, http))
    except ImportError as exc:
        print(f"{PROG}: error: {exc} (install lwm2m[server])", file=sys.stderr)
        return 1
    except (OSError, StoreError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        if store is not None:
            store.close()
    return 0

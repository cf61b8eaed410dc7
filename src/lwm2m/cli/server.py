"""``lwm2m server``: an LwM2M server with its REST API.

Listens for clients on UDP (``--coap-port``, default 5683) and DTLS-PSK
(``--coaps-port``, default 5684), and serves the REST API of
:mod:`lwm2m.server.rest` on ``--http-port`` (default 8080) of ``--http-host``
(default 127.0.0.1: binding the API elsewhere needs ``--api-token`` or
``$LWM2M_API_TOKEN``, see :mod:`lwm2m.cli._http`); port 0 picks a free port. The
CoAP listeners bind ``--host`` (default 0.0.0.0), because devices must reach them.
Every ``--psk ENDPOINT=IDENTITY:HEXKEY`` binds a PSK identity to one endpoint:
that endpoint must register over DTLS with that identity, and the identity
cannot register another endpoint (4.03). With ``--db`` registrations,
observations and PSKs live in a SQLite file and survive a restart. With ``--store
redis://HOST:PORT/DB --node-id NAME`` they live in Redis, shared with the other
server nodes of a cluster (:mod:`lwm2m.server.cluster`): any node serves any
device; ``--advertise-host`` is the host the bootstrap server hands out for this
node (default: ``--host``, or this machine's name when that is a wildcard). ``--models
DIR`` loads every OMA DDF XML file (``*.xml``) of DIR beside the built-in
definitions, so that vendor objects decode with their real types; a missing
DIR, a file that is not a valid DDF document or two files defining the same
object id and version are invalid flags.

On startup one line per listener tells where it is bound::

    coap listening on 127.0.0.1:5683
    coaps listening on 127.0.0.1:5684
    http listening on 127.0.0.1:8080

then one line per registration event until Ctrl-C or SIGTERM (exit 0). Invalid
flags exit with status 2, a listener or database that cannot be opened with 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from lwm2m.cli._args import port
from lwm2m.cli._http import HttpOptions, add_http_arguments, http_options
from lwm2m.model.registry import Registry, default_registry
from lwm2m.server import (
    Deregistered,
    Expired,
    IdentityBinding,
    MemoryStore,
    Registered,
    SecurityInfo,
    SecurityMode,
    SendReceived,
    Server,
    ServerEvent,
    ServerStore,
    SqliteStore,
    StoreError,
    Updated,
)
from lwm2m.transport.base import Address, DatagramTransport
from lwm2m.transport.mixed import UdpAndDtlsTransport, identity_text
from lwm2m.transport.udp import UdpTransport

if TYPE_CHECKING:
    pass

__all__ = ["PskEntry", "ServerOptions", "add_parser", "format_event", "parse_psk", "run", "serve"]

PROG = "lwm2m server"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PskEntry:
    """One ``--psk ENDPOINT=IDENTITY:HEXKEY``."""

    endpoint: str
    identity: str
    key: bytes


@dataclass(frozen=True, slots=True)
class ServerOptions:
    host: str = "0.0.0.0"
    coap_port: int = 5683
    coaps_port: int | None = 5684
    http_port: int = 8080
    psk: tuple[PskEntry, ...] = ()
    db: str | None = None
    #: Object definitions the server uses (None: the built-in ones).
    registry: Registry | None = None
    #: The REST API's listener (None: 127.0.0.1 without a token, plain HTTP).
    http: HttpOptions | None = None
    #: A shared store (``redis://HOST:PORT/DB``) and this node's name in the cluster.
    store_url: str | None = None
    node_id: str | None = None
    advertise_host: str | None = None


def parse_psk(text: str) -> PskEntry:
    """Parse ``ENDPOINT=IDENTITY:HEXKEY`` (the identity may itself hold ``:``)."""
    endpoint, eq, rest = text.partition("=")
    identity, colon, hex_key = rest.rpartition(":")
    if not eq or not colon or not endpoint or not identity:
        raise argparse.ArgumentTypeError(f"expected ENDPOINT=IDENTITY:HEXKEY, got {text!r}")
    try:
        key = bytes.fromhex(hex_key)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"PSK key of {endpoint!r} is not hex: {hex_key!r}"
        ) from None
    if not key:
        raise argparse.ArgumentTypeError(f"PSK key of {endpoint!r} is empty")
    return PskEntry(endpoint, identity, key)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "server",
        help="run an LwM2M server with its REST API",
        description="Run an LwM2M server (UDP and DTLS-PSK) with a Leshan-compatible REST API.",
    )
    p.add_argument(
        "--host", default="0.0.0.0", help="address of the CoAP listeners (default 0.0.0.0)"
    )
    p.add_argument("--coap-port", type=port, default=5683, help="UDP port (0: any free port)")
    p.add_argument("--coaps-port", type=port, default=5684, help="DTLS port (0: any free port)")
    p.add_argument("--http-port", type=port, default=8080, help="REST API port (0: any free)")
    add_http_arguments(p)
    p.add_argument(
        "--psk",
        type=parse_psk,
        action="append",
        default=[],
        metavar="ENDPOINT=IDENTITY:HEXKEY",
        help="a DTLS PSK bound to one endpoint (repeatable)",
    )
    p.add_argument("--db", metavar="PATH", help="SQLite file for registrations and PSKs")
    p.add_argument(
        "--store",
        metavar="URL",
        help="shared store of a cluster: redis://HOST:PORT/DB (needs --node-id)",
    )
    p.add_argument("--node-id", metavar="NAME", help="this node's name in the cluster")
    p.add_argument(
        "--advertise-host",
        metavar="HOST",
        help="the host devices reach this node at (what the bootstrap server hands out)",
    )
    p.add_argument("--models", metavar="DIR", help="load the object definitions (DDF XML) of DIR")
    p.add_argument("--no-dtls", action="store_true", help="do not open the DTLS listener")
    p.set_defaults(func=run)


def _addr(address: Address) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_event(event: ServerEvent) -> str | None:
    """One console line for a registration event or a Send; None for notifications."""
    if isinstance(event, Registered | Updated | Deregistered | Expired):
        reg = event.registration
        name = {
            Registered: "REGISTRATION",
            Updated: "UPDATED",
            Deregistered: "DEREGISTRATION",
            Expired: "EXPIRED",
        }[type(event)]
        secure = " (DTLS)" if reg.identity is not None else ""
        return f"{name} {reg.endpoint} from {_addr(reg.address)}{secure} id={reg.id}"
    if isinstance(event, SendReceived):
        return f"SEND {event.endpoint}: {len(event.records)} value(s)"
    return None


def _psk_lookup(store: ServerStore) -> Callable[[bytes], bytes | None]:
    """The DTLS listener's PSK store: identity -> key, read from the server store."""

    def lookup(identity: bytes) -> bytes | None:
        try:
            info = store.get_security_by_identity(identity.decode("utf-8"))
        except (UnicodeDecodeError, StoreError):
            return None
        if info is None or info.mode is not SecurityMode.PSK:
            return None
        return info.psk_key

    return lookup


def _binding(store: ServerStore) -> Callable[[str, str | None], bool]:
    """4.03 for an identity registering another endpoint, or a secured endpoint without it.

    A PSK endpoint must register over DTLS with its identity. An endpoint whose
    credential is a certificate or a raw public key cannot prove it here (this
    listener takes PSKs only), so it is refused rather than let in unsecured.
    """

    def endpoint_of(identity: str) -> str | None:
        info = store.get_security_by_identity(identity)
        return None if info is None else info.endpoint

    def identity_of(endpoint: str) -> str | None:
        info = store.get_security(endpoint)
        return info.psk_identity if info is not None else None

    psk_binding = IdentityBinding(endpoint_of, identity_of)

    def authorize(endpoint: str, identity: str | None) -> bool:
        info = store.get_security(endpoint)
        if info is not None and info.mode is not SecurityMode.PSK:
            log.warning(
                "%r has %s credentials, which this server's DTLS listener cannot check: "
                "registration refused",
                endpoint,
                info.mode.value,
            )
            return False
        return psk_binding(endpoint, identity)

    return authorize


def _print_event(out: TextIO) -> Callable[[ServerEvent], None]:
    def on_event(event: ServerEvent) -> None:
        line = format_event(event)
        if line is not None:
            print(line, file=out, flush=True)

    return on_event


async def _transport(options: ServerOptions, store: ServerStore, out: TextIO) -> DatagramTransport:
    udp = await UdpTransport.create(options.host, options.coap_port)
    print(f"coap listening on {_addr(udp.local_address)}", file=out, flush=True)
    if options.coaps_port is None:
        return udp
    try:
        from lwm2m.transport.dtls import DtlsServerTransport
    except ImportError:
        print("DTLS unavailable (python-mbedtls is not installed)", file=out, flush=True)
        return udp
    try:
        dtls = await DtlsServerTransport.create(
            options.host, options.coaps_port, psk_store=_psk_lookup(store)
        )
    except BaseException:
        udp.close()
        raise
    print(f"coaps listening on {_addr(dtls.local_address)}", file=out, flush=True)
    return UdpAndDtlsTransport(udp, dtls)


async def serve(
    options: ServerOptions, *, out: TextIO = sys.stdout, stop: asyncio.Event | None = None
) -> None:
    """Run the server and its REST API until ``stop`` is set (or forever)."""
    from aiohttp import web

    from lwm2m.server.rest import create_app
    from lwm2m.server.rest.auth import AuthConfig

    store: ServerStore
    if options.store_url is not None:
        from lwm2m.server.store.redis import RedisStore

        assert options.node_id is not None
        store = RedisStore(options.store_url, node_id=options.node_id)
    else:
        store = SqliteStore(options.db) if options.db else MemoryStore()
    try:
        for entry in options.psk:
            store.put_security(SecurityInfo.psk(entry.endpoint, entry.identity, entry.key))
        transport = await _transport(options, store, out)
        server = Server(
            store=store,
            transport=transport,
            identity_of=lambda remote: identity_text(transport.peer_identity(remote)),
            authorize=_binding(store),
            registry=options.registry,
        )
        server.on_event(_print_event(out))
        if options.store_url is not None:
            from lwm2m.server.cluster.node import ClusterNode

            ClusterNode(server, advertise_host=options.advertise_host)
        await server.start()
        node = server.cluster
        if node is not None:
            print(
                f"cluster node {node.node_id} joined {node.store.url} "
                f"({len(node.live_nodes())} node(s) live) as {' '.join(node.uris)}",
                file=out,
                flush=True,
            )
        http = options.http or HttpOptions("127.0.0.1", AuthConfig(), None)
        runner = web.AppRunner(create_app(server, access=http.access))
        try:
            await runner.setup()
            site = web.TCPSite(runner, http.host, options.http_port, ssl_context=http.ssl)
            await site.start()
            for address in runner.addresses:
                print(f"{http.scheme} listening on {_addr(address)}", file=out, flush=True)
            await (stop or asyncio.Event()).wait()
        finally:
            await runner.cleanup()
            await server.stop()
    finally:
        store.close()


async def _serve_until_signal(options: ServerOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await serve(options, stop=stop)


def _options(args: argparse.Namespace) -> ServerOptions:
    """Check the flags that argparse cannot check one by one."""
    entries: tuple[PskEntry, ...] = tuple(args.psk)
    for attr, what in (("endpoint", "endpoint"), ("identity", "PSK identity")):
        seen: set[str] = set()
        for entry in entries:
            value = getattr(entry, attr)
            if value in seen:
                raise ValueError(f"--psk: {what} {value!r} given twice")
            seen.add(value)
    if args.store is not None:
        from lwm2m.server.store.redis_link import check_redis_url

        if args.db is not None:
            raise ValueError("--db and --store are two stores: give one")
        try:
            check_redis_url(args.store)
        except StoreError as exc:
            raise ValueError(f"--store: {exc}") from None
        if not args.node_id:
            raise ValueError("--store needs --node-id NAME (a name unique in the cluster)")
    elif args.node_id is not None or args.advertise_host is not None:
        raise ValueError("--node-id and --advertise-host are for a cluster: give --store too")
    coaps = None if args.no_dtls else args.coaps_port
    if coaps and coaps == args.coap_port:
        raise ValueError(f"--coap-port and --coaps-port are both {coaps}")
    registry = None
    if args.models is not None:
        registry = default_registry().copy()
        loaded = registry.load_directory(args.models)  # DefinitionLoadError is a ValueError
        log.info("%d object definition(s) loaded from %s", len(loaded), args.models)
    return ServerOptions(
        args.host,
        args.coap_port,
        coaps,
        args.http_port,
        entries,
        args.db,
        registry=registry,
        http=http_options(args),
        store_url=args.store,
        node_id=args.node_id,
        advertise_host=args.advertise_host,
    )


def run(args: argparse.Namespace) -> int:
    try:
        options = _options(args)
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve_until_signal(options))
    except ImportError as exc:
        print(f"{PROG}: error: {exc} (install lwm2m[server])", file=sys.stderr)
        return 1
    except (OSError, StoreError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0

"""``lwm2m bootstrap-server``: run a Bootstrap-Server from a JSON or TOML configuration.

Listens on UDP (``--coap-port``, default 5783) and, when python-mbedtls is
installed, on DTLS-PSK (``--coaps-port``, default 5784) with the endpoints'
``bootstrap_psk`` credentials; prints one line per event until Ctrl-C. A
configuration that does not load exits with status 2 and names the field.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any, TextIO

from lwm2m.cli._args import port
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
from lwm2m.transport.base import Address

PROG = "lwm2m bootstrap-server"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bootstrap-server",
        help="run an LwM2M bootstrap server",
        description="Run an LwM2M Bootstrap-Server; the configuration is a JSON or TOML file.",
    )
    p.add_argument("--config", required=True, metavar="FILE", help="configuration (.json/.toml)")
    p.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    p.add_argument("--coap-port", type=port, default=DEFAULT_COAP_PORT, help="UDP port")
    p.add_argument("--coaps-port", type=port, default=DEFAULT_COAPS_PORT, help="DTLS port")
    p.add_argument("--no-dtls", action="store_true", help="do not open the DTLS listener")
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


async def serve(
    config: BootstrapConfig,
    host: str,
    coap_port: int | None,
    coaps_port: int | None,
    *,
    out: TextIO = sys.stdout,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the server until ``stop`` is set (or forever), printing events to ``out``."""
    server = BootstrapServer(config)
    server.on_event(lambda ev: print(format_event(ev), file=out, flush=True))
    try:
        await server.start(host, coap_port, None)
        if coaps_port is not None:
            try:
                await server.start(host, None, coaps_port)
            except ImportError:
                print("DTLS unavailable (python-mbedtls is not installed)", file=out, flush=True)
        for scheme, address in server.listening:
            print(f"listening on {scheme}://{_addr(address)}", file=out, flush=True)
        await (stop or asyncio.Event()).wait()
    finally:
        await server.close()


async def _serve_until_signal(args: argparse.Namespace, config: BootstrapConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    coaps = None if args.no_dtls else args.coaps_port
    await serve(config, args.host, args.coap_port, coaps, stop=stop)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve_until_signal(args, config))
    except OSError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0

"""``lwm2m client``: run the sample client against a server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from lwm2m.cli._args import hex_key
from lwm2m.client.events import Event
from lwm2m.errors import DecodeError
from lwm2m.sample import build_sample_client


def _lifetime(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"lifetime must be an integer, got {text!r}") from None
    if not 1 <= value <= 2**32 - 1:
        raise argparse.ArgumentTypeError(f"lifetime {value} out of range 1..4294967295")
    return value


def _server_uri(text: str) -> str:
    if not text.startswith(("coap://", "coaps://")):
        raise argparse.ArgumentTypeError(f"server must be a coap:// or coaps:// URI, got {text!r}")
    return text


def add_parser(sub: Any) -> None:
    p = sub.add_parser("client", help="run the sample LwM2M client")
    p.add_argument("--server", required=True, type=_server_uri, help="coap[s]://HOST:PORT")
    p.add_argument("--endpoint", default="lwm2m-python-sample", help="endpoint name")
    p.add_argument("--lifetime", type=_lifetime, default=300, help="registration lifetime (s)")
    p.add_argument("--psk-identity", help="PSK identity (coaps://)")
    p.add_argument("--psk-key", type=hex_key, help="PSK key in hex (coaps://)")
    p.add_argument(
        "--bootstrap", action="store_true", help="--server is a bootstrap server: bootstrap first"
    )
    p.add_argument("--queue-mode", action="store_true", help="register in queue mode")
    p.add_argument("--lwm2m-version", choices=("1.0", "1.1", "1.2"), default="1.1")
    p.add_argument("--objects", metavar="DIR", help="load extra object definitions (DDF XML)")
    p.add_argument("--firmware-dir", metavar="DIR", help="where firmware images are written")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.server.startswith("coaps://") and not (args.psk_identity and args.psk_key):
        print("error: coaps:// needs --psk-identity and --psk-key", file=sys.stderr)
        return 2
    if bool(args.psk_identity) != bool(args.psk_key):
        print("error: --psk-identity and --psk-key go together", file=sys.stderr)
        return 2
    try:
        sample = build_sample_client(
            endpoint=args.endpoint,
            server_uri=args.server,
            lifetime=args.lifetime,
            bootstrap=args.bootstrap,
            psk_identity=args.psk_identity,
            psk_key=args.psk_key,
            queue_mode=args.queue_mode,
            lwm2m_version=args.lwm2m_version,
            objects_dir=args.objects,
            firmware_dir=args.firmware_dir,
        )
    except (OSError, DecodeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_main(sample))


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
    sample.start_drift()
    print(f"client {client.endpoint_name} started; Ctrl-C de-registers and exits", flush=True)
    await stop.wait()
    await sample.stop_drift()
    await client.stop(deregister=True)
    print("stopped", flush=True)
    return 0

"""``lwm2m fleet``: N simulated devices against an LwM2M server, with live metrics and a report.

Every device is a real client with its own socket and the sample objects
(Device, Connectivity Monitoring, Firmware Update, a drifting Temperature),
named from ``--name-template`` (``sim-{i:06d}``). ``--workers W`` spreads them
over W processes (default: one per 10,000 devices), each with the file
descriptor limit raised to the hard limit. ``--scenario FILE`` (TOML, see
:mod:`lwm2m.fleet.scenario`) adds the ramp-up rate, lifetimes and queue mode per
share of the fleet, sensor changes, Send, reboots, time offline, NAT
rebinding, a power cut and a firmware campaign.

A progress line shows registered/target devices, requests per second, errors
and the Register latency; ``--metrics-port`` serves Prometheus metrics on
127.0.0.1. At the end (``--duration`` after the ramp-up, or Ctrl-C/SIGTERM)
the devices de-register, ``--report`` gets the JSON summary, ``--plot`` the
plots (PNG, or a self-contained HTML page), and the last line is::

    RESULT devices=N registered=N failed=N rss_per_device_kb=X reg_p99_ms=Y

Exit status: 0 after a run, 130 after a run ended by Ctrl-C or SIGTERM, 2 for
bad options or a bad scenario (the key and the reason are named), 1 when the
fleet could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from lwm2m.cli._args import port

PROG = "lwm2m fleet"
INTERRUPTED = 130


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def _rate(text: str) -> float:
    """``200``, ``200/s`` or ``0`` (all at once)."""
    number = text[:-2] if text.endswith("/s") else text
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected devices per second, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a rate >= 0, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def _server_uri(text: str) -> str:
    if not text.startswith(("coap://", "coaps://")):
        raise argparse.ArgumentTypeError(f"expected coap://HOST:PORT or coaps://..., got {text!r}")
    return text


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "fleet",
        help="run N simulated devices against a server",
        description="Run N simulated LwM2M devices (real clients, one socket each) against a "
        "server, with a scenario, live progress, Prometheus metrics and a report.",
    )
    p.add_argument("--server", required=True, type=_server_uri, help="coap[s]://HOST:PORT")
    p.add_argument("--count", "-n", required=True, type=_positive_int, help="number of devices")
    p.add_argument(
        "--bootstrap", action="store_true", help="--server is a bootstrap server: bootstrap first"
    )
    p.add_argument("--psk-prefix", metavar="P", help="PSK identity of a device: P + its name")
    p.add_argument("--psk-key-file", metavar="F", help="file holding the devices' PSK key in hex")
    p.add_argument(
        "--rate", type=_rate, metavar="R/s", help="devices started per second (0: all at once)"
    )
    p.add_argument(
        "--duration", type=_seconds, metavar="S", help="seconds to run after the ramp-up"
    )
    p.add_argument(
        "--workers", type=_positive_int, metavar="W", help="worker processes (default N/10000)"
    )
    p.add_argument("--scenario", metavar="FILE", help="scenario (TOML)")
    p.add_argument("--report", metavar="FILE.json", help="write the JSON summary here")
    p.add_argument("--plot", metavar="FILE", help="write the plots here (.png or .html)")
    p.add_argument("--metrics-port", type=port, metavar="PORT", help="serve Prometheus metrics")
    p.add_argument(
        "--name-template",
        default="sim-{i:06d}",
        metavar="T",
        help="endpoint names, formatted with the index i (default sim-{i:06d})",
    )
    p.add_argument(
        "--source-address",
        default="auto",
        metavar="HOST",
        help="local address of the devices' sockets (default auto: spread over 127.0.0.x "
        "when a loopback server gets more devices than one address has ports)",
    )
    p.add_argument(
        "--stop-timeout",
        type=_seconds,
        default=30.0,
        metavar="S",
        help="seconds the devices have to de-register at the end (default 30)",
    )
    p.add_argument("--lwm2m-version", choices=("1.0", "1.1", "1.2"), default="1.1")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> Any:
    from lwm2m.fleet import FleetConfig, Scenario, load_scenario

    scenario = load_scenario(args.scenario) if args.scenario else Scenario()
    key: bytes | None = None
    if args.psk_key_file is not None:
        try:
            text = Path(args.psk_key_file).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"--psk-key-file: cannot read {args.psk_key_file}: {exc}") from None
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise ValueError(
                f"--psk-key-file: {args.psk_key_file} does not hold a hex key"
            ) from None
        if not key:
            raise ValueError(f"--psk-key-file: {args.psk_key_file} is empty")
    for option, path, suffixes in (
        ("--report", args.report, (".json",)),
        ("--plot", args.plot, (".png", ".html", ".htm")),
    ):
        if path is not None and Path(path).suffix.lower() not in suffixes:
            raise ValueError(f"{option}: {path} should end in {' or '.join(suffixes)}")
    level = logging.getLogger().getEffectiveLevel()
    return FleetConfig(
        server=args.server,
        count=args.count,
        bootstrap=args.bootstrap,
        psk_prefix=args.psk_prefix,
        psk_key=key,
        rate=args.rate,
        duration=args.duration,
        workers=args.workers,
        scenario=scenario,
        name_template=args.name_template,
        report=args.report,
        plot=args.plot,
        metrics_port=args.metrics_port,
        source_host=None if args.source_address in ("", "none") else args.source_address,
        stop_timeout=args.stop_timeout,
        lwm2m_version=args.lwm2m_version,
        log_level=level,
    )


def run(args: argparse.Namespace) -> int:
    from lwm2m.fleet import Fleet, ScenarioError

    try:
        config = _config(args)
        fleet = Fleet(config)
    except ScenarioError as exc:
        print(f"{PROG}: error: scenario {args.scenario}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_main(fleet))
    except ImportError as exc:
        print(f"{PROG}: error: {exc} (install lwm2m[fleet])", file=sys.stderr)
        return 1
    except (OSError, RuntimeError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


async def _main(fleet: Any) -> int:
    interrupted = False
    loop = asyncio.get_running_loop()

    def stop() -> None:
        nonlocal interrupted
        interrupted = True
        fleet.request_stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop)
    await fleet.run()
    return INTERRUPTED if interrupted else 0

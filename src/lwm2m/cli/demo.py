"""``lwm2m demo``: the end-to-end walk-through on loopback (filled in below)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo on loopback")
    p.add_argument("--dtls", action="store_true", help="run the same over DTLS-PSK")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from lwm2m.demo import main

    return main(dtls=args.dtls)

"""The ``lwm2m`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import lwm2m


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lwm2m", description="OMA Lightweight M2M stack: client, server and tools."
    )
    parser.add_argument("--version", action="version", version=f"lwm2m {lwm2m.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="run the end-to-end demo on loopback")
    demo.set_defaults(func=_run_demo)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from lwm2m.cli.demo import run_demo

    return run_demo(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    result: int = func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())

"""The ``lwm2m`` command line.

Each sub-command lives in its own module under :mod:`lwm2m.cli` and exposes
``add_parser(subparsers)``, which adds its parser and sets ``func`` (a
callable taking the parsed arguments and returning the exit status).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

import lwm2m

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES = ("client", "server", "bootstrap_server", "demo", "fleet")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lwm2m", description="OMA Lightweight M2M stack: client, server and tools."
    )
    parser.add_argument("--version", action="version", version=f"lwm2m {lwm2m.__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"lwm2m.cli.{name}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result: int = func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())

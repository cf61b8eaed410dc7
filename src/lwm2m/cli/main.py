"""The ``lwm2m`` command line.

Each sub-command lives in its own module under :mod:`lwm2m.cli` and exposes
``add_parser(subparsers)``, which adds its parser and sets ``func`` (a
callable taking the parsed arguments and returning the exit status).

``-v``/``-q`` raise and lower the log level, ``--log-format json`` writes one
JSON object per log line. A sub-command that needs an optional dependency
the installation lacks (``pip install lwm2m`` has no extras) says which extra
to install, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import lwm2m

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES = ("client", "server", "bootstrap_server", "demo", "fleet")

#: Optional dependency (top-level module) -> the extra that installs it.
EXTRAS = {
    "mbedtls": "dtls",
    "aiohttp": "http",
    "redis": "redis",
    "prometheus_client": "fleet",
    "matplotlib": "fleet",
}
#: Commands whose HTTP side is their REST API: aiohttp comes with the "server" extra.
_HTTP_SERVERS = ("server", "bootstrap_server", "bootstrap-server")


def missing_extra(exc: ModuleNotFoundError, command: str) -> str | None:
    """The message for a missing optional dependency, None for any other import error."""
    root = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(root)
    if extra is None:
        return None
    if root == "aiohttp" and command in _HTTP_SERVERS:
        extra = "server"
    elif root == "aiohttp" and command == "fleet":
        extra = "fleet"
    name = command.replace("_", "-")
    return f"lwm2m {name} needs the '{extra}' extra: pip install 'lwm2m[{extra}]'"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _unavailable(message: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 1

    return run


def version() -> str:
    """The installed distribution's version, else the package's own ``__version__``."""
    try:
        return importlib.metadata.version("lwm2m")
    except importlib.metadata.PackageNotFoundError:
        return lwm2m.__version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lwm2m", description="OMA Lightweight M2M stack: client, server and tools."
    )
    parser.add_argument("--version", action="version", version=f"lwm2m {version()}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
    )
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less logging")
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log line format"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"lwm2m.cli.{name}")
        except ModuleNotFoundError as exc:
            message = missing_extra(exc, name)
            if message is None:
                raise
            stub = sub.add_parser(name.replace("_", "-"), help=f"(unavailable: {message})")
            stub.set_defaults(func=_unavailable(message), unavailable=True)
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "unavailable", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    verbosity = min(int(args.verbose or 0), 2) - min(int(getattr(args, "quiet", 0) or 0), 2)
    handler = logging.StreamHandler()
    if getattr(args, "log_format", "text") == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING - 10 * verbosity, handlers=[handler])
    try:
        result: int = func(args)
    except ModuleNotFoundError as exc:
        message = missing_extra(exc, str(getattr(args, "command", "") or ""))
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())

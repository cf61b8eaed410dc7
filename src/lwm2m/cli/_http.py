"""The HTTP listener flags that ``lwm2m server`` and ``lwm2m bootstrap-server`` share.

``--http-host`` (default 127.0.0.1), ``--api-token`` (or ``$LWM2M_API_TOKEN``),
``--cors-origin`` and ``--http-cert``/``--http-key`` for HTTPS. :func:`http_access`
checks them together: a listener beyond loopback without a token is refused with
the reason, as is a certificate without its key.
"""

from __future__ import annotations

import argparse
import os
import ssl
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lwm2m.server.rest.auth import AuthConfig

__all__ = ["HttpOptions", "add_http_arguments", "http_options"]

TOKEN_VARIABLE = "LWM2M_API_TOKEN"


class HttpOptions:
    """What the HTTP listener needs: where, who may use it, and TLS."""

    __slots__ = ("access", "host", "ssl")

    def __init__(self, host: str, access: AuthConfig, ssl_context: ssl.SSLContext | None) -> None:
        self.host = host
        self.access = access
        self.ssl = ssl_context

    @property
    def scheme(self) -> str:
        return "https" if self.ssl is not None else "http"


def add_http_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--http-host",
        default="127.0.0.1",
        help="address of the REST API (default 127.0.0.1; another needs --api-token)",
    )
    parser.add_argument(
        "--api-token",
        metavar="TOKEN",
        help=f"bearer token the REST API requires (default: ${TOKEN_VARIABLE}, else none)",
    )
    parser.add_argument(
        "--cors-origin", metavar="ORIGIN", help="the one web origin allowed cross-site (CORS)"
    )
    parser.add_argument("--http-cert", metavar="FILE", help="PEM certificate: serve HTTPS")
    parser.add_argument("--http-key", metavar="FILE", help="PEM private key of --http-cert")


def http_options(args: argparse.Namespace) -> HttpOptions:
    """The HTTP listener's settings from the flags; ValueError says what is wrong."""
    from lwm2m.server.rest.auth import AuthConfig, check_binding

    token = args.api_token if args.api_token is not None else os.environ.get(TOKEN_VARIABLE)
    access = AuthConfig(token=token or None, cors_origin=args.cors_origin)
    check_binding(args.http_host, access)
    if (args.http_cert is None) != (args.http_key is None):
        raise ValueError("--http-cert and --http-key go together")
    context = None
    if args.http_cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(args.http_cert, args.http_key)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"--http-cert {args.http_cert} / --http-key {args.http_key}: {exc}"
            ) from None
    return HttpOptions(args.http_host, access, context)

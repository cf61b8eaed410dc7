"""Package URI pull (5/0/1): the downloader interface, URI checks and the HTTP(S) downloader.

A :class:`Downloader` fetches a URI into a :class:`PackageSink` chunk by
chunk, so an image is never held in memory as a whole. It raises
:class:`~lwm2m.objects.firmware_errors.FirmwareError` subclasses for the
failures the Update Result distinguishes. CoAP(S) downloads plug in through
the same protocol (block-wise GET through the client's CoAP endpoint).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl as ssl_module
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import urlsplit

from lwm2m.objects.firmware_errors import ConnectionLost, InvalidUri
from lwm2m.objects.firmware_state import Result

#: Firmware Update Protocol Support (5/0/8) value of each URI scheme.
PROTOCOL_SUPPORT: dict[str, int] = {
    "coap": 0,
    "coaps": 1,
    "http": 2,
    "https": 3,
    "coap+tcp": 4,
    "coaps+tcp": 5,
}


class PackageSink(Protocol):
    """Where a downloader puts the image."""

    def set_total(self, total: int | None) -> None:
        """The announced size, when the protocol tells it (progress reporting)."""

    async def write(self, chunk: bytes) -> None: ...


class Downloader(Protocol):
    """Fetches one URI into a sink; raises FirmwareError subclasses on failure."""

    async def fetch(self, uri: str, sink: PackageSink) -> None: ...


_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def valid_host(host: str) -> bool:
    """An IP address or a DNS name of letters, digits and hyphens (RFC 1123 2.1)."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:
        return True
    name = host[:-1] if host.endswith(".") else host
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


def unresolvable(exc: BaseException) -> bool:
    """Whether a connection failed because the host name does not resolve (or cannot be
    encoded for the resolver): the URI names no reachable server (Update Result 7)."""
    return isinstance(exc, socket.gaierror | UnicodeError)


def check_package_uri(uri: str, schemes: Iterable[str]) -> Result | None:
    """None when ``uri`` can be fetched; Invalid URI (7) or Unsupported protocol (9) otherwise.

    Invalid: control characters or spaces, no scheme or host, a malformed port or
    host. Whether the host resolves is found out by the download (also 7).
    """
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in uri):
        return Result.INVALID_URI
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return Result.INVALID_URI
    if not parts.scheme or not host or not valid_host(host):
        return Result.INVALID_URI
    if parts.scheme.lower() not in {s.lower() for s in schemes}:
        return Result.UNSUPPORTED_PROTOCOL
    return None


class HttpDownloader:
    """HTTP and HTTPS GET with aiohttp, streamed in ``chunk_size`` pieces.

    Status 4xx means the URI names nothing fetchable (Invalid URI, 7); any
    network failure, a 5xx or a body cut short is Connection lost (4).
    """

    schemes = ("http", "https")

    def __init__(
        self,
        *,
        chunk_size: int = 16 * 1024,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        ssl: ssl_module.SSLContext | bool = True,
    ) -> None:
        self.chunk_size = chunk_size
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.ssl = ssl

    async def fetch(self, uri: str, sink: PackageSink) -> None:
        import aiohttp

        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout
        )
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(uri, ssl=self.ssl) as resp,
            ):
                if 400 <= resp.status < 500:
                    raise InvalidUri(f"GET {uri}: HTTP {resp.status}")
                if resp.status != 200:
                    raise ConnectionLost(f"GET {uri}: HTTP {resp.status}")
                sink.set_total(resp.content_length)
                async for chunk in resp.content.iter_chunked(self.chunk_size):
                    await sink.write(chunk)
        except (aiohttp.InvalidURL, ValueError) as exc:
            raise InvalidUri(f"GET {uri}: {exc}") from exc
        except aiohttp.ClientConnectorError as exc:
            if unresolvable(exc.os_error):
                raise InvalidUri(f"GET {uri}: host not found: {exc.os_error}") from exc
            raise ConnectionLost(f"GET {uri}: {exc!r}") from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ConnectionLost(f"GET {uri}: {exc!r}") from exc

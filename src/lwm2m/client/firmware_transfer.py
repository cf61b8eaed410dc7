"""Firmware delivery over CoAP: Package push streamed from Block1, Package URI pull over coap(s).

Theory of operation
-------------------
Push (Core TS 1.1 E.6, resource 5/0/0). A server writes the image to
/5/0/0 in Block1 blocks (RFC 7959 2.3). :class:`FirmwareTransfer` installs a
Block1 stream for that path on each server connection's
:class:`~lwm2m.coap.endpoint.Endpoint`, so every block goes straight to
:meth:`FirmwareUpdate.write_package_chunk` and on into the application's sink:
the image is never held whole. A write without Block1 (a small image in one
message) still goes through the engine like any other write. When the object
ends the download early (the sink failed), the rest of the transfer is
refused; when the transfer ends early (out-of-order block, size limit, no
next block within the idle timeout, connection closed), the download fails
with Connection lost (4), or Not enough flash (2) for the size limit.

Pull (resource 5/0/1). :class:`CoapDownloader` fetches ``coap://`` and
``coaps://`` Package URIs with a block-wise GET through an endpoint of its
own, streaming each Block2 block into the sink. ``coaps://`` uses DTLS with
PSK: given explicitly, or taken from the client's server account (the one
whose server URI names the same host, else the first PSK account).
Failures map to Update Results: 4.xx Invalid URI (7), no response, a reset
or a broken transfer Connection lost (4), another scheme Unsupported
protocol (9).

Wiring::

    fw = FirmwareUpdate(client.store, updater)
    attach_firmware(client, fw)          # push on every server connection, coap(s) pull
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import unquote, urlsplit

from lwm2m.coap.blockwise import StreamAbort
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.errors import RequestError
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.errors import OperationError
from lwm2m.objects.firmware_download import PackageSink, unresolvable
from lwm2m.objects.firmware_errors import (
    ConnectionLost,
    FirmwareError,
    InvalidUri,
    NotEnoughStorage,
    UnsupportedProtocol,
)
from lwm2m.objects.firmware_state import Result
from lwm2m.objects.firmware_update import FirmwareUpdate
from lwm2m.tasks import TaskSet
from lwm2m.transport.base import Address

if TYPE_CHECKING:
    from lwm2m.client.client import Client
    from lwm2m.transport.dtls_common import PskCredentials

__all__ = [
    "CoapDownloader",
    "FirmwareTransfer",
    "PskSource",
    "attach_firmware",
    "server_account_psk",
]

log = logging.getLogger(__name__)

PskSource: TypeAlias = (
    "PskCredentials | tuple[bytes, bytes] | Callable[[str], PskCredentials | None]"
)
"""Credentials for ``coaps://``: fixed, or looked up from the Package URI."""

# Security object (0) resources used to find a server account's PSK.
_SEC_URI, _SEC_BOOTSTRAP, _SEC_MODE, _SEC_IDENTITY, _SEC_SECRET = 0, 1, 2, 3, 5
_PSK_MODE = 0
_DEFAULT_PORTS = {"coap": 5683, "coaps": 5684}


# --------------------------------------------------------------------- push
class FirmwareTransfer:
    """Streams Block1 writes of Package (5/x/0) into a :class:`FirmwareUpdate`.

    ``max_size`` bounds the image (None: no limit; beyond it 4.13 and Update
    Result 2); ``idle_timeout`` (default EXCHANGE_LIFETIME) is how long a
    transfer may wait for its next block before the download fails with
    Connection lost.
    """

    def __init__(
        self,
        fw: FirmwareUpdate,
        *,
        max_size: int | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        self.fw = fw
        self.max_size = max_size
        self.idle_timeout = idle_timeout
        self.package_path = (str(fw.object_id), str(fw.instance_id), "0")
        self._source: Address | None = None
        self._tasks = TaskSet()

    def setup_endpoint(self, endpoint: Endpoint, server: int | None = None) -> None:
        """Install the Package stream on a server connection (not the bootstrap server's)."""
        if server is None:
            return
        endpoint.add_block1_stream(
            self.package_path,
            self.on_block,
            max_size=self.max_size,
            idle_timeout=self.idle_timeout,
            on_abort=self.on_abort,
        )

    async def on_block(
        self, request: Message, remote: Address, offset: int, data: bytes, last: bool
    ) -> Message | None:
        """One Block1 block of a Package write (the endpoint's stream handler)."""
        if tuple(request.uri_path) != self.package_path:
            return Message(code=Code.NOT_FOUND)
        if request.code not in (Code.PUT, Code.POST):
            return Message(code=Code.METHOD_NOT_ALLOWED)
        fmt = request.content_format
        if fmt is not None and fmt != ContentFormat.OCTET_STREAM:
            # Package is Opaque: only a raw octet stream can be streamed.
            return Message(code=Code.UNSUPPORTED_CONTENT_FORMAT)
        fw = self.fw
        if offset == 0 and fw.pushing and remote != self._source:
            return Message(code=Code.METHOD_NOT_ALLOWED, payload=b"another package transfer")
        try:
            await fw.write_package_chunk(
                offset, data, last, total=request.size1 if offset == 0 else None
            )
        except OperationError as exc:
            return Message(code=exc.code, payload=str(exc).encode())
        self._source = remote if fw.pushing else None
        if last:
            # Core TS E.6: how the download ended shows in Update Result alone.
            return Message(code=Code.CHANGED)
        if not fw.pushing:
            return _refusal(fw.result)
        return None

    def on_abort(self, remote: Address, reason: StreamAbort) -> None:
        """The endpoint dropped a transfer before its last block."""
        if remote != self._source or not self.fw.pushing:
            return
        self._source = None
        error: FirmwareError
        if reason is StreamAbort.TOO_LARGE:
            error = NotEnoughStorage(f"package transfer from {remote}: {reason.value}")
        else:
            error = ConnectionLost(f"package transfer from {remote}: {reason.value}")
        self._tasks.spawn(self.fw.abort_push(error))


def _refusal(result: Result) -> Message:
    """The answer that stops a push the object gave up on (the reason is in Update Result)."""
    if result in (Result.NOT_ENOUGH_FLASH, Result.OUT_OF_RAM):
        return Message(code=Code.REQUEST_ENTITY_TOO_LARGE, payload=b"no room for the package")
    return Message(code=Code.INTERNAL_SERVER_ERROR, payload=b"package refused")


# --------------------------------------------------------------------- pull
class CoapDownloader:
    """Block-wise GET of ``coap://`` / ``coaps://`` Package URIs, streamed into the sink.

    ``psk`` is needed for ``coaps://``. ``block_timeout`` bounds each block's
    exchange (default: the retransmission limits of ``params``).
    """

    schemes = ("coap", "coaps")

    def __init__(
        self,
        *,
        psk: PskSource | None = None,
        params: TransmissionParams | None = None,
        block_size: int = 1024,
        block_timeout: float | None = None,
        handshake_timeout: float = 30.0,
        local_host: str | None = None,
    ) -> None:
        self.psk = psk
        self.params = params
        self.block_size = block_size
        self.block_timeout = block_timeout
        self.handshake_timeout = handshake_timeout
        self.local_host = local_host

    async def fetch(self, uri: str, sink: PackageSink) -> None:
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise UnsupportedProtocol(f"{scheme or 'no'} scheme in {uri!r}")
        try:
            host, port = parts.hostname, parts.port or _DEFAULT_PORTS[scheme]
        except ValueError as exc:
            raise InvalidUri(f"{uri!r}: {exc}") from None
        if not host:
            raise InvalidUri(f"no host in {uri!r}")
        path = [unquote(s) for s in parts.path.split("/") if s]
        query = [unquote(q) for q in parts.query.split("&") if q]
        try:
            endpoint, remote = await self._open(scheme, host, port, uri)
        except (OSError, UnicodeError) as exc:
            if unresolvable(exc):
                # The host does not resolve: the URI names no server (Update Result 7).
                raise InvalidUri(f"{uri}: host {host!r} not found: {exc}") from exc
            raise ConnectionLost(f"{uri}: {exc!r}") from exc
        try:
            await self._download(endpoint, remote, uri, path, query, sink)
        finally:
            await endpoint.close()

    async def _open(self, scheme: str, host: str, port: int, uri: str) -> tuple[Endpoint, Address]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        family, _, _, _, sockaddr = infos[0]
        remote: Address = (str(sockaddr[0]), int(sockaddr[1]))
        local = self.local_host or ("::" if family == socket.AF_INET6 else "0.0.0.0")
        if scheme == "coap":
            endpoint = await Endpoint.create_udp(
                local, 0, params=self.params, block_size=self.block_size
            )
            return endpoint, remote
        psk = self._credentials(uri)
        if psk is None:
            raise UnsupportedProtocol(f"no PSK for {uri!r}")
        from lwm2m.transport.dtls import DtlsClientTransport

        transport = await DtlsClientTransport.connect(
            remote,
            psk=psk,
            handshake_timeout=self.handshake_timeout,
            local_addr=(local, 0),
        )
        return Endpoint(transport, params=self.params, block_size=self.block_size), remote

    def _credentials(self, uri: str) -> PskCredentials | tuple[bytes, bytes] | None:
        from lwm2m.transport.dtls_common import PskCredentials

        psk = self.psk
        if psk is None or isinstance(psk, PskCredentials | tuple):
            return psk
        return psk(uri)

    async def _download(
        self,
        endpoint: Endpoint,
        remote: Address,
        uri: str,
        path: list[str],
        query: list[str],
        sink: PackageSink,
    ) -> None:
        blocks = endpoint.request_blocks(
            Code.GET, path, remote=remote, query=query or None, timeout=self.block_timeout
        )
        first = True
        try:
            async with contextlib.aclosing(blocks) as stream:
                async for response in stream:
                    if first:
                        _check_first(uri, response)
                        sink.set_total(response.size2)
                        first = False
                    if response.payload:
                        await sink.write(response.payload)
        except RequestError as exc:
            raise ConnectionLost(f"GET {uri}: {exc}") from exc
        except OSError as exc:
            raise ConnectionLost(f"GET {uri}: {exc!r}") from exc


def _check_first(uri: str, response: Message) -> None:
    cls = response.code >> 5
    if cls == 2:
        return
    text = f"GET {uri}: {response.code >> 5}.{response.code & 0x1F:02d}"
    if cls == 4:
        raise InvalidUri(text)  # 4.04 and the like: nothing to fetch there
    raise ConnectionLost(text)


def server_account_psk(client: Client) -> Callable[[str], PskCredentials | None]:
    """PSK lookup for ``coaps://`` Package URIs from the client's server accounts.

    Prefers the (non-bootstrap, PSK mode) account whose server URI names the
    same host as the Package URI, else the first PSK account.
    """

    def lookup(uri: str) -> PskCredentials | None:
        from lwm2m.transport.dtls_common import PskCredentials

        host = urlsplit(uri).hostname
        store = client.store
        found: PskCredentials | None = None
        for iid in store.instance_ids(0):
            values = {rid: store.get(f"0/{iid}/{rid}") for rid in store.resource_ids(0, iid)}
            if values.get(_SEC_BOOTSTRAP) is True or values.get(_SEC_MODE) != _PSK_MODE:
                continue
            identity, key = values.get(_SEC_IDENTITY), values.get(_SEC_SECRET)
            if not isinstance(identity, bytes) or not isinstance(key, bytes) or not key:
                continue
            creds = PskCredentials(identity, key)
            if urlsplit(str(values.get(_SEC_URI, ""))).hostname == host:
                return creds
            if found is None:
                found = creds
        return found

    return lookup


# ------------------------------------------------------------------ wiring
def attach_firmware(
    client: Client,
    fw: FirmwareUpdate,
    *,
    psk: PskSource | None = None,
    max_size: int | None = None,
    idle_timeout: float | None = None,
    params: TransmissionParams | None = None,
) -> FirmwareTransfer:
    """Deliver firmware to ``fw`` over CoAP for ``client`` (a :class:`~lwm2m.client.Client`).

    Installs the Package push stream on every server connection's endpoint
    and adds :class:`CoapDownloader` for ``coap`` and ``coaps`` (unless
    ``fw`` already has downloaders for them); ``psk`` defaults to the
    client's server accounts. Returns the push side (its ``setup_endpoint``
    may be called for endpoints made elsewhere).
    """
    transfer = FirmwareTransfer(fw, max_size=max_size, idle_timeout=idle_timeout)
    downloader = CoapDownloader(
        psk=psk if psk is not None else server_account_psk(client),
        params=params if params is not None else client.transmission,
    )
    for scheme in CoapDownloader.schemes:
        if scheme not in fw.downloaders:
            fw.add_downloader(scheme, downloader)
    client.endpoint_setup.append(transfer.setup_endpoint)
    return transfer

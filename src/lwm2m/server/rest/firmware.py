"""``/api/firmware``: firmware images the server hosts for Package URI pulls.

Our extension, not Leshan's: a web page cannot serve a file to a device, so the
server keeps an uploaded image and gives the URIs a device can pull it from
(write one to Package URI, ``/5/0/1``):

==============================  ================================================
``POST /api/firmware?name=N``   body: the image (``application/octet-stream``);
                                200 with the image's entry (below)
``GET /api/firmware``           every hosted image's entry, oldest first
``GET /api/firmware/{id}``      the image itself: an HTTP pull; the entry counts
                                the bytes served
``DELETE /api/firmware/{id}``   204, or 404 ``no firmware image 'ID'``
==============================  ================================================

An entry is ``{"id", "name", "size", "created" (ms since the epoch), "downloads",
"served", "uri", "uris": {"http": ..., "coap": ..., "coaps": ...}}``: ``uri`` is the
HTTP one, ``served`` the bytes sent by the latest HTTP download (a page shows it as
the progress of a pull) and ``downloads`` how many pulls started, by HTTP or CoAP.

The same image is served over CoAP as ``/fw/{id}`` on the server's own CoAP
endpoint (UDP and DTLS), in Block2 blocks, so ``coap://`` and ``coaps://`` pulls
need no other listener. The ids are 128-bit random: a device can fetch an image
only when it was given its URI. The HTTP route is an ``/api`` route like any other:
when the API has a token (``--api-token``) a device cannot present it, so offer
such devices the ``coap://`` URI instead. The URIs name the host the request
came to (the CoAP listener's own address when it is bound to one), which may not
be the one a remote device reaches: the page lets the operator edit the URI.

At most :data:`MAX_IMAGES` images of at most :data:`MAX_IMAGE_BYTES` each are
kept, in memory; hosting one more drops the oldest.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.server.rest.responses import MAX_BODY, HttpError, Json, json_response, query_value
from lwm2m.server.server import Server
from lwm2m.transport.base import Address

__all__ = ["COAP_PATH", "MAX_IMAGES", "MAX_IMAGE_BYTES", "FirmwareImages", "add_routes"]

log = logging.getLogger(__name__)

#: Images kept at once; hosting one more drops the oldest.
MAX_IMAGES: Final = 8
#: The largest image (the API's request body limit).
MAX_IMAGE_BYTES: Final = MAX_BODY
#: The CoAP path prefix of hosted images: ``/fw/{id}``.
COAP_PATH: Final = "fw"
_CHUNK: Final = 4096
_MAX_NAME: Final = 200


@dataclass(slots=True)
class _Image:
    id: str
    name: str
    data: bytes
    sha256: str
    created: float
    downloads: int = 0
    served: int = 0


class FirmwareImages:
    """The hosted images, bounded in number (the oldest goes first)."""

    def __init__(self, limit: int = MAX_IMAGES) -> None:
        self.limit = limit
        self._images: OrderedDict[str, _Image] = OrderedDict()

    def add(self, name: str, data: bytes) -> _Image:
        while len(self._images) >= self.limit:
            dropped, _ = self._images.popitem(last=False)
            log.info("firmware image %s dropped (at most %d are kept)", dropped, self.limit)
        image = _Image(
            secrets.token_urlsafe(16), name, data, hashlib.sha256(data).hexdigest(), time.time()
        )
        self._images[image.id] = image
        return image

    def get(self, image_id: str) -> _Image | None:
        return self._images.get(image_id)

    def remove(self, image_id: str) -> bool:
        return self._images.pop(image_id, None) is not None

    def all(self) -> list[_Image]:
        return list(self._images.values())


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return host == ""


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _coap_uris(server: Server, request: web.Request, image_id: str) -> dict[str, str]:
    """``coap://`` and ``coaps://`` URIs of an image, one per listener scheme."""
    uris: dict[str, str] = {}
    asked = request.url.host or "127.0.0.1"
    for scheme, address in server.listeners():
        host = address[0]
        shown = _uri_host(asked if _unspecified(host) else host)
        uris.setdefault(scheme, f"{scheme}://{shown}:{address[1]}/{COAP_PATH}/{image_id}")
    return uris


def _entry(image: _Image, server: Server, request: web.Request) -> dict[str, Json]:
    http = f"{request.scheme}://{request.host}/api/firmware/{image.id}"
    return {
        "id": image.id,
        "name": image.name,
        "size": len(image.data),
        "sha256": image.sha256,
        "created": round(image.created * 1000),
        "downloads": image.downloads,
        "served": image.served,
        "uri": http,
        "uris": {"http": http, **_coap_uris(server, request, image.id)},
    }


def add_routes(app: web.Application, server: Server) -> FirmwareImages:
    """Serve ``/api/firmware`` on ``app`` and ``/fw/{id}`` on ``server``'s CoAP endpoint."""
    images = FirmwareImages()

    def coap_get(request: Message, remote: Address) -> Message:
        segments = request.uri_path
        if request.code != Code.GET:
            return Message.response_to(request, Code.METHOD_NOT_ALLOWED)
        image = images.get(segments[1]) if len(segments) == 2 else None
        if image is None:
            return Message.response_to(request, Code.NOT_FOUND)
        block2 = request.block2
        if block2 is None or block2.num == 0:
            image.downloads += 1
            log.info("firmware image %s pulled over CoAP by %s", image.id, remote)
        return Message.response_to(
            request, Code.CONTENT, image.data, content_format=ContentFormat.OCTET_STREAM
        )

    def serve_coap() -> None:
        """Put ``/fw`` on the CoAP endpoint (once the server runs; again after a restart)."""
        try:
            endpoint = server.endpoint
        except RuntimeError:  # not started yet
            return
        endpoint.add_resource(f"/{COAP_PATH}", coap_get)

    async def on_startup(app: web.Application) -> None:
        serve_coap()

    async def upload(request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/octet-stream":
            raise HttpError(400, "Invalid request: send the image as application/octet-stream")
        name = (query_value(request, "name") or "firmware.bin")[:_MAX_NAME]
        if not name.isprintable():
            raise HttpError(400, "Invalid request: the name contains control characters")
        data = await request.read()
        if not data:
            raise HttpError(400, "Invalid request: the image is empty")
        if len(data) > MAX_IMAGE_BYTES:
            raise HttpError(413, f"the image is larger than {MAX_IMAGE_BYTES} bytes")
        serve_coap()
        image = images.add(name, data)
        log.info("firmware image %s hosted: %r, %d bytes", image.id, name, len(data))
        return json_response(_entry(image, server, request))

    async def listing(request: web.Request) -> web.StreamResponse:
        serve_coap()
        return json_response([_entry(image, server, request) for image in images.all()])

    def find(request: web.Request) -> _Image:
        image_id = request.match_info["id"]
        image = images.get(image_id)
        if image is None:
            raise HttpError(404, f"no firmware image '{image_id}'")
        return image

    async def download(request: web.Request) -> web.StreamResponse:
        image = find(request)
        headers = {"Content-Type": "application/octet-stream", "Cache-Control": "no-store"}
        if request.method == "HEAD":
            return web.Response(headers={**headers, "Content-Length": str(len(image.data))})
        image.downloads += 1
        image.served = 0
        response = web.StreamResponse(headers=headers)
        response.content_length = len(image.data)
        await response.prepare(request)
        view = memoryview(image.data)
        for offset in range(0, len(view), _CHUNK):
            chunk = view[offset : offset + _CHUNK]
            await response.write(bytes(chunk))
            image.served = offset + len(chunk)
        await response.write_eof()
        log.info("firmware image %s pulled over HTTP (%d bytes)", image.id, image.served)
        return response

    async def delete(request: web.Request) -> web.StreamResponse:
        image = find(request)
        images.remove(image.id)
        return web.Response(status=204)

    app.router.add_post("/api/firmware", upload)
    app.router.add_get("/api/firmware", listing)
    app.router.add_get("/api/firmware/{id}", download)
    app.router.add_delete("/api/firmware/{id}", delete)
    app.on_startup.append(on_startup)
    return images

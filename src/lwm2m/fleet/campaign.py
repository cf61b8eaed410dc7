"""Firmware campaigns driven through a server's REST API, and the image server for pulls.

:class:`RestCampaign` updates devices one by one, ``concurrency`` at a time,
through the Leshan-compatible REST API of ``lwm2m server`` (and of Leshan's
demo server):

1. push: ``PUT /api/clients/{ep}/5/0/0`` with the image (the server sends it
   block-wise), or pull: ``PUT /api/clients/{ep}/5/0/1`` with the Package URI;
2. wait until State ``/5/0/3`` is 2 (Downloaded), reading it every half
   second; a return to Idle with an Update Result above 1 is a failure;
3. ``POST /api/clients/{ep}/5/0/2`` (Update);
4. wait until Update Result ``/5/0/5`` is 1 (success).

Each device's whole sequence is one ``campaign`` sample in the metrics (its
duration, or its failure and the step that failed). :class:`ImageServer`
serves images over CoAP for Package URIs (``coap://127.0.0.1:PORT/fw/V.bin``),
block-wise as the devices ask.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.fleet.device import firmware_image
from lwm2m.fleet.metrics import FleetMetrics
from lwm2m.fleet.scenario import Campaign
from lwm2m.transport.base import Address

__all__ = ["CampaignFailed", "ImageServer", "RestCampaign"]

STATE_DOWNLOADED: Final = 2
RESULT_SUCCESS: Final = 1
POLL: Final = 0.5


class CampaignFailed(Exception):
    """One device's update failed; the text is the cause in the report."""


class RestCampaign:
    """Updates devices through the REST API at ``campaign.rest_url``."""

    def __init__(
        self, campaign: Campaign, metrics: FleetMetrics, *, image_uri: str | None = None
    ) -> None:
        if campaign.rest_url is None:
            raise ValueError("campaign.rest_url is needed")
        self.campaign = campaign
        self.metrics = metrics
        self.base = campaign.rest_url
        self.image_uri = image_uri
        self.image = firmware_image(campaign.version, campaign.image_size)
        #: Devices updated and failed so far (the run may end before the campaign does).
        self.updated = 0
        self.failed = 0
        #: Seconds one REST call may wait for the device (a dead one must not hold a slot).
        self.call_timeout = max(5, min(30, int(campaign.timeout)))
        self.headers = {"Content-Type": "application/json"}
        if campaign.api_token:
            self.headers["Authorization"] = f"Bearer {campaign.api_token}"

    async def run(self, endpoints: list[str]) -> int:
        """Update ``endpoints``; returns how many succeeded."""
        import aiohttp

        limit = asyncio.Semaphore(self.campaign.concurrency)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=self.call_timeout + 10)
        async with aiohttp.ClientSession(timeout=timeout, headers=self.headers) as session:

            async def one(endpoint: str) -> bool:
                async with limit:
                    return await self._device(session, endpoint)

            results = await asyncio.gather(*(one(ep) for ep in endpoints))
        return sum(results)

    async def _device(self, session: Any, endpoint: str) -> bool:
        start = time.monotonic()
        try:
            async with asyncio.timeout(self.campaign.timeout):
                await self._update(session, endpoint)
        except TimeoutError:
            cause = "timeout"
        except CampaignFailed as exc:
            cause = str(exc)
        except OSError as exc:
            cause = f"http {type(exc).__name__}"
        else:
            end = time.monotonic()
            self.metrics.record("campaign", end, end - start, True)
            self.updated += 1
            return True
        end = time.monotonic()
        self.metrics.record("campaign", end, end - start, False, cause)
        self.failed += 1
        return False

    async def _update(self, session: Any, endpoint: str) -> None:
        seconds = self.call_timeout
        if self.campaign.mode == "push":
            body = {"id": 0, "kind": "singleResource", "type": "OPAQUE", "value": self.image.hex()}
            await self._call(session, "PUT", endpoint, "5/0/0", body, seconds, "write package")
        else:
            assert self.image_uri is not None
            body = {"id": 1, "kind": "singleResource", "type": "STRING", "value": self.image_uri}
            await self._call(session, "PUT", endpoint, "5/0/1", body, seconds, "write uri")
        while True:
            state = await self._read(session, endpoint, "5/0/3")
            if state == STATE_DOWNLOADED:
                break
            if state == 0:
                result = await self._read(session, endpoint, "5/0/5")
                if result > RESULT_SUCCESS:
                    raise CampaignFailed(f"download result {result}")
            await asyncio.sleep(POLL)
        await self._call(session, "POST", endpoint, "5/0/2", None, seconds, "execute update")
        while True:
            result = await self._read(session, endpoint, "5/0/5")
            if result == RESULT_SUCCESS:
                return
            if result > RESULT_SUCCESS:
                raise CampaignFailed(f"update result {result}")
            await asyncio.sleep(POLL)

    async def _read(self, session: Any, endpoint: str, path: str) -> int:
        answer = await self._call(session, "GET", endpoint, path, None, 10, f"read {path}")
        content = answer.get("content")
        value = content.get("value") if isinstance(content, dict) else None
        if not isinstance(value, int):
            raise CampaignFailed(f"read {path}: no integer value")
        return value

    async def _call(
        self,
        session: Any,
        method: str,
        endpoint: str,
        path: str,
        body: dict[str, Any] | None,
        seconds: int,
        step: str,
    ) -> dict[str, Any]:
        url = f"{self.base}/api/clients/{endpoint}/{path}?timeout={seconds}"
        async with session.request(method, url, json=body) as response:
            if response.status != 200:
                text = (await response.text()).strip().splitlines()
                reason = text[0][:80] if text else ""
                raise CampaignFailed(f"{step}: HTTP {response.status} {reason}".rstrip())
            answer = await response.json()
        if not isinstance(answer, dict):
            raise CampaignFailed(f"{step}: unexpected answer")
        if answer.get("delayed"):
            raise CampaignFailed(f"{step}: device asleep (queue mode)")
        if not answer.get("success", False):
            raise CampaignFailed(f"{step}: {answer.get('status', 'failed')}")
        return answer


class ImageServer:
    """A CoAP endpoint serving firmware images by path (block-wise for large ones)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.images: dict[tuple[str, ...], bytes] = {}

    @classmethod
    async def start(cls, host: str = "127.0.0.1", port: int = 0) -> ImageServer:
        endpoint = await Endpoint.create_udp(host, port)
        server = cls(endpoint)
        endpoint.add_resource("fw", server._serve)
        return server

    @property
    def address(self) -> Address:
        return self.endpoint.local_address

    def add(self, path: str, image: bytes) -> None:
        self.images[tuple(s for s in path.split("/") if s)] = image

    def _serve(self, request: Message, remote: Address) -> Message:
        if request.code != Code.GET:
            return Message.response_to(request, Code.METHOD_NOT_ALLOWED)
        image = self.images.get(tuple(request.uri_path))
        if image is None:
            return Message.response_to(request, Code.NOT_FOUND)
        return Message.response_to(
            request, Code.CONTENT, image, content_format=ContentFormat.OCTET_STREAM
        )

    async def close(self) -> None:
        await self.endpoint.close()

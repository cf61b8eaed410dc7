"""Request/reply between nodes over Redis pub/sub (see :mod:`~lwm2m.server.cluster.wire`).

A call is published on the owner's channel ``node:<owner>``; ``PUBLISH`` answers
how many subscribers got it, so a call to a node that is not listening (dead, or
gone) fails at once with :class:`~lwm2m.server.cluster.errors.OwnerUnavailable`.
The answer comes back on the caller's own channel, matched by request id. A call
waits for its ``deadline``; a ``queued`` notice from the owner (the device sleeps,
the request waits for it in Redis) moves the deadline to the queue's expiry and
keeps the call alive when the owner dies meanwhile: the device's next owner takes
the queued request from Redis and answers it. :meth:`Router.fail_node` ends the
other calls to a node that the heartbeats declared dead.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lwm2m.coap.errors import EndpointClosed, RequestTimeout
from lwm2m.server.cluster.errors import OwnerUnavailable
from lwm2m.server.cluster.wire import WireError, pack

if TYPE_CHECKING:
    from lwm2m.server.store.redis import RedisStore

__all__ = ["Router"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Call:
    future: asyncio.Future[dict[str, Any]]
    owner: str
    endpoint: str
    deadline: float  # loop time
    queued: bool = False


class Router:
    """The calls this node is waiting for, and the way replies go back."""

    def __init__(self, store: RedisStore, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.node_id = store.node_id
        self._loop = loop
        self._calls: dict[str, _Call] = {}
        self._ids = itertools.count(1)
        self._closed = False

    @staticmethod
    def channel(node: str) -> str:
        return "node:" + node

    async def call(
        self, owner: str, endpoint: str, body: dict[str, Any], wait: float
    ) -> dict[str, Any]:
        """Send ``body`` (a request) to ``owner``; its reply, or the error it stands for."""
        if self._closed:
            raise EndpointClosed("the cluster node is stopping")
        rid = f"{self.node_id}:{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        call = _Call(future, owner, endpoint, self._loop.time() + wait)
        self._calls[rid] = call
        message = pack({"t": "rq", "id": rid, "from": self.node_id, "ep": endpoint, **body})

        def published(receivers: Any) -> None:  # in the Redis I/O thread
            self._loop.call_soon_threadsafe(self._published, rid, receivers)

        try:
            self.store.publish(self.channel(owner), message, published)
            while True:
                remaining = call.deadline - self._loop.time()
                if remaining <= 0:
                    raise RequestTimeout(f"node {owner!r} did not answer for {endpoint!r} in time")
                try:
                    async with asyncio.timeout(remaining):
                        return await asyncio.shield(future)
                except TimeoutError:
                    if future.done():
                        return future.result()
                    continue  # a queued notice may have moved the deadline
        finally:
            self._calls.pop(rid, None)

    def _published(self, rid: str, receivers: Any) -> None:
        call = self._calls.get(rid)
        if call is None or call.future.done():
            return
        if isinstance(receivers, Exception):
            call.future.set_exception(
                OwnerUnavailable(call.endpoint, call.owner, f"cannot be reached: {receivers}")
            )
        elif receivers == 0:
            call.future.set_exception(
                OwnerUnavailable(call.endpoint, call.owner, "does not listen (it stopped)")
            )

    def on_reply(self, message: dict[str, Any]) -> None:
        """A ``rp`` or ``qd`` message on this node's channel."""
        call = self._calls.get(str(message.get("id")))
        if call is None or call.future.done():
            return  # the caller gave up
        if message["t"] == "qd":
            call.queued = True
            until = message.get("until")
            if isinstance(until, int | float):
                call.deadline = max(call.deadline, self._loop.time() + (until - time.time()) + 5.0)
            return
        call.future.set_result(message)

    def reply(self, to: str, rid: str, body: dict[str, Any]) -> None:
        """Send the answer of request ``rid`` to node ``to``."""
        try:
            self.store.publish(self.channel(to), pack({"t": "rp", "id": rid, **body}))
        except Exception as exc:  # the store is closing
            log.info("reply %s to %s not sent: %s", rid, to, exc)

    def notice_queued(self, to: str, rid: str, until: float) -> None:
        self.store.publish(self.channel(to), pack({"t": "qd", "id": rid, "until": until}))

    def fail_node(self, node: str, why: str) -> None:
        """``node`` is dead: its calls fail now, except requests queued for a sleeping
        device (its next owner answers them from Redis)."""
        for call in list(self._calls.values()):
            if call.owner == node and not call.queued and not call.future.done():
                call.future.set_exception(OwnerUnavailable(call.endpoint, node, why))

    def close(self) -> None:
        self._closed = True
        for call in list(self._calls.values()):
            if not call.future.done():
                call.future.set_exception(EndpointClosed("the cluster node stopped"))


def check_fields(message: dict[str, Any], *names: str) -> None:
    missing = [name for name in names if name not in message]
    if missing:
        raise WireError(f"message without {', '.join(missing)}")

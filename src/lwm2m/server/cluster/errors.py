"""Errors of the cluster layer (no Redis import: the REST API maps them)."""

from __future__ import annotations

from lwm2m.coap.errors import EndpointClosed

__all__ = ["OwnerUnavailable"]


class OwnerUnavailable(EndpointClosed):
    """The node holding the device's session does not answer (it died, left, or Redis
    is unreachable); the call fails at once. The REST API answers 503 with this text.
    Calls work again once the device has registered with a live node."""

    def __init__(self, endpoint: str, node: str | None, why: str) -> None:
        self.endpoint = endpoint
        self.node = node
        where = f"node {node!r}" if node is not None else "its node"
        super().__init__(
            f"endpoint {endpoint!r} is served by {where}, which {why}; "
            "retry once the device has registered with a live node"
        )

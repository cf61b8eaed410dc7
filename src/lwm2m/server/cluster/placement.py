"""Placement: the bootstrap server hands each device a live server node.

With a Redis store, ``lwm2m bootstrap-server --store redis://...`` sets
:func:`cluster_placement` as :attr:`BootstrapServer.placement`: at every
bootstrap the device's LwM2M Server accounts (the Security instances that are
not Bootstrap-Server accounts) get the URI of the live node with the fewest
devices (counting those placed on it in the last seconds, so a burst of
bootstraps spreads), in the scheme the configuration asks for (``coap://`` or
``coaps://``), and every Server instance gets "Bootstrap on Registration Failure"
(/1/x/16) set unless the configuration says otherwise. A device whose node dies
then fails to register, falls back to bootstrap and is placed on a live node:
the cluster moves devices with LwM2M itself.

With no live node the configured URIs stay (and a warning is logged): a device
bootstrapped then reaches whatever the configuration names.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from lwm2m.server.bootstrap_config import EndpointConfig
from lwm2m.server.store.bootstrap_redis import LiveNode, RedisBootstrapStore

__all__ = ["cluster_placement"]

log = logging.getLogger(__name__)

Placed = Callable[[str, LiveNode | None, EndpointConfig], None]


def cluster_placement(
    store: RedisBootstrapStore,
    *,
    dead_after: float = 3.0,
    window: float = 10.0,
    on_placed: Placed | None = None,
) -> Callable[[str, EndpointConfig], EndpointConfig]:
    """The placement function of a bootstrap server on ``store`` (module docstring).

    ``dead_after``: a node silent that long is not chosen; ``on_placed(endpoint,
    node, config)`` is told every decision (node None: none was alive).
    """

    def place(endpoint: str, config: EndpointConfig) -> EndpointConfig:
        accounts = [sec for sec in config.security if not sec.bootstrap]
        if not accounts:
            return config
        placed = copy.deepcopy(config)
        for server in placed.servers:
            if server.bootstrap_on_failure is None:
                server.bootstrap_on_failure = True
        node = store.place(dead_after, window)
        if node is None:
            log.warning("no live server node: %s keeps its configured server URI", endpoint)
        else:
            for sec in placed.security:
                if sec.bootstrap:
                    continue
                scheme = urlsplit(sec.uri).scheme.lower()
                uri = next((u for u in node.uris if u.startswith(scheme + "://")), None)
                if uri is None:
                    log.warning(
                        "node %s has no %s listener: %s keeps %s",
                        node.node_id,
                        scheme,
                        endpoint,
                        sec.uri,
                    )
                    continue
                sec.uri = uri
        if on_placed is not None:
            on_placed(endpoint, node, placed)
        return placed

    return place

"""lwm2m: an OMA Lightweight M2M stack in Python.

The main entry points, importable from the package itself::

    from lwm2m import Client, RdEvent, Server, BootstrapServer
"""

from __future__ import annotations

import importlib
from typing import Any

from lwm2m.errors import DecodeError, EncodeError, Lwm2mError, ModelError, UnsupportedFormat

__version__ = "0.1.0"

# Loaded on first use, so that `import lwm2m` stays light (DESIGN: fleets of clients).
_LAZY = {
    "Client": "lwm2m.client.client",
    "RdEvent": "lwm2m.client.events",
    "Event": "lwm2m.client.events",
    "Limits": "lwm2m.coap.limits",
    "Server": "lwm2m.server.server",
    "BootstrapServer": "lwm2m.server.bootstrap",
    "Path": "lwm2m.model",
    "ObjLink": "lwm2m.model",
}

__all__ = [
    "BootstrapServer",
    "Client",
    "DecodeError",
    "EncodeError",
    "Event",
    "Limits",
    "Lwm2mError",
    "ModelError",
    "ObjLink",
    "Path",
    "RdEvent",
    "Server",
    "UnsupportedFormat",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lwm2m' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

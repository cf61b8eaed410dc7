"""The messages nodes exchange through Redis pub/sub: JSON objects, binary as base64.

On ``<prefix>node:<id>`` (one channel per node, request/reply)::

    {"t": "rq", "id": RID, "from": NODE, "op": OP, "ep": ENDPOINT, ...}
        OP "req":    "m": the CoAP request, "to": timeout (s)
        OP "obs":    "m": the Observe request, "to", "p": [paths], "c": composite
        OP "cancel" / "forget": "tok": token (hex)
    {"t": "qd", "id": RID, "until": POSIX time}    the device sleeps: queued
    {"t": "rp", "id": RID, "m": CoAP response, "tok": hex, "act": bool}
    {"t": "rp", "id": RID, "e": ERROR NAME, "x": text}   ("DmError": "code", "x" its message)

On ``<prefix>events`` (every node)::

    {"t": "n", "n": NODE, "ep", "reg", "tok", "p": [paths], "c": composite, "m": message}
    {"t": "s", "n": NODE, "ep", "reg", "cf": content format, "pl": payload}
    {"t": "z" | "a", "n": NODE, "ep", "reg"}     Sleeping / Awake
    {"t": "bye", "n": NODE}                     the node stops

CoAP messages travel encoded (RFC 7252 bytes), so the receiving node decodes them
with the same code as the node that received them from the device: the result,
and the REST answer built from it, are the same on every node.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from lwm2m.coap.errors import (
    BadResponse,
    EndpointClosed,
    RequestError,
    RequestTimeout,
    ResetReceived,
    TransportError,
)
from lwm2m.coap.message import Message
from lwm2m.errors import DecodeError, ModelError
from lwm2m.server.dm import ClientNotRegistered, DmError, RequestExpired

__all__ = [
    "WireError",
    "error_from_wire",
    "error_to_wire",
    "message_from_wire",
    "message_to_wire",
    "pack",
    "unpack",
]


class WireError(ValueError):
    """A bus message that does not decode."""


def pack(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def unpack(data: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("t"), str):
        raise WireError("not a bus message")
    return obj


def message_to_wire(message: Message) -> str:
    return base64.b64encode(message.encode()).decode("ascii")


def message_from_wire(text: object) -> Message:
    if not isinstance(text, str):
        raise WireError("no CoAP message")
    try:
        return Message.decode(base64.b64decode(text, validate=True))
    except (binascii.Error, DecodeError) as exc:
        raise WireError(f"bad CoAP message: {exc}") from None


class Moved(RequestError):
    """The asked node no longer holds the device's registration (it moved)."""


_ERRORS: dict[str, Callable[[str], BaseException]] = {
    cls.__name__: cls
    for cls in (
        RequestTimeout,
        RequestExpired,
        ResetReceived,
        TransportError,
        BadResponse,
        EndpointClosed,
        RequestError,
        ClientNotRegistered,
        ModelError,
        Moved,
    )
}
_ERRORS["TimeoutError"] = RequestTimeout


def error_to_wire(exc: BaseException) -> dict[str, Any]:
    """The reply fields of an exception, which the asking node raises again."""
    if isinstance(exc, DmError):  # the device's refusal: its code and diagnostic text
        return {"e": "DmError", "code": exc.code, "x": exc.message}
    for cls in type(exc).__mro__:
        if cls.__name__ in _ERRORS and cls is not Exception:
            return {"e": cls.__name__, "x": str(exc)}
    return {"e": "RequestError", "x": f"{type(exc).__name__}: {exc}"}


def error_from_wire(reply: dict[str, Any]) -> BaseException:
    name, text = str(reply.get("e")), str(reply.get("x", ""))
    if name == "DmError":
        code = reply.get("code")
        if isinstance(code, int):
            return DmError(code, text)
    factory = _ERRORS.get(name, RequestError)
    return factory(text)

"""JSON text for stored records, shared by every store that keeps bytes or text.

Decoding checks every field's type: a damaged or hand-edited record raises
:class:`StoreCorrupt` naming the record and field, never KeyError or TypeError.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from lwm2m.errors import Lwm2mError
from lwm2m.model.path import Path
from lwm2m.server.object_links import parse_object_links
from lwm2m.server.store.base import (
    Observation,
    Registration,
    SecurityInfo,
    SecurityMode,
    StoreCorrupt,
)

__all__ = [
    "decode_observation",
    "decode_registration",
    "decode_security",
    "encode_observation",
    "encode_registration",
    "encode_security",
]

T = TypeVar("T")


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _hex(data: bytes | None) -> str | None:
    return None if data is None else data.hex()


class _Fields:
    """Typed access to a decoded JSON object; errors name the record and field."""

    __slots__ = ("_data", "_what")

    def __init__(self, text: str, what: str) -> None:
        self._what = what
        try:
            data = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise StoreCorrupt(f"{what}: stored record is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise StoreCorrupt(f"{what}: stored record is not a JSON object")
        self._data: dict[str, Any] = data

    def fail(self, key: str, why: str) -> StoreCorrupt:
        return StoreCorrupt(f"{self._what}: field {key!r} {why}")

    def get(self, key: str, kind: type | tuple[type, ...], optional: bool = False) -> Any:
        if key not in self._data:
            raise self.fail(key, "is missing")
        value = self._data[key]
        if value is None and optional:
            return None
        # bool is an int subclass; a stored true/false never stands for a number.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
            raise self.fail(key, f"has the wrong type ({type(value).__name__})")
        return value

    def number(self, key: str) -> float:
        value = self.get(key, (int, float))
        if isinstance(value, bool):
            raise self.fail(key, "has the wrong type (bool)")
        return float(value)

    def hex(self, key: str) -> bytes | None:
        value: str | None = self.get(key, str, optional=True)
        if value is None:
            return None
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise self.fail(key, "is not hex") from None

    def pairs(self, key: str) -> list[tuple[Any, Any]]:
        items: list[Any] = self.get(key, list)
        if not all(isinstance(p, list) and len(p) == 2 for p in items):
            raise self.fail(key, "is not a list of pairs")
        return [(p[0], p[1]) for p in items]

    def build(self, factory: Callable[[], T]) -> T:
        """Run ``factory``, turning a validation failure into StoreCorrupt."""
        try:
            return factory()
        except StoreCorrupt:
            raise
        except (Lwm2mError, ValueError, TypeError) as exc:
            raise StoreCorrupt(f"{self._what}: invalid stored value: {exc}") from None


# --- registrations ------------------------------------------------------------------


def encode_registration(reg: Registration) -> str:
    return _dumps(
        {
            "id": reg.id,
            "endpoint": reg.endpoint,
            "lifetime": reg.lifetime,
            "version": reg.version,
            "binding": reg.binding,
            "queue_mode": reg.queue_mode,
            "sms_number": reg.sms_number,
            "object_links": reg.object_links.text,
            "address": [reg.address[0], reg.address[1]],
            "registered_at": reg.registered_at,
            "last_update": reg.last_update,
            "expires_at": reg.expires_at,
            "identity": reg.identity,
            "extra": [[k, v] for k, v in reg.extra],
        }
    )


def decode_registration(text: str, what: str = "registration") -> Registration:
    f = _Fields(text, what)
    address: list[Any] = f.get("address", list)
    if len(address) != 2 or not isinstance(address[0], str) or type(address[1]) is not int:
        raise f.fail("address", "is not [host, port]")
    extra = f.pairs("extra")
    if not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in extra):
        raise f.fail("extra", "holds non-text values")
    links_text: str = f.get("object_links", str)
    return f.build(
        lambda: Registration(
            id=f.get("id", str),
            endpoint=f.get("endpoint", str),
            lifetime=f.get("lifetime", int),
            version=f.get("version", str),
            binding=f.get("binding", str),
            queue_mode=f.get("queue_mode", bool),
            sms_number=f.get("sms_number", str, optional=True),
            object_links=parse_object_links(links_text),
            address=(address[0], address[1]),
            registered_at=f.number("registered_at"),
            last_update=f.number("last_update"),
            expires_at=f.number("expires_at"),
            identity=f.get("identity", str, optional=True),
            extra=tuple(extra),
        )
    )


# --- observations ------------------------------------------------------------------


def encode_observation(obs: Observation) -> str:
    return _dumps(
        {
            "token": obs.token.hex(),
            "registration_id": obs.registration_id,
            "endpoint": obs.endpoint,
            "paths": [str(p) for p in obs.paths],
            "content_format": obs.content_format,
            "composite": obs.composite,
            "attributes": [[k, v] for k, v in obs.attributes],
            "created_at": obs.created_at,
        }
    )


def decode_observation(text: str, what: str = "observation") -> Observation:
    f = _Fields(text, what)
    paths: list[Any] = f.get("paths", list)
    if not all(isinstance(p, str) for p in paths):
        raise f.fail("paths", "holds non-text values")
    attributes = f.pairs("attributes")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in attributes):
        raise f.fail("attributes", "holds non-text values")
    token = f.hex("token")
    if token is None:
        raise f.fail("token", "is null")
    return f.build(
        lambda: Observation(
            token=token,
            registration_id=f.get("registration_id", str),
            endpoint=f.get("endpoint", str),
            paths=tuple(Path.parse(p) for p in paths),
            content_format=f.get("content_format", int, optional=True),
            composite=f.get("composite", bool),
            attributes=tuple(attributes),
            created_at=f.number("created_at"),
        )
    )


# --- security info --------------------------------------------------------------------


def encode_security(info: SecurityInfo) -> str:
    return _dumps(
        {
            "endpoint": info.endpoint,
            "mode": info.mode.value,
            "psk_identity": info.psk_identity,
            "psk_key": _hex(info.psk_key),
            "public_key": _hex(info.public_key),
            "certificate": _hex(info.certificate),
        }
    )


def decode_security(text: str, what: str = "security info") -> SecurityInfo:
    f = _Fields(text, what)
    return f.build(
        lambda: SecurityInfo(
            endpoint=f.get("endpoint", str),
            mode=SecurityMode(f.get("mode", str)),
            psk_identity=f.get("psk_identity", str, optional=True),
            psk_key=f.hex("psk_key"),
            public_key=f.hex("public_key"),
            certificate=f.hex("certificate"),
        )
    )

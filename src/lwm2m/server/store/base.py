"""What the server keeps across restarts, and the interface every store implements.

The record types live here, below the server: :class:`Registration` (re-exported
by :mod:`lwm2m.server.registration`, which builds and indexes them),
:class:`Observation` and :class:`SecurityInfo`. Nothing in this package imports
the server modules that use the stores, so the import graph has no cycle.

A store holds three kinds of record, each with plain get/put/delete/list
operations so that a key-value backend (Redis) can implement it too:

* registrations, keyed by registration id, unique per endpoint name;
* observations, keyed by CoAP token, each belonging to one registration;
* security info, keyed by endpoint name, with PSK identities unique.

Rules every implementation keeps (the shared test suite checks them):

* ``put_registration`` of an endpoint that already has a registration under
  another id replaces it, and that old registration's observations go with it;
* ``delete_registration`` deletes the registration's observations;
* ``put_observation`` for an unknown registration, and ``put_security`` with a
  PSK identity that another endpoint uses, raise :class:`StoreError` and change
  nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from lwm2m.errors import Lwm2mError
from lwm2m.model.path import Path
from lwm2m.server.object_links import ObjectLinks

__all__ = [
    "Address",
    "Observation",
    "Registration",
    "SecurityInfo",
    "SecurityMode",
    "ServerStore",
    "StoreCorrupt",
    "StoreError",
]

#: RFC 7252 section 5.3.1: tokens are 0 to 8 bytes.
MAX_TOKEN_LENGTH = 8

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Registration:
    """One registered client. Immutable: an Update produces a new value."""

    id: str
    endpoint: str
    lifetime: int
    version: str
    binding: str
    queue_mode: bool
    sms_number: str | None
    object_links: ObjectLinks
    address: Address
    registered_at: float
    last_update: float
    expires_at: float
    identity: str | None = None
    extra: tuple[tuple[str, str | None], ...] = ()

    @property
    def location(self) -> tuple[str, str]:
        """Location-Path segments of the 2.01 answer to Register."""
        return ("rd", self.id)

    @property
    def attributes(self) -> dict[str, str | None]:
        """Query parameters the server does not interpret, as the client sent them."""
        return dict(self.extra)

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at


class StoreError(Lwm2mError):
    """A store operation failed or was refused; nothing was changed."""


class StoreCorrupt(StoreError):
    """The stored data is damaged, or the file is not a server database of this package."""


class SecurityMode(Enum):
    PSK = "psk"
    RPK = "rpk"
    X509 = "x509"


@dataclass(frozen=True, slots=True)
class SecurityInfo:
    """How one endpoint authenticates over DTLS.

    PSK: ``psk_identity`` and ``psk_key``. RPK: the client's ``public_key``
    (DER SubjectPublicKeyInfo). X509: optionally the exact client ``certificate``
    (DER); without it the certificate's subject CN must equal the endpoint name.
    """

    endpoint: str
    mode: SecurityMode
    psk_identity: str | None = None
    psk_key: bytes | None = None
    public_key: bytes | None = None
    certificate: bytes | None = None

    def __post_init__(self) -> None:
        if not self.endpoint:
            raise StoreError("security info needs an endpoint name")
        present = {
            name
            for name in ("psk_identity", "psk_key", "public_key", "certificate")
            if getattr(self, name) is not None
        }
        needed, allowed = _MODE_FIELDS[self.mode]
        if not needed <= present or not present <= allowed:
            raise StoreError(
                f"{self.mode.value} security info for {self.endpoint!r} takes "
                f"{sorted(allowed)} (required: {sorted(needed)}), got {sorted(present)}"
            )
        if self.psk_identity == "" or self.psk_key == b"" or self.public_key == b"":
            raise StoreError(f"security info for {self.endpoint!r} has an empty credential")

    @classmethod
    def psk(cls, endpoint: str, identity: str, key: bytes) -> SecurityInfo:
        return cls(endpoint, SecurityMode.PSK, psk_identity=identity, psk_key=key)

    @classmethod
    def rpk(cls, endpoint: str, public_key: bytes) -> SecurityInfo:
        return cls(endpoint, SecurityMode.RPK, public_key=public_key)

    @classmethod
    def x509(cls, endpoint: str, certificate: bytes | None = None) -> SecurityInfo:
        return cls(endpoint, SecurityMode.X509, certificate=certificate)


_MODE_FIELDS: dict[SecurityMode, tuple[frozenset[str], frozenset[str]]] = {
    SecurityMode.PSK: (frozenset({"psk_identity", "psk_key"}),) * 2,
    SecurityMode.RPK: (frozenset({"public_key"}),) * 2,
    SecurityMode.X509: (frozenset(), frozenset({"certificate"})),
}


@dataclass(frozen=True, slots=True)
class Observation:
    """An observation the server started (Core TS 1.1 section 6.4.1 / 6.4.3).

    ``paths`` has one entry for Observe and one or more for Observe-Composite
    (``composite`` True). ``attributes`` are the observe attributes in effect
    when it started (pmin, pmax, ...), as name/value text pairs.
    """

    token: bytes
    registration_id: str
    endpoint: str
    paths: tuple[Path, ...]
    content_format: int | None = None
    composite: bool = False
    attributes: tuple[tuple[str, str], ...] = ()
    created_at: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= len(self.token) <= MAX_TOKEN_LENGTH:
            raise StoreError(f"observation token must be 1..{MAX_TOKEN_LENGTH} bytes")
        if not self.paths:
            raise StoreError("an observation needs at least one path")
        if not self.composite and len(self.paths) != 1:
            raise StoreError("a single (non-composite) observation has exactly one path")


class ServerStore(Protocol):
    """The operations the server needs from persistent storage."""

    # registrations
    def put_registration(self, registration: Registration) -> None: ...
    def get_registration(self, reg_id: str) -> Registration | None: ...
    def get_registration_by_endpoint(self, endpoint: str) -> Registration | None: ...
    def delete_registration(self, reg_id: str) -> Registration | None: ...
    def list_registrations(self) -> list[Registration]: ...

    # observations
    def put_observation(self, observation: Observation) -> None: ...
    def get_observation(self, token: bytes) -> Observation | None: ...
    def delete_observation(self, token: bytes) -> Observation | None: ...
    def list_observations(self, registration_id: str | None = None) -> list[Observation]: ...

    # security info
    def put_security(self, info: SecurityInfo) -> None: ...
    def get_security(self, endpoint: str) -> SecurityInfo | None: ...
    def get_security_by_identity(self, identity: str) -> SecurityInfo | None: ...
    def delete_security(self, endpoint: str) -> SecurityInfo | None: ...
    def list_security(self) -> list[SecurityInfo]: ...

    def close(self) -> None: ...

"""A store in process memory: for tests and for servers that need nothing to persist."""

from __future__ import annotations

from lwm2m.server.store.base import Observation, Registration, SecurityInfo, StoreError

__all__ = ["MemoryStore"]


class MemorySecurity:
    """Security info in dictionaries, PSK identities unique (shared by the memory stores)."""

    def __init__(self) -> None:
        self._security: dict[str, SecurityInfo] = {}
        self._identities: dict[str, str] = {}

    def _check_identity(self, info: SecurityInfo) -> None:
        if info.psk_identity is not None:
            owner = self._identities.get(info.psk_identity)
            if owner is not None and owner != info.endpoint:
                raise StoreError(f"PSK identity {info.psk_identity!r} is used by {owner!r}")

    def put_security(self, info: SecurityInfo) -> None:
        self._check_identity(info)
        self.delete_security(info.endpoint)
        self._security[info.endpoint] = info
        if info.psk_identity is not None:
            self._identities[info.psk_identity] = info.endpoint

    def get_security(self, endpoint: str) -> SecurityInfo | None:
        return self._security.get(endpoint)

    def get_security_by_identity(self, identity: str) -> SecurityInfo | None:
        endpoint = self._identities.get(identity)
        return None if endpoint is None else self._security[endpoint]

    def delete_security(self, endpoint: str) -> SecurityInfo | None:
        info = self._security.pop(endpoint, None)
        if info is not None and info.psk_identity is not None:
            del self._identities[info.psk_identity]
        return info

    def list_security(self) -> list[SecurityInfo]:
        return list(self._security.values())


class MemoryStore(MemorySecurity):
    """Implements :class:`~lwm2m.server.store.ServerStore` with dicts."""

    def __init__(self) -> None:
        self._registrations: dict[str, Registration] = {}
        self._endpoints: dict[str, str] = {}
        self._observations: dict[bytes, Observation] = {}
        # tokens by registration id (insertion-ordered): listing one registration's
        # observations, which the server does on every Update, is not a scan
        self._tokens_by_registration: dict[str, dict[bytes, None]] = {}
        MemorySecurity.__init__(self)

    # --- registrations -----------------------------------------------------------
    def put_registration(self, registration: Registration) -> None:
        old_id = self._endpoints.get(registration.endpoint)
        if old_id is not None and old_id != registration.id:
            self.delete_registration(old_id)
        previous = self._registrations.get(registration.id)
        if previous is not None and previous.endpoint != registration.endpoint:
            del self._endpoints[previous.endpoint]
        self._registrations[registration.id] = registration
        self._endpoints[registration.endpoint] = registration.id

    def get_registration(self, reg_id: str) -> Registration | None:
        return self._registrations.get(reg_id)

    def get_registration_by_endpoint(self, endpoint: str) -> Registration | None:
        reg_id = self._endpoints.get(endpoint)
        return None if reg_id is None else self._registrations[reg_id]

    def delete_registration(self, reg_id: str) -> Registration | None:
        reg = self._registrations.pop(reg_id, None)
        if reg is None:
            return None
        del self._endpoints[reg.endpoint]
        for token in self._tokens_by_registration.pop(reg_id, {}):
            del self._observations[token]
        return reg

    def list_registrations(self) -> list[Registration]:
        return list(self._registrations.values())

    # --- observations -----------------------------------------------------------
    def put_observation(self, observation: Observation) -> None:
        if observation.registration_id not in self._registrations:
            raise StoreError(
                f"observation for unknown registration {observation.registration_id!r}"
            )
        old = self._observations.get(observation.token)
        if old is not None and old.registration_id != observation.registration_id:
            self._unindex(old)
        self._observations[observation.token] = observation
        self._tokens_by_registration.setdefault(observation.registration_id, {})[
            observation.token
        ] = None

    def get_observation(self, token: bytes) -> Observation | None:
        return self._observations.get(token)

    def delete_observation(self, token: bytes) -> Observation | None:
        observation = self._observations.pop(token, None)
        if observation is not None:
            self._unindex(observation)
        return observation

    def _unindex(self, observation: Observation) -> None:
        tokens = self._tokens_by_registration[observation.registration_id]
        del tokens[observation.token]
        if not tokens:
            del self._tokens_by_registration[observation.registration_id]

    def list_observations(self, registration_id: str | None = None) -> list[Observation]:
        if registration_id is None:
            return list(self._observations.values())
        tokens = self._tokens_by_registration.get(registration_id, {})
        return [self._observations[token] for token in tokens]

    def close(self) -> None:
        """Nothing to release; present for the interface."""

"""The bootstrap store in process memory: for tests and for runs without ``--db``."""

from __future__ import annotations

from lwm2m.server.bootstrap_config import EndpointConfig
from lwm2m.server.store.base import SecurityInfo, StoreError
from lwm2m.server.store.bootstrap_base import decode_config, encode_config, seed_record

__all__ = ["MemoryBootstrapStore"]


class MemoryBootstrapStore:
    """Implements :class:`~lwm2m.server.store.bootstrap_base.BootstrapStore` with dicts.

    Configurations are kept in their stored text, as in the SQLite store, so a
    caller never shares a mutable configuration with the store.
    """

    def __init__(self) -> None:
        self._configs: dict[str, str] = {}
        self._security: dict[str, SecurityInfo] = {}
        self._identities: dict[str, str] = {}
        self._seeded: dict[str, str] = {}

    # --- configurations -----------------------------------------------------------
    def put_config(self, endpoint: str, config: EndpointConfig) -> None:
        self._configs[endpoint] = encode_config(endpoint, config)

    def get_config(self, endpoint: str) -> EndpointConfig | None:
        text = self._configs.get(endpoint)
        return None if text is None else decode_config(text, endpoint)

    def delete_config(self, endpoint: str) -> bool:
        return self._configs.pop(endpoint, None) is not None

    def list_configs(self) -> list[tuple[str, EndpointConfig]]:
        return [(ep, decode_config(text, ep)) for ep, text in self._configs.items()]

    # --- security info ------------------------------------------------------------
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

    # --- seeding ------------------------------------------------------------------
    def seed(self, endpoint: str, config: EndpointConfig, security: SecurityInfo | None) -> bool:
        record = seed_record(endpoint, config, security)  # checks everything first
        if self._seeded.get(endpoint) == record:
            return False
        if security is not None:
            self._check_identity(security)
        text = encode_config(endpoint, config)
        if security is not None:
            self.put_security(security)
        self._configs[endpoint] = text
        self._seeded[endpoint] = record
        return True

    def close(self) -> None:
        """Nothing to release; present for the interface."""

"""The bootstrap store in process memory: for tests and for runs without ``--db``."""

from __future__ import annotations

from lwm2m.server.bootstrap_config import EndpointConfig
from lwm2m.server.store.base import SecurityInfo
from lwm2m.server.store.bootstrap_base import decode_config, encode_config, seed_record
from lwm2m.server.store.memory import MemorySecurity

__all__ = ["MemoryBootstrapStore"]


class MemoryBootstrapStore(MemorySecurity):
    """Implements :class:`~lwm2m.server.store.bootstrap_base.BootstrapStore` with dicts.

    Configurations are kept in their stored text, as in the SQLite store, so a
    caller never shares a mutable configuration with the store.
    """

    def __init__(self) -> None:
        self._configs: dict[str, str] = {}
        MemorySecurity.__init__(self)
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

"""What the bootstrap server keeps: per-endpoint configurations and DTLS credentials.

Two kinds of record, each with plain get/put/delete/list operations:

* bootstrap configurations (:class:`~lwm2m.server.bootstrap_config.EndpointConfig`),
  keyed by endpoint name;
* security info (:class:`~lwm2m.server.store.SecurityInfo`), keyed by endpoint
  name with PSK identities unique: the credentials a client uses with the
  bootstrap server itself, which its DTLS listener looks up at every handshake.

:meth:`BootstrapStore.seed` applies an entry of a configuration file: an entry
is written when it is new or differs from what that file last seeded for the
endpoint, so a configuration changed or deleted through the REST API stays as
it is across restarts until the file's entry itself changes.

Rules every implementation keeps (the shared tests check them): records are
stored as their file form (:func:`~lwm2m.server.bootstrap_config.dump_endpoint`,
JSON), so what is put is read back equal; a configuration that would not read
back, and ``put_security`` with a PSK identity another endpoint uses, raise
:class:`StoreError` and change nothing.
"""

from __future__ import annotations

import json
from typing import Protocol

from lwm2m.server.bootstrap_config import (
    ConfigError,
    EndpointConfig,
    dump_endpoint,
    parse_endpoint,
)
from lwm2m.server.store.base import SecurityInfo, StoreCorrupt, StoreError
from lwm2m.server.store.codec import encode_security

__all__ = [
    "BootstrapStore",
    "decode_config",
    "encode_config",
    "seed_record",
]


class BootstrapStore(Protocol):
    """The operations the bootstrap server and its REST API need from storage."""

    # configurations
    def put_config(self, endpoint: str, config: EndpointConfig) -> None: ...
    def get_config(self, endpoint: str) -> EndpointConfig | None: ...
    def delete_config(self, endpoint: str) -> bool:
        """Remove the configuration of ``endpoint``; whether there was one."""
        ...

    def list_configs(self) -> list[tuple[str, EndpointConfig]]: ...

    # security info (the REST API's SecurityStore, plus the handshake's lookup)
    def put_security(self, info: SecurityInfo) -> None: ...
    def get_security(self, endpoint: str) -> SecurityInfo | None: ...
    def get_security_by_identity(self, identity: str) -> SecurityInfo | None: ...
    def delete_security(self, endpoint: str) -> SecurityInfo | None: ...
    def list_security(self) -> list[SecurityInfo]: ...

    def seed(self, endpoint: str, config: EndpointConfig, security: SecurityInfo | None) -> bool:
        """Apply one configuration-file entry unless already applied; True when written."""
        ...

    def close(self) -> None: ...


def encode_config(endpoint: str, config: EndpointConfig) -> str:
    """The stored text of ``config``; :class:`StoreError` if it would not read back."""
    if not endpoint:
        raise StoreError("a bootstrap configuration needs an endpoint name")
    try:
        data = dump_endpoint(config)
        parse_endpoint(data)  # what is stored must load again
    except ConfigError as exc:
        raise StoreError(f"bootstrap configuration of {endpoint!r} refused: {exc}") from None
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def decode_config(text: str, endpoint: str) -> EndpointConfig:
    """A stored configuration; :class:`StoreCorrupt` naming the record when it is damaged."""
    try:
        return parse_endpoint(json.loads(text))
    except (ValueError, TypeError, RecursionError) as exc:
        # ConfigError is a ValueError: a record that parses as JSON but not as a configuration.
        raise StoreCorrupt(f"bootstrap configuration {endpoint!r}: stored record: {exc}") from None


def seed_record(endpoint: str, config: EndpointConfig, security: SecurityInfo | None) -> str:
    """What :meth:`BootstrapStore.seed` remembers of an applied file entry."""
    if security is not None and security.endpoint != endpoint:
        raise StoreError(f"security info of {security.endpoint!r} seeded for {endpoint!r}")
    record = {
        "config": json.loads(encode_config(endpoint, config)),
        "security": None if security is None else json.loads(encode_security(security)),
    }
    return json.dumps(record, separators=(",", ":"), sort_keys=True, ensure_ascii=False)

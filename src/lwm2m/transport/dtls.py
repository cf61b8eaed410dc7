"""DTLS 1.2 transports (python-mbedtls): PSK and X.509, client and server.

* :class:`DtlsClientTransport` — one session with one server
  (:mod:`lwm2m.transport.dtls_client`);
* :class:`DtlsServerTransport` — a listener with one session per peer
  address (:mod:`lwm2m.transport.dtls_server`);
* credentials, errors and the Security object mode mapping
  (:mod:`lwm2m.transport.dtls_common`).
"""

from __future__ import annotations

from .dtls_client import DtlsClientTransport
from .dtls_common import (
    CERTIFICATE_CIPHERS,
    PSK_CIPHERS,
    CertificateCredentials,
    DtlsError,
    DtlsHandshakeError,
    DtlsPeerInfo,
    DtlsSessionClosed,
    PskCredentials,
    PskStore,
    SecurityMode,
    available_cipher_suites,
    credentials_for_security_mode,
)
from .dtls_server import DtlsServerTransport, SessionCallback

__all__ = [
    "CERTIFICATE_CIPHERS",
    "PSK_CIPHERS",
    "CertificateCredentials",
    "DtlsClientTransport",
    "DtlsError",
    "DtlsHandshakeError",
    "DtlsPeerInfo",
    "DtlsServerTransport",
    "DtlsSessionClosed",
    "PskCredentials",
    "PskStore",
    "SecurityMode",
    "SessionCallback",
    "available_cipher_suites",
    "credentials_for_security_mode",
]

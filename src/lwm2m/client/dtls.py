"""DTLS connections of the client, configured from a Security object instance.

``coaps://`` in /0/x/0 selects DTLS; Security Mode /0/x/2 picks the
credentials: 0 PSK (identity /0/x/3, key /0/x/5), 2 certificate (own
certificate /0/x/3, server certificate /0/x/4, private key /0/x/5, DER),
3 NoSec (refused for ``coaps://``). Modes 1 and 4 are refused with the
reason (see :func:`~lwm2m.transport.dtls.credentials_for_security_mode`).
"""

from __future__ import annotations

from typing import Any

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.transport.base import Address
from lwm2m.transport.dtls import DtlsClientTransport, credentials_for_security_mode
from lwm2m.transport.dtls_common import CertificateCredentials, PskCredentials

SEC_MODE, SEC_IDENTITY, SEC_SERVER_KEY, SEC_SECRET = 2, 3, 4, 5


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return b""


async def open_dtls_endpoint(
    local_host: str,
    remote: Address,
    security: dict[int, Any],
    *,
    params: TransmissionParams | None = None,
    handshake_timeout: float = 30.0,
) -> Endpoint:
    """Handshake with ``remote`` using the credentials of ``security``; wrap it in an Endpoint.

    Raises :class:`~lwm2m.transport.dtls.DtlsHandshakeError` (an ``OSError``)
    when the handshake fails, ``ValueError``/``NotImplementedError`` for an
    unusable Security instance.
    """
    mode = security.get(SEC_MODE)
    if not isinstance(mode, int):
        raise ValueError("Security Mode (/0/x/2) is missing")
    creds = credentials_for_security_mode(
        mode,
        _bytes(security.get(SEC_IDENTITY)),
        _bytes(security.get(SEC_SERVER_KEY)),
        _bytes(security.get(SEC_SECRET)),
    )
    if creds is None:
        raise ValueError("a coaps:// server needs Security Mode 0 (PSK) or 2 (certificate)")
    psk = creds if isinstance(creds, PskCredentials) else None
    cert = creds if isinstance(creds, CertificateCredentials) else None
    transport = await DtlsClientTransport.connect(
        remote,
        psk=psk,
        certificate=cert,
        handshake_timeout=handshake_timeout,
        local_addr=(local_host, 0),
    )
    return Endpoint(transport, params=params)

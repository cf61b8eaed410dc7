"""Credentials, errors and Mbed TLS configuration shared by the DTLS transports.

LwM2M Core TS 1.1 section 7.1 maps the Security object's mode (/0/x/2) to
the DTLS credentials: 0 pre-shared key, 1 raw public key, 2 X.509
certificate, 3 no security, 4 certificate with EST. This module turns those
credentials into an Mbed TLS ``DTLSConfiguration`` (through python-mbedtls)
with the cipher suites LwM2M mandates (TS 1.1 section 7.1.7, 7.1.9):

* PSK: TLS_PSK_WITH_AES_128_CCM_8 and TLS_PSK_WITH_AES_128_CBC_SHA256;
* certificates: TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 and
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256.

Cipher suite names are given and reported in their IANA spelling
(``TLS_PSK_WITH_AES_128_CCM_8``); Mbed TLS spells them with dashes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mbedtls import pk, x509
from mbedtls import tls as mtls

from ..errors import Lwm2mError

__all__ = [
    "CERTIFICATE_CIPHERS",
    "PSK_CIPHERS",
    "CertificateCredentials",
    "DtlsError",
    "DtlsHandshakeError",
    "DtlsPeerInfo",
    "DtlsSessionClosed",
    "PskCredentials",
    "PskStore",
    "SecurityMode",
    "available_cipher_suites",
    "credentials_for_security_mode",
]

PSK_CIPHERS: tuple[str, ...] = (
    "TLS_PSK_WITH_AES_128_CCM_8",
    "TLS_PSK_WITH_AES_128_CBC_SHA256",
)
CERTIFICATE_CIPHERS: tuple[str, ...] = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
)

PskStore = Mapping[bytes, bytes] | Callable[[bytes], bytes | None]
"""Server-side lookup of a PSK by the identity a client presents."""


class DtlsError(Lwm2mError, ConnectionError):
    """A DTLS failure. An ``OSError`` so that it fits the transport error callback."""


class DtlsHandshakeError(DtlsError):
    """The handshake failed: timeout, wrong key, unknown identity, bad certificate."""


class DtlsSessionClosed(DtlsError):
    """The peer closed the session (close_notify) or ended it with a fatal alert."""


class SecurityMode(enum.IntEnum):
    """Security object resource /0/x/2 (LwM2M Core TS 1.1, E.1)."""

    PSK = 0
    RPK = 1
    CERTIFICATE = 2
    NO_SEC = 3
    CERTIFICATE_EST = 4


@dataclass(frozen=True, slots=True)
class PskCredentials:
    """Client PSK: the identity (/0/x/3) and the key (/0/x/5)."""

    identity: bytes
    key: bytes

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("PSK key must not be empty")
        _identity_text(self.identity)


@dataclass(frozen=True, slots=True)
class CertificateCredentials:
    """X.509 credentials, all DER.

    ``certificate`` and ``private_key`` are this side's (/0/x/3, /0/x/5).
    ``trusted`` are the certificates the peer's chain must lead to (the
    server certificate /0/x/4 on a client, the client CAs on a server); a
    self-signed peer certificate may be trusted directly. With
    ``pin_peer`` the peer's end-entity certificate must instead be byte for
    byte one of ``trusted`` (certificate usage 3, "domain-issued
    certificate", TS 1.1 E.1 resource 15).
    """

    certificate: bytes
    private_key: bytes
    trusted: tuple[bytes, ...] = field(default=())
    chain: tuple[bytes, ...] = field(default=())
    pin_peer: bool = False


@dataclass(frozen=True, slots=True)
class DtlsPeerInfo:
    """What the handshake authenticated about a peer."""

    cipher_suite: str
    psk_identity: bytes | None = None
    certificate: bytes | None = None
    subject: str | None = None

    @property
    def identity(self) -> bytes | str | None:
        """The PSK identity, else the certificate subject."""
        return self.psk_identity if self.psk_identity is not None else self.subject


def credentials_for_security_mode(
    mode: int,
    public_key_or_identity: bytes,
    server_public_key: bytes,
    secret_key: bytes,
) -> PskCredentials | CertificateCredentials | None:
    """Credentials from the Security object resources 2, 3, 4 and 5.

    Returns ``None`` for NoSec. Raw public keys (mode 1) and EST (mode 4)
    raise :class:`NotImplementedError`: Mbed TLS 2.28, which python-mbedtls
    bundles, has no RFC 7250 raw public key support, and EST needs an
    enrolment protocol this stack does not have.
    """
    if mode == SecurityMode.PSK:
        return PskCredentials(public_key_or_identity, secret_key)
    if mode == SecurityMode.CERTIFICATE:
        trusted = (server_public_key,) if server_public_key else ()
        return CertificateCredentials(public_key_or_identity, secret_key, trusted)
    if mode == SecurityMode.NO_SEC:
        return None
    if mode == SecurityMode.RPK:
        raise NotImplementedError(
            "security mode 1 (raw public key) is not supported: Mbed TLS 2.28 "
            "(python-mbedtls) does not implement RFC 7250 raw public keys"
        )
    if mode == SecurityMode.CERTIFICATE_EST:
        raise NotImplementedError("security mode 4 (certificate with EST) is not supported")
    raise ValueError(f"unknown security mode {mode}")


def available_cipher_suites() -> tuple[str, ...]:
    """Every suite the bundled Mbed TLS offers, IANA spelling."""
    return tuple(_iana_name(name) for name in mtls.ciphers_available())


def _mbedtls_name(name: str) -> str:
    return name.replace("_", "-")


def _iana_name(name: str) -> str:
    return name.replace("-", "_")


def negotiated_suite(buffer: mtls.TLSWrappedBuffer) -> str:
    name = buffer.cipher()
    if not name:
        return ""
    return _iana_name(name.decode() if isinstance(name, bytes) else str(name))


def _identity_text(identity: bytes) -> str:
    # python-mbedtls passes identities as UTF-8 text both ways.
    try:
        return identity.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("PSK identity must be UTF-8 (python-mbedtls limitation)") from None


def _cipher_list(ciphers: Iterable[str] | None, default: Sequence[str]) -> tuple[str, ...]:
    wanted = tuple(default if ciphers is None else ciphers)
    if not wanted:
        raise ValueError("no cipher suite given")
    offered = set(mtls.ciphers_available())
    names = tuple(_mbedtls_name(c) for c in wanted)
    missing = [c for c, n in zip(wanted, names, strict=True) if n not in offered]
    if missing:
        raise ValueError(f"cipher suites not available in Mbed TLS: {', '.join(missing)}")
    return names


def _private_key(der: bytes) -> pk.ECC | pk.RSA:
    errors: list[str] = []
    for kind in (pk.ECC, pk.RSA):
        try:
            return kind.from_DER(der)
        except Exception as exc:  # python-mbedtls raises its own TLSError/ValueError types
            errors.append(f"{kind.__name__}: {exc}")
    raise ValueError(f"private key is not a DER EC or RSA key ({'; '.join(errors)})")


def _certificate(der: bytes, what: str) -> x509.CRT:
    try:
        return x509.CRT.from_DER(der)
    except Exception as exc:
        raise ValueError(f"{what} is not a DER X.509 certificate: {exc}") from None


def _certificate_options(cred: CertificateCredentials) -> dict[str, Any]:
    own = (
        _certificate(cred.certificate, "certificate"),
        *(_certificate(c, "chain certificate") for c in cred.chain),
    )
    options: dict[str, Any] = {"certificate_chain": (own, _private_key(cred.private_key))}
    trusted = [_certificate(c, "trusted certificate") for c in cred.trusted]
    if cred.pin_peer:
        # The peer is checked against the pinned certificate after the handshake.
        options["validate_certificates"] = False
    else:
        if not trusted:
            raise ValueError("certificate mode needs a trusted certificate (server cert or CA)")
        options["validate_certificates"] = True
        options["trust_store"] = mtls.TrustStore(trusted)
    return options


def _timeouts(initial: float, maximum: float) -> dict[str, Any]:
    # RFC 6347 4.2.4.1: initial 1 s, doubled each retransmission, at most 60 s.
    if not 0 < initial <= maximum:
        raise ValueError("retransmission timeouts need 0 < initial <= maximum")
    return {"handshake_timeout_min": initial, "handshake_timeout_max": maximum}


def client_configuration(
    psk: PskCredentials | None,
    certificate: CertificateCredentials | None,
    ciphers: Iterable[str] | None,
    retransmit_initial: float,
    retransmit_max: float,
) -> mtls.DTLSConfiguration:
    """Configuration of a client with exactly one kind of credentials."""
    if (psk is None) == (certificate is None):
        raise ValueError("give exactly one of psk= or certificate=")
    options = _timeouts(retransmit_initial, retransmit_max)
    options["lowest_supported_version"] = mtls.DTLSVersion.DTLSv1_2
    if psk is not None:
        options["pre_shared_key"] = (_identity_text(psk.identity), psk.key)
        options["ciphers"] = _cipher_list(ciphers, PSK_CIPHERS)
        options["validate_certificates"] = False
    else:
        assert certificate is not None
        options.update(_certificate_options(certificate))
        options["ciphers"] = _cipher_list(ciphers, CERTIFICATE_CIPHERS)
    return mtls.DTLSConfiguration(**options)


class PskStoreAdapter(Mapping[str, bytes]):
    """Presents a :data:`PskStore` to Mbed TLS and records who asked for what.

    Mbed TLS calls the lookup while a handshake step of one peer runs; the
    server sets :attr:`looked_up` to ``None`` before each step and reads the
    identity the peer presented afterwards.
    """

    __slots__ = ("_store", "looked_up")

    def __init__(self, store: PskStore) -> None:
        self._store = store
        self.looked_up: bytes | None = None

    def __getitem__(self, identity: str) -> bytes:
        raw = identity.encode("utf-8")
        store = self._store
        key = store.get(raw) if isinstance(store, Mapping) else store(raw)
        if not key:
            raise KeyError(identity)
        self.looked_up = raw
        return key

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def server_configuration(
    psk_store: PskStoreAdapter | None,
    certificate: CertificateCredentials | None,
    ciphers: Iterable[str] | None,
    retransmit_initial: float,
    retransmit_max: float,
) -> mtls.DTLSConfiguration:
    """Configuration of a server accepting PSK clients, certificate clients or both."""
    if psk_store is None and certificate is None:
        raise ValueError("give psk_store= or certificate= (or both)")
    options = _timeouts(retransmit_initial, retransmit_max)
    options["lowest_supported_version"] = mtls.DTLSVersion.DTLSv1_2
    default: tuple[str, ...] = ()
    if psk_store is not None:
        options["pre_shared_key_store"] = psk_store
        default += PSK_CIPHERS
    if certificate is not None:
        options.update(_certificate_options(certificate))
        default += CERTIFICATE_CIPHERS
    else:
        options["validate_certificates"] = False
    options["ciphers"] = _cipher_list(ciphers, default)
    return mtls.DTLSConfiguration(**options)


def peer_certificate(buffer: mtls.TLSWrappedBuffer) -> tuple[bytes | None, str | None]:
    """The peer's DER certificate and its subject, when one was presented."""
    der = buffer.getpeercert(binary_form=True)
    if not der:
        return None, None
    try:
        subject = x509.CRT.from_DER(der).subject
    except Exception:
        subject = None
    return bytes(der), subject

"""Helpers of the LwM2M-over-DTLS integration tests (no tests here).

Our Server on a :class:`DtlsServerTransport`, our Client provisioned with a
``coaps://`` Security instance in PSK or certificate mode, and the test PKI of
the transport tests (made with the openssl CLI at test time, no private key is
checked in). Transmission parameters are short so that a lost message fails
within a fraction of a second.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lwm2m.client.client import Client
from lwm2m.client.events import Event, RdEvent
from lwm2m.client.rd import RetryPolicy
from lwm2m.coap.layer import TransmissionParams
from lwm2m.objects import Device
from lwm2m.server import IdentityBinding, Server
from lwm2m.transport.base import Address
from lwm2m.transport.dtls import CertificateCredentials, DtlsServerTransport, PskStore
from lwm2m.transport.mixed import identity_text

HOST = "127.0.0.1"
FAST = TransmissionParams(ack_timeout=0.2, ack_random_factor=1.0, max_retransmit=1)
RETRY = RetryPolicy(initial_delay=0.2, max_delay=0.4, jitter=0.0, attempts=2)

PSK_IDENTITY = b"dev1-identity"
PSK_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
OTHER_IDENTITY = b"dev2-identity"
OTHER_KEY = bytes.fromhex("ffeeddccbbaa99887766554433221100")
PSK_STORE: dict[bytes, bytes] = {PSK_IDENTITY: PSK_KEY, OTHER_IDENTITY: OTHER_KEY}
#: Which identity may register which endpoint (4.03 otherwise).
BINDING = IdentityBinding(
    {"dev1-identity": "dev1", "dev2-identity": "dev2", "CN=urn:dev:ops:test-client": "dev1"}
)

DTLS_CONTENT_TYPES = {20, 21, 22, 23}


def _load_transport_conftest() -> ModuleType:
    """The PKI builder and relay of the DTLS transport tests, loaded by file path."""
    path = Path(__file__).parents[1] / "unit" / "transport" / "conftest.py"
    spec = importlib.util.spec_from_file_location("lwm2m_dtls_transport_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_transport_helpers = _load_transport_conftest()
make_pki: Callable[[Path], Any] = _transport_helpers.make_pki
Relay: type[Any] = _transport_helpers.Relay


@pytest.fixture(scope="module", name="pki")
def pki_fixture(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``pki``: a fresh test CA, server and client certificates (EC P-256, DER) per
    module; a test module imports it to use it."""
    return make_pki(Path(tmp_path_factory.mktemp("lwm2m-pki")))


async def dtls_server(
    *,
    port: int = 0,
    psk_store: PskStore | None = None,
    certificate: CertificateCredentials | None = None,
    **kwargs: Any,
) -> tuple[Server, DtlsServerTransport]:
    """A started Server on a DTLS listener with the identity binding of these tests."""
    transport = await DtlsServerTransport.create(
        HOST, port, psk_store=psk_store, certificate=certificate
    )
    kwargs.setdefault("transmission", FAST)
    kwargs.setdefault("default_timeout", 5.0)
    kwargs.setdefault("authorize", BINDING)
    server = Server(
        HOST,
        0,
        transport=transport,
        identity_of=lambda remote: identity_text(transport.peer_identity(remote)),
        **kwargs,
    )
    await server.start()
    return server, transport


def dtls_device(
    uri: str,
    name: str = "dev1",
    *,
    mode: int = 0,
    identity: bytes = PSK_IDENTITY,
    server_key: bytes = b"",
    secret: bytes = PSK_KEY,
    lifetime: int = 300,
    bootstrap: bool = False,
    **client_options: Any,
) -> Client:
    """A Client with one ``uri`` account (server 101, or the bootstrap server) whose
    Security instance has these values."""
    client_options.setdefault("transmission", FAST)
    client_options.setdefault("retry", RETRY)
    client = Client(name, **client_options)
    iid = client.add_server(uri, short_server_id=101, lifetime=lifetime, bootstrap=bootstrap)
    client.set(f"0/{iid}/2", mode)
    client.set(f"0/{iid}/3", identity)
    client.set(f"0/{iid}/4", server_key)
    client.set(f"0/{iid}/5", secret)
    Device(client.store, manufacturer="Acme", model="M1", serial="SN-1", firmware_version="1.0")
    return client


def coaps_uri(address: Address) -> str:
    return f"coaps://{address[0]}:{address[1]}"


class EventLog:
    """Every RD event of a client, with the loop time it arrived at."""

    def __init__(self, client: Client) -> None:
        self.events: list[tuple[float, Event]] = []
        client.on_event(self._on_event)

    def _on_event(self, event: Event) -> None:
        self.events.append((asyncio.get_running_loop().time(), event))

    def of(self, kind: RdEvent) -> list[tuple[float, Event]]:
        return [(t, e) for t, e in self.events if e.kind is kind]

    async def wait(self, kind: RdEvent, count: int = 1, timeout: float = 5.0) -> Event:
        async with asyncio.timeout(timeout):
            while len(self.of(kind)) < count:
                await asyncio.sleep(0.01)
        return self.of(kind)[count - 1][1]


async def poll(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def is_dtls_record(datagram: bytes) -> bool:
    """Starts with a DTLS 1.0/1.2 record header (RFC 6347 4.1)."""
    return (
        len(datagram) >= 13
        and datagram[0] in DTLS_CONTENT_TYPES
        and datagram[1] == 0xFE
        and datagram[2] in (0xFD, 0xFF)
    )

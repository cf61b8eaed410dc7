"""Fixtures for the DTLS transport tests.

``pki``: a test PKI made with the openssl CLI at test time (no private key is
checked in: every run makes a fresh CA, server and client certificates, EC
P-256, in a temporary directory). ``kit``: recorders, a dropping/recording
UDP relay, raw sockets and echo helpers, all closed at teardown.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lwm2m.transport.base import Address
from lwm2m.transport.dtls import CertificateCredentials, DtlsClientTransport, DtlsServerTransport


@dataclass(frozen=True, slots=True)
class Party:
    cert: bytes
    key: bytes
    cert_pem: Path
    key_pem: Path


@dataclass(frozen=True, slots=True)
class Pki:
    ca: Party
    server: Party
    client: Party
    rogue_ca: Party
    rogue_client: Party
    self_signed_server: Party

    def server_credentials(self, **kwargs: object) -> CertificateCredentials:
        return CertificateCredentials(
            self.server.cert,
            self.server.key,
            (self.ca.cert,),
            **kwargs,  # type: ignore[arg-type]
        )

    def client_credentials(self, **kwargs: object) -> CertificateCredentials:
        return CertificateCredentials(
            self.client.cert,
            self.client.key,
            (self.ca.cert,),
            **kwargs,  # type: ignore[arg-type]
        )


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed to make test certificates"
    subprocess.run([openssl, *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _der(directory: Path, name: str) -> Party:
    _openssl("x509", "-in", f"{name}.pem", "-outform", "DER", "-out", f"{name}.der", cwd=directory)
    _openssl("pkey", "-in", f"{name}.key", "-outform", "DER", "-out", f"{name}.kder", cwd=directory)
    return Party(
        (directory / f"{name}.der").read_bytes(),
        (directory / f"{name}.kder").read_bytes(),
        directory / f"{name}.pem",
        directory / f"{name}.key",
    )


def _new_key_args(name: str) -> list[str]:
    return [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        f"{name}.key",
    ]


def _ca(directory: Path, name: str, subject: str, usage: str = "keyCertSign,cRLSign") -> Party:
    _openssl(
        "req", "-x509", *_new_key_args(name), "-out", f"{name}.pem", "-subj", subject,
        "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", f"keyUsage=critical,{usage}",
        cwd=directory,
    )  # fmt: skip
    return _der(directory, name)


def _leaf(directory: Path, name: str, subject: str, ca: str) -> Party:
    _openssl("req", "-new", *_new_key_args(name), "-out", f"{name}.csr", "-subj", subject,
             cwd=directory)  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-set_serial", str(abs(hash(name)) % 10**9 + 2), "-days", "2", "-out", f"{name}.pem",
        cwd=directory,
    )  # fmt: skip
    return _der(directory, name)


def make_pki(directory: Path) -> Pki:
    ca = _ca(directory, "ca", "/CN=lwm2m test CA")
    rogue = _ca(directory, "rogue", "/CN=rogue CA")
    return Pki(
        ca=ca,
        server=_leaf(directory, "server", "/CN=localhost", "ca"),
        client=_leaf(directory, "client", "/CN=urn:dev:ops:test-client", "ca"),
        rogue_ca=rogue,
        rogue_client=_leaf(directory, "rogue-client", "/CN=rogue-client", "rogue"),
        self_signed_server=_ca(
            directory, "selfsigned", "/CN=self-signed server", "digitalSignature,keyCertSign"
        ),
    )


class Recorder:
    """Collects datagrams delivered by a transport; awaits a count."""

    def __init__(self) -> None:
        self.datagrams: list[tuple[bytes, Address]] = []
        self.errors: list[tuple[OSError, Address | None]] = []
        self._event = asyncio.Event()

    def on_datagram(self, data: bytes, remote: Address) -> None:
        self.datagrams.append((data, remote))
        self._event.set()

    def on_error(self, exc: OSError, remote: Address | None) -> None:
        self.errors.append((exc, remote))
        self._event.set()

    async def wait(self, predicate: Callable[[Recorder], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._event.clear()
                await self._event.wait()


class _RawProtocol(asyncio.DatagramProtocol):
    def __init__(self, sink: list[tuple[bytes, Address]]) -> None:
        self.sink = sink

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.sink.append((data, (str(addr[0]), int(addr[1]))))  # type: ignore[call-overload]


async def raw_socket(
    remote: Address | None = None,
) -> tuple[asyncio.DatagramTransport, list[tuple[bytes, Address]]]:
    """A plain UDP socket on loopback and the list it records received datagrams into."""
    loop = asyncio.get_running_loop()
    received: list[tuple[bytes, Address]] = []
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _RawProtocol(received),
        local_addr=("127.0.0.1", 0) if remote is None else None,
        remote_addr=remote,
    )
    return transport, received


class Relay:
    """A UDP relay between one client and a server that can drop and record datagrams.

    ``drop_to_server(n, data)`` decides per datagram (``n`` counts from 0) whether
    the client's datagram is dropped.
    """

    def __init__(self, server: Address) -> None:
        self.server = server
        self.to_server: list[bytes] = []
        self.to_client: list[bytes] = []
        self.drop_to_server: Callable[[int, bytes], bool] = lambda n, data: False
        self.drop_to_client: Callable[[int, bytes], bool] = lambda n, data: False
        self._front: asyncio.DatagramTransport | None = None
        self._back: asyncio.DatagramTransport | None = None
        self._client: Address | None = None

    async def start(self) -> Address:
        loop = asyncio.get_running_loop()
        relay = self

        class Front(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
                relay._client = (str(addr[0]), int(addr[1]))  # type: ignore[call-overload]
                n = len(relay.to_server)
                relay.to_server.append(data)
                if not relay.drop_to_server(n, data) and relay._back is not None:
                    relay._back.sendto(data)

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
                n = len(relay.to_client)
                relay.to_client.append(data)
                if (
                    not relay.drop_to_client(n, data)
                    and relay._front is not None
                    and relay._client is not None
                ):
                    relay._front.sendto(data, relay._client)

        self._front, _ = await loop.create_datagram_endpoint(Front, local_addr=("127.0.0.1", 0))
        self._back, _ = await loop.create_datagram_endpoint(Back, remote_addr=self.server)
        host, port = self._front.get_extra_info("sockname")[:2]
        return (host, port)

    def close(self) -> None:
        for t in (self._front, self._back):
            if t is not None:
                t.close()


class Kit:
    """Helpers for one test; everything it opens is closed at teardown."""

    def __init__(self) -> None:
        self._closers: list[Callable[[], None]] = []

    def recorder(self) -> Recorder:
        return Recorder()

    @staticmethod
    async def poll(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)

    async def relay(self, server: Address) -> tuple[Relay, Address]:
        relay = Relay(server)
        front = await relay.start()
        self._closers.append(relay.close)
        return relay, front

    async def raw_socket(
        self, remote: Address | None = None
    ) -> tuple[asyncio.DatagramTransport, list[tuple[bytes, Address]]]:
        transport, received = await raw_socket(remote)
        self._closers.append(transport.close)
        return transport, received

    @staticmethod
    def echo(server: DtlsServerTransport, rec: Recorder | None = None) -> None:
        """Answer every datagram with b"echo:" + datagram."""

        def on_datagram(data: bytes, remote: Address) -> None:
            if rec is not None:
                rec.on_datagram(data, remote)
            server.send(b"echo:" + data, remote)

        server.set_callbacks(on_datagram, rec.on_error if rec is not None else _ignore)

    @staticmethod
    async def roundtrip(client: DtlsClientTransport, payload: bytes) -> bytes:
        rec = Recorder()
        client.set_callbacks(rec.on_datagram, rec.on_error)
        client.send(payload, client.remote_address)
        await rec.wait(lambda r: bool(r.datagrams), timeout=3)
        return rec.datagrams[0][0]

    def close(self) -> None:
        for close in reversed(self._closers):
            close()


def _ignore(exc: OSError, remote: Address | None) -> None:
    return None


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(Path(tmp_path_factory.mktemp("pki")))


@pytest.fixture
async def kit() -> AsyncIterator[Kit]:
    helpers = Kit()
    yield helpers
    helpers.close()

"""DTLS interoperability with libcoap 4.3 (Debian libcoap3-bin, OpenSSL build).

``coap-client-openssl`` against our DTLS server with a CoAP Endpoint on it,
and our DTLS client with an Endpoint against ``coap-server-openssl``. The
negotiated cipher suite is printed (``pytest -s`` shows it). libcoap takes
PSK keys as text on the command line.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator

import pytest

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.transport.base import Address
from lwm2m.transport.dtls import (
    PSK_CIPHERS,
    DtlsClientTransport,
    DtlsHandshakeError,
    DtlsPeerInfo,
    DtlsServerTransport,
)

pytestmark = pytest.mark.interop

IDENTITY = "lwm2m-interop"
KEY = "secretPSK"


def binary(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found: install Debian's libcoap3-bin (make deps)"
    return path


def free_port_pair() -> int:
    """A port p with p and p + 1 free (coap-server listens on p, coaps on p + 1)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise AssertionError("no free UDP port pair on loopback")


async def run(*args: str, timeout: float = 20.0) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@pytest.mark.parametrize("suite", PSK_CIPHERS)
async def test_libcoap_client_gets_our_dtls_server(suite: str) -> None:
    client_bin = binary("coap-client-openssl")
    server = await DtlsServerTransport.create(
        psk_store={IDENTITY.encode(): KEY.encode()}, ciphers=[suite]
    )
    sessions: list[DtlsPeerInfo] = []
    server.set_session_callback(lambda remote, info: info is not None and sessions.append(info))
    identities: list[bytes | str | None] = []

    def handler(request: Message, remote: Address) -> Message:
        identities.append(server.peer_identity(remote))
        return Message.response_to(request, Code.CONTENT, b"hello over coaps")

    endpoint = Endpoint(server)
    endpoint.add_resource("/test", handler)
    try:
        port = server.local_address[1]
        code, out, err = await run(
            client_bin, "-u", IDENTITY, "-k", KEY, "-B", "10",
            f"coaps://127.0.0.1:{port}/test",
        )  # fmt: skip
        assert code == 0, err
        assert "hello over coaps" in out
        assert identities == [IDENTITY.encode()]
        assert [s.cipher_suite for s in sessions] == [suite]
        print(f"coap-client-openssl -> our DTLS server: {sessions[0].cipher_suite}")
    finally:
        await endpoint.close()


@pytest.fixture
async def libcoap_server() -> AsyncIterator[int]:
    """coap-server-openssl with a PSK; yields its coaps port."""
    server_bin = binary("coap-server-openssl")
    port = free_port_pair()
    proc = await asyncio.create_subprocess_exec(
        server_bin, "-A", "127.0.0.1", "-p", str(port), "-k", KEY, "-v", "3",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await asyncio.sleep(0.2)
        assert proc.returncode is None, "coap-server-openssl exited at start"
        yield port + 1
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 5)


async def connect_with_retry(port: int, **kwargs: object) -> DtlsClientTransport:
    """The server may need a moment to bind: retry a refused handshake briefly."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while True:
        try:
            return await DtlsClientTransport.connect(
                ("127.0.0.1", port),
                handshake_timeout=3,
                **kwargs,  # type: ignore[arg-type]
            )
        except DtlsHandshakeError as exc:
            if "unreachable" not in str(exc) or loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_our_client_gets_from_libcoap_server(libcoap_server: int) -> None:
    client = await connect_with_retry(libcoap_server, psk=(IDENTITY.encode(), KEY.encode()))
    endpoint = Endpoint(client)
    try:
        assert client.cipher_suite == "TLS_PSK_WITH_AES_128_CCM_8"
        print(f"our DTLS client -> coap-server-openssl: {client.cipher_suite}")
        response = await endpoint.get("/", remote=client.remote_address, timeout=10)
        assert response.code == Code.CONTENT
        assert b"libcoap" in response.payload  # the server's description text
        # A second request on the same session.
        again = await endpoint.get("/time", remote=client.remote_address, timeout=10)
        assert again.code == Code.CONTENT
    finally:
        await endpoint.close()
    assert client.is_closed


async def test_wrong_key_against_libcoap_server(libcoap_server: int) -> None:
    # OpenSSL drops the bad Finished without an alert: the handshake times out.
    with pytest.raises(DtlsHandshakeError, match=r"handshake (failed|timed out)"):
        await connect_with_retry(libcoap_server, psk=(IDENTITY.encode(), b"not the key"))

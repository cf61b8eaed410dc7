"""DTLS benchmark: PSK handshakes per second, and CoAP GET round trips over DTLS vs UDP.

Everything runs in one process on loopback: our DTLS client against our DTLS
server (TLS_PSK_WITH_AES_128_CCM_8).

* handshakes/s: sequential full handshakes (cookie exchange included), each
  on a fresh client socket, closed with close_notify.
* round trips/s: sequential confirmable GETs from a client ``Endpoint`` to a
  server ``Endpoint`` answering 2.05 with a short payload, once over one
  established DTLS session and once over plain UDP (the baseline, same run),
  in alternating rounds after a warm-up; each figure is the best round.

The last line is

    RESULT handshakes_per_s=<n> dtls_vs_udp_ratio=<x>

with ratio = DTLS round trips/s / UDP round trips/s (higher is better; the
target is >= 0.5).

Run: ``python benchmarks/dtls.py``
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.transport.base import Address
from lwm2m.transport.dtls import DtlsClientTransport, DtlsServerTransport

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved_best

IDENTITY, KEY = b"bench-client", b"bench-key-0123456789"
HANDSHAKES = 200
ROUNDS = 5
REQUESTS = 2000
PAYLOAD = b"21.5"


def handler(request: Message, remote: Address) -> Message:
    return Message.response_to(request, Code.CONTENT, PAYLOAD)


async def handshakes_per_second(server: DtlsServerTransport) -> float:
    start = time.perf_counter()
    for _ in range(HANDSHAKES):
        client = await DtlsClientTransport.connect(server.local_address, psk=(IDENTITY, KEY))
        client.close()
    return HANDSHAKES / (time.perf_counter() - start)


async def round_trips(server: DtlsServerTransport) -> tuple[float, float, str]:
    """UDP and DTLS GET round trips/s, measured in alternating rounds after a warm-up."""
    dtls_server = Endpoint(server)
    dtls_server.add_resource("/3303", handler)
    transport = await DtlsClientTransport.connect(server.local_address, psk=(IDENTITY, KEY))
    dtls_client = Endpoint(transport)
    udp_server = await Endpoint.create_udp("127.0.0.1", 0)
    udp_server.add_resource("/3303", handler)
    udp_client = await Endpoint.create_udp("127.0.0.1", 0)

    def getter(client: Endpoint, remote: Address) -> Callable[[int], Awaitable[None]]:
        async def one(_: int) -> None:
            response = await client.get("/3303/0/5700", remote=remote)
            assert response.code == Code.CONTENT

        return one

    try:
        udp, dtls = await interleaved_best(
            REQUESTS,
            [
                getter(udp_client, udp_server.local_address),
                getter(dtls_client, transport.remote_address),
            ],
            repeats=ROUNDS,
        )
        return udp, dtls, transport.cipher_suite
    finally:
        for ep in (dtls_client, dtls_server, udp_client, udp_server):
            await ep.close()


async def main() -> None:
    server = await DtlsServerTransport.create(
        "127.0.0.1", 0, psk_store={IDENTITY: KEY}, ciphers=["TLS_PSK_WITH_AES_128_CCM_8"]
    )
    hs = await handshakes_per_second(server)
    print(f"PSK handshakes/s (sequential, with cookie exchange): {hs:10.1f}")
    udp, dtls, suite = await round_trips(server)
    ratio = dtls / udp
    print(f"CoAP GET round trips/s over UDP:                     {udp:10.1f}")
    print(f"CoAP GET round trips/s over DTLS ({suite}): {dtls:10.1f}")
    print(f"DTLS / UDP:                                          {ratio:10.2f}")
    print(f"RESULT handshakes_per_s={hs:.0f} dtls_vs_udp_ratio={ratio:.2f}")


if __name__ == "__main__":
    asyncio.run(main())

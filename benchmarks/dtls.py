"""DTLS benchmark: PSK handshakes per second, and CoAP GET round trips over DTLS vs UDP.

Everything runs in one process on loopback: our DTLS client against our DTLS
server (TLS_PSK_WITH_AES_128_CCM_8).

* handshakes/s: sequential full handshakes (cookie exchange included), each
  on a fresh client socket, closed with close_notify.
* round trips/s: sequential confirmable GETs from a client ``Endpoint`` to a
  server ``Endpoint`` answering 2.05 with a short payload, once over one
  established DTLS session and once over plain UDP (the baseline, same run).
  Each figure is the best of several rounds.

The last line is

    RESULT handshakes_per_s=<n> dtls_vs_udp_ratio=<x>

with ratio = DTLS round trips/s / UDP round trips/s (higher is better; the
target is >= 0.5).

Run: ``python benchmarks/dtls.py``
"""

from __future__ import annotations

import asyncio
import time

from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.transport.base import Address
from lwm2m.transport.dtls import DtlsClientTransport, DtlsServerTransport

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


async def round_trips_per_second(client: Endpoint, remote: Address) -> float:
    best = 0.0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(REQUESTS):
            response = await client.get("/3303/0/5700", remote=remote)
            assert response.code == Code.CONTENT
        best = max(best, REQUESTS / (time.perf_counter() - start))
    return best


async def dtls_round_trips(server: DtlsServerTransport) -> tuple[float, str]:
    server_ep = Endpoint(server)
    server_ep.add_resource("/3303", handler)
    transport = await DtlsClientTransport.connect(server.local_address, psk=(IDENTITY, KEY))
    client_ep = Endpoint(transport)
    try:
        rate = await round_trips_per_second(client_ep, transport.remote_address)
        return rate, transport.cipher_suite
    finally:
        await client_ep.close()
        await server_ep.close()


async def udp_round_trips() -> float:
    server_ep = await Endpoint.create_udp("127.0.0.1", 0)
    server_ep.add_resource("/3303", handler)
    client_ep = await Endpoint.create_udp("127.0.0.1", 0)
    try:
        return await round_trips_per_second(client_ep, server_ep.local_address)
    finally:
        await client_ep.close()
        await server_ep.close()


async def main() -> None:
    server = await DtlsServerTransport.create(
        "127.0.0.1", 0, psk_store={IDENTITY: KEY}, ciphers=["TLS_PSK_WITH_AES_128_CCM_8"]
    )
    hs = await handshakes_per_second(server)
    print(f"PSK handshakes/s (sequential, with cookie exchange): {hs:10.1f}")
    udp = await udp_round_trips()
    dtls, suite = await dtls_round_trips(server)
    ratio = dtls / udp
    print(f"CoAP GET round trips/s over UDP:                     {udp:10.1f}")
    print(f"CoAP GET round trips/s over DTLS ({suite}): {dtls:10.1f}")
    print(f"DTLS / UDP:                                          {ratio:10.2f}")
    print(f"RESULT handshakes_per_s={hs:.0f} dtls_vs_udp_ratio={ratio:.2f}")


if __name__ == "__main__":
    asyncio.run(main())

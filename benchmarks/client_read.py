"""LwM2M Read benchmark: Read /3/0 from a registered client vs a bare asyncio UDP echo.

A test server Endpoint and a :class:`lwm2m.Client` with a Device object share one event
loop on loopback. The client registers at the server's /rd (answered 2.01), then the
server sends sequential CON GET /3/0 requests to the address the client registered
from, once with Accept TLV and once with Accept SenML CBOR: each read goes through
the client's Endpoint, its RD state check, the engine (dispatch, read of the store,
the encoder) and back. The baseline of :mod:`_common` (a bare asyncio UDP echo) is
measured in the same run, alternating with the reads, best of a few runs each; so
is, for context, a CoAP GET answered by a bare Endpoint handler with a fixed body
(the CoAP share of a read, without the client).

The last line is

    RESULT read_tlv_ratio=<x> read_senml_cbor_ratio=<x>

with ratio = reads per second / echo round trips per second (target >= 0.30 each).

Run: ``python benchmarks/client_read.py [--n 3000] [--profile]``
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _common module
from _common import UdpEcho, interleaved_best, measure_rate, result_line
from lwm2m.client.client import Client
from lwm2m.client.events import RdEvent
from lwm2m.coap import Code, ContentFormat, Endpoint, Message
from lwm2m.objects import Device
from lwm2m.transport.base import Address

FORMATS = {"tlv": ContentFormat.LWM2M_TLV, "senml_cbor": ContentFormat.SENML_CBOR}


@dataclass(slots=True)
class Figures:
    """Operations per second: reads in each format and the echo baseline."""

    reads: dict[str, float]
    echo: float
    coap: float

    def ratio(self, name: str) -> float:
        return self.reads[name] / self.echo

    def report(self) -> list[str]:
        lines = [
            f"bare asyncio UDP echo          {self.echo:10.0f} round trips/s",
            f"CoAP GET, fixed body (context) {self.coap:10.0f} round trips/s   "
            f"ratio {self.coap / self.echo:.2f}",
        ]
        for name, rate in self.reads.items():
            lines.append(
                f"Read /3/0 {name:<12}         {rate:10.0f} reads/s   "
                f"ratio {self.ratio(name):.2f}  (target >= 0.30)"
            )
        lines.append(
            result_line(
                read_tlv_ratio=f"{self.ratio('tlv'):.2f}",
                read_senml_cbor_ratio=f"{self.ratio('senml_cbor'):.2f}",
            )
        )
        return lines


async def registered_client() -> tuple[Client, Endpoint, Address]:
    """A client with a Device object, registered at a fresh test server."""
    server = await Endpoint.create_udp("127.0.0.1", 0)
    seen: list[Address] = []

    async def rd(request: Message, remote: Address) -> Message:
        seen.append(remote)
        return Message(code=Code.CREATED, options=[(8, b"rd"), (8, b"bench")])

    server.add_resource("/rd", rd)
    client = Client("bench-device")
    Device(
        client.store,
        manufacturer="Open Mobile Alliance",
        model="Lightweight M2M Client",
        serial="345000123",
        firmware_version="1.0",
        battery_level=100,
        memory_free=15,
        memory_total=128,
    )
    client.add_server(f"coap://127.0.0.1:{server.local_address[1]}", short_server_id=1)
    await client.start()
    await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=10)
    return client, server, seen[-1]


def reader(server: Endpoint, device: Address, accept: int) -> object:
    async def read(_: int) -> None:
        response = await server.get("/3/0", remote=device, accept=accept)
        if response.code != Code.CONTENT or response.content_format != accept:
            raise RuntimeError(f"unexpected response {response!r}")

    return read


async def fixed_body(request: Message, remote: Address) -> Message:
    return Message(code=Code.CONTENT, payload=bytes(120), options=[(12, b"\x2d\x16")])


async def run(n: int, warmup: int, repeats: int, profile: bool) -> Figures:
    client, server, device = await registered_client()
    bare = await Endpoint.create_udp("127.0.0.1", 0)
    bare.add_resource("/3/0", fixed_body)
    try:
        ops = {name: reader(server, device, cf) for name, cf in FORMATS.items()}
        coap = reader(server, bare.local_address, ContentFormat.LWM2M_TLV)
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for op in ops.values():
                await measure_rate(n, op)  # type: ignore[arg-type]
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        async with UdpEcho() as echo:
            rates = await interleaved_best(
                n,
                [echo.ping, coap, *ops.values()],  # type: ignore[list-item]
                warmup=warmup,
                repeats=repeats,
            )
    finally:
        await client.stop(deregister=False)
        await server.close()
        await bare.close()
    return Figures(dict(zip(FORMATS, rates[2:], strict=True)), rates[0], rates[1])


def main(argv: list[str] | None = None) -> Figures:
    """Parse ``argv``, run, print the figures and the RESULT line; returns the figures."""
    parser = argparse.ArgumentParser(description="LwM2M Read /3/0 vs a bare UDP echo")
    parser.add_argument("--n", type=int, default=3000, help="reads per run")
    parser.add_argument("--warmup", type=int, default=300, help="reads before measuring")
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (best kept)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the reads")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.n, args.warmup, args.repeats, args.profile))
    for line in figures.report():
        print(line)
    return figures


if __name__ == "__main__":
    main()

"""CoAP round-trip benchmark: CON GET through our Endpoint vs a bare asyncio UDP echo.

A client Endpoint and a server Endpoint share one event loop on loopback with the
baseline of :mod:`_common` (a bare asyncio UDP echo). Measured in the same run, the
two contenders alternating, each the best of a few runs after a warm-up:

* sequential CON GET round trips per second through our endpoints, and the same
  number of sequential round trips through the echo;
* both again with ``--window`` (default 50) requests in flight (``asyncio.gather``).

The last line is

    RESULT coap_rt_per_s=<n> echo_rt_per_s=<n> ratio=<ours/echo>

from the sequential figures. The target is ratio >= 0.40.

Run: ``python benchmarks/coap_roundtrip.py [--n 5000] [--window 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _common module
from _common import UdpEcho, interleaved_best, result_line
from lwm2m.coap import Code, ContentFormat, Endpoint, Message
from lwm2m.transport.base import Address

PATH = "/3/0/0"
BODY = b"Open Mobile Alliance"


@dataclass(slots=True)
class Figures:
    """Round trips per second; ``*_window`` with ``window`` requests in flight."""

    coap: float
    echo: float
    coap_window: float
    echo_window: float
    window: int

    @property
    def ratio(self) -> float:
        return self.coap / self.echo

    @property
    def window_ratio(self) -> float:
        return self.coap_window / self.echo_window

    def result(self) -> str:
        return result_line(
            coap_rt_per_s=round(self.coap),
            echo_rt_per_s=round(self.echo),
            ratio=f"{self.ratio:.2f}",
        )

    def report(self) -> list[str]:
        w = f"{self.window} in flight"
        return [
            f"sequential CON GET, our endpoints  {self.coap:10.0f} round trips/s",
            f"sequential, bare asyncio UDP echo  {self.echo:10.0f} round trips/s",
            f"ratio ours / echo                  {self.ratio:10.2f}  (target >= 0.40)",
            f"{w:<12}, our endpoints        {self.coap_window:10.0f} round trips/s",
            f"{w:<12}, bare echo            {self.echo_window:10.0f} round trips/s",
            f"{w:<12}, ratio ours / echo    {self.window_ratio:10.2f}",
            self.result(),
        ]


async def _manufacturer(request: Message, remote: Address) -> Message:
    return Message.response_to(request, Code.CONTENT, BODY, content_format=ContentFormat.TEXT_PLAIN)


async def run(n: int, window: int, warmup: int, repeats: int) -> Figures:
    """Set up both pairs once, then measure them alternately (sequential, then windowed)."""
    server = await Endpoint.create_udp("127.0.0.1", 0)
    client = await Endpoint.create_udp("127.0.0.1", 0)
    try:
        server.add_resource(PATH, _manufacturer)
        remote = server.local_address

        async def coap_get(_: int) -> None:
            response = await client.get(PATH, remote=remote)
            if response.code != Code.CONTENT or response.payload != BODY:
                raise RuntimeError(f"unexpected response {response!r}")

        async with UdpEcho() as echo:
            ops = [coap_get, echo.ping]
            coap, plain = await interleaved_best(n, ops, warmup=warmup, repeats=repeats)
            coap_w, plain_w = await interleaved_best(
                n, ops, window=window, warmup=warmup, repeats=repeats
            )
    finally:
        await client.close()
        await server.close()
    return Figures(coap, plain, coap_w, plain_w, window)


def main(argv: list[str] | None = None) -> Figures:
    """Parse ``argv``, run, print the figures and the RESULT line; returns the figures."""
    parser = argparse.ArgumentParser(description="CoAP GET round trips vs a bare UDP echo")
    parser.add_argument("--n", type=int, default=5000, help="round trips per run")
    parser.add_argument("--window", type=int, default=50, help="requests in flight")
    parser.add_argument("--warmup", type=int, default=500, help="round trips before measuring")
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (best kept)")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.n, args.window, args.warmup, args.repeats))
    for line in figures.report():
        print(line)
    return figures


if __name__ == "__main__":
    main()

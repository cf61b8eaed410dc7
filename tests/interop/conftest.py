"""Fixtures of the interop tests: our demo server and client, aiocoap peers, libcoap tools.

Every fixture closes what it opened (endpoints, aiocoap contexts, child processes). A
module that uses ``no_stack_errors`` fails each test in which our stack logged an error.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the shared interop_support module
from interop_support import (
    ClientFactory,
    DemoServer,
    RecordingTransport,
    recording_endpoint,
    require_binary,
)

from lwm2m.coap import Endpoint


@pytest.fixture
def no_stack_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A peer's datagram must never make our stack log an error (failed handler, bug)."""
    caplog.set_level(logging.WARNING, logger="lwm2m")
    yield
    errors = [
        r for r in caplog.records if r.name.startswith("lwm2m") and r.levelno >= logging.ERROR
    ]
    assert not errors, "our stack logged errors: " + "; ".join(r.getMessage() for r in errors)


@pytest.fixture
async def demo_server() -> AsyncIterator[DemoServer]:
    """Our Endpoint as a server with the demo resources (default block size 1024)."""
    server = await DemoServer.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def sized_demo_server(request: pytest.FixtureRequest) -> AsyncIterator[DemoServer]:
    """The demo server preferring ``request.param``-byte blocks (parametrize indirectly)."""
    server = await DemoServer.start(block_size=request.param)
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """``await make_client(block_size=...)``: our Endpoint on a recording transport."""
    made: list[Endpoint] = []

    async def factory(**kwargs: object) -> tuple[Endpoint, RecordingTransport]:
        endpoint, transport = await recording_endpoint(**kwargs)
        made.append(endpoint)
        return endpoint, transport

    try:
        yield factory
    finally:
        for endpoint in made:
            await endpoint.close()


@pytest.fixture
def coap_client_bin() -> str:
    return require_binary("coap-client-notls")


@pytest.fixture
def coap_server_bin() -> str:
    return require_binary("coap-server-notls")

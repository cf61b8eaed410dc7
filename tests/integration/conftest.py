"""Fixtures of the integration tests (in-process peers over loopback).

Client-side fixtures are named ``client_*``; their helpers live in ``client_support``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lwm2m.server.bootstrap import BootstrapServer

sys.path.insert(0, str(Path(__file__).parent))  # the shared client_support module
sys.path.insert(0, str(Path(__file__).parents[1]))  # and tests/server_process.py
from client_support import ClientRig, TestServer, close_rig, make_rig
from server_support import FAST, HOST
from test_rd_support import ScriptedServer


@pytest.fixture
async def client_server() -> AsyncIterator[TestServer]:
    """A raw CoAP endpoint acting as LwM2M server: /rd answers Register with 2.01 rd/<n>."""
    server = await TestServer.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def client_rig(client_server: TestServer) -> AsyncIterator[ClientRig]:
    """A real Client with the conformance objects, registered to ``client_server``."""
    rig = await make_rig(client_server)
    try:
        yield rig
    finally:
        await close_rig(rig)


@pytest.fixture
async def client_rig_10(client_server: TestServer) -> AsyncIterator[ClientRig]:
    """The same client speaking LwM2M 1.0."""
    rig = await make_rig(client_server, lwm2m_version="1.0")
    try:
        yield rig
    finally:
        await close_rig(rig)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    """The scripted LwM2M server of the RD-client tests (``test_rd_support``)."""
    srv = await ScriptedServer.start()
    try:
        yield srv
    finally:
        await srv.close()


@pytest.fixture
async def bs_server() -> AsyncIterator[BootstrapServer]:
    """Our bootstrap server on a free loopback port, with short CoAP timers."""
    server = BootstrapServer(transmission=FAST, request_timeout=3.0)
    await server.start(HOST, coap_port=0)
    yield server
    await server.close()

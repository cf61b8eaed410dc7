"""Fixtures of the chaos tests: loss, restarts, outages, rebinding and floods on loopback.

Each scenario prints what it measured (``pytest -s`` shows it) and puts the
same figures in its assertion messages. The short versions run in the default
test run; the long ones are marked ``slow`` (``make test-slow``).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the shared chaos_support module
sys.path.insert(0, str(Path(__file__).parents[1]))  # and tests/server_process.py
from chaos_support import Relay, RelayFactory

from lwm2m.transport.base import Address


@pytest.fixture
async def make_relay() -> AsyncIterator[RelayFactory]:
    """``relay, front = await make_relay(server_address, seed=..., ...)``; closed at teardown."""
    made: list[Relay] = []

    async def factory(server: Address, **kwargs: Any) -> tuple[Relay, Address]:
        relay = Relay(server, **kwargs)
        front = await relay.start()
        made.append(relay)
        return relay, front

    yield factory
    for relay in made:
        relay.close()

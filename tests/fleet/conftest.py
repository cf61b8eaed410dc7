"""Fixtures of the fleet tests: a private ``lwm2m server`` per test, stopped by pid."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the shared fleet_support module
from fleet_support import Lwm2mServer


@pytest.fixture
def server() -> Iterator[Lwm2mServer]:
    """``lwm2m server`` on loopback with free CoAP and HTTP ports."""
    child = Lwm2mServer()
    try:
        yield child
    finally:
        child.stop()

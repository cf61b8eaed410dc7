"""`lwm2m demo` runs as a user runs it: a subprocess that must exit 0."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("extra", [[], ["--dtls"]], ids=["udp", "dtls"])
def test_demo_subprocess_exits_zero(extra: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lwm2m", "demo", *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for step in (
        "bootstrap",
        "Read /3/0 as TLV",
        "Execute /3/0/4",
        "notification 3",
        "De-register",
    ):
        assert step in out
    assert "every step passed" in out


def test_cli_without_command_prints_help_and_fails() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lwm2m"], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2 and "COMMAND" in proc.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["client"],
        ["client", "--server", "http://x"],
        ["client", "--server", "coap://127.0.0.1:1", "--lifetime", "abc"],
        ["client", "--server", "coap://127.0.0.1:1", "--psk-key", "zz"],
        ["client", "--server", "coaps://127.0.0.1:1"],
        ["demo", "--bogus"],
    ],
)
def test_cli_rejects_bad_flags(argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lwm2m", *argv], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "error" in proc.stderr

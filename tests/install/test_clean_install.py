"""``pip install lwm2m`` without extras: a working plain-UDP client and a Python-API server.

A fresh virtual environment (no pip, no network) gets the package and its one
required dependency (cbor2) on its path, nothing else: no aiohttp (http/server
extras), no python-mbedtls (dtls extra). In it the client registers over plain
UDP with a server, the Python-API server serves a client, and whatever needs an
extra says which one, without a traceback. (``make install-smoke`` does the same
with a real ``pip install`` into a separate venv.)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path as FsPath

import cbor2
import pytest

from lwm2m.server import Registered, Server

SRC = FsPath(__file__).resolve().parents[2] / "src" / "lwm2m"
HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The interpreter of a venv that holds lwm2m and cbor2 only."""
    root = tmp_path_factory.mktemp("bare-install")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = root / "site"
    shutil.copytree(SRC, site / "lwm2m", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "cbor2").symlink_to(FsPath(cbor2.__file__).parent)
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (FsPath(purelib) / "lwm2m-under-test.pth").write_text(f"{site}\n")
    return python


def run(python: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run([python, *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_no_optional_dependency_is_there(bare_python: str) -> None:
    result = run(
        bare_python,
        "-c",
        "import importlib.util as u, lwm2m, cbor2;"
        "print([m for m in ('aiohttp', 'mbedtls', 'redis') if u.find_spec(m)])",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_client_server_and_cli_import_nothing_optional(bare_python: str) -> None:
    code = textwrap.dedent(
        """
        import sys
        import lwm2m, lwm2m.client.client, lwm2m.server.server, lwm2m.server.bootstrap
        import lwm2m.sample, lwm2m.cli.main, lwm2m.cli.client
        lwm2m.cli.main.build_parser()
        print(sorted(m for m in ('aiohttp', 'mbedtls') if m in sys.modules))
        """
    )
    result = run(bare_python, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_python_api_server_and_client_over_udp(bare_python: str) -> None:
    code = textwrap.dedent(
        """
        import asyncio, lwm2m
        from lwm2m.server import Registered
        async def main():
            server = lwm2m.Server("127.0.0.1", 0)
            await server.start()
            client = lwm2m.Client("bare-api")
            client.create_instance(3, 0)
            client.set("3/0/0", "ACME")
            client.add_server(f"coap://127.0.0.1:{server.coap_address[1]}", lifetime=60)
            await client.start()
            await asyncio.wait_for(server.wait_for(Registered), 10)
            node = await server.read("bare-api", "/3/0/0")
            print("read", node.value)
            await client.stop()
            await server.stop()
        asyncio.run(main())
        """
    )
    result = run(bare_python, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "read ACME"


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server(HOST, 0)
    await srv.start()
    yield srv
    await srv.stop()


async def test_cli_client_registers_over_plain_udp(bare_python: str, server: Server) -> None:
    registered = server.wait_for(Registered)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = await asyncio.create_subprocess_exec(
        bare_python,
        "-m",
        "lwm2m",
        "client",
        "--server",
        f"coap://{HOST}:{server.coap_address[1]}",
        "--endpoint",
        "bare-cli",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    try:
        event = await asyncio.wait_for(registered, 20)
        assert event.registration.endpoint == "bare-cli"
        proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0, out.decode()
        assert b"REGISTRATION_COMPLETE" in out and b"Traceback" not in out
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_coaps_without_the_dtls_extra_says_so(bare_python: str) -> None:
    result = run(
        bare_python,
        "-m",
        "lwm2m",
        "client",
        "--server",
        "coaps://127.0.0.1:5684",
        "--psk-identity",
        "dev",
        "--psk-key",
        "00112233",
    )
    assert result.returncode == 2
    assert "coaps:// needs the 'dtls' extra: pip install 'lwm2m[dtls]'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_server_cli_names_the_extra_it_needs(bare_python: str) -> None:
    result = run(bare_python, "-m", "lwm2m", "server", "--coap-port", "0", "--http-port", "0")
    assert result.returncode == 1
    assert "lwm2m server needs the 'dtls' extra" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    help_text = run(bare_python, "-m", "lwm2m", "--help").stdout
    assert "server" in help_text and "unavailable" in help_text


def test_library_client_reports_the_missing_extra_as_a_network_error(bare_python: str) -> None:
    code = textwrap.dedent(
        """
        import asyncio, lwm2m
        async def main():
            client = lwm2m.Client("bare-dtls")
            client.add_server("coaps://127.0.0.1:9", psk_identity="id", psk_key=b"k")
            await client.start()
            event = await client.wait_for(lwm2m.RdEvent.NETWORK_ERROR, timeout=10)
            print(event.detail)
            await client.stop(deregister=False)
        asyncio.run(main())
        """
    )
    result = run(bare_python, "-c", code)
    assert result.returncode == 0, result.stderr
    assert "needs the 'dtls' extra" in result.stdout


@pytest.mark.parametrize(
    ("module", "command", "extra"),
    [
        ("mbedtls", "client", "dtls"),
        ("mbedtls.tls", "server", "dtls"),
        ("aiohttp", "server", "server"),
        ("aiohttp", "bootstrap_server", "server"),
        ("aiohttp", "client", "http"),
        ("matplotlib.pyplot", "fleet", "fleet"),
        ("redis", "server", "redis"),
    ],
)
def test_the_message_names_the_extra(module: str, command: str, extra: str) -> None:
    from lwm2m.cli.main import missing_extra

    message = missing_extra(
        ModuleNotFoundError(f"No module named {module!r}", name=module), command
    )
    assert message == (
        f"lwm2m {command.replace('_', '-')} needs the '{extra}' extra: pip install 'lwm2m[{extra}]'"
    )
    assert missing_extra(ModuleNotFoundError("x", name="nothing_optional"), command) is None

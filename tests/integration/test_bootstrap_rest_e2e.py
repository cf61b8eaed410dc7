"""End to end, as processes: a device provisioned only through the REST APIs bootstraps
over DTLS-PSK, registers with the LwM2M server with the PSK the bootstrap delivered, and
is read through the server's REST API.

``lwm2m bootstrap-server`` gets the device's bootstrap PSK (``PUT /api/security/clients/``)
and its configuration (``POST /api/bootstrap/{endpoint}``, Leshan's BootstrapConfig JSON:
one ``coaps://`` server account with the management PSK); ``lwm2m server`` gets the same
management PSK through its own ``PUT /api/security/clients/``. Then ``lwm2m client
--bootstrap`` runs with nothing but the bootstrap server's address and PSK. Every process
listens on loopback with port 0 (read back from its startup lines), everything is bounded
in time, and every process is stopped by its pid on the way out, whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path as FsPath
from typing import Any

import aiohttp
import pytest

HOST = "127.0.0.1"
ENDPOINT = "e2e-bs-dev"
BS_IDENTITY = "e2e-bs-identity"
BS_KEY = bytes.fromhex("0102030405060708090a0b0c0d0e0f10")
DM_IDENTITY = "e2e-dm-identity"
DM_KEY = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")  # high bytes: signed in Java
SHORT_SERVER_ID = 123

pytestmark = pytest.mark.timeout(90)


class Child:
    """``python -m lwm2m ...``; its output lines are collected as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._changed = asyncio.Event()
        assert proc.stdout is not None
        self._reader = asyncio.ensure_future(self._read(proc.stdout))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace").rstrip())
            self._changed.set()
        self._changed.set()

    async def wait_line(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        regex = re.compile(pattern)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while True:
                    for line in self.lines:
                        if match := regex.search(line):
                            return match
                    if self._reader.done():
                        break
                    self._changed.clear()
                    await self._changed.wait()
        pytest.fail(f"no line matching {pattern!r}; output:\n" + "\n".join(self.lines))

    async def stop(self) -> int | None:
        """SIGTERM to this pid, SIGKILL if it lingers; the exit status."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await asyncio.wait_for(self.proc.wait(), 10)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 5)
        return self.proc.returncode


@contextlib.asynccontextmanager
async def lwm2m(*args: str) -> AsyncIterator[Child]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lwm2m",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    child = Child(proc)
    try:
        yield child
    finally:
        await child.stop()


async def call(api: aiohttp.ClientSession, method: str, path: str, body: Any = None) -> str:
    async with api.request(method, path, json=body) as resp:
        text = await resp.text()
        assert resp.status in (200, 204), f"{method} {path}: {resp.status} {text}"
        return text


async def wait_registered(api: aiohttp.ClientSession, endpoint: str) -> dict[str, Any]:
    while True:
        async with api.get("/api/clients") as resp:
            assert resp.status == 200
            for client in await resp.json():
                if client["endpoint"] == endpoint:
                    return dict(client)
        await asyncio.sleep(0.1)


def signed(data: bytes) -> list[int]:
    """A Java byte[] as Jackson reads it from Leshan's UI: -128..127."""
    return [b - 256 if b > 127 else b for b in data]


async def test_device_provisioned_over_rest_bootstraps_registers_and_is_read(
    tmp_path: FsPath,
) -> None:
    async with asyncio.timeout(60):
        async with (
            lwm2m(
                "server", "--host", HOST, "--coap-port", "0", "--coaps-port", "0",
                "--http-port", "0",
            ) as server,
            lwm2m(
                "bootstrap-server", "--host", HOST, "--coap-port", "0", "--coaps-port", "0",
                "--http-port", "0", "--http-host", HOST, "--db", str(tmp_path / "bs.db"),
            ) as bootstrap,
        ):  # fmt: skip
            server_coaps = int((await server.wait_line(r"^coaps listening on \S+:(\d+)$"))[1])
            server_http = int((await server.wait_line(r"^http listening on \S+:(\d+)$"))[1])
            bs_coaps = int((await bootstrap.wait_line(r"^listening on coaps://\S+:(\d+)$"))[1])
            bs_http = int((await bootstrap.wait_line(r"^listening on http://\S+:(\d+)$"))[1])
            timeout = aiohttp.ClientTimeout(total=20)
            async with (
                aiohttp.ClientSession(f"http://{HOST}:{server_http}", timeout=timeout) as dm,
                aiohttp.ClientSession(f"http://{HOST}:{bs_http}", timeout=timeout) as bs,
            ):
                # the device's credential with the bootstrap server
                await call(bs, "PUT", "/api/security/clients/", _psk(BS_IDENTITY, BS_KEY))
                # what the bootstrap writes: one coaps:// account with the management PSK
                config = {
                    "toDelete": ["/0", "/1"],
                    "security": {
                        "1": {
                            "uri": f"coaps://{HOST}:{server_coaps}",
                            "bootstrapServer": False,
                            "securityMode": "PSK",
                            "publicKeyOrId": signed(DM_IDENTITY.encode()),
                            "secretKey": signed(DM_KEY),
                            "serverId": SHORT_SERVER_ID,
                        }
                    },
                    "servers": {"0": {"shortId": SHORT_SERVER_ID, "lifetime": 60}},
                    "oscore": {},
                }
                await call(bs, "POST", f"/api/bootstrap/{ENDPOINT}", config)
                stored = (await (await bs.get("/api/bootstrap")).json())[ENDPOINT]
                assert stored["security"]["1"]["secretKey"] == list(DM_KEY)  # unsigned out
                # the management server learns the same PSK through its own API
                await call(dm, "PUT", "/api/security/clients/", _psk(DM_IDENTITY, DM_KEY))

                async with lwm2m(
                    "client", "--server", f"coaps://{HOST}:{bs_coaps}", "--bootstrap",
                    "--endpoint", ENDPOINT, "--psk-identity", BS_IDENTITY,
                    "--psk-key", BS_KEY.hex(),  # lifetime: the sample's 300 until bootstrapped
                ) as client:  # fmt: skip
                    await bootstrap.wait_line(rf"^FINISHED {ENDPOINT} .*wrote /0/1 /1/0", 30)
                    async with asyncio.timeout(30):
                        registration = await wait_registered(dm, ENDPOINT)
                    assert registration["secure"] is True
                    assert registration["lifetime"] == 60  # the bootstrapped Server object
                    async with dm.get(f"/api/clients/{ENDPOINT}/3/0") as resp:
                        assert resp.status == 200, await resp.text()
                        answer = await resp.json()
                    assert answer["status"] == "CONTENT(205)"
                    assert answer["success"] is True and answer["valid"] is True
                    content = answer["content"]
                    assert content["kind"] == "instance" and content["id"] == 0
                    values = {r["id"]: r.get("value") for r in content["resources"]}
                    assert values[0] == "lwm2m-python" and values[2] == ENDPOINT
                    assert await client.stop() == 0
            assert await bootstrap.stop() == 0
            assert await server.stop() == 0
    assert any(line.startswith(f"STARTED {ENDPOINT} from 127.0.0.1:") for line in bootstrap.lines)
    assert not any(line.startswith("REJECTED") for line in bootstrap.lines)


def _psk(identity: str, key: bytes) -> dict[str, Any]:
    return {
        "endpoint": ENDPOINT,
        "tls": {"mode": "psk", "details": {"identity": identity, "key": key.hex()}},
    }

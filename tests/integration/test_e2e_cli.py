"""End to end: ``lwm2m server`` and ``lwm2m client`` as processes, driven through the REST API.

Every process is started with ``sys.executable -m lwm2m``, asked for port 0 and
read back from its startup lines; everything is bounded by timeouts and every
process is killed on the way out, whatever happened. The DTLS identity binding
(4.03) is checked against the same ``serve()`` in-process, with raw registrations.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import re
import shutil
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path as FsPath
from typing import Any

import aiohttp
import pytest

from lwm2m.cli._http import http_options
from lwm2m.cli.server import PskEntry, ServerOptions, serve
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.transport.dtls import DtlsClientTransport
from server_process import Lwm2mProcess

HOST = "127.0.0.1"
KEY_HEX = "000102030405060708090a0b0c0d0e0f"
_LISTENING = re.compile(r"^(coaps?|https?) listening on (\S+):(\d+)$")


class Process(Lwm2mProcess):
    """A ``python -m lwm2m ...`` child whose output lines are collected as they come."""

    async def wait_line(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """The first output line matching ``pattern`` (fails with the output so far)."""
        match = await super().wait_line(pattern, timeout)
        if match is None:
            pytest.fail(f"no line matching {pattern!r}; output:\n" + "\n".join(self.lines))
        return match


@contextlib.asynccontextmanager
async def lwm2m(*args: str) -> AsyncIterator[Process]:
    process = await Process.start(*args)
    try:
        yield process
    finally:
        await process.close()


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def wait_registered(
    session: aiohttp.ClientSession, endpoint: str, timeout: float = 15.0
) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            for client in await get_json(session, "/api/clients"):
                if client["endpoint"] == endpoint:
                    return dict(client)
            await asyncio.sleep(0.1)


async def next_event(resp: aiohttp.ClientResponse, name: str, timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        event = ""
        while line := (await resp.content.readline()).decode():
            if line.startswith("event: "):
                event = line[7:].strip()
            elif line.startswith("data: ") and event == name:
                return json.loads(line[6:])
    pytest.fail(f"the event stream ended before {name}")


def server_args(tmp_path: FsPath, *extra: str) -> list[str]:
    return [
        "server",
        "--host",
        HOST,
        "--coap-port",
        "0",
        "--coaps-port",
        "0",
        "--http-port",
        "0",
        "--db",
        str(tmp_path / "server.db"),
        *extra,
    ]


async def test_client_cli_registers_with_server_cli(tmp_path: FsPath) -> None:
    async with lwm2m(*server_args(tmp_path)) as server:
        ports = await server.ports()
        assert set(ports) == {"coap", "coaps", "http"}
        base = f"http://{HOST}:{ports['http']}"
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(base, timeout=timeout) as api,
            lwm2m(
                "client",
                "--server",
                f"coap://{HOST}:{ports['coap']}",
                "--endpoint",
                "e2e-dev",
                "--lifetime",
                "60",
            ) as client,
        ):
            reg = await wait_registered(api, "e2e-dev")
            assert reg["secure"] is False and reg["lifetime"] == 60
            await server.wait_line(r"^REGISTRATION e2e-dev ")
            body = await get_json(api, "/api/clients/e2e-dev/3/0/0")
            assert body["status"] == "CONTENT(205)" and body["success"] is True
            assert body["content"] == {
                "kind": "singleResource",
                "id": 0,
                "type": "STRING",
                "value": "lwm2m-python",
            }
            async with api.get("/api/event?ep=e2e-dev") as stream:
                assert (await stream.content.readline()).startswith(b":")
                assert await client.stop(signal.SIGINT) == 0
                gone = await next_event(stream, "DEREGISTRATION")
            assert gone["endpoint"] == "e2e-dev"
            assert gone["registrationId"] == reg["registrationId"]
            assert await get_json(api, "/api/clients") == []
        assert await server.stop(signal.SIGTERM) == 0


async def test_client_cli_over_dtls_psk(tmp_path: FsPath) -> None:
    psk = f"e2e-sec=e2e-identity:{KEY_HEX}"
    async with lwm2m(*server_args(tmp_path, "--psk", psk)) as server:
        ports = await server.ports()
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(f"http://{HOST}:{ports['http']}", timeout=timeout) as api,
            lwm2m(
                "client",
                "--server",
                f"coaps://{HOST}:{ports['coaps']}",
                "--endpoint",
                "e2e-sec",
                "--psk-identity",
                "e2e-identity",
                "--psk-key",
                KEY_HEX,
            ) as client,
        ):
            reg = await wait_registered(api, "e2e-sec")
            assert reg["secure"] is True
            body = await get_json(api, "/api/clients/e2e-sec/3/0/2?format=TEXT")
            assert body["content"]["value"] == "e2e-sec"  # the sample's serial is its name
            assert await client.stop(signal.SIGINT) == 0
        assert await server.stop(signal.SIGINT) == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--psk", "dev1"], "ENDPOINT=IDENTITY:HEXKEY"),
        (["--psk", "dev1=id:xyz"], "not hex"),
        (["--psk", "dev1=id:"], "empty"),
        (["--http-port", "70000"], "out of range"),
        (["--coap-port", "five"], "integer"),
        (["--psk", "a=id:00", "--psk", "b=id:01"], "given twice"),
        (["--http-host", "0.0.0.0"], "without authentication"),
        (["--http-host", "::"], "--api-token"),
        (["--api-token", "two words"], "white space"),
        (["--http-cert", "cert.pem"], "go together"),
        (["--http-cert", "missing.pem", "--http-key", "missing.key"], "--http-cert missing.pem"),
    ],
)
async def test_invalid_flags_exit_2(
    flags: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LWM2M_API_TOKEN", raising=False)
    process = await Process.start("server", "--coap-port", "0", "--http-port", "0", *flags)
    try:
        async with asyncio.timeout(20):
            status = await process.proc.wait()
            await process._reader
    finally:
        await process.close()
    output = "\n".join(process.lines)
    assert status == 2, output
    assert message in output


# --- the identity binding, in-process -------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(options: ServerOptions) -> AsyncIterator[dict[str, int]]:
    """Run ``serve(options)`` in this event loop; yield the bound ports."""
    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.ensure_future(serve(options, out=out, stop=stop))
    try:
        async with asyncio.timeout(10):
            while (
                "http listening" not in out.getvalue() and "https listening" not in out.getvalue()
            ):
                assert not task.done(), out.getvalue()
                await asyncio.sleep(0.01)
        ports = {}
        for line in out.getvalue().splitlines():
            if match := _LISTENING.match(line):
                ports[match.group(1)] = int(match.group(3))
        yield ports
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task


async def register(endpoint: Endpoint, remote: tuple[str, int], name: str) -> int:
    answer = await endpoint.request(
        Code.POST,
        "/rd",
        remote=remote,
        query=[f"ep={name}", "lt=60", "lwm2m=1.1", "b=U"],
        payload=b"</3/0>",
        content_format=ContentFormat.LINK_FORMAT,
        timeout=5.0,
    )
    return answer.code


async def test_psk_identity_is_bound_to_its_endpoint(tmp_path: FsPath) -> None:
    key = bytes.fromhex(KEY_HEX)
    options = ServerOptions(
        host=HOST,
        coap_port=0,
        coaps_port=0,
        http_port=0,
        psk=(PskEntry("dev-a", "id-a", key),),
        db=str(tmp_path / "bound.db"),
    )
    async with serving(options) as ports:
        coaps = (HOST, ports["coaps"])
        transport = await DtlsClientTransport.connect(coaps, psk=(b"id-a", key))
        secure = Endpoint(transport)
        plain = await Endpoint.create_udp(HOST, 0)
        try:
            # the identity may not register another endpoint
            assert await register(secure, coaps, "dev-b") == Code.FORBIDDEN
            # the endpoint with a PSK may not register without it
            assert await register(plain, (HOST, ports["coap"]), "dev-a") == Code.FORBIDDEN
            # an endpoint without security info registers over plain UDP
            assert await register(plain, (HOST, ports["coap"]), "dev-c") == Code.CREATED
            assert await register(secure, coaps, "dev-a") == Code.CREATED
            async with aiohttp.ClientSession(f"http://{HOST}:{ports['http']}") as api:
                clients = {c["endpoint"]: c for c in await get_json(api, "/api/clients")}
            assert sorted(clients) == ["dev-a", "dev-c"]
            assert clients["dev-a"]["secure"] is True and clients["dev-c"]["secure"] is False
        finally:
            await secure.close()
            await plain.close()


async def test_certificate_credentials_are_not_bypassed_over_udp(tmp_path: FsPath) -> None:
    """An endpoint with X.509 or RPK credentials cannot register unsecured instead."""
    options = ServerOptions(
        host=HOST, coap_port=0, coaps_port=None, http_port=0, db=str(tmp_path / "c.db")
    )
    async with serving(options) as ports:
        async with aiohttp.ClientSession(f"http://{HOST}:{ports['http']}") as api:
            for body in (
                {"endpoint": "cert-dev", "tls": {"mode": "x509", "details": {}}},
                {"endpoint": "open-dev", "tls": {"mode": "psk",
                 "details": {"identity": "open-id", "key": "00112233"}}},
            ):  # fmt: skip
                async with api.put("/api/security/clients/", json=body) as resp:
                    assert resp.status == 200, await resp.text()
        plain = await Endpoint.create_udp(HOST, 0)
        try:
            remote = (HOST, ports["coap"])
            assert await register(plain, remote, "cert-dev") == Code.FORBIDDEN
            assert await register(plain, remote, "open-dev") == Code.FORBIDDEN
            assert await register(plain, remote, "free-dev") == Code.CREATED
        finally:
            await plain.close()


async def test_https_with_a_token_beyond_loopback(tmp_path: FsPath) -> None:
    """--http-host 0.0.0.0 is allowed with a token; HTTPS with --http-cert/--http-key."""
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed to make a test certificate"
    cert, key = tmp_path / "http.pem", tmp_path / "http.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    args = argparse.Namespace(
        http_host="0.0.0.0", api_token="tok-123", cors_origin=None,
        http_cert=str(cert), http_key=str(key),
    )  # fmt: skip
    options = ServerOptions(
        host=HOST, coap_port=0, coaps_port=None, http_port=0, http=http_options(args)
    )
    async with serving(options) as ports:
        context = ssl.create_default_context(cafile=str(cert))
        connector = aiohttp.TCPConnector(ssl=context)
        async with aiohttp.ClientSession(
            f"https://{HOST}:{ports['https']}", connector=connector
        ) as api:
            async with api.get("/api/clients") as resp:
                assert resp.status == 401
            headers = {"Authorization": "Bearer tok-123"}
            async with api.get("/api/clients", headers=headers) as resp:
                assert resp.status == 200 and await resp.json() == []


# --- the server load benchmark, small ------------------------------------------------------

BENCHMARK = FsPath(__file__).resolve().parents[2] / "benchmarks" / "server_load.py"


async def test_server_load_benchmark_smoke() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCHMARK),
        "--clients",
        "20",
        "--rounds",
        "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(60):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines = out.decode().strip().splitlines()
    assert proc.returncode == 0, "\n".join(lines)
    match = re.fullmatch(
        r"RESULT registrations_per_s=(\d+) notifications_per_s=(\d+) server_rss_mb=(\d+\.\d)",
        lines[-1],
    )
    assert match is not None, lines[-1]
    assert int(match[1]) > 0 and int(match[2]) > 0 and float(match[3]) > 0
    assert "register: 20/20" in out.decode()
    assert "observations: 20/20" in out.decode()

"""``lwm2m client`` as a device maker runs it: a TOML file, certificate flags, state, logs.

The client runs as a process (``python -m lwm2m client``); the server it talks to is
a Server in this test's event loop, on UDP or on a DTLS listener with certificates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path as FsPath
from typing import Any

import pytest
from dtls_lwm2m_support import coaps_uri, dtls_server
from dtls_lwm2m_support import pki_fixture as pki_fixture  # the pki fixture

from lwm2m.cli.client import ConfigError, add_parser, client_config, read_der
from lwm2m.client.persistence import STATE_FILE, SavedState, StateStore
from lwm2m.model import Path, ResourceNode
from lwm2m.server import Registered, Server

HOST = "127.0.0.1"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["client", *argv])


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server(HOST, 0, default_timeout=5.0)
    await srv.start()
    yield srv
    await srv.stop()


class Running:
    """A ``python -m lwm2m ... client`` process and its output."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, *args: str) -> Running:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lwm2m",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        return cls(proc)

    async def stop(self) -> tuple[int, str, str]:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(self.proc.communicate(), 20)
        assert self.proc.returncode is not None
        return self.proc.returncode, out.decode(), err.decode()

    async def finish(self) -> tuple[int, str, str]:
        out, err = await asyncio.wait_for(self.proc.communicate(), 20)
        assert self.proc.returncode is not None
        return self.proc.returncode, out.decode(), err.decode()

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@pytest.fixture
async def processes() -> AsyncIterator[list[Running]]:
    made: list[Running] = []
    yield made
    for p in made:
        await p.kill()


async def launch(processes: list[Running], *args: str) -> Running:
    running = await Running.start(*args)
    processes.append(running)
    return running


# --------------------------------------------------------------------------- --config


def test_config_file_sets_everything_and_flags_win(tmp_path: FsPath) -> None:
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "device.toml"
    config.write_text(
        """
        server = "coap://127.0.0.1:5683"
        endpoint = "from-file"
        lifetime = 120
        bootstrap = true
        bootstrap-hold-off = 5
        queue-mode = true
        lwm2m-version = "1.0"
        state = "state"
        firmware-dir = "fw"
        log-format = "json"

        [objects."3303/1"]
        5700 = 21.5
        5701 = "Cel"
        """
    )
    got = client_config(parse("--config", str(config), "--lifetime", "60"))
    assert (got.server, got.endpoint, got.lifetime) == ("coap://127.0.0.1:5683", "from-file", 60)
    assert got.bootstrap and got.queue_mode and got.bootstrap_hold_off == 5.0
    assert got.lwm2m_version == "1.0" and got.log_format == "json"
    assert got.state == str(tmp_path / "conf" / "state")  # relative to the file
    assert got.instances == {Path(3303, 1): {5700: 21.5, 5701: "Cel"}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('severs = "coap://x"', "unknown key 'severs'"),
        ("lifetime = 0", "lifetime: lifetime 0 out of range"),
        ('lifetime = "soon"', "lifetime: lifetime must be an integer"),
        ("bootstrap = 1", "bootstrap: must be true or false"),
        ('server = "http://x"', "server: server must be a coap:// or coaps:// URI"),
        ('lwm2m-version = "2.0"', "lwm2m-version: must be"),
        ("psk-key = 12", "psk-key: must be a hex string"),
        ("cert-usage = 7", "cert-usage: certificate usage must be 0, 1, 2 or 3"),
        ('[objects."3303"]\n5700 = 1', "objects.'3303': not an object/instance path"),
        ('[objects."3303/0"]\nx = 1', "objects.'3303/0'.x: not a resource id"),
        ("server = [", "not valid TOML"),
    ],
)
def test_bad_config_keys_are_refused_with_their_name(
    tmp_path: FsPath, content: str, message: str
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("'", ".")):
        client_config(parse("--config", str(config), "--server", "coap://127.0.0.1:1"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--server is required"),
        (["--server", "coaps://h:5684"], "coaps:// needs --psk-identity"),
        (["--server", "coaps://h", "--psk-identity", "a"], "go together"),
        (["--server", "coap://h", "--psk-identity", "a", "--psk-key", "00"], "needs a coaps://"),
        (["--server", "coaps://h", "--security-mode", "rpk"], "raw public keys"),
        (["--server", "coaps://h", "--security-mode", "est"], "EST"),
        (["--server", "coap://h", "--cert-usage", "2"], "certificate mode only"),
        (["--server", "coap://h", "--lifetime", "-1"], "--lifetime: lifetime -1 out of range"),
        (["--factory-reset"], "needs --state"),
    ],
)
def test_bad_flags_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        client_config(parse(*argv))


def test_certificates_in_der_or_pem(pki: Any, tmp_path: FsPath) -> None:
    der = tmp_path / "client.der"
    der.write_bytes(pki.client.cert)
    assert read_der(str(der), "certificate") == pki.client.cert
    assert read_der(str(pki.client.cert_pem), "certificate") == pki.client.cert
    key_der = read_der(str(pki.client.key_pem), "key")  # PKCS#8 from the PEM file
    assert key_der[0] == 0x30 and b"-----" not in key_der
    with pytest.raises(ValueError, match="not a certificate"):
        read_der(str(pki.client.key_pem), "certificate")
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello")
    with pytest.raises(ValueError, match="not a DER or PEM"):
        read_der(str(junk), "key")
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match=r"--cert: .*missing\.pem: cannot read"):
        client_config(parse("--server", "coaps://h", "--cert", missing, "--key", missing))
    got = client_config(
        parse(
            "--server",
            "coaps://h:5684",
            "--cert",
            str(pki.client.cert_pem),
            "--key",
            str(pki.client.key_pem),
            "--server-cert",
            str(der),
            "--cert-usage",
            "1",
        )
    )
    assert (got.cert, got.key, got.server_cert) == (pki.client.cert, key_der, pki.client.cert)
    assert got.cert_usage == 1
    with pytest.raises(ConfigError, match="certificate mode needs --server-cert"):
        client_config(
            parse(
                "--server",
                "coaps://h",
                "--cert",
                str(pki.client.cert_pem),
                "--key",
                str(pki.client.key_pem),
            )
        )


# --------------------------------------------------------------------------- processes


async def test_cli_client_with_pem_certificates_registers(
    pki: Any, processes: list[Running]
) -> None:
    server, transport = await dtls_server(certificate=pki.server_credentials())
    try:
        registered = server.wait_for(Registered)
        await launch(
            processes,
            "client",
            "--server",
            coaps_uri(transport.local_address),
            "--endpoint",
            "dev1",
            "--cert",
            str(pki.client.cert_pem),
            "--key",
            str(pki.client.key_pem),
            "--server-cert",
            str(pki.server.cert_pem),
            "--cert-usage",
            "3",
        )
        event = await asyncio.wait_for(registered, 20)
        assert event.registration.endpoint == "dev1"
        assert event.registration.identity == "CN=urn:dev:ops:test-client"
        status, out, _ = await processes[-1].stop()
        assert status == 0 and "REGISTRATION_COMPLETE" in out
    finally:
        await server.stop()


async def test_cli_config_file_with_extra_instances_and_json_logs(
    server: Server, processes: list[Running], tmp_path: FsPath
) -> None:
    config = tmp_path / "device.toml"
    config.write_text(
        f"""
        server = "coap://{HOST}:{server.coap_address[1]}"
        endpoint = "toml-dev"
        lifetime = 60
        [objects."3303/7"]
        5700 = -3.5
        5701 = "Cel"
        """
    )
    registered = server.wait_for(Registered)
    running = await launch(
        processes, "--log-format", "json", "-v", "client", "--config", str(config)
    )
    event = await asyncio.wait_for(registered, 20)
    assert event.registration.endpoint == "toml-dev"
    assert await server.read("toml-dev", "/3303/7/5700") == ResourceNode(5700, -3.5)
    status, _, err = await running.stop()
    assert status == 0
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(e) for e in lines)
    assert any(e["level"] == "INFO" for e in lines)


async def test_cli_quiet_and_verbose_after_the_sub_command(
    server: Server, processes: list[Running]
) -> None:
    registered = server.wait_for(Registered)
    running = await launch(
        processes,
        "client",
        "--server",
        f"coap://{HOST}:{server.coap_address[1]}",
        "--endpoint",
        "quiet-dev",
        "-q",
        "-q",
    )
    await asyncio.wait_for(registered, 20)
    status, _, err = await running.stop()
    assert status == 0 and err.strip() == ""  # -qq: errors only, and there are none


async def test_cli_state_survives_a_restart_and_factory_reset(
    server: Server, processes: list[Running], tmp_path: FsPath
) -> None:
    state = tmp_path / "state"
    args = (
        "client",
        "--server",
        f"coap://{HOST}:{server.coap_address[1]}",
        "--endpoint",
        "state-dev",
        "--state",
        str(state),
    )
    registered = server.wait_for(Registered)
    running = await launch(processes, *args)
    await asyncio.wait_for(registered, 20)
    await server.write("state-dev", "/1/0/1", 77)  # Lifetime, written by the server
    await server.write("state-dev", "/3/0/14", "+03:00")  # UTC Offset: kept by the sample
    await asyncio.sleep(0.2)
    status, _, _ = await running.stop()
    assert status == 0
    saved = StateStore(state).load()
    assert isinstance(saved, SavedState)
    assert saved.objects[1][0][1] == 77 and saved.resources[Path(3, 0, 14)] == "+03:00"
    registered = server.wait_for(Registered)
    again = await launch(processes, *args)
    event = await asyncio.wait_for(registered, 20)
    assert event.registration.lifetime == 77  # registered with the written lifetime
    assert await server.read("state-dev", "/3/0/14") == ResourceNode(14, "+03:00")
    await again.stop()
    reset = await launch(processes, "client", "--state", str(state), "--factory-reset")
    status, out, _ = await reset.finish()
    assert status == 0 and "erased" in out
    assert not (state / STATE_FILE).exists()

"""``lwm2m bootstrap-server``: argument handling, bad configuration and credential files,
event lines, and a certificate bootstrap against the command run as a process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import io
import json
import os
import re
import sys
from pathlib import Path as FsPath
from types import ModuleType
from typing import Any

import pytest

from lwm2m.cli import bootstrap_server as cli
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.formats.link import Link
from lwm2m.model import ResourceNode
from lwm2m.server.bootstrap import (
    BootstrapDiscovered,
    BootstrapFailed,
    BootstrapFinished,
    BootstrapReadDone,
    BootstrapRejected,
    BootstrapStarted,
)
from lwm2m.server.bootstrap_config import load_config
from lwm2m.transport.base import Address

FAST = TransmissionParams(ack_timeout=0.1, ack_random_factor=1.0, max_retransmit=1)

CONFIG = {
    "endpoints": {
        "dev1": {
            "security": [{"uri": "coap://127.0.0.1:5683", "short_server_id": 1}],
            "servers": [{"short_server_id": 1, "lifetime": 30}],
        }
    }
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lwm2m")
    cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_arguments_and_defaults() -> None:
    args = parse(["bootstrap-server", "--config", "x.toml"])
    assert (args.host, args.coap_port, args.coaps_port, args.no_dtls) == (
        "0.0.0.0",
        5783,
        5784,
        False,
    )
    assert args.func is cli.run
    args = parse(["bootstrap-server", "--config", "x", "--host", "::1", "--coap-port", "0"])
    assert (args.host, args.coap_port) == ("::1", 0)


@pytest.mark.parametrize(
    "argv",
    [
        ["bootstrap-server", "--config", "x", "--coap-port", "70000"],
        ["bootstrap-server", "--config", "x", "--coaps-port", "port"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse(argv)
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_nothing_to_serve_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(parse(["bootstrap-server"])) == 2
    assert "nothing to serve" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("bad.json", '{"endpoints": {"dev1": {"security": [{"uri": 5}]}}}', "security[0].uri"),
        (
            "bad.json",
            json.dumps(
                {
                    "endpoints": {
                        "d": {
                            "security": [
                                {
                                    "uri": "coaps://h",
                                    "short_server_id": 1,
                                    "psk_identity": "d",
                                    "psk_key": "not-hex",
                                }
                            ],
                            "servers": [{"short_server_id": 1}],
                        }
                    }
                }
            ),
            "endpoints.d.security[0].psk_key: not a hex string",
        ),
        ("bad.toml", "endpoints = [", "not valid TOML"),
        ("bad.json", "{", "not valid JSON"),
    ],
)
def test_bad_config_file_exits_2_with_the_field(
    tmp_path: FsPath, capsys: pytest.CaptureFixture[str], name: str, content: str, words: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    status = cli.run(parse(["bootstrap-server", "--config", str(path)]))
    err = capsys.readouterr().err
    assert status == 2
    assert words in err
    assert str(path) in err
    assert err.startswith("lwm2m bootstrap-server: error:")


def test_missing_config_file_exits_2(tmp_path: FsPath, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.run(parse(["bootstrap-server", "--config", str(tmp_path / "none.json")]))
    assert status == 2
    assert "cannot read" in capsys.readouterr().err


async def test_serve_prints_events_until_stopped(tmp_path: FsPath) -> None:
    path = tmp_path / "bs.json"
    path.write_text(json.dumps(CONFIG))
    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.ensure_future(
        cli.serve(load_config(path), "127.0.0.1", 0, None, out=out, stop=stop)
    )
    while "listening on" not in out.getvalue():
        await asyncio.sleep(0.01)
    port = int(out.getvalue().split("listening on coap://127.0.0.1:")[1].split()[0])
    peer = await Endpoint.create_udp("127.0.0.1", 0, params=FAST)

    def answer(request: Message, remote: Address) -> Message:
        code = Code.DELETED if request.code == Code.DELETE else Code.CHANGED
        return Message.response_to(request, code)

    peer.set_fallback_handler(answer)
    try:
        response = await peer.post("/bs", remote=("127.0.0.1", port), query="ep=dev1", timeout=5)
        assert response.code == Code.CHANGED
        refused = await peer.post("/bs", remote=("127.0.0.1", port), query="ep=x", timeout=5)
        assert refused.code == Code.BAD_REQUEST
        async with asyncio.timeout(10):
            while "FINISHED dev1" not in out.getvalue():
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await peer.close()
    text = out.getvalue()
    assert "STARTED dev1 from 127.0.0.1:" in text
    assert "wrote /0/1 /1/0" in text
    assert "REJECTED 'x'" in text and "4.00" in text


def test_format_event_covers_every_kind() -> None:
    addr = ("::1", 5)
    lines = [
        cli.format_event(BootstrapStarted("e", addr, server_initiated=True)),
        cli.format_event(BootstrapDiscovered("e", addr, "/", "1.1", (Link("/0/0"),))),
        cli.format_event(BootstrapReadDone("e", addr, "/1/0/1", 11542, ResourceNode(1, 5))),
        cli.format_event(BootstrapFinished("e", addr, 11542, ())),
        cli.format_event(BootstrapFailed("e", addr, "Bootstrap-Finish", "4.06")),
        cli.format_event(BootstrapRejected(None, addr, 0x84, "unknown")),
    ]
    assert lines[0] == "STARTED e from [::1]:5 (server-initiated)"
    assert lines[1] == "DISCOVERED e / lwm2m=1.1 </0/0>"
    assert lines[2].startswith("READ e /1/0/1:")
    assert lines[3] == "FINISHED e ([::1]:5): wrote nothing"
    assert lines[4] == "FAILED e ([::1]:5) at Bootstrap-Finish: 4.06"
    assert lines[5] == "REJECTED None from [::1]:5 with 4.04: unknown"


# ------------------------------------------------------------ certificates


def _load_pki_builder() -> ModuleType:
    """The test PKI builder of the DTLS transport tests (openssl CLI), loaded by file path."""
    path = FsPath(__file__).parents[1] / "transport" / "conftest.py"
    spec = importlib.util.spec_from_file_location("lwm2m_bootstrap_cli_pki", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A fresh CA, server and client certificates; PEM files next to the DER bytes."""
    return _load_pki_builder().make_pki(FsPath(tmp_path_factory.mktemp("bs-cli-pki")))


@pytest.fixture
def config_file(tmp_path: FsPath) -> FsPath:
    path = tmp_path / "bs.json"
    path.write_text(json.dumps(CONFIG))
    return path


def test_certificate_flags() -> None:
    args = parse(["bootstrap-server", "--config", "x"])
    assert (args.cert, args.key, args.ca) == (None, None, [])
    argv = ["--cert", "s.pem", "--key", "s.key", "--ca", "a.pem", "--ca", "b.der"]
    args = parse(["bootstrap-server", "--config", "x", *argv])
    assert (args.cert, args.key, args.ca) == ("s.pem", "s.key", ["a.pem", "b.der"])


def test_pem_and_der_files_give_the_same_credentials(pki: Any, tmp_path: FsPath) -> None:
    from mbedtls.pk import ECC

    der = {}
    for name, data in (("cert", pki.server.cert), ("key", pki.server.key), ("ca", pki.ca.cert)):
        der[name] = tmp_path / f"{name}.der"
        der[name].write_bytes(data)
    from_der = cli.load_certificate_credentials(str(der["cert"]), str(der["key"]), [str(der["ca"])])
    from_pem = cli.load_certificate_credentials(
        str(pki.server.cert_pem), str(pki.server.key_pem), [str(pki.ca.cert_pem)]
    )
    assert from_der is not None and from_pem is not None
    assert from_der.private_key == pki.server.key  # SEC 1 DER, passed as it is
    # The PEM key is PKCS#8 around the same EC key.
    assert (
        ECC.from_DER(from_pem.private_key).export_public_key()
        == ECC.from_DER(pki.server.key).export_public_key()
    )
    for cred in (from_der, from_pem):
        assert cred.certificate == pki.server.cert
        assert (cred.trusted, cred.chain) == ((pki.ca.cert,), ())
    assert cli.load_certificate_credentials(None, None, []) is None


def test_pem_bundles_chain_and_several_cas(pki: Any, tmp_path: FsPath) -> None:
    bundle = tmp_path / "chain.pem"
    bundle.write_bytes(pki.server.cert_pem.read_bytes() + pki.ca.cert_pem.read_bytes())
    cas = tmp_path / "cas.pem"
    cas.write_bytes(pki.ca.cert_pem.read_bytes() + b"\n" + pki.rogue_ca.cert_pem.read_bytes())
    cred = cli.load_certificate_credentials(str(bundle), str(pki.server.key_pem), [str(cas)])
    assert cred is not None
    assert cred.certificate == pki.server.cert and cred.chain == (pki.ca.cert,)
    assert cred.trusted == (pki.ca.cert, pki.rogue_ca.cert)


def _bad_credentials(pki: Any, tmp: FsPath) -> dict[str, tuple[list[str], str, str]]:
    """Case -> (flags, file named in the message, words of the message)."""

    def write(name: str, data: bytes) -> str:
        (tmp / name).write_bytes(data)
        return str(tmp / name)

    cert, key, ca = str(pki.server.cert_pem), str(pki.server.key_pem), str(pki.ca.cert_pem)
    missing = str(tmp / "missing.pem")
    garbage = write("garbage.der", b"\x30\x05abc")
    text = write("notes.txt", b"just some text\n")
    bad_b64 = write("bad.pem", b"-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n")
    encrypted = write(
        "enc.key",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )
    return {
        "missing cert": (["--cert", missing, "--key", key, "--ca", ca], missing, "cannot read"),
        "missing key": (["--cert", cert, "--key", missing, "--ca", ca], missing, "cannot read"),
        "missing ca": (["--cert", cert, "--key", key, "--ca", missing], missing, "cannot read"),
        "truncated DER": (["--cert", garbage, "--key", key, "--ca", ca], garbage, "DER"),
        "text": (["--cert", cert, "--key", text, "--ca", ca], text, "neither PEM nor"),
        "bad base64": (["--cert", bad_b64, "--key", key, "--ca", ca], bad_b64, "base64"),
        "encrypted key": (["--cert", cert, "--key", encrypted, "--ca", ca], encrypted, "encrypted"),
        "key file for cert": (["--cert", key, "--key", key, "--ca", ca], key, "no usable PEM"),
        "cert file for key": (["--cert", cert, "--key", cert, "--ca", ca], cert, "no usable PEM"),
        "cert without key": (["--cert", cert, "--ca", ca], cert, "needs --key"),
        "cert without ca": (["--cert", cert, "--key", key], cert, "needs at least one --ca"),
        "key without cert": (["--key", key], "--key", "needs --cert"),
        "ca without cert": (["--ca", ca], "--ca", "needs --cert"),
        "mismatched DER": (
            ["--cert", write("k.der", pki.server.key), "--key", key, "--ca", ca],
            str(tmp / "k.der"),
            "certificate",
        ),
        "with --no-dtls": (
            ["--cert", cert, "--key", key, "--ca", ca, "--no-dtls"],
            "--cert",
            "--no-dtls",
        ),
    }


BAD_CREDENTIAL_CASES = [
    "missing cert",
    "missing key",
    "missing ca",
    "truncated DER",
    "text",
    "bad base64",
    "encrypted key",
    "key file for cert",
    "cert file for key",
    "cert without key",
    "cert without ca",
    "key without cert",
    "ca without cert",
    "mismatched DER",
    "with --no-dtls",
]


@pytest.mark.parametrize("case", BAD_CREDENTIAL_CASES)
def test_bad_credential_files_exit_2_naming_the_file(
    case: str, pki: Any, config_file: FsPath, tmp_path: FsPath, capsys: pytest.CaptureFixture[str]
) -> None:
    flags, named, words = _bad_credentials(pki, tmp_path)[case]
    status = cli.run(parse(["bootstrap-server", "--config", str(config_file), *flags]))
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("lwm2m bootstrap-server: error:")
    assert named in err and words in err


class Child:
    """``python -m lwm2m bootstrap-server ...``, its output lines collected as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        assert proc.stdout is not None
        self._reader = asyncio.ensure_future(self._read(proc.stdout))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode(errors="replace").rstrip())

    async def wait_line(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        regex = re.compile(pattern)
        async with asyncio.timeout(timeout):
            while True:
                for line in self.lines:
                    if match := regex.search(line):
                        return match
                assert not self._reader.done(), f"exited; output: {self.lines}"
                await asyncio.sleep(0.02)

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        await asyncio.wait_for(self.proc.wait(), 10)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 5)


async def test_certificate_client_bootstraps_over_dtls_from_the_command(
    pki: Any, tmp_path: FsPath
) -> None:
    from lwm2m.client.client import Client
    from lwm2m.client.events import Event, RdEvent
    from lwm2m.client.rd import RetryPolicy
    from lwm2m.model import Path

    lwm2m_uri = "coap://127.0.0.1:5683"
    config = {
        "endpoints": {
            "dev1": {
                "security": [{"uri": lwm2m_uri, "short_server_id": 7}],
                "servers": [{"short_server_id": 7, "lifetime": 60}],
            }
        }
    }
    config_path = tmp_path / "bs.json"
    config_path.write_text(json.dumps(config))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m", "bootstrap-server", "--config", str(config_path),
        "--host", "127.0.0.1", "--coap-port", "0", "--coaps-port", "0",
        "--cert", str(pki.server.cert_pem), "--key", str(pki.server.key_pem),
        "--ca", str(pki.ca.cert_pem),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )  # fmt: skip
    child = Child(proc)
    client = Client(
        "dev1",
        transmission=TransmissionParams(ack_timeout=0.5, ack_random_factor=1.0, max_retransmit=2),
        retry=RetryPolicy(initial_delay=0.2, max_delay=0.4, jitter=0.0, attempts=2),
    )
    events: list[Event] = []
    client.on_event(events.append)
    try:
        port = int((await child.wait_line(r"listening on coaps://127\.0\.0\.1:(\d+)"))[1])
        iid = client.add_server(f"coaps://127.0.0.1:{port}", bootstrap=True)
        for rid, value in ((2, 2), (3, pki.client.cert), (4, pki.server.cert), (5, pki.client.key)):
            client.set(f"0/{iid}/{rid}", value)  # Security mode 2: certificate
        await client.start()
        try:
            async with asyncio.timeout(15):
                while not any(e.kind is RdEvent.BOOTSTRAP_TRANSFER_COMPLETE for e in events):
                    await asyncio.sleep(0.02)
            written = [
                i
                for i in client.store.instance_ids(0)
                if client.store.get(Path(0, i, 0)) == lwm2m_uri
            ]
            assert len(written) == 1
            assert client.store.get(Path(1, 0, 0)) == 7
            await child.wait_line(r"FINISHED dev1 .*wrote /0/\d+ /1/0")
        finally:
            await client.stop()
    finally:
        await child.kill()
    assert any(line.startswith("STARTED dev1 from 127.0.0.1:") for line in child.lines)

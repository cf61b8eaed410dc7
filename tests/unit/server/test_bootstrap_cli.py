"""``lwm2m bootstrap-server``: argument handling, bad configuration files, event lines."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from pathlib import Path as FsPath

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
        ["bootstrap-server"],
        ["bootstrap-server", "--config", "x", "--coap-port", "70000"],
        ["bootstrap-server", "--config", "x", "--coaps-port", "port"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse(argv)
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


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

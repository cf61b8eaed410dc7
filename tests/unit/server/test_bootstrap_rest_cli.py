"""``lwm2m bootstrap-server`` with its REST API and store: flags, seeding from a file into
the store across restarts, and the refusals (nothing to serve, a damaged database, an API
beyond loopback without a token)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path as FsPath
from typing import Any

import aiohttp
import pytest

from lwm2m.cli import bootstrap_server as cli
from lwm2m.server.bootstrap_config import load_config
from lwm2m.server.store.bootstrap_base import BootstrapStore
from lwm2m.server.store.bootstrap_sqlite import SqliteBootstrapStore

FILE_CONFIG: dict[str, Any] = {
    "endpoints": {
        "dev1": {
            "bootstrap_psk": {"identity": "dev1-bs", "key": "0a0b"},
            "security": [{"uri": "coap://127.0.0.1:5683", "short_server_id": 1}],
            "servers": [{"short_server_id": 1, "lifetime": 30}],
        }
    }
}
_LISTENING = re.compile(r"^listening on (\w+)://127\.0\.0\.1:(\d+)$", re.MULTILINE)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lwm2m")
    cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_new_flags_and_defaults() -> None:
    args = parse(["bootstrap-server"])
    assert (args.config, args.db, args.http_port, args.http_host) == (None, None, None, "127.0.0.1")
    assert (args.api_token, args.cors_origin) == (None, None)
    args = parse(["bootstrap-server", "--db", "x.db", "--http-port", "0", "--http-host", "::1"])
    assert (args.db, args.http_port, args.http_host) == ("x.db", 0, "::1")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["bootstrap-server"], "nothing to serve"),
        (["bootstrap-server", "--db", "x.db", "--api-token", "t"], "needs --http-port"),
        (["bootstrap-server", "--http-port", "0", "--http-cert", "c.pem"], "go together"),
        (
            ["bootstrap-server", "--http-port", "0", "--http-cert", "no.pem", "--http-key", "no"],
            "--http-cert no.pem",
        ),
        (
            ["bootstrap-server", "--http-port", "0", "--http-host", "0.0.0.0"],
            "without authentication",
        ),
        (["bootstrap-server", "--http-port", "0", "--api-token", "a b"], "white space"),
    ],
)
def test_refused_flags_exit_2(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.delenv("LWM2M_API_TOKEN", raising=False)
    assert cli.run(parse(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("lwm2m bootstrap-server: error:") and words in err


def test_a_damaged_database_exits_1_naming_it(
    tmp_path: FsPath, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bs.db"
    path.write_bytes(b"not sqlite at all\n" * 64)
    argv = ["bootstrap-server", "--db", str(path), "--coap-port", "0", "--no-dtls"]
    assert cli.run(parse(argv)) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "not a usable bootstrap database" in err


@contextlib.asynccontextmanager
async def serving(
    config_file: FsPath | None, store: BootstrapStore
) -> AsyncIterator[dict[str, int]]:
    """``serve()`` in this loop on loopback with the REST API; yields the bound ports."""
    out = io.StringIO()
    stop = asyncio.Event()
    config = load_config(config_file) if config_file is not None else None
    task = asyncio.ensure_future(
        cli.serve(config, "127.0.0.1", 0, None, out=out, stop=stop, store=store, http_port=0)
    )
    try:
        async with asyncio.timeout(10):
            while "listening on http://" not in out.getvalue():
                assert not task.done(), out.getvalue()
                await asyncio.sleep(0.01)
        yield {m.group(1): int(m.group(2)) for m in _LISTENING.finditer(out.getvalue())}
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task


async def _get(port: int, path: str) -> Any:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.get(f"http://127.0.0.1:{port}{path}") as resp,
    ):
        assert resp.status == 200
        return await resp.json()


async def _send(port: int, method: str, path: str, body: Any = None) -> int:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.request(method, f"http://127.0.0.1:{port}{path}", json=body) as resp,
    ):
        return resp.status


async def test_file_seeds_the_database_and_rest_changes_survive_restarts(tmp_path: FsPath) -> None:
    file_config = json.loads(json.dumps(FILE_CONFIG))
    config_file = tmp_path / "bs.json"
    config_file.write_text(json.dumps(file_config))
    db = tmp_path / "bs.db"
    with SqliteBootstrapStore(db) as store:
        async with serving(config_file, store) as ports:
            assert set(ports) == {"coap", "http"}
            configs = await _get(ports["http"], "/api/bootstrap")
            assert configs["dev1"]["servers"]["0"]["lifetime"] == 30
            # the file's bootstrap PSK is the endpoint's security info
            assert await _get(ports["http"], "/api/security/clients") == [
                {
                    "endpoint": "dev1",
                    "tls": {"mode": "psk", "details": {"identity": "dev1-bs", "key": "0a0b"}},
                }
            ]
            changed = configs["dev1"]
            changed["servers"]["0"]["lifetime"] = 99
            assert await _send(ports["http"], "POST", "/api/bootstrap/dev1", changed) == 200
            new = {
                "security": {"1": {"uri": "coap://h:1", "securityMode": "NO_SEC", "serverId": 2}},
                "servers": {"0": {"shortId": 2}},
            }
            assert await _send(ports["http"], "POST", "/api/bootstrap/dev2", new) == 200
    # restart with the same file: the REST changes stay
    with SqliteBootstrapStore(db) as store:
        async with serving(config_file, store) as ports:
            configs = await _get(ports["http"], "/api/bootstrap")
            assert configs["dev1"]["servers"]["0"]["lifetime"] == 99
            assert "dev2" in configs
            assert await _send(ports["http"], "DELETE", "/api/bootstrap/dev1") == 204
    with SqliteBootstrapStore(db) as store:
        async with serving(config_file, store) as ports:
            assert list(await _get(ports["http"], "/api/bootstrap")) == ["dev2"]
    # the file's entry changes: it is applied again
    file_config["endpoints"]["dev1"]["servers"][0]["lifetime"] = 45
    config_file.write_text(json.dumps(file_config))
    with SqliteBootstrapStore(db) as store:
        async with serving(config_file, store) as ports:
            configs = await _get(ports["http"], "/api/bootstrap")
            assert configs["dev1"]["servers"]["0"]["lifetime"] == 45


async def test_serve_without_a_file_starts_empty(tmp_path: FsPath) -> None:
    with SqliteBootstrapStore(tmp_path / "bs.db") as store:
        async with serving(None, store) as ports:
            assert await _get(ports["http"], "/api/bootstrap") == {}

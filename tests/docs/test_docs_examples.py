"""Every example of the documentation, run or checked as a reader would use it.

* Each fenced ```` ```python ```` block of ``docs/**/*.md`` runs as a script in
  its own interpreter (``python -c``), in a temporary directory, with a time
  limit: the examples are complete programs that start what they need on
  loopback (a Server on port 0, a Client, ...) and stop it. A block that fails
  or hangs fails its test, named after the page and the line of the block.
* Each ``lwm2m ...`` command line of a ```` ```console ```` block is parsed by
  the real ``lwm2m`` parser, so a documented flag that does not exist (or a
  value it refuses) fails.
* Each ```` ```json ```` block parses, and each ```` ```toml ```` block is a
  bootstrap configuration or a fleet scenario that loads.
* Each ``curl`` line names a URL whose path must be served by the REST
  application it talks to (the server's on 8080, the bootstrap server's on
  8081), with the method of its ``-X`` (GET otherwise).
* The Zephyr mapping of the device maker's guide names every ``lwm2m_*`` call
  and every event of the seed, and each event exists in :class:`lwm2m.RdEvent`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SEED = ROOT.parent / "shared" / "seed" / "zephyr-lwm2m.rst"
#: Seconds one example may take, start to end (they take one or two).
TIME_LIMIT = 60

FENCE = re.compile(r"^(```+|~~~+)\s*\{?([\w-]*)\}?[^\n]*\n(.*?)^\1\s*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    language: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(DOCS).as_posix()}:{self.line}"


def doc_pages() -> list[Path]:
    return sorted(
        p for p in DOCS.rglob("*.md") if "_build" not in p.parts and "_ext" not in p.parts
    )


def blocks(*languages: str) -> list[Block]:
    out = []
    for page in doc_pages():
        text = page.read_text(encoding="utf-8")
        for found in FENCE.finditer(text):
            language = found.group(2)
            if language in languages:
                line = text.count("\n", 0, found.start()) + 1
                out.append(Block(page, line, language, found.group(3)))
    return out


PYTHON_BLOCKS = blocks("python")
CONSOLE_BLOCKS = blocks("console")


def test_the_guides_have_examples() -> None:
    pages = {b.page.relative_to(DOCS).as_posix() for b in PYTHON_BLOCKS}
    for guide in ("getting-started.md", "guides/device-maker.md", "guides/server-operator.md"):
        assert guide in pages, f"{guide} has no python example"
    assert len(PYTHON_BLOCKS) >= 15


def _needs(code: str) -> str | None:
    """Why an example cannot run here (a missing program or extra), else None."""
    if "openssl" in code and shutil.which("openssl") is None:
        return "the openssl command is not installed"
    wanted = {
        "mbedtls": "coaps://" in code or "lwm2m.transport.dtls" in code,
        "aiohttp": "aiohttp" in code or "lwm2m.server.rest" in code,
        "matplotlib": "lwm2m fleet" in code or "lwm2m.fleet" in code,
    }
    for module, needed in wanted.items():
        if needed:
            try:
                __import__(module)
            except ImportError:
                return f"{module} is not installed (an extra of lwm2m)"
    return None


@pytest.mark.timeout(TIME_LIMIT + 30)
@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.name for b in PYTHON_BLOCKS])
def test_python_example_runs(block: Block, tmp_path: Path) -> None:
    reason = _needs(block.code)
    if reason is not None:  # make test installs every extra: a missing one is a failure
        pytest.fail(f"{reason}: run make test, which installs it")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", block.code],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIME_LIMIT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{block.name}: still running after {TIME_LIMIT} s\n{exc.stdout}\n{exc.stderr}")
    assert done.returncode == 0, (
        f"{block.name} exited with {done.returncode}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )


JSON_BLOCKS = blocks("json")


@pytest.mark.parametrize("block", JSON_BLOCKS, ids=[b.name for b in JSON_BLOCKS])
def test_json_example_parses(block: Block) -> None:
    """Request and response bodies of the references are JSON as written (no "...")."""
    json.loads(block.code)


TOML_BLOCKS = blocks("toml")


@pytest.mark.parametrize("block", TOML_BLOCKS, ids=[b.name for b in TOML_BLOCKS])
def test_toml_example_loads(block: Block) -> None:
    """A documented bootstrap configuration or fleet scenario is accepted as written."""
    import tomllib

    data = tomllib.loads(block.code)
    if "endpoints" in data or "default" in data:
        from lwm2m.server.bootstrap_config import parse_config

        config = parse_config(data)
        assert config.endpoints or config.default is not None
    elif "run" in data or "profiles" in data:
        from lwm2m.fleet.scenario import parse_scenario

        parse_scenario(data)
    else:
        pytest.fail(f"{block.name}: neither a bootstrap configuration nor a fleet scenario")


def test_shipped_scenarios_load() -> None:
    """The scenario files under docs/ (shown by the tester's guide) load as written."""
    from lwm2m.fleet.scenario import load_scenario

    files = sorted(DOCS.glob("*scenario*.toml"))
    assert files, "no scenario file under docs/"
    for file in files:
        load_scenario(file)


def _commands(block: Block) -> list[tuple[int, list[str]]]:
    """(line, argv) of each command of a console block; ``\\`` continuations joined."""
    out: list[tuple[int, list[str]]] = []
    pending = ""
    start = 0
    for offset, raw in enumerate(block.code.splitlines(), block.line + 1):
        line = raw.rstrip()
        if not pending:
            if not line.startswith("$ "):
                continue
            start = offset
            line = line[2:]
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).split(" #", 1)[0].strip()
        pending = ""
        argv = shlex.split(text, comments=False)
        while argv and argv[-1] == "&":
            argv.pop()
        out.append((start, argv))
    return out


def _lwm2m_commands() -> list[tuple[str, list[str]]]:
    found = []
    for block in CONSOLE_BLOCKS:
        for line, argv in _commands(block):
            if argv and argv[0] in ("lwm2m", ".venv/bin/lwm2m"):
                found.append((f"{block.page.relative_to(DOCS).as_posix()}:{line}", argv[1:]))
    return found


LWM2M_COMMANDS = _lwm2m_commands()


@pytest.mark.parametrize("where,argv", LWM2M_COMMANDS, ids=[w for w, _ in LWM2M_COMMANDS])
def test_documented_command_parses(where: str, argv: list[str]) -> None:
    from lwm2m.cli.main import build_parser

    if any(flag in argv for flag in ("--help", "-h", "--version")):
        return
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's way of refusing
        pytest.fail(f"{where}: lwm2m {' '.join(argv)} is refused by the parser ({exc})")
    assert getattr(args, "func", None) is not None, f"{where}: no sub-command"


def _curl_calls() -> list[tuple[str, str, str, int]]:
    """(where, method, path, port) of each documented curl command."""
    found = []
    for block in CONSOLE_BLOCKS:
        for line, argv in _commands(block):
            if not argv or argv[0] != "curl":
                continue
            method = "GET"
            if "-X" in argv:
                method = argv[argv.index("-X") + 1]
            urls = [a for a in argv if a.startswith(("http://", "https://"))]
            assert urls, f"{block.name}: curl without a URL"
            url = re.match(r"https?://[^/:]+:(\d+)(/[^?#]*)", urls[0])
            assert url, f"{block.name}: cannot read {urls[0]}"
            where = f"{block.page.relative_to(DOCS).as_posix()}:{line}"
            found.append((where, method, url.group(2), int(url.group(1))))
    return found


CURL_CALLS = _curl_calls()


@pytest.mark.parametrize("where,method,path,port", CURL_CALLS, ids=[c[0] for c in CURL_CALLS])
def test_documented_curl_hits_a_route(where: str, method: str, path: str, port: int) -> None:
    build_app, _ = _rest_checker()
    from aiohttp.test_utils import make_mocked_request

    app = build_app("bootstrap" if port == 8081 else "server")  # type: ignore[operator]

    async def resolve() -> object:
        return await app.router.resolve(make_mocked_request(method, path, app=app))

    match = asyncio.run(resolve())
    assert match.http_exception is None, f"{where}: {method} {path} is served by no route"  # type: ignore[attr-defined]


def _rest_checker() -> tuple[object, object]:
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        from lwm2mdocs.rest import build_app, check
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    return build_app, check


def test_rest_reference_check_finds_gaps() -> None:
    """The docs build fails on an undocumented route and on an entry without a route."""
    build_app, check = _rest_checker()
    page = (DOCS / "reference" / "rest-server.md").read_text(encoding="utf-8")
    _, problems = asyncio.run(check(build_app("server"), page))  # type: ignore[operator]
    assert problems == []
    cut = page.replace("### GET /api/event\n", "### The event stream\n")
    cut += "\n### DELETE /api/nothing/{id}\n"
    _, problems = asyncio.run(check(build_app("server"), cut))  # type: ignore[operator]
    assert any("route GET /api/event has no documented entry" in p for p in problems), problems
    assert any("DELETE /api/nothing/{id} is documented but no route" in p for p in problems)


def test_zephyr_mapping_covers_the_seed() -> None:
    """Every lwm2m_* call and LWM2M_RD_CLIENT_EVENT_* of the seed is in the guide's table."""
    import lwm2m

    guide = (DOCS / "guides" / "device-maker.md").read_text(encoding="utf-8")
    if SEED.exists():
        seed = SEED.read_text(encoding="utf-8")
        calls = set(re.findall(r"\b(lwm2m_[a-z_]+)\s*\(", seed))
        assert calls, "no lwm2m_* call found in the seed"
        for call in sorted(calls):
            assert f"`{call}" in guide, f"{call} of the seed is missing from the guide's table"
        events = set(re.findall(r"LWM2M_RD_CLIENT_EVENT_([A-Z_]+)", seed))
    else:  # the seed lives beside the repository; the guide lists the same names
        events = set(re.findall(r"LWM2M_RD_CLIENT_EVENT_([A-Z_]+)", guide))
    assert events
    for name in sorted(events):
        assert hasattr(lwm2m.RdEvent, name), f"RdEvent.{name} does not exist"
        assert f"LWM2M_RD_CLIENT_EVENT_{name}" in guide, f"event {name} missing from the guide"

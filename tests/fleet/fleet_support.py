"""Processes for the fleet tests: ``lwm2m server``, ``lwm2m bootstrap-server``, ``lwm2m fleet``.

Each is ``sys.executable -m lwm2m ...`` with its output collected line by line by a
thread, so a test can wait for a line with a deadline; :meth:`Child.stop` ends the
process by its pid (SIGTERM, then SIGKILL) and every fixture calls it in ``finally``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

HOST = "127.0.0.1"
_LISTENING = re.compile(r"^(coaps?|https?) listening on (\S+):(\d+)$")
_BS_LISTENING = re.compile(r"^listening on (coaps?|https?)://(\S+):(\d+)$")


class Child:
    """A ``python -m lwm2m`` child process whose output lines are collected."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lwm2m", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def text(self) -> str:
        return "\n".join(self.output())

    def wait_line(self, predicate: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            lines = self.output()
            for line in lines[seen:]:
                if predicate(line):
                    return line
            seen = len(lines)
            if self.proc.poll() is not None and len(self.output()) == seen:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"no such line within {timeout} s from {' '.join(self.args)}:\n" + self.text()[-4000:]
        )

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running after {timeout} s:\n{self.text()[-4000:]}"
            ) from None
        self._reader.join(timeout=5)
        return code

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s: the process is gone when this returns."""
        if self.proc.poll() is None:
            with _suppress_gone():
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with _suppress_gone():
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)


class _suppress_gone:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        return exc_type is ProcessLookupError


class Lwm2mServer(Child):
    """``lwm2m server`` on loopback, free ports, no DTLS."""

    def __init__(self, *extra: str, dtls: bool = False) -> None:
        super().__init__(
            "server",
            "--host",
            HOST,
            "--coap-port",
            "0",
            *(["--coaps-port", "0"] if dtls else ["--no-dtls"]),
            "--http-port",
            "0",
            *extra,
        )
        self.ports: dict[str, int] = {}
        for _ in range(3 if dtls else 2):
            line = self.wait_line(lambda s: _LISTENING.match(s) is not None, 30)
            match = _LISTENING.match(line)
            assert match is not None
            self.ports[match[1]] = int(match[3])
            with self._lock:
                self.lines.remove(line)

    @property
    def coap_uri(self) -> str:
        return f"coap://{HOST}:{self.ports['coap']}"

    @property
    def coaps_uri(self) -> str:
        return f"coaps://{HOST}:{self.ports['coaps']}"

    @property
    def rest_url(self) -> str:
        return f"http://{HOST}:{self.ports['http']}"

    def events(self, kind: str) -> list[str]:
        """Endpoint names of the event lines ``KIND ep from ...``."""
        return [line.split()[1] for line in self.output() if line.startswith(kind + " ")]


class BootstrapServer(Child):
    def __init__(self, config: str) -> None:
        super().__init__(
            "bootstrap-server",
            "--config",
            config,
            "--host",
            HOST,
            "--coap-port",
            "0",
            "--no-dtls",
        )
        line = self.wait_line(lambda s: s.startswith("listening on coap://"), 30)
        match = _BS_LISTENING.match(line)
        assert match is not None
        self.coap_uri = f"coap://{HOST}:{match[3]}"


def rest(method: str, url: str, body: Any = None, timeout: float = 20.0) -> tuple[int, Any]:
    """One REST call; (HTTP status, decoded JSON or text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


RESULT = re.compile(
    r"^RESULT devices=(\d+) registered=(\d+) failed=(\d+) "
    r"rss_per_device_kb=(\d+\.\d|n/a) reg_p99_ms=(\d+\.\d|n/a)$"
)

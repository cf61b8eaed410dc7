"""A private redis-server for the cluster tests: free loopback port, temporary
directory, append-only file on, stopped by its pid.

No test here mocks Redis: every test talks to this real server. When
``/usr/bin/redis-server`` is missing the tests fail and say how to install it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REDIS_SERVER = "/usr/bin/redis-server"
HOST = "127.0.0.1"


def require_redis_server() -> str:
    """The redis-server binary, or a test failure that says to run ``make deps``."""
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.fail(
            f"{REDIS_SERVER} is missing: the cluster tests need a real Redis; "
            "run `make deps` (as root it installs Debian's redis-server)",
            pytrace=False,
        )
    return REDIS_SERVER


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _ping(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process: ``start()``, ``url(db)``, ``stop()``, ``kill9()``."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port if port is not None else free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def start(self, timeout: float = 10.0) -> None:
        binary = require_redis_server()
        self.directory.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):
            log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 -- the child keeps it
            self.proc = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    HOST,
                    "--dir",
                    str(self.directory),
                    "--appendonly",
                    "yes",
                    "--save",
                    "",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if _ping(self.port):
                    return
                if self.proc.poll() is not None:
                    break  # the port was taken meanwhile: another one
                time.sleep(0.02)
            self._reap()
            self.port = free_port()
        text = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
        raise AssertionError(f"redis-server did not start:\n{text}")

    def _reap(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        self.proc = None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis writes its append-only file and exits), SIGKILL if it hangs."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        self._reap()

    def kill9(self) -> None:
        self._reap()

    def flushall(self) -> None:
        with socket.create_connection((HOST, self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            assert sock.recv(16).startswith(b"+OK")

    def command(self, *args: str) -> bytes:
        """One command in RESP (for tests that damage records); the raw answer."""
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        with socket.create_connection((HOST, self.port), timeout=2) as sock:
            sock.sendall(b"".join(parts))
            return sock.recv(65536)

"""Install smoke check: an installed ``lwm2m client`` registers with an ``lwm2m server``.

Used by ``make install-smoke`` (and ``make install-smoke-py313``) after installing the
package into a separate venv. The server runs from the full development venv (its
REST API needs the ``server`` extra); the client from the venv under test. With
``--dtls`` the client also registers over DTLS-PSK (the venv must have the dtls
extra); without it, ``coaps://`` must be refused with the name of the extra.

    python tests/install/smoke.py --client /path/venv/bin/lwm2m --server .venv/bin/lwm2m
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.request
from typing import IO

HOST = "127.0.0.1"
LISTENING = re.compile(r"^(coaps?|https?) listening on (\S+):(\d+)$")
PSK_IDENTITY, PSK_KEY = "smoke-identity", "000102030405060708090a0b0c0d0e0f"


def fail(message: str) -> None:
    print(f"install smoke: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def read_ports(stream: IO[str], deadline: float) -> dict[str, int]:
    ports: dict[str, int] = {}
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        match = LISTENING.match(line.strip())
        if match:
            ports[match.group(1)] = int(match.group(3))
            if match.group(1).startswith("http"):
                return ports
    fail(f"the server did not report its ports: {ports}")
    return ports


def registered(http_port: int, endpoint: str, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{http_port}/api/clients", timeout=5) as r:
                if any(c.get("endpoint") == endpoint for c in json.load(r)):
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def run_client(client: str, http_port: int, endpoint: str, *flags: str) -> None:
    proc = subprocess.Popen(
        [client, "client", "--endpoint", endpoint, *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        if not registered(http_port, endpoint):
            proc.kill()
            out = proc.communicate(timeout=10)[0]
            fail(f"{endpoint} did not register; client output:\n{out}")
        print(f"install smoke: {endpoint} registered", flush=True)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", required=True, help="the lwm2m command of the venv under test")
    parser.add_argument("--server", required=True, help="an lwm2m command with every extra")
    parser.add_argument("--dtls", action="store_true", help="the venv under test has dtls")
    args = parser.parse_args()
    server = subprocess.Popen(
        [
            args.server,
            "server",
            "--host",
            HOST,
            "--coap-port",
            "0",
            "--coaps-port",
            "0",
            "--http-port",
            "0",
            "--psk",
            f"smoke-dtls={PSK_IDENTITY}:{PSK_KEY}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        ports = read_ports(server.stdout, time.monotonic() + 30)
        if "http" not in ports or "coap" not in ports:
            fail(f"the server did not listen on coap and http: {ports}")
        http = ports["http"]
        run_client(args.client, http, "smoke-udp", "--server", f"coap://{HOST}:{ports['coap']}")
        coaps = f"coaps://{HOST}:{ports['coaps']}"
        psk = ["--psk-identity", PSK_IDENTITY, "--psk-key", PSK_KEY]
        if args.dtls:
            run_client(args.client, http, "smoke-dtls", "--server", coaps, *psk)
        else:
            refused = subprocess.run(
                [args.client, "client", "--server", coaps, *psk],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if refused.returncode != 2 or "lwm2m[dtls]" not in refused.stderr:
                fail(f"coaps:// without the dtls extra: {refused.stderr or refused.stdout}")
            if "Traceback" in refused.stderr:
                fail("coaps:// without the dtls extra printed a traceback")
            print("install smoke: coaps:// names the dtls extra", flush=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    print("install smoke: OK", flush=True)


if __name__ == "__main__":
    main()

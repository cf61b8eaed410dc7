"""The end-to-end demo: our bootstrap server, server and sample client on loopback.

``lwm2m demo`` (and ``make demo``) walks one whole device-management session
and prints each step: bootstrap, registration, Read of /3/0 in TLV and SenML
JSON, Write, Execute Reboot, Observe of the temperature with attributes, a
firmware update pushed with Block1, de-registration. ``--dtls`` runs the
same over DTLS-PSK (bootstrap and registration both on ``coaps://``).
Exit status 0 on success; on any failure a clear message and 1.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from lwm2m.client.events import RdEvent
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.numbers import ContentFormat
from lwm2m.model import InstanceNode, ResourceNode
from lwm2m.sample import build_sample_client
from lwm2m.server.bootstrap import BootstrapServer
from lwm2m.server.bootstrap_config import parse_endpoint
from lwm2m.server.registration import Deregistered
from lwm2m.server.server import Server

T = TypeVar("T")

ENDPOINT = "demo-device"
PSK_IDENTITY = "demo-device"
PSK_KEY = bytes.fromhex("0a1b2c3d4e5f60718293a4b5c6d7e8f9")
BS_PSK_IDENTITY = "demo-device-bs"
BS_PSK_KEY = bytes.fromhex("f9e8d7c6b5a4938271605f4e3d2c1b0a")


class DemoFailed(Exception):
    pass


class _Steps:
    def __init__(self) -> None:
        self.n = 0
        self.t0 = time.monotonic()

    async def run(self, title: str, action: Callable[[], Awaitable[T]], timeout: float = 10) -> T:
        self.n += 1
        print(f"[{time.monotonic() - self.t0:5.2f}s] {self.n:2d}. {title}", flush=True)
        try:
            async with asyncio.timeout(timeout):
                return await action()
        except TimeoutError:
            raise DemoFailed(f"step {self.n} ({title}) timed out after {timeout:g} s") from None

    @staticmethod
    def say(text: str) -> None:
        print(f"          {text}", flush=True)


def _show_instance(node: Any, names: dict[int, str]) -> None:
    if not isinstance(node, InstanceNode):
        raise DemoFailed(f"expected an object instance, got {node!r}")
    for rid, res in sorted(node.resources.items()):
        value = res.value if isinstance(res, ResourceNode) else res.values
        _Steps.say(f"/3/0/{rid:<3} {names.get(rid, ''):<22} = {value!r}")


async def run(dtls: bool = False) -> None:
    steps = _Steps()
    fast = TransmissionParams(ack_timeout=0.5, ack_random_factor=1.2, max_retransmit=3)
    server = await _make_server(fast, dtls)
    bootstrap = BootstrapServer(transmission=fast, request_timeout=10.0)
    firmware_dir = tempfile.mkdtemp(prefix="lwm2m-demo-fw-")
    sample = None
    try:
        await server.start()
        host, port = server.coap_address
        scheme = "coaps" if dtls else "coap"
        account: dict[str, Any] = {
            "uri": f"{scheme}://{host}:{port}",
            "short_server_id": 101,
            "security_mode": "psk" if dtls else "nosec",
        }
        if dtls:
            account["psk_identity"] = PSK_IDENTITY
            account["psk_key"] = PSK_KEY.hex()
        config: dict[str, Any] = {
            "delete": ["/0", "/1"],
            "security": [account],
            "servers": [
                {
                    "short_server_id": 101,
                    "lifetime": 60,
                    "binding": "U",
                    "notification_storing": True,
                }
            ],
        }
        if dtls:
            config["bootstrap_psk"] = {"identity": BS_PSK_IDENTITY, "key": BS_PSK_KEY.hex()}
        bootstrap.set_endpoint(ENDPOINT, parse_endpoint(config, f"endpoints.{ENDPOINT}"))
        if dtls:
            await bootstrap.start("127.0.0.1", coap_port=None, coaps_port=0)
        else:
            await bootstrap.start("127.0.0.1", coap_port=0)
        bs_host, bs_port = bootstrap.addresses[0]
        steps.say(
            f"server on {scheme}://{host}:{port}, bootstrap server on "
            f"{scheme}://{bs_host}:{bs_port}"
        )

        sample = build_sample_client(
            endpoint=ENDPOINT,
            server_uri=f"{scheme}://{bs_host}:{bs_port}",
            bootstrap=True,
            psk_identity=BS_PSK_IDENTITY if dtls else None,
            psk_key=BS_PSK_KEY if dtls else None,
            firmware_dir=firmware_dir,
            client_options={"transmission": fast},
        )
        client = sample.client

        async def bootstrap_and_register() -> None:
            await client.start()
            ev = await client.wait_for(
                RdEvent.BOOTSTRAP_TRANSFER_COMPLETE, RdEvent.BOOTSTRAP_REG_FAILURE, timeout=15
            )
            if ev.kind is not RdEvent.BOOTSTRAP_TRANSFER_COMPLETE:
                raise DemoFailed(f"bootstrap failed: {ev}")
            steps.say("bootstrap finished: Security and Server objects written")
            ev = await client.wait_for(
                RdEvent.REGISTRATION_COMPLETE, RdEvent.REGISTRATION_FAILURE, timeout=15
            )
            if ev.kind is not RdEvent.REGISTRATION_COMPLETE:
                raise DemoFailed(f"registration failed: {ev}")

        await steps.run("bootstrap, then register with the server", bootstrap_and_register, 20)
        reg = server.get_registration(ENDPOINT)
        if reg is None:
            raise DemoFailed("the server does not know the client after registration")
        steps.say(f"registered as {reg.location}, lifetime {reg.lifetime} s, LwM2M {reg.version}")

        names = {r.id: r.name for r in server.registry[3].resources.values()}
        node = await steps.run(
            "Read /3/0 as TLV",
            lambda: server.read(ENDPOINT, "/3/0", format=ContentFormat.LWM2M_TLV),
        )
        _show_instance(node, names)
        node = await steps.run(
            "Read /3/0 as SenML JSON",
            lambda: server.read(ENDPOINT, "/3/0", format=ContentFormat.SENML_JSON),
        )
        if not isinstance(node, InstanceNode) or node.resources[0] != ResourceNode(
            0, "lwm2m-python"
        ):
            raise DemoFailed(f"unexpected Device instance: {node!r}")
        steps.say(f"{len(node.resources)} resources, manufacturer {node.resources[0].value!r}")

        await steps.run(
            "Write /3/0/14 UTC Offset = +02:00", lambda: server.write(ENDPOINT, "/3/0/14", "+02:00")
        )
        if client.get("3/0/14") != "+02:00":
            raise DemoFailed("the write did not reach the client")
        steps.say("client now holds UTC Offset +02:00")

        await steps.run("Execute /3/0/4 Reboot", lambda: server.execute(ENDPOINT, "/3/0/4"))
        await asyncio.sleep(0.05)
        if "reboot" not in sample.reboots:
            raise DemoFailed("the reboot callback did not run")
        steps.say("the client's reboot callback ran")

        await steps.run(
            "Write-Attributes pmin=0 pmax=2 on /3303/0/5700",
            lambda: server.write_attributes(ENDPOINT, "/3303/0/5700", pmin=0, pmax=2),
        )
        sample.start_drift(period=0.2, seed=7)

        async def observe() -> None:
            handle = await server.observe(ENDPOINT, "/3303/0/5700")
            steps.say(f"initial value {_value(handle.initial)} Cel")
            count = 0
            async for note in handle:
                count += 1
                steps.say(f"notification {count}: {_value(note.content)} Cel")
                if count == 3:
                    break
            await handle.cancel()

        await steps.run("Observe the temperature for three notifications", observe, 15)
        await sample.stop_drift()

        image = bytes(range(256)) * 80  # 20 KiB, pushed in 1 KiB Block1 blocks

        async def firmware() -> None:
            await server.write(ENDPOINT, "/5/0/0", image, format=ContentFormat.OCTET_STREAM)
            await _wait_value(server, "/5/0/3", 2)  # Downloaded
            steps.say(f"image of {len(image)} bytes downloaded, State = 2 (Downloaded)")
            await server.execute(ENDPOINT, "/5/0/2")
            await _wait_value(server, "/5/0/5", 1)  # Update Result: success
            steps.say("Update executed, Update Result = 1 (success)")

        await steps.run("Firmware update: push the package with Block1, then Update", firmware)
        installed = sample.updater.installed
        if not installed or installed[-1].read_bytes() != image:
            raise DemoFailed("the installed image differs from the one pushed")

        async def deregister() -> None:
            waiter = asyncio.ensure_future(
                server.wait_for(Deregistered, endpoint=ENDPOINT, timeout=10)
            )
            await asyncio.sleep(0)
            await client.stop(deregister=True)
            await waiter

        await steps.run("De-register and stop", deregister)
        if server.get_registration(ENDPOINT) is not None:
            raise DemoFailed("the registration is still there after De-register")
        print(f"demo finished in {time.monotonic() - steps.t0:.1f} s: every step passed")
    finally:
        if sample is not None:
            await sample.stop_drift()
            await sample.client.stop(deregister=False)
        await bootstrap.close()
        await server.stop()


def _value(node: Any) -> Any:
    return node.value if isinstance(node, ResourceNode) else node


async def _wait_value(server: Server, path: str, expected: int, timeout: float = 8.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            node = await server.read(ENDPOINT, path)
            if isinstance(node, ResourceNode) and node.value == expected:
                return
            await asyncio.sleep(0.05)


async def _make_server(params: TransmissionParams, dtls: bool) -> Server:
    if not dtls:
        return Server("127.0.0.1", 0, transmission=params, default_timeout=10.0)
    from lwm2m.transport.dtls import DtlsServerTransport
    from lwm2m.transport.mixed import identity_text

    keys = {PSK_IDENTITY.encode(): PSK_KEY}
    transport = await DtlsServerTransport.create("127.0.0.1", 0, psk_store=keys)
    return Server(
        "127.0.0.1",
        0,
        transmission=params,
        default_timeout=10.0,
        transport=transport,
        identity_of=lambda remote: identity_text(transport.peer_identity(remote)),
    )


def main(dtls: bool = False) -> int:
    try:
        asyncio.run(run(dtls=dtls), debug=False)
    except DemoFailed as exc:
        print(f"demo FAILED: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # any other failure: say what, exit non-zero
        print(f"demo FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0

"""A vendor object end to end: ``lwm2m server --models DIR`` reads it over TLV with its real types.

The server runs as the command runs it (flags parsed, :func:`lwm2m.cli.server.serve`),
in this process on loopback; the device is a :class:`lwm2m.Client` that implements
object 10250 from the same DDF file. Without the models directory the same read
comes back as opaque bytes and the server says once what is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path as FsPath
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from lwm2m import Client
from lwm2m.cli import server as cli
from lwm2m.client.events import RdEvent
from lwm2m.coap.layer import TransmissionParams
from lwm2m.model.registry import default_registry
from lwm2m.server import Server
from lwm2m.server.rest import create_app

HOST = "127.0.0.1"
FAST = TransmissionParams(ack_timeout=0.2, ack_random_factor=1.0, max_retransmit=2)

METER_DDF = """<?xml version="1.0" encoding="utf-8"?>
<LWM2M xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:noNamespaceSchemaLocation="http://openmobilealliance.org/tech/profiles/LWM2M-v1_1.xsd">
  <Object ObjectType="MODefinition">
    <Name>Vendor Meter</Name>
    <Description1>A meter of a vendor.</Description1>
    <ObjectID>10250</ObjectID>
    <ObjectURN>urn:oma:lwm2m:x:10250</ObjectURN>
    <LWM2MVersion>1.1</LWM2MVersion>
    <ObjectVersion>1.0</ObjectVersion>
    <MultipleInstances>Multiple</MultipleInstances>
    <Mandatory>Optional</Mandatory>
    <Resources>
      <Item ID="0">
        <Name>Count</Name><Operations>R</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory>
        <Type>Integer</Type><RangeEnumeration></RangeEnumeration><Units></Units>
        <Description>Pulses counted.</Description>
      </Item>
      <Item ID="1">
        <Name>Ratio</Name><Operations>RW</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>Float</Type><RangeEnumeration></RangeEnumeration><Units>%</Units>
        <Description>Duty ratio.</Description>
      </Item>
      <Item ID="2">
        <Name>Label</Name><Operations>RW</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>String</Type><RangeEnumeration>0..32</RangeEnumeration><Units></Units>
        <Description>A name.</Description>
      </Item>
    </Resources>
    <Description2></Description2>
  </Object>
</LWM2M>
"""


@pytest.fixture
def models(tmp_path: FsPath) -> FsPath:
    directory = tmp_path / "models"
    directory.mkdir()
    (directory / "10250.xml").write_text(METER_DDF, encoding="utf-8")
    return directory


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lwm2m")
    cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


@contextlib.asynccontextmanager
async def cli_server(models: FsPath) -> AsyncIterator[tuple[int, int]]:
    """``lwm2m server --models DIR`` on free loopback ports: (CoAP port, HTTP port)."""
    argv = ["server", "--host", HOST, "--coap-port", "0", "--http-port", "0", "--no-dtls"]
    options = cli._options(parse([*argv, "--models", str(models)]))
    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.ensure_future(cli.serve(options, out=out, stop=stop))
    try:
        async with asyncio.timeout(10):
            while "http listening on" not in out.getvalue():
                assert not task.done(), out.getvalue()
                await asyncio.sleep(0.01)
        text = out.getvalue()
        coap = re.search(r"^coap listening on [\d.]+:(\d+)$", text, re.M)
        http = re.search(r"^http listening on [\d.]+:(\d+)$", text, re.M)
        assert coap is not None and http is not None, text
        yield int(coap.group(1)), int(http.group(1))
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def meter_device(models: FsPath, coap_port: int, name: str) -> AsyncIterator[Client]:
    """A client that implements object 10250 (from the same DDF file) and is registered."""
    registry = default_registry().copy()
    registry.load_directory(models)
    client = Client(name, registry=registry, lwm2m_version="1.1", transmission=FAST)
    client.add_server(f"coap://{HOST}:{coap_port}", short_server_id=101, lifetime=300)
    client.store.create_instance(10250, 0)
    client.set("10250/0/0", -7)
    client.set("10250/0/1", 2.5)
    client.set("10250/0/2", "north")
    await client.start()
    try:
        await client.wait_for(RdEvent.REGISTRATION_COMPLETE, timeout=5.0)
        yield client
    finally:
        await client.stop(timeout=1.0)


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        text = await resp.text()
        assert resp.status == 200, f"{url}: {resp.status} {text}"
        return json.loads(text)


def resources(body: dict[str, Any]) -> dict[int, dict[str, Any]]:
    content = body["content"]
    assert content["kind"] == "instance" and content["id"] == 0, content
    return {r["id"]: r for r in content["resources"]}


async def test_int_vendor_object_read_over_tlv_with_its_types(models: FsPath) -> None:
    async with (
        cli_server(models) as (coap_port, http_port),
        meter_device(models, coap_port, "meter-1"),
        aiohttp.ClientSession(
            f"http://{HOST}:{http_port}", timeout=aiohttp.ClientTimeout(total=10)
        ) as api,
    ):
        body = await get_json(api, "/api/clients/meter-1/10250/0?format=TLV")
        values = resources(body)
        assert {rid: r["type"] for rid, r in values.items()} == {
            0: "INTEGER",
            1: "FLOAT",
            2: "STRING",
        }
        assert int(values[0]["value"]) == -7
        assert float(values[1]["value"]) == 2.5
        assert values[2]["value"] == "north"
        single = await get_json(api, "/api/clients/meter-1/10250/0/1?format=TLV")
        assert single["content"]["type"] == "FLOAT" and float(single["content"]["value"]) == 2.5

        specs = await get_json(api, "/api/objectspecs/meter-1")
        (meter,) = [m for m in specs if m["id"] == 10250]
        assert meter["name"] == "Vendor Meter" and meter["version"] == "1.0"
        assert meter["urn"] == "urn:oma:lwm2m:x:10250" and meter["instancetype"] == "multiple"
        assert [(r["id"], r["type"], r["operations"]) for r in meter["resourcedefs"]] == [
            (0, "integer", "R"),
            (1, "float", "RW"),
            (2, "string", "RW"),
        ]
        assert meter["resourcedefs"][2]["range"] == "0..32"
        assert meter["resourcedefs"][1]["units"] == "%"


async def test_int_without_models_the_values_are_opaque_and_the_server_says_why(
    models: FsPath, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="lwm2m.server.dm")
    async with Server(HOST, 0, transmission=FAST) as server:
        runner = web.AppRunner(create_app(server))
        await runner.setup()
        try:
            site = web.TCPSite(runner, HOST, 0)
            await site.start()
            http_port = runner.addresses[0][1]
            async with (
                meter_device(models, server.coap_address[1], "meter-plain"),
                aiohttp.ClientSession(
                    f"http://{HOST}:{http_port}", timeout=aiohttp.ClientTimeout(total=10)
                ) as api,
            ):
                for _ in range(2):
                    body = await get_json(api, "/api/clients/meter-plain/10250/0?format=TLV")
                    assert {r["type"] for r in resources(body).values()} == {"OPAQUE"}
                specs = await get_json(api, "/api/objectspecs/meter-plain")
                assert 10250 not in [m["id"] for m in specs]
        finally:
            await runner.cleanup()
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "lwm2m.server.dm" and "meter-plain" in r.getMessage()
    ]
    assert len(warnings) == 1, warnings  # once for the endpoint and object, not per read
    assert "object 10250" in warnings[0] and "--models DIR" in warnings[0]

"""The sample client: objects installed, extra DDF definitions, bad --objects input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path as FsPath

from lwm2m import formats
from lwm2m.model import InstanceNode, Path, ResourceNode
from lwm2m.sample import build_sample_client

WIDGET_DDF = """<?xml version="1.0" encoding="utf-8"?>
<LWM2M><Object ObjectType="MODefinition">
  <Name>Widget</Name><Description1>test</Description1><ObjectID>10250</ObjectID>
  <ObjectURN>urn:oma:lwm2m:x:10250</ObjectURN><LWM2MVersion>1.1</LWM2MVersion>
  <ObjectVersion>1.0</ObjectVersion><MultipleInstances>Multiple</MultipleInstances>
  <Mandatory>Optional</Mandatory>
  <Resources>
    <Item ID="0"><Name>Level</Name><Operations>RW</Operations>
      <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory>
      <Type>Integer</Type><RangeEnumeration>0..10</RangeEnumeration><Units></Units>
      <Description>level</Description></Item>
  </Resources><Description2></Description2>
</Object></LWM2M>
"""


def test_sample_installs_the_objects_of_the_seed_sample(tmp_path: FsPath) -> None:
    sample = build_sample_client(
        endpoint="ep", server_uri="coap://127.0.0.1:5683", firmware_dir=str(tmp_path)
    )
    store = sample.client.store
    for oid in (0, 1, 3, 4, 5, 6, 7, 3303, 3311, 3340):
        assert store.has_object(oid), oid
    assert store.get("3/0/2") == "ep"
    assert store.get("0/0/0") == "coap://127.0.0.1:5683"


def test_objects_dir_makes_a_user_object_usable_by_the_codecs(tmp_path: FsPath) -> None:
    (tmp_path / "widget.xml").write_text(WIDGET_DDF)
    sample = build_sample_client(
        endpoint="ep", server_uri="coap://127.0.0.1:5683", objects_dir=str(tmp_path)
    )
    store = sample.client.store
    store.create_instance(10250, 0)
    store.set("10250/0/0", 7)
    registry = store.registry
    node = InstanceNode(0, {0: ResourceNode(0, 7)})
    for cf in (11542, 110, 112, 11544):
        payload = formats.encode(cf, node, Path(10250, 0), registry)
        assert formats.decode(cf, payload, Path(10250, 0), registry) == node


def test_client_cli_bad_objects_dir_is_a_clear_error(tmp_path: FsPath) -> None:
    (tmp_path / "broken.xml").write_text("<LWM2M><Object>")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lwm2m",
            "client",
            "--server",
            "coap://127.0.0.1:9",
            "--objects",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "broken.xml" in proc.stderr

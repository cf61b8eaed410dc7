"""``lwm2m server --models DIR`` and the warning for content of objects without a definition."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path as FsPath

import pytest

from lwm2m import formats
from lwm2m.cli import server as cli
from lwm2m.cli.main import main
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.model import (
    InstanceNode,
    ObjectDef,
    Path,
    Registry,
    ResourceDef,
    ResourceNode,
    ResourceType,
)
from lwm2m.model.ddf import dump_ddf
from lwm2m.model.registry import default_registry
from lwm2m.server import dm

METER = ObjectDef(
    10250,
    "Vendor Meter",
    {
        0: ResourceDef(0, "Count", ResourceType.INTEGER),
        1: ResourceDef(1, "Ratio", ResourceType.FLOAT),
        2: ResourceDef(2, "Label", ResourceType.STRING),
    },
)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lwm2m")
    cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def models_dir(tmp_path: FsPath, **files: bytes) -> FsPath:
    directory = tmp_path / "models"
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return directory


# --- the flag ------------------------------------------------------------------------------


def test_without_models_the_server_uses_the_builtin_definitions() -> None:
    options = cli._options(parse(["server"]))
    assert options.registry is None


def test_models_are_loaded_beside_the_builtin_ones(tmp_path: FsPath) -> None:
    directory = models_dir(tmp_path, **{"meter.xml": dump_ddf(METER)})
    options = cli._options(parse(["server", "--models", str(directory)]))
    registry = options.registry
    assert registry is not None and registry is not default_registry()
    assert registry[10250].name == "Vendor Meter"
    ratio = registry.resource(Path(10250, 0, 1))
    assert ratio is not None and ratio.type is ResourceType.FLOAT
    assert 3 in registry and 3303 in registry  # the built-in ones are still there
    assert 10250 not in default_registry()


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("lwm2m server: error: ")
    assert err.count("\n") == 1  # one line, no traceback
    return err


def test_missing_directory_exits_2(tmp_path: FsPath, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    err = _refused(["server", "--models", str(missing)], capsys)
    assert f"{missing}: no such directory" in err


def test_a_file_instead_of_a_directory_exits_2(
    tmp_path: FsPath, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "meter.xml"
    file.write_bytes(dump_ddf(METER))
    err = _refused(["server", "--models", str(file)], capsys)
    assert f"{file}: not a directory" in err


def test_malformed_xml_exits_2_naming_the_file(
    tmp_path: FsPath, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = models_dir(
        tmp_path, **{"good.xml": dump_ddf(METER), "broken.xml": b"<LWM2M><Object>"}
    )
    err = _refused(["server", "--models", str(directory)], capsys)
    assert f"{directory / 'broken.xml'}: not well-formed XML" in err


def test_invalid_definition_exits_2_naming_the_file(
    tmp_path: FsPath, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = dump_ddf(METER).replace(b"<Type>Float</Type>", b"<Type>Decimal</Type>")
    directory = models_dir(tmp_path, **{"meter.xml": bad})
    err = _refused(["server", "--models", str(directory)], capsys)
    assert str(directory / "meter.xml") in err and "'Decimal'" in err


def test_conflicting_definitions_exit_2_naming_both_files(
    tmp_path: FsPath, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = models_dir(
        tmp_path, **{"a-meter.xml": dump_ddf(METER), "b-meter.xml": dump_ddf(METER)}
    )
    err = _refused(["server", "--models", str(directory)], capsys)
    assert str(directory / "b-meter.xml") in err and str(directory / "a-meter.xml") in err
    assert "object 10250 version 1.0 is already defined" in err


# --- the warning -------------------------------------------------------------------------------


def tlv_answer(registry: Registry) -> Message:
    node = InstanceNode(
        0, {0: ResourceNode(0, -7), 1: ResourceNode(1, 2.5), 2: ResourceNode(2, "hi")}
    )
    payload = formats.encode(ContentFormat.LWM2M_TLV, node, Path(10250, 0), registry)
    message = Message(code=Code.CONTENT, payload=payload)
    message.content_format = ContentFormat.LWM2M_TLV
    return message


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "lwm2m.server.dm" and r.levelno == logging.WARNING
    ]


def test_unknown_object_is_reported_once_per_endpoint_and_object(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with_meter = default_registry().copy()
    with_meter.add(METER)
    answer = tlv_answer(with_meter)
    plain = default_registry()
    path = Path(10250, 0)
    caplog.set_level(logging.WARNING, logger="lwm2m.server.dm")
    node = dm.decode_content(answer, path, plain, endpoint="unmodelled-a")
    assert isinstance(node, InstanceNode)
    assert node.resources[0] == ResourceNode(0, b"\xf9")  # what TLV gives without a type
    (first,) = warnings_of(caplog)
    assert "unmodelled-a" in first and "object 10250" in first and "--models DIR" in first
    # the same endpoint and object again: nothing new
    dm.decode_content(answer, path, plain, endpoint="unmodelled-a")
    dm.note_unmodelled("unmodelled-a", path.child(1), ResourceNode(1, b""), plain)
    assert len(warnings_of(caplog)) == 1
    # another endpoint is told once too
    dm.decode_content(answer, path, plain, endpoint="unmodelled-b")
    assert len(warnings_of(caplog)) == 2
    # with the definition the values are typed and nothing is said
    typed = dm.decode_content(answer, path, with_meter, endpoint="unmodelled-c")
    assert isinstance(typed, InstanceNode)
    assert typed.resources[0] == ResourceNode(0, -7)
    assert typed.resources[1] == ResourceNode(1, 2.5)
    assert typed.resources[2] == ResourceNode(2, "hi")
    # without an endpoint (a caller outside the server) nothing is said either
    dm.decode_content(answer, path, plain)
    assert len(warnings_of(caplog)) == 2


def test_composite_records_report_each_unknown_object(caplog: pytest.LogCaptureFixture) -> None:
    records = {Path(10250, 0, 0): 1.0, Path(10251, 0, 0): "x", Path(3, 0, 0): "Acme"}
    caplog.set_level(logging.WARNING, logger="lwm2m.server.dm")
    reported = dm.note_unmodelled("unmodelled-d", Path(), records, default_registry())
    assert reported == [10250, 10251]
    assert dm.note_unmodelled("unmodelled-d", Path(), records, default_registry()) == []
    messages = warnings_of(caplog)
    assert len(messages) == 2
    assert "object 10250" in messages[0] and "object 10251" in messages[1]


def test_the_memory_of_reported_pairs_is_bounded() -> None:
    for n in range(dm.UNMODELLED_MEMORY + 5):
        dm.note_unmodelled(f"bulk-{n}", Path(10250, 0), ResourceNode(0, b""), Registry())
    assert len(dm._unmodelled_seen) <= dm.UNMODELLED_MEMORY

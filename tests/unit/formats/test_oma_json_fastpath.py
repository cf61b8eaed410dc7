"""LwM2M JSON's direct text writer gives exactly the bytes json.dumps gives for the entries."""

from __future__ import annotations

import binascii
import sys
from pathlib import Path as FsPath

import pytest
from hypothesis import given

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared senml_testutil module
from senml_testutil import REG, TYPES_OID, instances

from lwm2m.errors import EncodeError
from lwm2m.formats import oma_json, senml
from lwm2m.formats.senml_json import dump_json
from lwm2m.model import InstanceNode, Path, ResourceNode


def _reference(inst: InstanceNode, path: Path) -> bytes:
    """The document built as dicts and written by the json module."""
    bn, items = senml.leaves(inst, path, REG)
    labels = oma_json.DIALECT.labels
    entries: list[dict[str, object]] = []
    for name, kind, value in items:
        if kind == senml.DATA:
            raw: object = binascii.b2a_base64(value, newline=False).decode("ascii")  # type: ignore[arg-type]
        elif kind == senml.OBJLNK:
            raw = str(value)
        else:
            raw = value
        entries.append({"n": name, labels[kind]: raw} if name else {labels[kind]: raw})
    return dump_json({"bn": bn, "e": entries})


@given(instances())
def test_direct_text_matches_json_dumps(inst: InstanceNode) -> None:
    path = Path(TYPES_OID, inst.id)
    assert oma_json.encode(inst, path, REG) == _reference(inst, path)


def test_single_values_and_awkward_text_match_json_dumps() -> None:
    text = 'quote " backslash \\ newline \n tab \t nul \x00 del \x7f \u2028 é 😀'
    inst = InstanceNode(0, {0: ResourceNode(0, text), 3: ResourceNode(3, -1e300)})
    path = Path(TYPES_OID, 0)
    assert oma_json.encode(inst, path, REG) == _reference(inst, path)
    single = oma_json.encode(ResourceNode(0, text), Path(TYPES_OID, 0, 0), REG)
    assert single == dump_json({"bn": f"/{TYPES_OID}/0/", "e": [{"n": "0", "sv": text}]})


def test_text_json_cannot_carry_raises_encode_error() -> None:
    path = Path(TYPES_OID, 0)
    for value in ("lone \ud800 surrogate", float("nan"), float("inf")):
        rid = 0 if isinstance(value, str) else 3
        with pytest.raises(EncodeError, match="JSON"):
            oma_json.encode(InstanceNode(0, {rid: ResourceNode(rid, value)}), path, REG)

"""Spot checks of the built-in definitions against the OMA registry facts."""

from __future__ import annotations

import re

import pytest

from lwm2m.errors import ModelError
from lwm2m.model import ObjectDef, Operations, ResourceDef, ResourceType, default_registry
from lwm2m.model.builtin import builtin_objects
from lwm2m.model.builtin._table import ObjectSpec, build

T = ResourceType
OPS = Operations

EXPECTED_IDS = [0, 1, 2, 3, 4, 5, 6, 7, 3300, 3303, 3304, 3311, 3313, 3323, 3338, 3340, 3342, 3347]


def _obj(oid: int) -> ObjectDef:
    return default_registry()[oid]


def _res(oid: int, rid: int) -> ResourceDef:
    return _obj(oid).resources[rid]


def test_all_objects_present_in_order() -> None:
    assert [o.id for o in builtin_objects()] == EXPECTED_IDS


def test_builtin_objects_is_cached_but_returns_a_fresh_list() -> None:
    a, b = builtin_objects(), builtin_objects()
    assert a == b and a is not b
    assert all(x is y for x, y in zip(a, b, strict=True))
    a.clear()
    assert len(builtin_objects()) == len(EXPECTED_IDS)


@pytest.mark.parametrize(
    ("oid", "name", "version", "lwm2m", "urn", "multiple", "mandatory", "rids"),
    [
        (0, "LWM2M Security", "1.1", "1.1", "urn:oma:lwm2m:oma:0:1.1", True, True, range(18)),
        (1, "LwM2M Server", "1.1", "1.1", "urn:oma:lwm2m:oma:1:1.1", True, True, range(24)),
        (2, "LwM2M Access Control", "1.1", "1.0", "urn:oma:lwm2m:oma:2:1.1", True, False, range(4)),
        (3, "Device", "1.1", "1.1", "urn:oma:lwm2m:oma:3:1.1", False, True, range(23)),
        (
            4,
            "Connectivity Monitoring",
            "1.3",
            "1.1",
            "urn:oma:lwm2m:oma:4:1.3",
            False,
            False,
            range(14),
        ),
        (
            5,
            "Firmware Update",
            "1.1",
            "1.1",
            "urn:oma:lwm2m:oma:5:1.1",
            False,
            False,
            [0, 1, 2, 3, *range(5, 14)],
        ),
        (6, "Location", "1.0", "1.0", "urn:oma:lwm2m:oma:6", False, False, range(7)),
        (7, "Connectivity Statistics", "1.0", "1.0", "urn:oma:lwm2m:oma:7", False, False, range(9)),
    ],
)
def test_core_object_headers(
    oid: int,
    name: str,
    version: str,
    lwm2m: str,
    urn: str,
    multiple: bool,
    mandatory: bool,
    rids: range | list[int],
) -> None:
    obj = _obj(oid)
    assert (obj.name, obj.version, obj.lwm2m_version, obj.urn) == (name, version, lwm2m, urn)
    assert (obj.multiple, obj.mandatory) == (multiple, mandatory)
    assert sorted(obj.resources) == list(rids)


@pytest.mark.parametrize(
    ("oid", "version", "urn"),
    [
        (3300, "1.1", "urn:oma:lwm2m:ext:3300:1.1"),
        (3303, "1.1", "urn:oma:lwm2m:ext:3303:1.1"),
        (3304, "1.1", "urn:oma:lwm2m:ext:3304:1.1"),
        (3311, "1.0", "urn:oma:lwm2m:ext:3311"),
        (3313, "1.1", "urn:oma:lwm2m:ext:3313:1.1"),
        (3323, "1.1", "urn:oma:lwm2m:ext:3323:1.1"),
        (3338, "1.1", "urn:oma:lwm2m:ext:3338:1.1"),
        (3340, "1.0", "urn:oma:lwm2m:ext:3340"),
        (3342, "1.1", "urn:oma:lwm2m:ext:3342:1.1"),
        (3347, "1.1", "urn:oma:lwm2m:ext:3347:1.1"),
    ],
)
def test_ipso_object_headers(oid: int, version: str, urn: str) -> None:
    obj = _obj(oid)
    assert (obj.version, obj.lwm2m_version, obj.urn) == (version, "1.0", urn)
    assert obj.multiple and not obj.mandatory


# (object, resource) -> (name, operations, multiple, mandatory, type, range, units)
FACTS = {
    (0, 0): ("LWM2M Server URI", OPS.NONE, False, True, T.STRING, "0..255", ""),
    (0, 1): ("Bootstrap-Server", OPS.NONE, False, True, T.BOOLEAN, "", ""),
    (0, 2): ("Security Mode", OPS.NONE, False, True, T.INTEGER, "0..4", ""),
    (0, 5): ("Secret Key", OPS.NONE, False, True, T.OPAQUE, "", ""),
    (0, 10): ("Short Server ID", OPS.NONE, False, False, T.INTEGER, "1..65534", ""),
    (0, 16): ("DTLS/TLS Ciphersuite", OPS.NONE, True, False, T.INTEGER, "", ""),
    (0, 17): ("OSCORE Security Mode", OPS.NONE, False, False, T.OBJLNK, "", ""),
    (1, 0): ("Short Server ID", OPS.R, False, True, T.INTEGER, "1..65534", ""),
    (1, 1): ("Lifetime", OPS.RW, False, True, T.INTEGER, "", "s"),
    (1, 4): ("Disable", OPS.E, False, False, T.NONE, "", ""),
    (1, 7): ("Binding", OPS.RW, False, True, T.STRING, "", ""),
    (1, 8): ("Registration Update Trigger", OPS.E, False, True, T.NONE, "", ""),
    (1, 12): ("Last Bootstrapped", OPS.R, False, False, T.TIME, "", ""),
    (1, 22): ("Preferred Transport", OPS.RW, False, False, T.STRING, "", ""),
    (1, 23): ("Mute Send", OPS.RW, False, False, T.BOOLEAN, "", ""),
    (2, 2): ("ACL", OPS.RW, True, False, T.INTEGER, "0..31", ""),
    (2, 3): ("Access Control Owner", OPS.RW, False, True, T.INTEGER, "0..65535", ""),
    (3, 4): ("Reboot", OPS.E, False, True, T.NONE, "", ""),
    (3, 6): ("Available Power Sources", OPS.R, True, False, T.INTEGER, "0..7", ""),
    (3, 9): ("Battery Level", OPS.R, False, False, T.INTEGER, "0..100", "%"),
    (3, 11): ("Error Code", OPS.R, True, True, T.INTEGER, "0..8", ""),
    (3, 13): ("Current Time", OPS.RW, False, False, T.TIME, "", ""),
    (3, 16): ("Supported Binding and Modes", OPS.R, False, True, T.STRING, "", ""),
    (3, 22): ("ExtDevInfo", OPS.R, True, False, T.OBJLNK, "", ""),
    (4, 0): ("Network Bearer", OPS.R, False, True, T.INTEGER, "0..50", ""),
    (4, 2): ("Radio Signal Strength", OPS.R, False, True, T.INTEGER, "", "dBm"),
    (4, 4): ("IP Addresses", OPS.R, True, True, T.STRING, "", ""),
    (5, 0): ("Package", OPS.W, False, True, T.OPAQUE, "", ""),
    (5, 1): ("Package URI", OPS.RW, False, True, T.STRING, "0..255", ""),
    (5, 2): ("Update", OPS.E, False, True, T.NONE, "", ""),
    (5, 3): ("State", OPS.R, False, True, T.INTEGER, "0..3", ""),
    (5, 5): ("Update Result", OPS.R, False, True, T.INTEGER, "0..11", ""),
    (5, 8): ("Firmware Update Protocol Support", OPS.R, True, False, T.INTEGER, "0..5", ""),
    (5, 9): ("Firmware Update Delivery Method", OPS.R, False, True, T.INTEGER, "0..2", ""),
    (5, 13): ("Maximum Defer Period", OPS.RW, False, False, T.UNSIGNED_INTEGER, "", "s"),
    (6, 0): ("Latitude", OPS.R, False, True, T.FLOAT, "", "lat"),
    (6, 5): ("Timestamp", OPS.R, False, True, T.TIME, "", ""),
    (7, 6): ("Start", OPS.E, False, True, T.NONE, "", ""),
    (7, 8): ("Collection Period", OPS.RW, False, False, T.INTEGER, "", "s"),
    (3303, 5700): ("Sensor Value", OPS.R, False, True, T.FLOAT, "", ""),
    (3303, 5601): ("Min Measured Value", OPS.R, False, False, T.FLOAT, "", ""),
    (3303, 5605): ("Reset Min and Max Measured Values", OPS.E, False, False, T.NONE, "", ""),
    (3303, 5701): ("Sensor Units", OPS.R, False, False, T.STRING, "", ""),
    (3303, 5750): ("Application Type", OPS.RW, False, False, T.STRING, "", ""),
    (3303, 5518): ("Timestamp", OPS.R, False, False, T.TIME, "", ""),
    (3300, 5751): ("Sensor Type", OPS.R, False, False, T.STRING, "", ""),
    (3311, 5850): ("On/Off", OPS.RW, False, True, T.BOOLEAN, "", ""),
    (3311, 5851): ("Dimmer", OPS.RW, False, False, T.INTEGER, "0..100", "/100"),
    (3311, 5852): ("On time", OPS.RW, False, False, T.INTEGER, "", "s"),
    (3311, 5805): ("Cumulative active power", OPS.R, False, False, T.FLOAT, "", "Wh"),
    (3311, 5820): ("Power factor", OPS.R, False, False, T.FLOAT, "", ""),
    (3311, 5706): ("Colour", OPS.RW, False, False, T.STRING, "", ""),
    (3313, 5702): ("X Value", OPS.R, False, True, T.FLOAT, "", ""),
    (3313, 5704): ("Z Value", OPS.R, False, False, T.FLOAT, "", ""),
    (3323, 5821): ("Current Calibration", OPS.RW, False, False, T.FLOAT, "", ""),
    (3338, 5850): ("On/Off", OPS.RW, False, True, T.BOOLEAN, "", ""),
    (3338, 5525): ("Minimum Off-time", OPS.RW, False, True, T.FLOAT, "", "s"),
    (3340, 5521): ("Delay Duration", OPS.RW, False, True, T.FLOAT, "", "s"),
    (3340, 5538): ("Remaining Time", OPS.R, False, False, T.FLOAT, "", "s"),
    (3340, 5523): ("Trigger", OPS.E, False, False, T.NONE, "", ""),
    (3340, 5850): ("On/Off", OPS.RW, False, False, T.BOOLEAN, "", ""),
    (3340, 5526): ("Timer Mode", OPS.RW, False, False, T.INTEGER, "0..4", ""),
    (3340, 5534): ("Counter", OPS.RW, False, False, T.INTEGER, "", ""),
    (3340, 5544): ("Cumulative Time", OPS.RW, False, False, T.FLOAT, "", "s"),
    (3342, 5500): ("Digital Input State", OPS.R, False, True, T.BOOLEAN, "", ""),
    (3342, 5501): ("Digital Input Counter", OPS.R, False, False, T.INTEGER, "", ""),
    (3347, 5500): ("Digital Input State", OPS.R, False, True, T.BOOLEAN, "", ""),
}


@pytest.mark.parametrize("key", list(FACTS), ids=lambda k: f"{k[0]}-{k[1]}")
def test_resource_facts(key: tuple[int, int]) -> None:
    r = _res(*key)
    name, ops, multiple, mandatory, rtype, range_text, units = FACTS[key]
    assert (r.name, r.operations, r.multiple, r.mandatory) == (name, ops, multiple, mandatory)
    assert (r.type, r.range_text, r.units) == (rtype, range_text, units)


def test_firmware_has_no_resource_4() -> None:
    assert _obj(5).resource(4) is None


def test_ranges_are_enforced() -> None:
    assert _res(0, 2).check(4) == 4
    with pytest.raises(ModelError, match=re.escape("outside '0..4'")):
        _res(0, 2).check(5)
    with pytest.raises(ModelError, match=re.escape("outside '0..3'")):
        _res(5, 3).check(4)
    with pytest.raises(ModelError, match=re.escape("outside '1..65534'")):
        _res(1, 0).check(0)
    with pytest.raises(ModelError, match="length 256"):
        _res(5, 1).check("u" * 256)
    assert _res(0, 8).check(bytes(48)) == bytes(48)
    with pytest.raises(ModelError, match=re.escape("outside '0..100'")):
        _res(3311, 5851).check(101)


def test_every_resource_is_consistent() -> None:
    for obj in builtin_objects():
        assert obj.description, obj.id
        for r in obj.resources.values():
            assert (r.type is T.NONE) == r.operations.executable, (obj.id, r.id)
            assert r.name.strip() == r.name and r.name, (obj.id, r.id)
            if r.range_text and r.range_text not in {"6"}:
                assert r.value_range is not None, (obj.id, r.id, r.range_text)


def test_ipso_reusable_resources_agree_across_objects() -> None:
    seen: dict[int, tuple[object, ...]] = {}
    for obj in builtin_objects():
        if obj.id < 3200:
            continue
        for r in obj.resources.values():
            shape = (r.name, r.operations, r.multiple, r.type, r.range_text, r.units)
            assert seen.setdefault(r.id, shape) == shape, (obj.id, r.id)


def test_build_rejects_duplicate_rows() -> None:
    row = (0, "A", "R", False, False, "String", "", "")
    spec = ObjectSpec(
        id=9999,
        name="X",
        multiple=True,
        mandatory=False,
        version="1.0",
        lwm2m_version="1.0",
        rows=(row, row),
    )
    with pytest.raises(ValueError, match="resource 0 listed twice"):
        build(spec)

"""CBOR single value (60): major types per LwM2M data type, strict decoding, round trips."""

from __future__ import annotations

import math
import sys
from pathlib import Path as FsPath

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.errors import DecodeError, EncodeError, UnsupportedFormat
from lwm2m.formats import cbor
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    ObjLink,
    Path,
    ResourceNode,
)

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared senml_testutil module
from senml_testutil import (
    BOOLEAN,
    CORELNK,
    FLOAT,
    INTEGER,
    OBJLNK,
    OPAQUE,
    STRING,
    TIME,
    UNSIGNED,
    links_registry,
)

REG = links_registry()

UNKNOWN = Path(4242, 0, 0)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def enc(path: Path, value: object) -> bytes:
    return cbor.encode(ResourceNode(path[-1], value), path, REG)  # type: ignore[arg-type]


def dec(path: Path, payload: bytes) -> object:
    node = cbor.decode(payload, path, REG)
    assert isinstance(node, ResourceNode) and node.id == path[-1]
    return node.value


@pytest.mark.parametrize(
    ("path", "value", "payload"),
    [
        (STRING, "Open Mobile Alliance", "74" + b"Open Mobile Alliance".hex()),
        (STRING, "", "60"),
        (INTEGER, 0, "00"),
        (INTEGER, 23, "17"),
        (INTEGER, 24, "18 18"),
        (INTEGER, -1, "20"),
        (INTEGER, -(2**63), "3B 7F FF FF FF FF FF FF FF"),
        (INTEGER, 2**63 - 1, "1B 7F FF FF FF FF FF FF FF"),
        (TIME, 1367491215, "1A 51 82 42 8F"),
        (UNSIGNED, 2**64 - 1, "1B FF FF FF FF FF FF FF FF"),
        (FLOAT, 1.5, "F9 3E 00"),
        (FLOAT, 100000.0, "FA 47 C3 50 00"),
        (FLOAT, 0.1, "FB 3F B9 99 99 99 99 99 9A"),
        (FLOAT, float("inf"), "F9 7C 00"),
        (FLOAT, float("-inf"), "F9 FC 00"),
        (BOOLEAN, True, "F5"),
        (BOOLEAN, False, "F4"),
        (OPAQUE, b"", "40"),
        (OPAQUE, b"\x01\x02\x03", "43 01 02 03"),
        (OBJLNK, ObjLink(66, 0), "64 36 36 3A 30"),
        (CORELNK, "</3>", "64 3C 2F 33 3E"),
    ],
)
def test_major_types_per_data_type(path: Path, value: object, payload: str) -> None:
    assert enc(path, value) == h(payload)
    assert dec(path, h(payload)) == value


def test_nan_round_trips() -> None:
    payload = enc(FLOAT, float("nan"))
    assert payload == h("F9 7E 00")
    value = dec(FLOAT, payload)
    assert isinstance(value, float) and math.isnan(value)


def test_resource_instance_path() -> None:
    path = Path(3, 0, 7, 65534)
    assert cbor.encode(ResourceNode(65534, 5000), path, REG) == h("19 13 88")
    assert cbor.decode(h("19 13 88"), path, REG) == ResourceNode(65534, 5000)


def test_lenient_decoding() -> None:
    assert dec(TIME, h("C1 1A 51 82 42 8F")) == 1367491215  # epoch tag 1
    assert dec(FLOAT, h("18 2A")) == 42.0  # an integer for a Float
    assert dec(FLOAT, h("FA 3F C0 00 00")) == 1.5  # single precision, not the shortest
    assert dec(STRING, h("7F 61 61 61 62 FF")) == "ab"  # indefinite-length text


def test_unknown_resource_takes_the_cbor_type() -> None:
    assert dec(UNKNOWN, h("20")) == -1
    assert dec(UNKNOWN, h("F9 3E 00")) == 1.5
    assert dec(UNKNOWN, h("61 61")) == "a"
    assert dec(UNKNOWN, h("41 61")) == b"a"
    assert dec(UNKNOWN, h("F5")) is True
    assert dec(UNKNOWN, h("C1 01")) == 1
    assert enc(UNKNOWN, ObjLink(1, 2)) == h("63 31 3A 32")


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        (INTEGER, ""),
        (INTEGER, "01 02"),  # trailing bytes
        (INTEGER, "18"),  # truncated
        (INTEGER, "F9 3E 00"),  # float for an Integer
        (INTEGER, "61 31"),
        (INTEGER, "3B FF FF FF FF FF FF FF FF"),  # -2**64 does not fit int64
        (INTEGER, "1B 80 00 00 00 00 00 00 00"),  # 2**63
        (INTEGER, "C2 41 01"),  # bignum tag
        (INTEGER, "80"),  # array
        (INTEGER, "A0"),  # map
        (INTEGER, "F6"),  # null
        (INTEGER, "F7"),  # undefined
        (INTEGER, "F0"),  # simple value 16
        (UNSIGNED, "20"),
        (TIME, "C1"),  # tag without item
        (TIME, "C1 61 61"),  # tag 1 around text
        (TIME, "C0 61 61"),  # tag 0
        (INTEGER, "C1 01"),  # tag 1 on a non-Time resource
        (BOOLEAN, "01"),
        (STRING, "41 61"),
        (STRING, "62 C3 28"),  # invalid UTF-8
        (OPAQUE, "61 61"),
        (OBJLNK, "64 36 36 3A 78"),
        (OBJLNK, "63 36 36 3A"),
        (OBJLNK, "6B 37 30 30 30 30 30 3A 30 30 30 30"),
        (OBJLNK, "02"),
        (FLOAT, "61 31"),
        (STRING, "7F 61 61 41 62 FF"),  # bytes chunk inside indefinite text
        (STRING, "5F"),  # unterminated indefinite bytes
        (STRING, "FF"),  # break outside an indefinite item
    ],
)
def test_malformed_or_mistyped_items_are_decode_errors(path: Path, payload: str) -> None:
    with pytest.raises(DecodeError):
        cbor.decode(h(payload), path, REG)


def test_ieee_floats_are_kept_and_times_must_be_integers() -> None:
    # Float is IEEE 754 binary32/64: infinities and NaN are values a peer may send.
    assert dec(FLOAT, h("F9 7C 00")) == math.inf
    assert dec(FLOAT, h("FB FF F0 00 00 00 00 00 00")) == -math.inf
    assert dec(UNKNOWN, h("FA 7F 80 00 00")) == math.inf
    # A Time is an integer: no NaN, no infinity, neither bare nor under tag 1.
    for payload in ("F9 7C 00", "F9 7E 00", "C1 F9 7C 00", "C1 FB 7F F0 00 00 00 00 00 00"):
        with pytest.raises(DecodeError, match="CBOR /"):
            dec(TIME, h(payload))


def test_deep_nesting_is_a_decode_error() -> None:
    for head in (b"\x81", b"\xa1\x00", b"\xc6", b"\xc1"):
        with pytest.raises(DecodeError, match="CBOR"):
            cbor.decode(head * 100_000 + b"\x00", STRING, REG)


def test_only_single_values_are_carried() -> None:
    for path, node in [
        (Path(3, 0), InstanceNode(0)),
        (Path(3, 0, 7), MultiResourceNode(7, {})),
        (Path(), {Path(3, 0, 0): "x"}),
    ]:
        with pytest.raises(UnsupportedFormat):
            cbor.encode(node, path, REG)  # type: ignore[arg-type]
        with pytest.raises(UnsupportedFormat):
            cbor.decode(h("01"), path, REG)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (INTEGER, "1"),
        (INTEGER, 1.0),
        (INTEGER, 2**63),
        (UNSIGNED, -1),
        (BOOLEAN, 0),
        (STRING, b"x"),
        (OPAQUE, "x"),
        (OBJLNK, "1:2"),
        (FLOAT, True),
        (STRING, None),
        (Path(1, 0, 4), None),  # executable resource
    ],
)
def test_wrong_values_are_encode_errors(path: Path, value: object) -> None:
    with pytest.raises(EncodeError):
        enc(path, value)


@given(st.integers(-(2**63), 2**63 - 1))
def test_integer_round_trip(value: int) -> None:
    payload = enc(INTEGER, value)
    assert cbor2.loads(payload) == value
    assert dec(INTEGER, payload) == value


@given(st.integers(0, 2**64 - 1))
def test_unsigned_round_trip(value: int) -> None:
    assert dec(UNSIGNED, enc(UNSIGNED, value)) == value


@given(st.floats())
def test_float_round_trip_is_shortest(value: float) -> None:
    payload = enc(FLOAT, value)
    back = dec(FLOAT, payload)
    assert isinstance(back, float)
    assert (math.isnan(back) and math.isnan(value)) or back == value
    assert enc(FLOAT, back) == payload
    assert len(payload) in (3, 5, 9)


@given(st.text(), st.binary())
def test_string_and_opaque_round_trip(s: str, b: bytes) -> None:
    assert dec(STRING, enc(STRING, s)) == s
    assert dec(OPAQUE, enc(OPAQUE, b)) == b


@given(st.integers(0, 65535), st.integers(0, 65535))
def test_objlnk_round_trip(o: int, i: int) -> None:
    assert dec(OBJLNK, enc(OBJLNK, ObjLink(o, i))) == ObjLink(o, i)

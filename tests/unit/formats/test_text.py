"""text/plain (0): one value per payload, each type's text form, strict syntax checks."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path as FsPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.errors import DecodeError, EncodeError, UnsupportedFormat
from lwm2m.formats import text
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

EXECUTE = Path(1, 0, 4)  # Server: Disable
MULTI_INT = Path(3, 0, 7)  # Device: Power Source Voltage


def enc(path: Path, value: object) -> bytes:
    return text.encode(ResourceNode(path[-1], value), path, REG)  # type: ignore[arg-type]


def dec(path: Path, payload: bytes) -> object:
    node = text.decode(payload, path, REG)
    assert isinstance(node, ResourceNode) and node.id == path[-1]
    return node.value


def test_core_6_4_1_plain_text_read_manufacturer() -> None:
    # Core TS 1.0.2 section 6.4.1: GET /3/0/0 -> "Open Mobile Alliance".
    assert enc(STRING, "Open Mobile Alliance") == b"Open Mobile Alliance"
    assert dec(STRING, b"Open Mobile Alliance") == "Open Mobile Alliance"


@pytest.mark.parametrize(
    ("path", "value", "payload"),
    [
        (STRING, "", b""),
        (STRING, 'grüße, "quoted"\n', 'grüße, "quoted"\n'.encode()),
        (INTEGER, 0, b"0"),
        (INTEGER, -12, b"-12"),
        (INTEGER, 2**63 - 1, b"9223372036854775807"),
        (INTEGER, -(2**63), b"-9223372036854775808"),
        (TIME, 1367491215, b"1367491215"),
        (UNSIGNED, 2**64 - 1, b"18446744073709551615"),
        (FLOAT, 0.1, b"0.1"),
        (FLOAT, -3.0, b"-3.0"),
        (FLOAT, 1e20, b"1e+20"),
        (FLOAT, 5e-324, b"5e-324"),
        (BOOLEAN, True, b"1"),
        (BOOLEAN, False, b"0"),
        (OBJLNK, ObjLink(66, 0), b"66:0"),
        (OBJLNK, ObjLink(65535, 65535), b"65535:65535"),
        (CORELNK, "</3/0>;ct=0", b"</3/0>;ct=0"),
    ],
)
def test_text_forms_round_trip(path: Path, value: object, payload: bytes) -> None:
    assert enc(path, value) == payload
    assert dec(path, payload) == value


def test_resource_instance_path() -> None:
    path = Path(3, 0, 7, 1)
    assert text.encode(ResourceNode(1, 5000), path, REG) == b"5000"
    assert text.decode(b"5000", path, REG) == ResourceNode(1, 5000)
    assert text.decode(b"65534", Path(3, 0, 7, 65534), REG) == ResourceNode(65534, 65534)


def test_int_for_float_and_lenient_number_forms() -> None:
    assert enc(FLOAT, 2) == b"2.0"
    assert dec(FLOAT, b"2") == 2.0
    assert dec(FLOAT, b"1.5E3") == 1500.0
    assert dec(FLOAT, b".5") == 0.5
    assert dec(INTEGER, b"+7") == 7


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        (INTEGER, b"abc"),
        (INTEGER, b""),
        (INTEGER, b" 5"),
        (INTEGER, b"5 "),
        (INTEGER, b"1_000"),
        (INTEGER, b"0x10"),
        (INTEGER, b"1.0"),
        (INTEGER, "\u0663".encode()),  # Arabic-Indic digit three
        (INTEGER, b"9223372036854775808"),
        (INTEGER, b"-9223372036854775809"),
        (INTEGER, b"1" * 5000),
        (TIME, b"yesterday"),
        (UNSIGNED, b"-1"),
        (UNSIGNED, b"18446744073709551616"),
        (FLOAT, b"nan"),
        (FLOAT, b"inf"),
        (FLOAT, b"1e400"),
        (FLOAT, b"1,5"),
        (FLOAT, b""),
        (BOOLEAN, b"true"),
        (BOOLEAN, b"2"),
        (BOOLEAN, b""),
        (OBJLNK, b"66"),
        (OBJLNK, b"66:"),
        (OBJLNK, b"66:0:1"),
        (OBJLNK, b"70000:1"),
        (OBJLNK, b" 66:0"),
        (STRING, b"\xc3\x28"),
    ],
)
def test_bad_syntax_is_a_decode_error(path: Path, payload: bytes) -> None:
    with pytest.raises(DecodeError):
        text.decode(payload, path, REG)


# The Float syntax, pinned against a reference: the linear-time pattern must accept exactly
# what the first pattern did (this one backtracked and took quadratic time).
_REFERENCE_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@given(st.text(alphabet="0123456789.eE+-_ x\u0663", max_size=12))
def test_float_syntax_is_unchanged(candidate: str) -> None:
    assert text.is_decimal(candidate) == bool(_REFERENCE_FLOAT.fullmatch(candidate))


@pytest.mark.parametrize("candidate", ["1", "1.", ".5", "-0.5e-3", "+7E+2", "00012.500", "1e0"])
def test_float_syntax_accepts(candidate: str) -> None:
    assert text.is_decimal(candidate)
    assert dec(FLOAT, candidate.encode()) == float(candidate)


@pytest.mark.parametrize("candidate", ["", ".", "e5", "1e", "1e+", "+", "1_0", "1 ", "..5"])
def test_float_syntax_refuses(candidate: str) -> None:
    assert not text.is_decimal(candidate)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "payload",
    [
        b"9" * 200_000 + b"x",  # took 2 s at 10,000 digits and grew with the square
        b"." + b"9" * 200_000 + b"e",
        b"9" * 200_000 + b"e+" + b"9" * 200_000 + b"x",
        b"9" * 200_000,  # valid syntax, overflows binary64
    ],
)
def test_rejecting_a_long_float_takes_linear_time(payload: bytes) -> None:
    start = time.perf_counter()
    with pytest.raises(DecodeError, match="text/plain Float"):
        dec(FLOAT, payload)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("path", [INTEGER, UNSIGNED, TIME, BOOLEAN, OBJLNK])
def test_long_numbers_of_other_types_are_refused_quickly(path: Path) -> None:
    start = time.perf_counter()
    for payload in (b"9" * 200_000, b"1" * 200_000 + b":1", b"1:" + b"1" * 200_000):
        with pytest.raises(DecodeError, match="text/plain"):
            dec(path, payload)
    assert time.perf_counter() - start < 2.0


def test_opaque_is_not_carried_by_text_plain() -> None:
    with pytest.raises(UnsupportedFormat, match="octet-stream"):
        enc(OPAQUE, b"\x01")
    with pytest.raises(UnsupportedFormat, match="octet-stream"):
        text.decode(b"AQ==", OPAQUE, REG)
    with pytest.raises(UnsupportedFormat):
        enc(Path(4242, 0, 0), b"\x01")  # bytes for an unknown resource


def test_only_single_values_are_carried() -> None:
    for path, node in [
        (Path(3), InstanceNode(0)),
        (Path(3, 0), InstanceNode(0)),
        (MULTI_INT, MultiResourceNode(7, {0: 1})),
        (Path(), {Path(3, 0, 0): "x"}),
    ]:
        with pytest.raises(UnsupportedFormat):
            text.encode(node, path, REG)  # type: ignore[arg-type]
        with pytest.raises(UnsupportedFormat):
            text.decode(b"1", path, REG)
    with pytest.raises(UnsupportedFormat):
        text.encode(MultiResourceNode(1, {}), Path(4242, 0, 1), REG)
    with pytest.raises(UnsupportedFormat):
        enc(EXECUTE, None)
    with pytest.raises(UnsupportedFormat):
        text.decode(b"", EXECUTE, REG)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (INTEGER, "5"),
        (INTEGER, True),
        (INTEGER, 1.5),
        (INTEGER, 2**63),
        (UNSIGNED, -1),
        (FLOAT, float("nan")),
        (FLOAT, float("inf")),
        (FLOAT, "1.0"),
        (BOOLEAN, 1),
        (STRING, 5),
        (STRING, None),
        (OBJLNK, "1:2"),
        (TIME, ObjLink(1, 2)),
    ],
)
def test_wrong_values_are_encode_errors(path: Path, value: object) -> None:
    with pytest.raises((EncodeError, UnsupportedFormat)):
        enc(path, value)


def test_node_id_must_match_the_path() -> None:
    with pytest.raises(EncodeError, match="does not match"):
        text.encode(ResourceNode(1, "x"), STRING, REG)


def test_unknown_resource_decodes_as_string_and_encodes_by_python_type() -> None:
    unknown = Path(4242, 0, 1)
    assert dec(unknown, b"42") == "42"
    assert enc(unknown, 42) == b"42"
    assert enc(unknown, True) == b"1"
    assert enc(unknown, 1.25) == b"1.25"
    assert enc(unknown, ObjLink(3, 0)) == b"3:0"


@given(st.integers(-(2**63), 2**63 - 1))
def test_integer_round_trip(value: int) -> None:
    assert dec(INTEGER, enc(INTEGER, value)) == value
    assert dec(TIME, enc(TIME, value)) == value


@given(st.integers(0, 2**64 - 1))
def test_unsigned_round_trip(value: int) -> None:
    assert dec(UNSIGNED, enc(UNSIGNED, value)) == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_shortest_form_round_trips(value: float) -> None:
    payload = enc(FLOAT, value)
    assert dec(FLOAT, payload) == value
    assert enc(FLOAT, dec(FLOAT, payload)) == payload


@given(st.text())
def test_string_round_trip(value: str) -> None:
    assert dec(STRING, enc(STRING, value)) == value


@given(st.integers(0, 65535), st.integers(0, 65535))
def test_objlnk_round_trip(o: int, i: int) -> None:
    assert dec(OBJLNK, enc(OBJLNK, ObjLink(o, i))) == ObjLink(o, i)

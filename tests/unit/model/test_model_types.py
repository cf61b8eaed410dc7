"""Resource types, ObjLink and coerce()."""

from __future__ import annotations

import pytest

from lwm2m.errors import ModelError
from lwm2m.model import ObjLink, ResourceType, coerce, guess_type
from lwm2m.model.types import INT64_MAX, INT64_MIN, UINT64_MAX, is_finite_float

T = ResourceType


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("String", T.STRING),
        ("string", T.STRING),
        (" Integer ", T.INTEGER),
        ("Unsigned Integer", T.UNSIGNED_INTEGER),
        ("unsigned integer", T.UNSIGNED_INTEGER),
        ("Float", T.FLOAT),
        ("Boolean", T.BOOLEAN),
        ("Opaque", T.OPAQUE),
        ("Time", T.TIME),
        ("Objlnk", T.OBJLNK),
        ("Corelnk", T.CORELNK),
        ("", T.NONE),
        ("   ", T.NONE),
        ("none", T.NONE),
    ],
)
def test_type_from_ddf(text: str, expected: ResourceType) -> None:
    assert ResourceType.from_ddf(text) is expected


@pytest.mark.parametrize("text", ["Strng", "Int", "Unsigned", "Objlink", "double"])
def test_type_from_ddf_unknown(text: str) -> None:
    with pytest.raises(ModelError, match="unknown resource type"):
        ResourceType.from_ddf(text)


def test_objlink_parse_and_format() -> None:
    link = ObjLink.parse("3:0")
    assert link == ObjLink(3, 0)
    assert str(link) == "3:0"
    assert ObjLink.parse(" 10 : 2 ") == ObjLink(10, 2)
    assert ObjLink(65535, 65535).is_null
    assert not ObjLink(65535, 0).is_null
    assert ObjLink(0, 1) < ObjLink(1, 0)


@pytest.mark.parametrize("text", ["3", "3:", ":0", "a:b", "3:0:1", "-1:0", ""])
def test_objlink_parse_bad(text: str) -> None:
    with pytest.raises(ModelError):
        ObjLink.parse(text)


@pytest.mark.parametrize(("o", "i"), [(65536, 0), (0, 65536), (-1, 0), (True, 0), (1.0, 0)])
def test_objlink_range(o: object, i: object) -> None:
    with pytest.raises(ModelError, match="out of range"):
        ObjLink(o, i)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rtype", "value", "expected"),
    [
        (T.STRING, "", ""),
        (T.STRING, "héllo", "héllo"),
        (T.CORELNK, "</3/0>", "</3/0>"),
        (T.INTEGER, 0, 0),
        (T.INTEGER, INT64_MIN, INT64_MIN),
        (T.INTEGER, INT64_MAX, INT64_MAX),
        (T.TIME, INT64_MIN, INT64_MIN),
        (T.TIME, 1_700_000_000, 1_700_000_000),
        (T.UNSIGNED_INTEGER, 0, 0),
        (T.UNSIGNED_INTEGER, UINT64_MAX, UINT64_MAX),
        (T.FLOAT, 1.5, 1.5),
        (T.FLOAT, -0.0, -0.0),
        (T.FLOAT, 3, 3.0),
        (T.FLOAT, 2**64, float(2**64)),
        (T.BOOLEAN, True, True),
        (T.BOOLEAN, False, False),
        (T.OPAQUE, b"", b""),
        (T.OPAQUE, bytearray(b"\x00\xff"), b"\x00\xff"),
        (T.OPAQUE, memoryview(b"abc"), b"abc"),
        (T.OBJLNK, ObjLink(3, 0), ObjLink(3, 0)),
        (T.NONE, None, None),
    ],
)
def test_coerce_accepts(rtype: ResourceType, value: object, expected: object) -> None:
    result = coerce(rtype, value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("rtype", "value", "fragment"),
    [
        (T.STRING, b"abc", "expected String, got bytes"),
        (T.STRING, 1, "expected String, got int"),
        (T.STRING, None, "expected String, got NoneType"),
        (T.CORELNK, b"</1>", "expected Corelnk"),
        (T.INTEGER, INT64_MAX + 1, "signed 64-bit"),
        (T.INTEGER, INT64_MIN - 1, "signed 64-bit"),
        (T.INTEGER, 1.0, "expected Integer, got float"),
        (T.INTEGER, True, "got a bool"),
        (T.INTEGER, "1", "expected Integer, got str"),
        (T.TIME, INT64_MAX + 1, "signed 64-bit"),
        (T.TIME, 1.5, "expected Time"),
        (T.UNSIGNED_INTEGER, -1, "unsigned 64-bit"),
        (T.UNSIGNED_INTEGER, UINT64_MAX + 1, "unsigned 64-bit"),
        (T.UNSIGNED_INTEGER, False, "got a bool"),
        (T.FLOAT, True, "got a bool"),
        (T.FLOAT, "1.5", "expected Float"),
        (T.BOOLEAN, 1, "expected Boolean, got int"),
        (T.BOOLEAN, "true", "expected Boolean"),
        (T.OPAQUE, "abc", "expected Opaque, got str"),
        (T.OBJLNK, "3:0", "expected Objlnk, got str"),
        (T.OBJLNK, (3, 0), "expected Objlnk"),
        (T.NONE, 0, "executable resources carry no value"),
        (T.NONE, "", "executable resources carry no value"),
    ],
)
def test_coerce_rejects(rtype: ResourceType, value: object, fragment: str) -> None:
    with pytest.raises(ModelError) as info:
        coerce(rtype, value, "/3/0/9")
    assert str(info.value).startswith("/3/0/9: ")
    assert fragment in str(info.value)


def test_coerce_default_label() -> None:
    with pytest.raises(ModelError, match=r"^value: "):
        coerce(T.INTEGER, "x")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, T.NONE),
        (True, T.BOOLEAN),
        (0, T.INTEGER),
        (-(2**63), T.INTEGER),
        (0.5, T.FLOAT),
        ("", T.STRING),
        (b"", T.OPAQUE),
        (ObjLink(1, 2), T.OBJLNK),
    ],
)
def test_guess_type(value: object, expected: ResourceType) -> None:
    assert guess_type(value) is expected  # type: ignore[arg-type]


def test_guess_type_unknown() -> None:
    with pytest.raises(ModelError, match="no LwM2M type for list"):
        guess_type([1])  # type: ignore[arg-type]


def test_is_finite_float() -> None:
    assert is_finite_float(1.0)
    assert not is_finite_float(float("nan"))
    assert not is_finite_float(float("-inf"))


@pytest.mark.parametrize(
    "text", ["²:0", "1" * 5000 + ":0", "3:" + "9" * 4400, "123456:0", ":", "3:"]
)
def test_objlink_parse_refuses_long_and_non_ascii_ids(text: str) -> None:
    with pytest.raises(ModelError, match="invalid object link"):
        ObjLink.parse(text)

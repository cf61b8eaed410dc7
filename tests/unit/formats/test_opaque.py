"""application/octet-stream (42): the raw bytes of one Opaque value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.errors import EncodeError, UnsupportedFormat
from lwm2m.formats import opaque
from lwm2m.model import InstanceNode, MultiResourceNode, Path, ResourceNode, default_registry

REG = default_registry()
KEY = Path(0, 0, 3)  # Security: Public Key or Identity (Opaque)


@pytest.mark.parametrize("value", [b"", b"\x00", bytes(range(256)), bytes(70000)])
def test_bytes_round_trip(value: bytes) -> None:
    assert opaque.encode(ResourceNode(3, value), KEY, REG) == value
    assert opaque.decode(value, KEY, REG) == ResourceNode(3, value)


def test_bytearray_and_memoryview_payloads() -> None:
    assert opaque.encode(ResourceNode(3, bytearray(b"ab")), KEY, REG) == b"ab"  # type: ignore[arg-type]
    assert opaque.decode(memoryview(b"ab"), KEY, REG) == ResourceNode(3, b"ab")  # type: ignore[arg-type]


def test_unknown_resource_and_resource_instance_are_opaque() -> None:
    assert opaque.decode(b"\x01", Path(4242, 0, 0), REG) == ResourceNode(0, b"\x01")
    assert opaque.decode(b"\x01", Path(4242, 0, 0, 65534), REG) == ResourceNode(65534, b"\x01")
    assert opaque.encode(ResourceNode(9, b"\x02"), Path(4242, 0, 1, 9), REG) == b"\x02"


@pytest.mark.parametrize(
    "path",
    [Path(3, 0, 0), Path(3, 0, 9), Path(1, 0, 6), Path(3, 0, 7, 0), Path(6, 0, 0)],
)
def test_other_types_are_unsupported(path: Path) -> None:
    with pytest.raises(UnsupportedFormat, match="Opaque"):
        opaque.decode(b"x", path, REG)
    with pytest.raises(UnsupportedFormat, match="Opaque"):
        opaque.encode(ResourceNode(path[-1], b"x"), path, REG)


def test_only_single_values_are_carried() -> None:
    with pytest.raises(UnsupportedFormat):
        opaque.encode(InstanceNode(0), Path(0, 0), REG)
    with pytest.raises(UnsupportedFormat):
        opaque.decode(b"", Path(0), REG)
    with pytest.raises(UnsupportedFormat):
        opaque.encode(MultiResourceNode(5, {}), Path(4242, 0, 5), REG)


def test_non_bytes_value_is_an_encode_error() -> None:
    with pytest.raises(EncodeError, match="expected bytes"):
        opaque.encode(ResourceNode(3, "text"), KEY, REG)


@given(st.binary(max_size=2000))
def test_any_bytes_round_trip(value: bytes) -> None:
    node = opaque.decode(value, KEY, REG)
    assert opaque.encode(node, KEY, REG) == value

"""Content format negotiation: what each format carries and the client's choice."""

from __future__ import annotations

import pytest

from lwm2m.coap.numbers import ContentFormat as CF
from lwm2m.errors import UnsupportedFormat
from lwm2m.formats.negotiation import choose_format, supports
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    ObjectNode,
    Path,
    ResourceNode,
    ResourceType,
)

T = ResourceType
STR = (Path(3, 0, 0), ResourceNode(0, "x"))
OPQ = (Path(0, 0, 3), ResourceNode(3, b"\x01"))
RI = (Path(3, 0, 6, 0), ResourceNode(0, 1))
MULTI = (Path(3, 0, 6), MultiResourceNode(6, {0: 1}))
INST = (Path(3, 0), InstanceNode(0))
OBJ = (Path(3), ObjectNode(3))
ROOT = (Path(), {Path(3, 0, 0): "x"})
EXEC = (Path(3, 0, 4), ResourceNode(4, None))

#           STR    OPQ    RI     MULTI  INST   OBJ    ROOT   EXEC
TABLE = {
    CF.TEXT_PLAIN: (1, 0, 1, 0, 0, 0, 0, 0),
    CF.OCTET_STREAM: (0, 1, 0, 0, 0, 0, 0, 0),
    CF.CBOR: (1, 1, 1, 0, 0, 0, 0, 0),
    CF.LWM2M_TLV: (1, 1, 1, 1, 1, 1, 0, 1),
    CF.LWM2M_JSON: (1, 1, 1, 1, 1, 1, 0, 1),
    CF.SENML_JSON: (1, 1, 1, 1, 1, 1, 1, 1),
    CF.SENML_CBOR: (1, 1, 1, 1, 1, 1, 1, 1),
    CF.LWM2M_CBOR: (1, 1, 1, 1, 1, 1, 1, 1),
    CF.LINK_FORMAT: (0, 0, 0, 0, 0, 0, 0, 0),
    CF.JSON: (0, 0, 0, 0, 0, 0, 0, 0),
}
TARGETS = (STR, OPQ, RI, MULTI, INST, OBJ, ROOT, EXEC)


@pytest.mark.parametrize("cf", list(TABLE))
def test_supports(cf: CF) -> None:
    got = tuple(int(supports(cf, path, node)) for path, node in TARGETS)  # type: ignore[arg-type]
    assert got == TABLE[cf]


@pytest.mark.parametrize(
    ("version", "path", "single", "expected"),
    [
        ("1.0", Path(3, 0, 0), T.STRING, CF.TEXT_PLAIN),
        ("1.0", Path(3, 0, 9), T.INTEGER, CF.TEXT_PLAIN),
        ("1.0", Path(0, 0, 3), T.OPAQUE, CF.OCTET_STREAM),
        ("1.0", Path(3, 0, 6, 0), T.INTEGER, CF.TEXT_PLAIN),
        ("1.0", Path(3, 0, 6), None, CF.LWM2M_TLV),
        ("1.0", Path(3, 0), None, CF.LWM2M_TLV),
        ("1.0", Path(3), None, CF.LWM2M_TLV),
        ("1.0.2", Path(3), None, CF.LWM2M_TLV),
        ("1.1", Path(3, 0, 0), T.STRING, CF.TEXT_PLAIN),
        ("1.1", Path(0, 0, 3), T.OPAQUE, CF.OCTET_STREAM),
        ("1.1", Path(3, 0, 6), None, CF.SENML_CBOR),
        ("1.1", Path(3, 0), None, CF.SENML_CBOR),
        ("1.1", Path(3), None, CF.SENML_CBOR),
        ("1.1", Path(), None, CF.SENML_CBOR),
        ("1.2", Path(3, 0), None, CF.SENML_CBOR),
    ],
)
def test_default_without_accept(
    version: str, path: Path, single: ResourceType | None, expected: int
) -> None:
    assert choose_format(None, path, version, single) == expected


@pytest.mark.parametrize(
    ("accept", "path", "single"),
    [
        (CF.LWM2M_TLV, Path(3, 0), None),
        (CF.LWM2M_TLV, Path(3, 0, 0), T.STRING),
        (CF.SENML_JSON, Path(), None),
        (CF.SENML_CBOR, Path(3, 0, 0), T.STRING),
        (CF.LWM2M_CBOR, Path(3), None),
        (CF.LWM2M_JSON, Path(3, 0, 6), None),
        (CF.CBOR, Path(0, 0, 3), T.OPAQUE),
        (CF.CBOR, Path(3, 0, 9), T.INTEGER),
        (CF.TEXT_PLAIN, Path(3, 0, 6, 1), T.INTEGER),
        (CF.OCTET_STREAM, Path(0, 0, 3), T.OPAQUE),
    ],
)
def test_accept_that_can_carry_the_target_is_used(
    accept: int, path: Path, single: ResourceType | None
) -> None:
    for version in ("1.0", "1.1"):
        assert choose_format(accept, path, version, single) == accept


@pytest.mark.parametrize(
    ("accept", "path", "single"),
    [
        (CF.TEXT_PLAIN, Path(3, 0), None),
        (CF.TEXT_PLAIN, Path(3, 0, 6), None),
        (CF.TEXT_PLAIN, Path(0, 0, 3), T.OPAQUE),
        (CF.OCTET_STREAM, Path(3, 0, 0), T.STRING),
        (CF.CBOR, Path(3), None),
        (CF.CBOR, Path(3, 0, 4), T.NONE),
        (CF.LWM2M_TLV, Path(), None),
        (CF.LWM2M_JSON, Path(), None),
        (CF.LINK_FORMAT, Path(3, 0), None),
        (9999, Path(3, 0, 0), T.STRING),
    ],
)
def test_accept_that_cannot_carry_the_target_is_4_06(
    accept: int, path: Path, single: ResourceType | None
) -> None:
    with pytest.raises(UnsupportedFormat):
        choose_format(accept, path, "1.1", single)


def test_no_format_at_all() -> None:
    with pytest.raises(UnsupportedFormat):
        choose_format(None, Path(), "1.0", None)
    with pytest.raises(UnsupportedFormat):
        choose_format(None, Path(3, 0, 4), "1.1", T.NONE)


def test_invalid_version() -> None:
    with pytest.raises(ValueError, match="version"):
        choose_format(None, Path(3), "one", None)

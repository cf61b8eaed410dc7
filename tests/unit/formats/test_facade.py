"""The lwm2m.formats facade: dispatch by content format, names, registry default."""

from __future__ import annotations

import pytest

import lwm2m.formats as formats
from lwm2m.coap.numbers import ContentFormat
from lwm2m.errors import DecodeError, UnsupportedFormat
from lwm2m.formats import ALL_FORMATS, decode, encode, format_name, supports
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    Node,
    ObjectDef,
    ObjectNode,
    ObjLink,
    Operations,
    Path,
    Registry,
    ResourceDef,
    ResourceNode,
    ResourceType,
)

CF = ContentFormat

DEVICE = InstanceNode(
    0,
    {
        0: ResourceNode(0, "Open Mobile Alliance"),
        6: MultiResourceNode(6, {0: 1, 1: 5}),
        9: ResourceNode(9, 100),
        13: ResourceNode(13, 1367491215),
        16: ResourceNode(16, "U"),
    },
)

# (path, node) samples of every level; each format carries what supports() says.
SAMPLES: list[tuple[str, Node | dict[Path, object]]] = [
    ("/3/0/0", ResourceNode(0, "Open Mobile Alliance")),
    ("/3/0/9", ResourceNode(9, 100)),
    ("/0/0/3", ResourceNode(3, b"\x01\x02")),
    ("/3/0/6/1", ResourceNode(1, 5)),
    ("/3/0/6", MultiResourceNode(6, {0: 1, 1: 5})),
    ("/3/0", DEVICE),
    ("/3", ObjectNode(3, {0: DEVICE})),
    ("/", {Path(3, 0, 0): "Open Mobile Alliance", Path(3, 0, 9): 100}),
]


def test_all_formats() -> None:
    assert ALL_FORMATS == (
        CF.TEXT_PLAIN,
        CF.OCTET_STREAM,
        CF.CBOR,
        CF.SENML_JSON,
        CF.SENML_CBOR,
        CF.LWM2M_TLV,
        CF.LWM2M_JSON,
        CF.LWM2M_CBOR,
    )


@pytest.mark.parametrize(
    ("cf", "name"),
    [
        (0, "text/plain"),
        (40, "application/link-format"),
        (42, "application/octet-stream"),
        (60, "application/cbor"),
        (110, "application/senml+json"),
        (112, "application/senml+cbor"),
        (11542, "application/vnd.oma.lwm2m+tlv"),
        (11543, "application/vnd.oma.lwm2m+json"),
        (11544, "application/vnd.oma.lwm2m+cbor"),
        (1234, "content-format 1234"),
    ],
)
def test_format_name(cf: int, name: str) -> None:
    assert format_name(cf) == name


@pytest.mark.parametrize("cf", ALL_FORMATS, ids=format_name)
@pytest.mark.parametrize(("path", "node"), SAMPLES, ids=[p for p, _ in SAMPLES])
def test_every_format_carries_what_supports_says(
    cf: int, path: str, node: Node | dict[Path, object]
) -> None:
    p = Path.parse(path)
    if supports(cf, p, node):  # type: ignore[arg-type]
        payload = encode(cf, node, path)  # type: ignore[arg-type]
        assert decode(cf, payload, path) == node
    else:
        with pytest.raises(UnsupportedFormat):
            encode(cf, node, path)  # type: ignore[arg-type]


def test_dispatch_matches_the_format_modules() -> None:
    from lwm2m.formats import cbor, opaque, text, tlv

    reg = Registry()
    for cf, module in [(0, text), (42, opaque), (60, cbor), (11542, tlv)]:
        node = ResourceNode(0, b"\x07" if cf == 42 else "x")
        assert encode(cf, node, "/9/0/0", reg) == module.encode(node, Path(9, 0, 0), reg)


def test_default_registry_types_the_values() -> None:
    # /3/0/9 (Battery Level) is an Integer in the built-in definitions.
    assert decode(CF.LWM2M_TLV, b"\xc1\x09\x64", "/3/0/9") == ResourceNode(9, 100)
    assert decode(CF.TEXT_PLAIN, b"100", Path(3, 0, 9)) == ResourceNode(9, 100)
    with pytest.raises(DecodeError):
        decode(CF.TEXT_PLAIN, b"full", "3/0/9")


def test_an_explicit_registry_is_used() -> None:
    reg = Registry(
        [ObjectDef(3, "Other", {9: ResourceDef(9, "lnk", ResourceType.OBJLNK, Operations.R)})]
    )
    assert decode(CF.TEXT_PLAIN, b"1:2", "/3/0/9", reg) == ResourceNode(9, ObjLink(1, 2))
    assert decode(CF.LWM2M_TLV, b"\xc1\x09\x64", "/3/0/9", Registry()) == ResourceNode(9, b"d")


@pytest.mark.parametrize("cf", [CF.LINK_FORMAT, CF.JSON, 1234, -1])
def test_unknown_or_non_node_formats_are_unsupported(cf: int) -> None:
    with pytest.raises(UnsupportedFormat):
        encode(cf, ResourceNode(0, "x"), "/3/0/0")
    with pytest.raises(UnsupportedFormat):
        decode(cf, b"x", "/3/0/0")


def test_a_missing_format_module_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(formats._MODULES, 65000, "no_such_format_module")
    with pytest.raises(UnsupportedFormat, match="not available"):
        decode(65000, b"", "/3/0/0")

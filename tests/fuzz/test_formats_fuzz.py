"""Random and mutated payloads into the TLV, text, opaque, CBOR and link-format decoders.

Every decoder must either return a value or raise DecodeError, never anything else; and every
payload it accepts must re-encode to one that decodes to the same value. Each decoder is seeded
with our own encodings of typed values for its request path, so the accepting side is reached.
The default run feeds 2000 cases per decoder; the slow run 100,000.
"""

from __future__ import annotations

import sys
from pathlib import Path as FsPath

import pytest

from lwm2m.coap.numbers import ContentFormat as CF
from lwm2m.formats import link
from lwm2m.model import Path

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared fuzz_support module
from fuzz_support import Target, fuzz, node_target, same

# String, Integer, Time, Unsigned Integer, Float, Boolean, Objlnk and an unknown resource.
SINGLE_PATHS = ["/3/0/0", "/3/0/9", "/3/0/13", "/0/0/13", "/6/0/0", "/1/0/6", "/0/0/17"]
SINGLE_PATHS.append("/4242/0/0")
TLV_PATHS = ["/3", "/3/0", "/2", "/2/0", "/3/0/0", "/3/0/7", "/3/0/7/1", "/1/0/6", "/4242/0"]
NODE_FORMATS = {
    "tlv": (CF.LWM2M_TLV, TLV_PATHS),
    "text": (CF.TEXT_PLAIN, SINGLE_PATHS),
    "cbor": (CF.CBOR, [*SINGLE_PATHS, "/0/0/3"]),
    "opaque": (CF.OCTET_STREAM, ["/0/0/3"]),
}
TARGETS: dict[str, Target] = {
    f"{name} {p}": node_target(cf, Path.parse(p))
    for name, (cf, paths) in NODE_FORMATS.items()
    for p in paths
}

LINKS = [
    link.Link("/", {"rt": "oma.lwm2m", "ct": "11543"}),
    link.Link("/1", {"ver": "1.1"}),
    link.Link("/3/0/7", {"dim": "8", "gt": "50", "lt": "42.2", "title": 'a, "b"', "obs": None}),
]
TARGETS["link"] = Target(
    decode=link.parse_links,
    encode=lambda links: link.format_links(links).encode(),
    seeds=(link.format_links(LINKS).encode(), link.format_links(LINKS[1:2]).encode()),
)
DISCOVER = [
    link.DiscoverEntry(Path(3, 0), {"pmin": 10, "pmax": 60}),
    link.DiscoverEntry(Path(3, 0, 7), {"dim": 8, "gt": 50.0, "lt": 42.5, "st": 0.5}),
    link.DiscoverEntry(Path(1)),
]
TARGETS["discover"] = Target(
    decode=link.parse_discover,
    encode=lambda entries: link.format_discover(entries).encode(),
    seeds=(link.format_discover(DISCOVER).encode(),),
)


def _format_object_list(ol: link.ObjectList) -> bytes:
    return link.format_object_list(
        ol.paths, versions=ol.versions, root=ol.root, content_formats=ol.content_formats
    ).encode()


def _same_object_list(before: link.ObjectList, after: link.ObjectList) -> bool:
    """Re-encoding writes a versioned object's ``</o>;ver=`` link first, even when the payload
    put ``ver`` on an instance link, so that object path may appear or move; nothing else may
    change."""

    def versioned(p: Path) -> bool:
        return len(p) == 1 and p[0] in before.versions

    return (
        same(after.versions, before.versions)
        and (after.root, after.content_formats) == (before.root, before.content_formats)
        and [p for p in after.paths if not versioned(p)]
        == [p for p in before.paths if not versioned(p)]
        and {p for p in before.paths if versioned(p)} <= set(after.paths)
    )


TARGETS["register"] = Target(
    decode=link.parse_object_list,
    encode=_format_object_list,
    seeds=tuple(
        _format_object_list(ol)
        for ol in [
            link.ObjectList([Path(1), Path(1, 0), Path(3, 0), Path(4242)], {1: "1.1"}),
            link.ObjectList([Path(3, 0), Path(3, 1)], {}, "/lwm2m", (11542, 11543)),
        ]
    ),
    agree=_same_object_list,
)

# Hand-written TLV from the TS examples (Device instance, Access Control object), also
# mutated at every TLV path though not all are valid there.
TLV_EXTRA = [
    bytes.fromhex(
        "C800144F70656E204D6F62696C6520416C6C69616E6365C801164C69676874776569676874204D324D"
        "20436C69656E74C80209333435303030313233C303312E308606410001410105880708420"
        "00ED842011388870841007D42010384C10964C10A0F830B410000C40D5182428FC60E2B30"
        "323A3030C11055"
    ),
    bytes.fromhex("08000EC10001C101008302417F07C1037F080212C10003C101008702417F0761013601C1037F"),
]


def _extra(name: str) -> list[bytes]:
    return TLV_EXTRA if name.startswith("tlv ") else []


def _check(name: str, cases: int) -> None:
    accepted = fuzz(name, TARGETS[name], cases, _extra(name))
    assert accepted > 0, f"{name}: no mutated or random payload was accepted"


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_decoders_reject_with_decode_error_and_round_trip(name: str) -> None:
    _check(name, 2000)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_decoders_reject_with_decode_error_and_round_trip_long(name: str) -> None:
    _check(name, 100_000)

"""CoRE Link Format (40): RFC 6690 parsing and the LwM2M Register and Discover payloads."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.errors import DecodeError, EncodeError
from lwm2m.formats.link import (
    DiscoverEntry,
    Link,
    ObjectList,
    format_attribute,
    format_discover,
    format_links,
    format_object_list,
    parse_attribute,
    parse_discover,
    parse_links,
    parse_object_list,
)
from lwm2m.model import Path

# --- RFC 6690 ------------------------------------------------------------------------------


def test_empty_payload() -> None:
    assert parse_links("") == []
    assert parse_links(b"  \r\n") == []
    assert format_links([]) == ""


def test_rfc6690_section_5_example() -> None:
    text = (
        '</sensors/temp>;rt="temperature-c";if="sensor",\n'
        '</sensors/light>;rt="light-lux";if="sensor"'
    )
    links = parse_links(text)
    assert links == [
        Link("/sensors/temp", {"rt": "temperature-c", "if": "sensor"}),
        Link("/sensors/light", {"rt": "light-lux", "if": "sensor"}),
    ]
    assert format_links(links) == text.replace("\n", "")


def test_spaces_after_commas_and_semicolons() -> None:
    links = parse_links("</1/0> ,  </3/0>; pmin = 10 ;\tpmax=60,\r\n</5>")
    assert links == [
        Link("/1/0"),
        Link("/3/0", {"pmin": "10", "pmax": "60"}),
        Link("/5"),
    ]


def test_quoted_values_keep_commas_semicolons_and_escaped_quotes() -> None:
    links = parse_links(r'</a>;title="x, y; \"z\" \\ w";rt="a b",</b>')
    assert links[0].params == {"title": 'x, y; "z" \\ w', "rt": "a b"}
    assert links[1] == Link("/b")
    assert parse_links(format_links(links)) == links


def test_flags_and_unknown_attributes_are_kept() -> None:
    links = parse_links("</3/0/5700>;obs;x-vendor=abc;ct=0")
    assert links == [Link("/3/0/5700", {"obs": None, "x-vendor": "abc", "ct": "0"})]
    assert format_links(links) == "</3/0/5700>;obs;x-vendor=abc;ct=0"


def test_bytes_and_utf8() -> None:
    assert parse_links('</a>;title="grüße"'.encode()) == [Link("/a", {"title": "grüße"})]
    with pytest.raises(DecodeError, match="UTF-8"):
        parse_links(b"</a>;title=\xff")


def test_repeated_parameter_keeps_the_last_value() -> None:
    assert parse_links("</a>;ct=0;ct=40") == [Link("/a", {"ct": "40"})]


@pytest.mark.parametrize(
    "text",
    [
        "/1/0",
        "</1/0",
        "</1/0>,",
        "</1/0>,,</2>",
        "</1/0> </2>",
        "</1/0>;",
        "</1/0>;=5",
        "</1/0>;pmin=",
        "</1/0>;pmin=,</2>",
        '</1/0>;rt="open',
        '</1/0>;rt="a\\',
        "</1/0>;rt=a b",
        "</1/0>x",
        "<</1/0>",
        "</1 0>",
        ",</1/0>",
        "</a>;ti\u00e9=1",
    ],
)
def test_malformed_links_are_decode_errors(text: str) -> None:
    with pytest.raises(DecodeError, match="link format"):
        parse_links(text)


def test_quoting_when_formatting() -> None:
    assert format_links([Link("/a", {"rt": "x", "ct": "11543", "v": "a b", "e": ""})]) == (
        '</a>;rt="x";ct=11543;v="a b";e=""'
    )
    assert format_links([Link("/a", {"t": 'q"\\'})]) == r'</a>;t="q\"\\"'
    with pytest.raises(EncodeError):
        format_links([Link("/a>")])
    with pytest.raises(EncodeError):
        format_links([Link("/a", {"bad name": "1"})])


TARGETS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="<>,; \t\r\n"),
    max_size=20,
)
NAMES = st.from_regex(r"[a-z][a-z0-9\-]{0,8}", fullmatch=True)
VALUES = st.one_of(st.none(), st.text(max_size=20))


@given(st.lists(st.builds(Link, TARGETS, st.dictionaries(NAMES, VALUES, max_size=4)), max_size=5))
def test_links_round_trip(links: list[Link]) -> None:
    text = format_links(links)
    assert parse_links(text) == links


# --- LwM2M Register / Update (Core TS 1.0.2 section 5.3.1, 1.1 section 6.2) -----------------


def test_core_5_3_1_register_payload_objects_only() -> None:
    result = parse_object_list("</1>, </2>, </3>, </4>, </5>")
    assert result.paths == [Path(1), Path(2), Path(3), Path(4), Path(5)]
    assert result.root == "/" and result.content_formats == () and result.versions == {}
    assert format_object_list(result.paths) == "</1>,</2>,</3>,</4>,</5>"


def test_core_5_3_1_register_payload_with_instances() -> None:
    text = "</1/0>,</1/1>,</2/0>,</2/1>,</2/2>,</2/3>,</2/4>,</3/0>,</4/0>,</5>"
    result = parse_object_list(text)
    assert result.paths[0] == Path(1, 0) and result.paths[-1] == Path(5)
    assert len(result.paths) == 10
    assert format_object_list(result.paths) == text


def test_core_5_3_1_register_payload_with_content_format() -> None:
    # 1.0.2 writes </>;ct=11543; LwM2M 1.1 adds rt="oma.lwm2m" to the root link.
    result = parse_object_list("</>;ct=11543, </1/0>,</1/1>,</2/0>,</3/0>,</4/0>,</5>")
    assert result.content_formats == (11543,)
    assert result.paths[:2] == [Path(1, 0), Path(1, 1)]
    text = '</>;rt="oma.lwm2m";ct=11543,</1/0>,</3/0>'
    result = parse_object_list(text)
    assert result == ObjectList([Path(1, 0), Path(3, 0)], {}, "/", (11543,))
    assert format_object_list(result.paths, content_formats=[11543]) == text


def test_register_payload_with_several_content_formats() -> None:
    text = '</>;rt="oma.lwm2m";ct="60 110 112 11542",</3/0>'
    assert parse_object_list(text).content_formats == (60, 110, 112, 11542)
    assert format_object_list([Path(3, 0)], content_formats=[60, 110, 112, 11542]) == text


def test_core_6_2_3_register_payload_with_object_versions() -> None:
    result = parse_object_list('</1/0>,</1/1>,</3/0>,</44>;ver="2.2",</44/0>')
    assert result.versions == {44: "2.2"}
    assert result.paths == [Path(1, 0), Path(1, 1), Path(3, 0), Path(44), Path(44, 0)]
    text = "</1>;ver=1.1,</1/0>,</3>;ver=1.1,</3/0>"
    result = parse_object_list(text)
    assert result.versions == {1: "1.1", 3: "1.1"}
    assert format_object_list(result.paths, versions=result.versions) == text
    # A version for an object listed only through its instances comes before them.
    assert format_object_list([Path(3, 0)], versions={3: "1.1", 9: "1.0"}) == (
        "</3>;ver=1.1,</3/0>,</9>;ver=1.0"
    )


def test_register_payload_with_alternate_path() -> None:
    text = '</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/3/0>'
    result = parse_object_list(text)
    assert result.root == "/lwm2m"
    assert result.paths == [Path(1, 0), Path(3, 0)]
    assert format_object_list(result.paths, root="/lwm2m") == text


@pytest.mark.parametrize(
    "text",
    [
        "</1/0/1>",
        "</a/b>",
        '</>;rt="oma.lwm2m";ct=abc,</1>',
        "</>;ct,</1>",
        '</lwm2m>;rt="oma.lwm2m",</1/0>',
        "</1/00>",
        "</65536>",
        '<lwm2m>;rt="oma.lwm2m"',
    ],
)
def test_bad_register_payloads_are_decode_errors(text: str) -> None:
    with pytest.raises(DecodeError):
        parse_object_list(text)


def test_format_object_list_rejects_bad_input() -> None:
    with pytest.raises(EncodeError):
        format_object_list([Path(3, 0, 0)])
    with pytest.raises(EncodeError):
        format_object_list([Path(3, 0)], root="lwm2m")


# --- LwM2M Discover (Core TS 1.0.2 section 5.4.2) and attributes (5.1.2) -------------------


def test_core_5_4_2_discover_object() -> None:
    text = (
        "</3>;pmin=10,</3/0>,</3/0/1>, </3/0/2>, </3/0/3>, </3/0/4>, "
        "</3/0/6>,</3/0/7>,</3/0/8>,</3/0/11>,</3/0/16>"
    )
    entries = parse_discover(text)
    assert entries[0] == DiscoverEntry(Path(3), {"pmin": 10})
    assert [e.path for e in entries[1:3]] == [Path(3, 0), Path(3, 0, 1)]
    assert format_discover(entries) == text.replace(" ", "")


def test_core_5_4_2_discover_instance() -> None:
    text = (
        "</3/0>;pmax=60, </3/0/1>, </3/0/2>, </3/0/3>, </3/0/4>, </3/0/6>;dim=8,"
        "</3/0/7>;dim=8;gt=50;lt=42.2,</3/0/8>;dim=8,</3/0/11>,</3/0/16>"
    )
    entries = parse_discover(text)
    assert entries[0].attributes == {"pmax": 60}
    assert entries[6] == DiscoverEntry(Path(3, 0, 7), {"dim": 8, "gt": 50.0, "lt": 42.2})
    assert isinstance(entries[6].attributes["gt"], float)
    assert format_discover(entries) == text.replace(" ", "")


def test_core_5_4_2_discover_resource() -> None:
    text = "</3/0/7>;dim=8;pmin=10;pmax=60;gt=50;lt=42.2"
    [entry] = parse_discover(text)
    assert entry.attributes == {"dim": 8, "pmin": 10, "pmax": 60, "gt": 50.0, "lt": 42.2}
    assert format_discover([entry]) == text


def test_discover_lwm2m_1_1_attributes() -> None:
    text = "</3>;ver=1.1,</3/0>;pmin=10;epmin=1;epmax=30,</3/0/7>;dim=3;st=0.5,</3/0/9>;obs"
    entries = parse_discover(text)
    assert entries[0].attributes == {"ver": "1.1"}
    assert entries[1].attributes == {"pmin": 10, "epmin": 1, "epmax": 30}
    assert entries[2].attributes == {"dim": 3, "st": 0.5}
    assert entries[3].attributes == {"obs": None}
    assert format_discover(entries) == text


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("pmin", "0", 0),
        ("pmax", "86400", 86400),
        ("dim", "255", 255),
        ("gt", "-3.5", -3.5),
        ("lt", "1e3", 1000.0),
        ("st", ".5", 0.5),
        ("ver", "2.2", "2.2"),
        ("x-custom", "abc", "abc"),
        ("pmin", None, None),
    ],
)
def test_parse_attribute(name: str, text: str | None, value: object) -> None:
    assert parse_attribute(name, text) == value


@pytest.mark.parametrize(
    ("name", "text"),
    [("pmin", "-1"), ("pmin", "1.5"), ("dim", "x"), ("gt", "abc"), ("lt", "nan"), ("st", "1e999")],
)
def test_bad_attribute_values_are_decode_errors(name: str, text: str) -> None:
    with pytest.raises(DecodeError, match=name):
        parse_attribute(name, text)
    with pytest.raises(DecodeError):
        parse_discover(f"</3/0>;{name}={text}")


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("gt", 50.0, "50"),
        ("gt", 50, "50"),
        ("lt", 42.2, "42.2"),
        ("st", -0.001, "-0.001"),
        ("gt", 1e20, "1e+20"),
        ("pmin", 10, "10"),
        ("ver", "1.1", "1.1"),
        ("obs", None, None),
    ],
)
def test_format_attribute(name: str, value: object, text: str | None) -> None:
    assert format_attribute(name, value) == text  # type: ignore[arg-type]
    assert parse_attribute(name, text) == value


@pytest.mark.parametrize(
    ("name", "value"),
    [("pmin", -1), ("pmin", 1.5), ("pmin", True), ("gt", float("nan")), ("gt", "1"), ("x", [])],
)
def test_bad_attribute_values_are_encode_errors(name: str, value: object) -> None:
    with pytest.raises(EncodeError):
        format_attribute(name, value)  # type: ignore[arg-type]


def test_discover_with_invalid_path_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="discover"):
        parse_discover("</3/x>")


@pytest.mark.parametrize("digits", [6, 4301, 100_000])
def test_ids_with_too_many_digits_are_decode_errors(digits: int) -> None:
    # int() of more than 4300 digits raises Python's own ValueError: never reached
    big = "9" * digits
    with pytest.raises(DecodeError, match=f"discover: invalid path .* id of {digits} digits"):
        parse_discover(f"</3/0/{big}>;pmin=10")
    with pytest.raises(DecodeError, match=f"register payload: invalid path .* {digits} digits"):
        parse_object_list(f"</1/0>,</{big}/0>")
    with pytest.raises(DecodeError, match="register payload: invalid ct"):
        parse_object_list(f"</>;ct={big},</1/0>")


@pytest.mark.parametrize(
    ("name", "value"),
    [("gt", "9" * 100_000 + "x"), ("lt", "." + "9" * 100_000), ("pmin", "9" * 100_000)],
)
def test_long_attribute_values_are_refused_quickly(name: str, value: str) -> None:
    start = time.perf_counter()
    with pytest.raises(DecodeError, match=f"attribute {name}"):
        parse_discover(f"</3/0>;{name}={value}")
    assert time.perf_counter() - start < 2.0


@given(
    st.lists(
        st.builds(
            DiscoverEntry,
            st.lists(st.integers(0, 65534), min_size=1, max_size=4).map(lambda ids: Path(*ids)),
            st.fixed_dictionaries(
                {},
                optional={
                    "pmin": st.integers(0, 2**31),
                    "dim": st.integers(0, 255),
                    "gt": st.floats(allow_nan=False, allow_infinity=False),
                    "st": st.floats(0, 1e6),
                    "ver": st.sampled_from(["1.0", "1.1", "2.2"]),
                },
            ),
        ),
        max_size=5,
    )
)
def test_discover_round_trip(entries: list[DiscoverEntry]) -> None:
    assert parse_discover(format_discover(entries)) == entries

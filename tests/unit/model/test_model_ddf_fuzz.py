"""Garbage and mutated DDF input raises DecodeError and nothing else."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lwm2m.errors import DecodeError
from lwm2m.model.builtin import builtin_objects
from lwm2m.model.ddf import dump_ddf, load_ddf_bytes

DEVICE = builtin_objects()[3]
SEED = dump_ddf(DEVICE)


def _load(data: bytes) -> None:
    try:
        objs = load_ddf_bytes(data, "fuzz.xml")
    except DecodeError as exc:
        assert str(exc).startswith("fuzz.xml: ")
    else:
        # whatever was accepted is a well-formed definition: it dumps and loads back equal
        assert [load_ddf_bytes(dump_ddf(o), "again.xml") for o in objs] == [[o] for o in objs]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """The Device definition with a few bytes replaced, inserted or cut."""
    data = bytearray(SEED)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        if action == "replace":
            data[pos] = draw(st.integers(0, 255))
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        else:
            del data[pos:]
        if not data:
            break
    return bytes(data)


XML_PIECES = st.sampled_from(
    [
        "<LWM2M>",
        "</LWM2M>",
        "<Object>",
        "</Object>",
        "<ObjectID>",
        "</ObjectID>",
        "3",
        "65535",
        "<Resources>",
        "</Resources>",
        '<Item ID="1">',
        "</Item>",
        "<Type>",
        "</Type>",
        "Float",
        "<Operations>",
        "</Operations>",
        "E",
        "<Name>",
        "</Name>",
        "x",
        "<![CDATA[",
        "]]>",
        "&amp;",
        "&bogus;",
        "<?xml version='1.0'?>",
        "<!--",
        "-->",
        "<a:b>",
        "\x00",
        "\udcff",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_garbage_bytes(data: bytes) -> None:
    _load(data)


@settings(max_examples=300, deadline=None)
@given(mutated())
def test_mutated_definition(data: bytes) -> None:
    assert load_ddf_bytes(SEED, "seed.xml") == [DEVICE]  # the mutations start from a valid one
    _load(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(XML_PIECES, max_size=40))
def test_xml_fragments(pieces: list[str]) -> None:
    _load("".join(pieces).encode("utf-8", "surrogatepass"))


@pytest.mark.slow
@settings(max_examples=20_000, deadline=None)
@given(st.one_of(st.binary(max_size=2048), mutated()))
def test_long_fuzz(data: bytes) -> None:
    _load(data)

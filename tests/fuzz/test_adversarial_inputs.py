"""Hostile shapes into every decoder: only the package's errors, and time linear in the size.

Each decoder gets the inputs that broke or slowed decoders before: long runs of digits for
a backtracking pattern, ids past Python's 4300-digit limit for ``int()``, nesting deeper
than the recursion limit, numbers that overflow to infinity. Each must be decoded or
refused with DecodeError (ModelError for a path) at 200 kB in well under a second; the
quadratic patterns they replace took minutes. ``benchmarks/decode_scaling.py`` measures
the scaling itself.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import cbor2
import pytest

from lwm2m.errors import DecodeError, ModelError
from lwm2m.formats import cbor, link, lwm2m_cbor, oma_json, senml_cbor, senml_json, text, tlv
from lwm2m.model import Path, ValueRange, default_registry
from lwm2m.model.ddf import load_ddf_bytes

REG = default_registry()
N = 200_000
BUDGET = 3.0  # seconds for one decode of N bytes: linear code needs a few milliseconds


def _node(module: object, path: str) -> Callable[[bytes], object]:
    decode = module.decode  # type: ignore[attr-defined]
    return lambda payload: decode(payload, Path.parse(path), REG)


def _ddf_with_range(range_text: str) -> bytes:
    return (
        "<LWM2M><Object><Name>S</Name><ObjectID>10242</ObjectID>"
        "<MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>"
        "<Resources><Item ID='0'><Name>r</Name><Operations>R</Operations>"
        "<MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>"
        f"<Type>Integer</Type><RangeEnumeration>{range_text}</RangeEnumeration></Item>"
        "</Resources></Object></LWM2M>"
    ).encode()


DIGITS = b"9" * N
CASES: dict[str, tuple[Callable[[bytes], object], bytes]] = {
    # text/plain: the Float pattern backtracked (quadratic), ints past 4300 digits
    "text Float digits then x": (_node(text, "/6/0/0"), DIGITS + b"x"),
    "text Float exponent digits": (_node(text, "/6/0/0"), b"1e" + DIGITS + b"x"),
    "text Integer digits": (_node(text, "/3/0/9"), DIGITS),
    "text Objlnk digits": (_node(text, "/0/0/17"), DIGITS + b":" + DIGITS),
    # CBOR: nesting past any recursion limit, a long object link
    "CBOR nested arrays": (_node(cbor, "/3/0/0"), b"\x81" * N + b"\x00"),
    "CBOR nested tags": (_node(cbor, "/3/0/13"), b"\xc1" * N + b"\x00"),
    "CBOR long object link": (_node(cbor, "/0/0/17"), cbor2.dumps("9" * N + ":1")),
    # TLV: a length past the end, ids of every width
    "TLV truncated": (_node(tlv, "/3/0"), b"\xc1\x09\x64" * (N // 3) + b"\xf8\x00\x01\xff\xff"),
    # JSON: nesting, numbers that overflow binary64, ids of many digits in names
    "OMA JSON nested arrays": (_node(oma_json, "/3/0"), b"[" * N + b"]" * N),
    "OMA JSON nested objects": (_node(oma_json, "/3/0"), b'{"e":' * N + b"1" + b"}" * N),
    "OMA JSON 1e999": (
        _node(oma_json, "/3/0"),  # an undefined resource takes any number
        b'{"e":[{"n":"/3/0/4242","v":1e' + DIGITS + b"}]}",
    ),
    "OMA JSON long integer": (
        _node(oma_json, "/3/0"),
        b'{"e":[{"n":"/3/0/9","v":' + DIGITS + b"}]}",
    ),
    "SenML JSON nested": (_node(senml_json, "/"), b"[" * N + b"]" * N),
    "SenML JSON long id": (_node(senml_json, "/"), b'[{"n":"/3/0/' + DIGITS + b'","v":1}]'),
    "SenML JSON infinite time": (_node(senml_json, "/"), b'[{"n":"/3/0/9","v":1,"t":-1e999}]'),
    # SenML CBOR, LwM2M CBOR: nesting, long keys, bignums
    "SenML CBOR nested": (_node(senml_cbor, "/"), b"\x81" * N + b"\x00"),
    "SenML CBOR bignum": (
        _node(senml_cbor, "/"),
        cbor2.dumps([{0: "/3/0/9", 2: 3**N}]),
    ),
    "LwM2M CBOR nested maps": (_node(lwm2m_cbor, "/3/0"), b"\xa1\x00" * N + b"\x00"),
    "LwM2M CBOR long array key": (_node(lwm2m_cbor, "/3"), cbor2.dumps({tuple([3] * N): 1})),
    # link format: ids past 4300 digits, long numbers in attributes
    "Discover long id": (link.parse_discover, b"</3/0/" + DIGITS + b">"),
    "Discover long gt": (link.parse_discover, b"</3/0/7>;gt=" + DIGITS + b"x"),
    "Register long ct": (link.parse_object_list, b"</>;ct=" + DIGITS + b",</1/0>"),
    "Register long id": (link.parse_object_list, b"</1/0>,</" + DIGITS + b">"),
    # DDF: the range pattern took quadratic time on trailing white space
    "DDF range trailing spaces": (load_ddf_bytes, _ddf_with_range("1..1" + " " * N + "x")),
    "DDF deep elements": (load_ddf_bytes, b"<LWM2M>" + b"<x>" * N + b"</x>" * N + b"</LWM2M>"),
    "DDF DOCTYPE in UTF-32": (
        load_ddf_bytes,
        ("<!--" + "c" * N + "-->\n<!DOCTYPE LWM2M [<!ENTITY a 'b'>]><LWM2M/>").encode("utf-32-le"),
    ),
    # Path.parse: int() of more than 4300 digits raised Python's own ValueError
    "Path digits": (lambda payload: Path.parse(payload.decode()), b"/" + DIGITS),
    "Path levels": (lambda payload: Path.parse(payload.decode()), b"/1" * N),
    "ValueRange spaces": (
        lambda payload: ValueRange.parse(payload.decode()),
        b"1..1" + b" " * N + b"x",
    ),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_is_refused_quickly_with_the_package_error(name: str) -> None:
    decode, payload = CASES[name]
    start = time.perf_counter()
    with contextlib.suppress(DecodeError, ModelError):  # anything else fails the test
        decode(payload)
    assert time.perf_counter() - start < BUDGET, f"{name}: decoding took too long"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("OMA JSON 1e999", "is not a finite binary64 number"),
        ("SenML JSON infinite time", "is not a finite binary64 number"),
        ("Path digits", "id of 200000 digits"),
        ("Register long id", "id of 200000 digits"),
        ("Discover long id", "id of 200000 digits"),
        ("DDF DOCTYPE in UTF-32", "DOCTYPE declarations are not allowed"),
        ("LwM2M CBOR long array key", "deeper than 4 levels"),
    ],
)
def test_these_are_refused_for_the_right_reason(name: str, reason: str) -> None:
    decode, payload = CASES[name]
    with pytest.raises((DecodeError, ModelError), match=reason):
        decode(payload)

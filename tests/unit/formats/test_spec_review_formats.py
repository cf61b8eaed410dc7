"""Content formats checked against the texts they implement (LwM2M Core TS 1.1.1 7.4, RFC 8428)."""

from __future__ import annotations

import pytest

from lwm2m import formats
from lwm2m.coap.numbers import ContentFormat
from lwm2m.errors import DecodeError
from lwm2m.model import InstanceNode, ResourceNode

CF = ContentFormat


# RFC 8428 section 4.4 (SenML JSON / CBOR of LwM2M Core TS 1.1.1 7.4.5, 7.4.6): a reader
# MUST NOT use a pack whose base version is greater than the version it understands (10).
def test_senml_json_rejects_a_base_version_above_10() -> None:
    payload = b'[{"bver":11,"bn":"/3303/0/","n":"5700","v":1}]'
    with pytest.raises(DecodeError, match="bver"):
        formats.decode(CF.SENML_JSON, payload, "/3303/0")


def test_senml_cbor_rejects_a_base_version_above_10() -> None:
    # [{-1: 11, -2: "/3303/0/", 0: "5700", 2: 1}]
    payload = b"\x81\xa4\x20\x0b\x21\x68/3303/0/\x00\x645700\x02\x01"
    with pytest.raises(DecodeError, match="bver"):
        formats.decode(CF.SENML_CBOR, payload, "/3303/0")


def test_senml_json_rejects_a_base_version_that_is_not_a_number() -> None:
    payload = b'[{"bver":"10","bn":"/3303/0/","n":"5700","v":1}]'
    with pytest.raises(DecodeError, match="bver"):
        formats.decode(CF.SENML_JSON, payload, "/3303/0")


@pytest.mark.parametrize("fmt", [CF.SENML_JSON, CF.SENML_CBOR])
def test_senml_base_version_10_and_below_is_read(fmt: int) -> None:
    json = b'[{"bver":10,"bn":"/3303/0/","n":"5700","v":1.5}]'
    cbor = b"\x81\xa4\x20\x0a\x21\x68/3303/0/\x00\x645700\x02\xf9\x3e\x00"
    node = formats.decode(fmt, json if fmt == CF.SENML_JSON else cbor, "/3303/0")
    assert node == InstanceNode(0, {5700: ResourceNode(5700, 1.5)})


# Core TS 1.1.1 7.4.3 / Appendix C: an Integer in TLV takes 1, 2, 4 or 8 bytes.
def test_tlv_zero_length_integer_is_an_error() -> None:
    with pytest.raises(DecodeError):
        formats.decode(CF.LWM2M_TLV, bytes([0xC0, 0x01]), "/1/0/1")


# Core TS 1.1.1 7.4.1 / Appendix C: text/plain Boolean is "0" or "1" only; Float may
# carry an exponent.
@pytest.mark.parametrize("text", [b"true", b"false", b"01", b" 1", b""])
def test_text_boolean_accepts_only_0_and_1(text: bytes) -> None:
    with pytest.raises(DecodeError):
        formats.decode(CF.TEXT_PLAIN, text, "/1/0/6")


def test_text_float_with_exponent() -> None:
    node = formats.decode(CF.TEXT_PLAIN, b"1.5E+3", "/3303/0/5700")
    assert node == ResourceNode(5700, 1500.0)

"""CoAP codec: RFC 7252 vectors, extended forms, every DecodeError path, typed options."""

from __future__ import annotations

import pytest

from lwm2m.coap.message import OPTIONS, BlockOption, Message, decode_uint, encode_uint
from lwm2m.coap.numbers import (
    Code,
    ContentFormat,
    OptionNumber,
    Type,
    dotted,
    is_request,
    is_response,
    is_success,
)
from lwm2m.errors import DecodeError, EncodeError

# --------------------------------------------------------------- numbers


def test_code_helpers() -> None:
    assert Code.CONTENT == 69
    assert Code.CONTENT.dotted == "2.05"
    assert Code.CONTINUE.dotted == "2.31"
    assert Code.REQUEST_ENTITY_TOO_LARGE.dotted == "4.13"
    assert Code.UNSUPPORTED_CONTENT_FORMAT == (4 << 5) | 15
    assert Code.IPATCH == 7 and Code.FETCH.is_request
    assert Code.GET.is_request and not Code.GET.is_response
    assert Code.NOT_FOUND.is_response and not Code.NOT_FOUND.is_success
    assert Code.CHANGED.is_success and Code.CHANGED.code_class == 2
    assert Code.EMPTY.is_empty and not Code.EMPTY.is_request
    assert dotted(0xFF) == "7.31"
    assert is_request(31) and not is_request(32) and not is_request(0)
    assert is_response(64) and is_response(191) and not is_response(192)
    assert is_success(Code.DELETED) and not is_success(Code.INTERNAL_SERVER_ERROR)


def test_option_number_properties() -> None:
    assert OptionNumber.URI_PATH.critical and OptionNumber.URI_PATH.unsafe
    assert not OptionNumber.CONTENT_FORMAT.critical
    assert not OptionNumber.ETAG.critical and not OptionNumber.ETAG.unsafe
    assert OptionNumber.MAX_AGE.unsafe and not OptionNumber.MAX_AGE.critical
    assert OptionNumber.SIZE1.no_cache_key
    assert not OptionNumber.URI_QUERY.no_cache_key
    assert OptionNumber.BLOCK2.critical and OptionNumber.BLOCK1.critical
    assert OptionNumber.PROXY_URI.critical and OptionNumber.PROXY_URI.unsafe
    assert not OptionNumber.OBSERVE.critical


def test_content_format_values() -> None:
    assert ContentFormat.LWM2M_TLV == 11542
    assert ContentFormat.SENML_CBOR == 112
    assert ContentFormat.LINK_FORMAT == 40


def test_registry_covers_every_option_number() -> None:
    assert set(OPTIONS) == {int(o) for o in OptionNumber}
    assert OPTIONS[OptionNumber.ETAG].max_length == 8
    assert OPTIONS[OptionNumber.PROXY_URI].max_length == 1034
    assert OPTIONS[OptionNumber.URI_PATH].repeatable
    assert OPTIONS[OptionNumber.CONTENT_FORMAT].name == "Content-Format"


# ---------------------------------------------------- RFC 7252 vectors

TEMPERATURE_GET = bytes.fromhex("40017d34") + b"\xbbtemperature"
TEMPERATURE_RESP = bytes.fromhex("60457d34") + b"\xff22.3 C"


def test_rfc7252_appendix_a_get() -> None:
    msg = Message.decode(TEMPERATURE_GET)
    assert msg.type is Type.CON
    assert msg.code is Code.GET
    assert msg.mid == 0x7D34
    assert msg.token == b""
    assert msg.uri_path == ("temperature",)
    assert msg.payload == b""
    assert msg.encode() == TEMPERATURE_GET
    built = Message.request(Code.GET, "/temperature")
    built.mid = 0x7D34
    assert built.encode() == TEMPERATURE_GET


def test_rfc7252_appendix_a_piggybacked_response() -> None:
    msg = Message.decode(TEMPERATURE_RESP)
    assert msg.type is Type.ACK and msg.code is Code.CONTENT and msg.mid == 0x7D34
    assert msg.payload == b"22.3 C"
    assert msg.encode() == TEMPERATURE_RESP


def test_token_and_empty_ack() -> None:
    data = bytes.fromhex("41017d3520") + b"\xbbtemperature"
    msg = Message.decode(data)
    assert msg.token == b"\x20"
    assert msg.encode() == data
    ack = Message(Type.ACK, Code.EMPTY, 0x7D35)
    assert ack.encode() == bytes.fromhex("60007d35")
    assert Message.decode(bytes.fromhex("70001234")).type is Type.RST


def test_max_token() -> None:
    token = bytes(range(1, 9))
    msg = Message(Type.NON, Code.POST, 7, token, [], b"x")
    data = msg.encode()
    assert data[0] == 0x58
    assert Message.decode(data).token == token
    with pytest.raises(EncodeError):
        Message(Type.NON, Code.POST, 7, token + b"\x00").encode()


@pytest.mark.parametrize(
    ("options", "wire"),
    [
        # delta 60: one-byte extension (60 - 13 = 47)
        ([(60, b"\x05")], b"\xd1\x2f\x05"),
        # delta 258: one-byte extension 245
        ([(258, b"")], b"\xd0\xf5"),
        # delta 2000: two-byte extension (2000 - 269 = 1731)
        ([(2000, b"")], b"\xe0\x06\xc3"),
        # length 20: one-byte extension 7
        ([(11, b"a" * 20)], b"\xbd\x07" + b"a" * 20),
        # length 300: two-byte extension 31
        ([(11, b"b" * 300)], b"\xbe\x00\x1f" + b"b" * 300),
        # delta 13 and length 13 exactly (extension value 0)
        ([(13, b"c" * 13)], b"\xdd\x00\x00" + b"c" * 13),
        # delta 269 and length 269 (two-byte extensions 0)
        ([(269, b"d" * 269)], b"\xee\x00\x00\x00\x00" + b"d" * 269),
    ],
)
def test_extended_delta_and_length(options: list[tuple[int, bytes]], wire: bytes) -> None:
    msg = Message(Type.CON, Code.GET, 1, b"", options)
    data = msg.encode()
    assert data == bytes.fromhex("40010001") + wire
    assert Message.decode(data).options == options


def test_repeated_options_keep_order_and_encode_sorts_stably() -> None:
    msg = Message(Type.CON, Code.GET, 9)
    msg.options = [(15, b"q1"), (11, b"a"), (15, b"q2"), (11, b"b"), (12, b"")]
    data = msg.encode()
    back = Message.decode(data)
    assert back.options == [(11, b"a"), (11, b"b"), (12, b""), (15, b"q1"), (15, b"q2")]
    assert back.uri_path == ("a", "b")
    assert back.uri_query == ("q1", "q2")
    # The repeated Uri-Path option has delta 0 on the wire.
    assert data[4:8] == b"\xb1a\x01b"


def test_payload_and_no_payload() -> None:
    msg = Message(Type.NON, Code.CONTENT, 2, b"tk", [(12, b"")], b"\xff\x00")
    data = msg.encode()
    assert data.endswith(b"\xc0\xff\xff\x00")
    assert Message.decode(data).payload == b"\xff\x00"
    empty = Message(Type.NON, Code.CONTENT, 2, b"tk").encode()
    assert b"\xff" not in empty
    assert Message.decode(empty).payload == b""


def test_decode_accepts_bytearray_and_memoryview() -> None:
    assert Message.decode(bytearray(TEMPERATURE_GET)).uri_path == ("temperature",)
    assert Message.decode(memoryview(TEMPERATURE_RESP)).payload == b"22.3 C"


def test_unknown_codes_are_kept_as_int() -> None:
    msg = Message.decode(bytes.fromhex("4020000a"))  # 1.00 (reserved class)
    assert msg.code == 0x20 and not isinstance(msg.code, Code)
    assert "1.00" in repr(msg)


# ------------------------------------------------------- decode errors


@pytest.mark.parametrize(
    ("data", "offset", "fragment"),
    [
        (b"", 0, "shorter"),
        (b"\x40\x01\x00", 0, "shorter"),
        (b"\x80\x01\x00\x00", 0, "version"),
        (b"\x00\x01\x00\x00", 0, "version"),
        (b"\x49\x01\x00\x00" + b"\x00" * 9, 0, "token length"),
        (b"\x4f\x01\x00\x00" + b"\x00" * 15, 0, "token length"),
        (b"\x44\x01\x00\x00ab", 4, "token"),
        (b"\x40\x00\x00\x00\x00", 4, "Empty"),
        (b"\x41\x00\x00\x00\x01", 4, "Empty"),
        (b"\x40\x01\x00\x00\xff", 4, "payload marker"),
        (b"\x40\x01\x00\x00\xf1\x00", 4, "delta 15"),
        (b"\x40\x01\x00\x00\x1f", 4, "length 15"),
        (b"\x40\x01\x00\x00\xd0", 5, "delta extension"),
        (b"\x40\x01\x00\x00\xe0\x00", 5, "delta extension"),
        (b"\x40\x01\x00\x00\x0d", 5, "length extension"),
        (b"\x40\x01\x00\x00\x0e\x01", 5, "length extension"),
        (b"\x40\x01\x00\x00\xb3ab", 5, "truncated"),
        (b"\x40\x01\x00\x00\x0d\x05abc", 6, "truncated"),
    ],
)
def test_decode_errors(data: bytes, offset: int, fragment: str) -> None:
    with pytest.raises(DecodeError) as info:
        Message.decode(data)
    assert info.value.offset == offset
    assert fragment in str(info.value)
    assert f"offset {offset}" in str(info.value)


def test_encode_errors() -> None:
    with pytest.raises(EncodeError):
        Message(Type.CON, Code.GET, 70000).encode()
    with pytest.raises(EncodeError):
        Message(Type.CON, 300, 1).encode()
    with pytest.raises(EncodeError):
        Message(Type.ACK, Code.EMPTY, 1, b"t").encode()
    with pytest.raises(EncodeError):
        Message(Type.ACK, Code.EMPTY, 1, payload=b"x").encode()
    with pytest.raises(EncodeError):
        Message(Type.CON, Code.GET, 1, options=[(-1, b"")]).encode()
    with pytest.raises(EncodeError):
        Message(Type.CON, Code.GET, 1, options=[(11, b"x" * 70000)]).encode()


# ------------------------------------------------------- typed options


def test_uint_codec() -> None:
    assert encode_uint(0) == b""
    assert encode_uint(255) == b"\xff"
    assert encode_uint(256) == b"\x01\x00"
    assert decode_uint(b"\x00\x01") == 1
    with pytest.raises(EncodeError):
        encode_uint(1 << 16, 2)
    with pytest.raises(EncodeError):
        encode_uint(-1)
    with pytest.raises(DecodeError):
        decode_uint(b"\x00\x00\x00", 2)


def test_typed_accessors_round_trip() -> None:
    msg = Message.request(
        Code.PUT,
        "/3/0/a%2Fb",
        query="ep=dev&lt=300",
        content_format=ContentFormat.LWM2M_TLV,
        accept=ContentFormat.SENML_CBOR,
    )
    msg.max_age = 30
    msg.size1 = 5000
    msg.etag = b"\x01\x02"
    msg.block1 = BlockOption(3, True, 6)
    msg.uri_host = "example.org"
    msg.uri_port = 5683
    msg.no_response = 26
    msg.location_path = ["rd", "5a3f"]
    msg.location_query = ["x=1"]
    back = Message.decode(msg.encode())
    assert back.uri_path == ("3", "0", "a/b")
    assert back.path_string == "/3/0/a%2Fb"
    assert back.uri_query == ("ep=dev", "lt=300")
    assert back.content_format == ContentFormat.LWM2M_TLV
    assert back.accept == 112
    assert back.max_age == 30
    assert back.size1 == 5000
    assert back.size2 is None
    assert back.etag == b"\x01\x02"
    assert back.block1 == BlockOption(3, True, 6)
    assert back.block2 is None
    assert back.uri_host == "example.org"
    assert back.uri_port == 5683
    assert back.no_response == 26
    assert back.location_path == ("rd", "5a3f")
    assert back.location_query == ("x=1",)
    assert back.observe is None
    back.observe = 0
    assert back.get_option(OptionNumber.OBSERVE) == b""
    assert back.observe == 0
    back.observe = None
    assert not back.has_option(OptionNumber.OBSERVE)
    back.content_format = None
    assert back.content_format is None
    back.uri_host = None
    assert back.uri_host is None


def test_raw_option_helpers() -> None:
    msg = Message()
    msg.add_option(4, b"a")
    msg.add_option(4, b"b")
    assert msg.get_options(4) == [b"a", b"b"]
    assert msg.get_option(4) == b"a"
    msg.remove_option(4)
    assert msg.get_option(4) is None


def test_bad_typed_values_raise_decode_error() -> None:
    msg = Message(options=[(OptionNumber.CONTENT_FORMAT, b"\x00\x00\x01")])
    with pytest.raises(DecodeError):
        _ = msg.content_format
    msg = Message(options=[(OptionNumber.URI_PATH, b"\xff\xfe")])
    with pytest.raises(DecodeError):
        _ = msg.uri_path
    msg = Message(options=[(OptionNumber.BLOCK2, b"\x0f")])
    with pytest.raises(DecodeError):
        _ = msg.block2


def test_block_option() -> None:
    block = BlockOption(5, False, 2)
    assert block.size == 64 and block.offset == 320
    assert block.encode() == bytes([5 << 4 | 2])
    assert BlockOption.decode(b"") == BlockOption(0, False, 0)
    assert BlockOption.decode(encode_uint((1 << 20) - 1 << 4 | 8 | 6)).num == (1 << 20) - 1
    assert BlockOption.szx_for_size(1024) == 6
    assert BlockOption.szx_for_size(16) == 0
    with pytest.raises(EncodeError):
        BlockOption.szx_for_size(2048)
    with pytest.raises(EncodeError):
        BlockOption(0, False, 7)
    with pytest.raises(EncodeError):
        BlockOption(1 << 20, False, 0)


def test_unknown_critical_option() -> None:
    assert Message.decode(TEMPERATURE_GET).unknown_critical_option() is None
    assert Message(options=[(9, b"")]).unknown_critical_option() == 9
    assert Message(options=[(10, b"")]).unknown_critical_option() is None  # elective
    # a known critical option with a bad length counts as unrecognised (5.4.3)
    assert Message(options=[(OptionNumber.URI_HOST, b"")]).unknown_critical_option() == 3
    assert Message(options=[(OptionNumber.BLOCK2, b"1234")]).unknown_critical_option() == 23


def test_request_and_response_helpers() -> None:
    req = Message.request(Code.GET, ["a b", "c"], query=["x=1"], token=b"\x01", observe=0)
    assert req.type is Type.CON and req.uri_path == ("a b", "c") and req.observe == 0
    assert Message.request(Code.GET, "/", confirmable=False).uri_path == ()
    assert Message.request(Code.GET, "").uri_path == ()
    req.mid = 77
    resp = Message.response_to(req, Code.CONTENT, b"hi", content_format=0, observe=5)
    assert resp.type is Type.ACK and resp.mid == 77 and resp.token == b"\x01"
    assert resp.content_format == 0 and resp.observe == 5 and resp.payload == b"hi"
    non = Message.request(Code.POST, "/x", confirmable=False, token=b"t")
    resp = Message.response_to(non, Code.CHANGED)
    assert resp.type is Type.NON and resp.token == b"t" and resp.code is Code.CHANGED
    assert req.is_request and resp.is_response and Message().is_empty

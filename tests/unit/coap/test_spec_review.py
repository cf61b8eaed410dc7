"""Behaviour checked section by section against RFC 7252, RFC 7641 and RFC 7959.

Each test names the section whose text it checks.
"""

from __future__ import annotations

import random

from lwm2m.coap.blockwise import Block2Follower, serve_block2
from lwm2m.coap.layer import MessageLayer, RequestReceived, TransmissionParams
from lwm2m.coap.message import BlockOption, Message, encode_uint
from lwm2m.coap.numbers import Code, OptionNumber, Type
from lwm2m.coap.observe import is_fresh

CLIENT = ("10.0.0.1", 5683)


def server_layer() -> MessageLayer:
    return MessageLayer(TransmissionParams(), rng=random.Random(7))


def answers(layer: MessageLayer, request: Message) -> list[Message]:
    """Feed ``request`` to ``layer``; the datagrams it sends back, decoded."""
    layer.receive(request.encode(), CLIENT, 0.0)
    return [Message.decode(d) for d, _ in layer.take_datagrams()]


def request(
    code: Code = Code.GET,
    *options: tuple[int, bytes],
    confirmable: bool = True,
    mid: int = 0x1234,
) -> Message:
    msg = Message.request(code, "/3/0", confirmable=confirmable, token=b"tk", options=options)
    msg.mid = mid
    return msg


# ---------------------------------------------------------------- RFC 7252


def test_rfc7252_5_4_1_non_request_with_unknown_critical_option_is_rejected() -> None:
    """5.4.1: in a NON message it MUST cause the message to be rejected (4.3), not answered."""
    layer = server_layer()
    [reply] = answers(layer, request(Code.GET, (9, b"x"), confirmable=False))
    assert reply.type is Type.RST and reply.code == Code.EMPTY and reply.mid == 0x1234
    assert layer.take_events() == []


def test_rfc7252_5_4_1_con_request_with_unknown_critical_option_gets_4_02() -> None:
    layer = server_layer()
    [reply] = answers(layer, request(Code.GET, (9, b"x")))
    assert reply.type is Type.ACK and reply.code is Code.BAD_OPTION and reply.token == b"tk"


def test_rfc7252_5_4_5_supernumerary_critical_option_is_unrecognised() -> None:
    """5.4.5: a repeated non-repeatable critical option is treated as unrecognised -> 4.02."""
    layer = server_layer()
    accept = (int(OptionNumber.ACCEPT), encode_uint(0))
    [reply] = answers(layer, request(Code.GET, accept, accept))
    assert reply.code is Code.BAD_OPTION
    assert layer.take_events() == []
    host = (int(OptionNumber.URI_HOST), b"example.com")
    [reply] = answers(layer, request(Code.GET, host, host, mid=2))
    assert reply.code is Code.BAD_OPTION


def test_rfc7252_5_4_5_supernumerary_elective_option_is_ignored() -> None:
    """5.4.5: a repeated elective option is silently ignored; the first one counts."""
    layer = server_layer()
    fmt = int(OptionNumber.CONTENT_FORMAT)
    req = request(Code.PUT, (fmt, encode_uint(0)), (fmt, encode_uint(11542)))
    assert answers(layer, req) == []
    [event] = layer.take_events()
    assert isinstance(event, RequestReceived) and event.request.content_format == 0


def test_rfc7252_5_7_2_proxy_uri_gets_5_05_when_not_a_proxy() -> None:
    """5.7.2: an endpoint unable to act as proxy MUST return 5.05 Proxying Not Supported."""
    layer = server_layer()
    proxy_uri = (int(OptionNumber.PROXY_URI), b"coap://example.com/3/0")
    [reply] = answers(layer, request(Code.GET, proxy_uri))
    assert reply.type is Type.ACK and reply.code is Code.PROXYING_NOT_SUPPORTED
    assert layer.take_events() == []
    proxy_scheme = (int(OptionNumber.PROXY_SCHEME), b"http")
    [reply] = answers(layer, request(Code.GET, proxy_scheme, confirmable=False, mid=2))
    assert reply.type is Type.NON and reply.code is Code.PROXYING_NOT_SUPPORTED
    assert reply.token == b"tk"
    assert layer.take_events() == []


def test_rfc7252_5_10_8_conditional_put_is_never_performed_unconditionally() -> None:
    """5.10.8.1 / 5.10.8.2: If-Match and If-None-Match are critical; no resource here
    has the state to evaluate them, so they are unrecognised (5.4.1): 4.02, and the
    request never reaches a handler."""
    layer = server_layer()
    if_match = (int(OptionNumber.IF_MATCH), b"\x01\x02")
    [reply] = answers(layer, request(Code.PUT, if_match))
    assert reply.code is Code.BAD_OPTION
    if_none_match = (int(OptionNumber.IF_NONE_MATCH), b"")
    [reply] = answers(layer, request(Code.PUT, if_none_match, mid=2))
    assert reply.code is Code.BAD_OPTION
    assert layer.take_events() == []


def test_rfc7252_5_10_1_uri_host_and_uri_port_do_not_stop_a_request() -> None:
    """5.10.1: Uri-Host / Uri-Port naming this endpoint are recognised critical options."""
    layer = server_layer()
    host = (int(OptionNumber.URI_HOST), b"device.local")
    port = (int(OptionNumber.URI_PORT), encode_uint(5683))
    assert answers(layer, request(Code.GET, host, port)) == []
    [event] = layer.take_events()
    assert isinstance(event, RequestReceived) and event.request.uri_path == ("3", "0")


def test_rfc7252_4_3_ping_is_answered_with_rst_and_unknown_empty_ack_ignored() -> None:
    """4.3: an Empty CON ("CoAP ping") gets RST; an empty ACK matching nothing is ignored."""
    layer = server_layer()
    [reply] = answers(layer, Message(Type.CON, Code.EMPTY, 0x0102))
    assert reply.type is Type.RST and reply.mid == 0x0102 and reply.token == b""
    assert answers(layer, Message(Type.ACK, Code.EMPTY, 0x0103)) == []
    assert layer.take_events() == []


# ---------------------------------------------------------------- RFC 7641


def test_rfc7641_3_4_freshness_across_the_24_bit_wrap() -> None:
    """3.4: V1 > V2 and V1 - V2 > 2**23 means V2 is newer (the counter wrapped)."""
    assert is_fresh((1 << 24) - 2, 0.0, 3, 1.0)
    assert not is_fresh(3, 0.0, (1 << 24) - 2, 1.0)
    assert not is_fresh(5, 0.0, 5, 1.0)
    assert is_fresh(5, 0.0, 4, 129.0)  # more than 128 s later: newer whatever the value


# ---------------------------------------------------------------- RFC 7959


def test_rfc7959_4_size2_in_first_block_and_observe_only_there() -> None:
    """4: Size2 with the total size in the first block; 2.6: only that block carries Observe."""
    body = bytes(range(256)) * 3
    full = Message(Type.ACK, Code.CONTENT, 0, b"tk", [(int(OptionNumber.OBSERVE), b"\x05")], body)
    first = serve_block2(full, None, 4)
    assert first.size2 == len(body) and first.observe == 5
    assert first.block2 == BlockOption(0, True, 4)
    second = serve_block2(full, BlockOption(1, False, 4), 4)
    assert second.observe is None and second.etag == first.etag
    assert second.payload == body[256:512]


def test_rfc7959_2_6_follow_up_requests_carry_no_observe() -> None:
    """2.6 / 3.4: later blocks of a notification are fetched without the Observe option."""
    body = b"x" * 100
    registration = Message.request(Code.GET, "/3/0", observe=0, token=b"tk")
    first = serve_block2(Message(Type.ACK, Code.CONTENT, 0, b"tk", [], body), None, 1)
    follow = Block2Follower(first, 1).follow_up(registration)
    assert follow.observe is None
    assert follow.block2 == BlockOption(1, False, 1)
    assert follow.uri_path == ("3", "0")


def test_5_4_3_elective_option_with_a_bad_length_is_ignored() -> None:
    """A 4-byte Observe (max 3) on a GET is an unrecognised elective option: ignored."""
    msg = Message.request(Code.GET, "/3/0/0", options=[(6, b"\x00\x00\x00\x00")])
    msg = Message.decode(msg.encode())
    msg.drop_bad_elective_options()
    assert msg.observe is None and msg.uri_path == ("3", "0", "0")


def test_5_4_5_repeated_elective_option_keeps_the_first() -> None:
    msg = Message.request(Code.GET, "/a", options=[(14, b"\x05"), (14, b"\x06")])
    msg = Message.decode(msg.encode())
    msg.drop_bad_elective_options()
    assert msg.max_age == 5 and msg.get_options(14) == [b"\x05"]


def test_5_4_3_layer_hands_the_request_on_without_the_bad_elective_option() -> None:
    layer = server_layer()
    layer.receive(request(Code.GET, (6, b"\x01\x02\x03\x04")).encode(), CLIENT, 0.0)
    (event,) = layer.take_events()
    assert isinstance(event, RequestReceived)
    assert event.request.observe is None and layer.take_datagrams() == []

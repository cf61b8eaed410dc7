"""The sans-IO message layer on a fake clock."""

from __future__ import annotations

import itertools
import random
import sys

import pytest

from lwm2m.coap.errors import BadResponse, RequestTimeout, ResetReceived
from lwm2m.coap.layer import (
    Event,
    ExchangeFailed,
    MessageAcknowledged,
    MessageLayer,
    RequestReceived,
    ResponseReceived,
    TransmissionParams,
)
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, Type

CLIENT = ("10.0.0.1", 5683)
SERVER = ("10.0.0.2", 5683)


def make_layer(seed: int = 1, **params: float) -> MessageLayer:
    return MessageLayer(TransmissionParams(**params), rng=random.Random(seed))  # type: ignore[arg-type]


def get(path: str = "/x", confirmable: bool = True, token: bytes = b"tk") -> Message:
    return Message.request(Code.GET, path, confirmable=confirmable, token=token)


def decoded(layer: MessageLayer) -> list[Message]:
    return [Message.decode(d) for d, _ in layer.take_datagrams()]


def advance(layer: MessageLayer, until: float) -> None:
    """Run every timer up to ``until`` at its own deadline, like the shell does."""
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        layer.handle_timeout(deadline)
    layer.handle_timeout(until)


def only(items: list[Event]) -> Event:
    assert len(items) == 1, items
    return items[0]


def test_params_derived_values() -> None:
    p = TransmissionParams()
    assert p.max_transmit_span == 45
    assert p.max_transmit_wait == 93
    assert p.exchange_lifetime == 247
    assert p.non_lifetime == 145
    q = TransmissionParams(ack_timeout=1.0, exchange_lifetime_override=10.0)
    assert q.exchange_lifetime == 10.0 and q.max_transmit_span == 22.5
    with pytest.raises(ValueError):
        TransmissionParams(ack_timeout=0)
    with pytest.raises(ValueError):
        TransmissionParams(nstart=0)


def test_piggybacked_round_trip() -> None:
    client, server = make_layer(1), make_layer(2)
    ex = client.send_request(get(), SERVER, 0.0)
    [(data, addr)] = client.take_datagrams()
    assert addr == SERVER
    server.receive(data, CLIENT, 0.01)
    ev = only(server.take_events())
    assert isinstance(ev, RequestReceived)
    assert ev.request.uri_path == ("x",) and ev.remote == CLIENT
    server.respond(ev.incoming, Message(code=Code.CONTENT, payload=b"hello"), 0.02)
    [(resp, addr)] = server.take_datagrams()
    assert addr == CLIENT
    msg = Message.decode(resp)
    assert msg.type is Type.ACK and msg.mid == ex.mid and msg.token == b"tk"
    client.receive(resp, SERVER, 0.03)
    ev2 = only(client.take_events())
    assert isinstance(ev2, ResponseReceived)
    assert ev2.exchange is ex and ev2.response.payload == b"hello"
    assert client.pending_exchanges == 0
    # nothing left to retransmit
    advance(client, 1000.0)
    assert client.take_datagrams() == [] and client.take_events() == []


def test_message_ids_are_sequential_from_random_start() -> None:
    a, b = make_layer(1), make_layer(2)
    assert a.new_mid() != b.new_mid()
    first = a.new_mid()
    assert a.new_mid() == (first + 1) & 0xFFFF
    tokens = {a.new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) == 4 for t in tokens)


def test_retransmission_timing_and_give_up() -> None:
    layer = make_layer(7)
    ex = layer.send_request(get(), SERVER, 0.0)
    [(first, _)] = layer.take_datagrams()
    times = [0.0]
    now = 0.0
    while True:
        deadline = layer.next_deadline()
        assert deadline is not None
        now = deadline
        layer.handle_timeout(now)
        sent = layer.take_datagrams()
        events = layer.take_events()
        if events:
            assert not sent
            ev = only(events)
            assert isinstance(ev, ExchangeFailed) and ev.exchange is ex
            assert isinstance(ev.error, RequestTimeout)
            break
        assert [d for d, _ in sent] == [first]  # identical bytes, same MID
        times.append(now)
    assert len(times) == 1 + 4  # MAX_RETRANSMIT retransmissions
    initial = times[1] - times[0]
    assert 2.0 <= initial <= 3.0  # ACK_TIMEOUT .. ACK_TIMEOUT * ACK_RANDOM_FACTOR
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for i, gap in enumerate(gaps):
        assert gap == pytest.approx(initial * 2**i)
    # gives up after the last timeout: total = initial * (2**5 - 1)
    assert now == pytest.approx(initial * 31)
    assert now <= TransmissionParams().max_transmit_wait
    assert layer.pending_exchanges == 0


def test_initial_timeout_spread_covers_window() -> None:
    starts = []
    for seed in range(50):
        layer = make_layer(seed)
        layer.send_request(get(), SERVER, 0.0)
        deadline = layer.next_deadline()
        assert deadline is not None
        starts.append(deadline)
    assert min(starts) >= 2.0 and max(starts) <= 3.0
    assert max(starts) - min(starts) > 0.5  # really randomised


def test_duplicate_con_gets_identical_cached_bytes() -> None:
    server = make_layer(2)
    req = get()
    req.mid = 0x1234
    data = req.encode()
    server.receive(data, CLIENT, 0.0)
    ev = only(server.take_events())
    assert isinstance(ev, RequestReceived)
    server.respond(ev.incoming, Message(code=Code.CONTENT, payload=b"v1"), 0.0)
    [(answer, _)] = server.take_datagrams()
    for t in (1.0, 5.0, 200.0):
        server.receive(data, CLIENT, t)
        assert server.take_events() == []
        assert server.take_datagrams() == [(answer, CLIENT)]
    # the same MID from another peer is a different message
    server.receive(data, SERVER, 1.0)
    assert isinstance(only(server.take_events()), RequestReceived)
    # after EXCHANGE_LIFETIME the entry is gone: a new request
    server.receive(data, CLIENT, 248.0)
    assert isinstance(only(server.take_events()), RequestReceived)


def test_duplicate_non_is_ignored() -> None:
    server = make_layer(2)
    data = get(confirmable=False).encode()
    server.receive(data, CLIENT, 0.0)
    ev = only(server.take_events())
    assert isinstance(ev, RequestReceived)
    server.receive(data, CLIENT, 0.5)
    assert server.take_events() == [] and server.take_datagrams() == []
    server.respond(ev.incoming, Message(code=Code.CONTENT), 0.6)
    [msg] = decoded(server)
    assert msg.type is Type.NON and msg.code is Code.CONTENT and msg.token == b"tk"


def test_separate_response_path() -> None:
    client, server = make_layer(1, empty_ack_delay=0.5), make_layer(2, empty_ack_delay=0.5)
    ex = client.send_request(get(), SERVER, 0.0)
    [(data, _)] = client.take_datagrams()
    server.receive(data, CLIENT, 0.0)
    ev = only(server.take_events())
    assert isinstance(ev, RequestReceived)
    assert server.next_deadline() == 0.5
    advance(server, 0.5)
    [empty_ack] = server.take_datagrams()
    ack = Message.decode(empty_ack[0])
    assert ack.type is Type.ACK and ack.code is Code.EMPTY and ack.mid == ex.mid
    client.receive(empty_ack[0], SERVER, 0.6)
    assert client.take_events() == []
    # the client stops retransmitting but keeps waiting
    advance(client, 10.0)
    assert client.take_datagrams() == [] and client.take_events() == []
    # a retransmitted request now gets the empty ACK again
    server.receive(data, CLIENT, 1.0)
    assert server.take_datagrams() == [empty_ack]
    server.respond(ev.incoming, Message(code=Code.CONTENT, payload=b"late"), 3.0)
    [(sep, _)] = server.take_datagrams()
    sep_msg = Message.decode(sep)
    assert sep_msg.type is Type.CON and sep_msg.token == b"tk" and sep_msg.mid != ex.mid
    client.receive(sep, SERVER, 3.1)
    done = only(client.take_events())
    assert isinstance(done, ResponseReceived) and done.response.payload == b"late"
    [(ack2, _)] = client.take_datagrams()
    ack2_msg = Message.decode(ack2)
    assert ack2_msg.type is Type.ACK and ack2_msg.mid == sep_msg.mid and ack2_msg.code == 0
    # duplicate separate response: same ACK again, no second event
    client.receive(sep, SERVER, 3.2)
    assert client.take_datagrams() == [(ack2, SERVER)] and client.take_events() == []
    # the server retransmits the separate response until it is acknowledged
    server.receive(ack2, CLIENT, 3.3)
    assert isinstance(only(server.take_events()), MessageAcknowledged)
    advance(server, 100.0)
    assert server.take_datagrams() == []


def test_separate_response_waits_bounded_by_exchange_lifetime() -> None:
    client = make_layer(1)
    ex = client.send_request(get(), SERVER, 0.0)
    client.take_datagrams()
    client.receive(Message(Type.ACK, Code.EMPTY, ex.mid).encode(), SERVER, 0.1)
    advance(client, 200.0)
    assert client.take_events() == []
    advance(client, 0.1 + 247.0)
    ev = only(client.take_events())
    assert isinstance(ev, ExchangeFailed) and isinstance(ev.error, RequestTimeout)


def test_duplicate_while_pending_sends_empty_ack() -> None:
    server = make_layer(2)
    data = get().encode()
    server.receive(data, CLIENT, 0.0)
    ev = only(server.take_events())
    assert isinstance(ev, RequestReceived)
    server.receive(data, CLIENT, 0.2)
    [ack] = decoded(server)
    assert ack.type is Type.ACK and ack.code == 0
    server.respond(ev.incoming, Message(code=Code.CONTENT), 0.3)
    [sep] = decoded(server)
    assert sep.type is Type.CON and sep.code is Code.CONTENT
    server.respond(ev.incoming, Message(code=Code.CONTENT), 0.4)  # second answer ignored
    assert server.take_datagrams() == []


def test_rst_fails_request() -> None:
    client = make_layer(1)
    ex = client.send_request(get(), SERVER, 0.0)
    client.take_datagrams()
    # RST from the wrong peer or with the wrong MID is ignored
    client.receive(Message(Type.RST, Code.EMPTY, ex.mid).encode(), CLIENT, 0.1)
    client.receive(Message(Type.RST, Code.EMPTY, (ex.mid + 1) & 0xFFFF).encode(), SERVER, 0.1)
    assert client.take_events() == []
    client.receive(Message(Type.RST, Code.EMPTY, ex.mid).encode(), SERVER, 0.2)
    ev = only(client.take_events())
    assert isinstance(ev, ExchangeFailed) and isinstance(ev.error, ResetReceived)
    advance(client, 100.0)
    assert client.take_datagrams() == []


def test_unexpected_responses_get_rst() -> None:
    client = make_layer(1)
    for msg_type in (Type.CON, Type.NON):
        resp = Message(msg_type, Code.CONTENT, 0x4242 + msg_type, b"zz", [], b"x")
        client.receive(resp.encode(), SERVER, 0.0)
        [rst] = decoded(client)
        assert rst.type is Type.RST and rst.mid == resp.mid and rst.code == 0
        assert client.take_events() == []
    # an unexpected ACK or RST is silently ignored
    client.receive(Message(Type.ACK, Code.CONTENT, 9, b"zz").encode(), SERVER, 0.0)
    client.receive(Message(Type.RST, Code.EMPTY, 9).encode(), SERVER, 0.0)
    assert client.take_datagrams() == [] and client.take_events() == []


def test_response_from_wrong_peer_is_rejected() -> None:
    client = make_layer(1)
    client.send_request(get(confirmable=False), SERVER, 0.0)
    client.take_datagrams()
    resp = Message(Type.NON, Code.CONTENT, 5, b"tk")
    client.receive(resp.encode(), CLIENT, 0.1)
    [rst] = decoded(client)
    assert rst.type is Type.RST
    client.receive(resp.encode(), SERVER, 0.2)
    assert isinstance(only(client.take_events()), ResponseReceived)


def test_piggybacked_with_wrong_token_is_ignored() -> None:
    client = make_layer(1)
    ex = client.send_request(get(), SERVER, 0.0)
    client.take_datagrams()
    client.receive(Message(Type.ACK, Code.CONTENT, ex.mid, b"other").encode(), SERVER, 0.1)
    assert client.take_events() == []
    client.receive(Message(Type.ACK, Code.CONTENT, ex.mid, b"tk").encode(), SERVER, 0.1)
    assert isinstance(only(client.take_events()), ResponseReceived)


def test_ping_and_reserved_codes_get_rst() -> None:
    server = make_layer(2)
    server.receive(Message(Type.CON, Code.EMPTY, 77).encode(), CLIENT, 0.0)
    [rst] = decoded(server)
    assert rst.type is Type.RST and rst.mid == 77
    server.receive(Message(Type.CON, 0x20, 78).encode(), CLIENT, 0.0)  # class 1
    [rst] = decoded(server)
    assert rst.type is Type.RST and rst.mid == 78
    server.receive(Message(Type.NON, Code.EMPTY, 79).encode(), CLIENT, 0.0)
    server.receive(Message(Type.NON, 0xE0, 80).encode(), CLIENT, 0.0)  # class 7
    assert server.take_datagrams() == [] and server.take_events() == []


def test_unknown_critical_option_in_request_gets_bad_option() -> None:
    server = make_layer(2)
    req = get()
    req.options.append((9, b"x"))
    server.receive(req.encode(), CLIENT, 0.0)
    assert server.take_events() == []
    [resp] = decoded(server)
    assert resp.type is Type.ACK and resp.code is Code.BAD_OPTION and resp.token == b"tk"
    non = get(confirmable=False)
    non.mid = 1
    non.options.append((2049, b""))
    server.receive(non.encode(), CLIENT, 0.0)
    [rst] = decoded(server)  # 5.4.1: a NON is rejected (4.3), not answered with 4.02
    assert rst.type is Type.RST and rst.mid == 1
    # an unknown elective option is ignored
    ok = get(token=b"el")
    ok.mid = 2
    ok.options.append((2048, b""))
    server.receive(ok.encode(), CLIENT, 0.0)
    assert isinstance(only(server.take_events()), RequestReceived)


def test_unknown_critical_option_in_responses() -> None:
    client = make_layer(1)
    ex = client.send_request(get(), SERVER, 0.0)
    client.take_datagrams()
    client.receive(Message(Type.ACK, Code.EMPTY, ex.mid).encode(), SERVER, 0.1)
    bad = Message(Type.CON, Code.CONTENT, 500, b"tk", [(9, b"")])
    client.receive(bad.encode(), SERVER, 0.2)
    [rst] = decoded(client)
    assert rst.type is Type.RST and rst.mid == 500
    ev = only(client.take_events())
    assert isinstance(ev, ExchangeFailed) and isinstance(ev.error, BadResponse)
    # piggybacked case: the request fails with BadResponse, no retransmissions
    ex2 = client.send_request(get(token=b"t2"), SERVER, 1.0)
    client.take_datagrams()
    client.receive(Message(Type.ACK, Code.CONTENT, ex2.mid, b"t2", [(9, b"")]).encode(), SERVER, 1)
    ev = only(client.take_events())
    assert isinstance(ev, ExchangeFailed) and isinstance(ev.error, BadResponse)
    advance(client, 100.0)
    assert client.take_datagrams() == []


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        (b"\x40\x01\x12\x34\xff", True),  # CON, payload marker without payload
        (b"\x49\x01\x12\x34" + b"x" * 9, True),  # CON, token length 9
        (b"\x50\x01\x12\x34\xff", False),  # NON: dropped silently
        (b"\x60\x45\x12\x34\xff", False),  # ACK
        (b"\x80\x01\x12\x34", False),  # version 2: not even an RST
        (b"\x40\x01", False),  # too short
    ],
)
def test_format_errors(data: bytes, answer: bool) -> None:
    server = make_layer(2)
    server.receive(data, CLIENT, 0.0)
    assert server.take_events() == []
    out = decoded(server)
    if answer:
        [rst] = out
        assert rst.type is Type.RST and rst.mid == 0x1234
    else:
        assert out == []


def test_nstart_queues_requests_per_peer() -> None:
    client = make_layer(1)
    other = ("10.0.0.3", 5683)
    ex1 = client.send_request(get(token=b"a"), SERVER, 0.0)
    ex2 = client.send_request(get(token=b"b"), SERVER, 0.0)
    ex3 = client.send_request(get(token=b"c"), other, 0.0)
    sent = client.take_datagrams()
    assert [addr for _, addr in sent] == [SERVER, other]  # ex2 waits
    assert Message.decode(sent[0][0]).token == b"a"
    # the first exchange is acknowledged (piggybacked): ex2 goes out
    client.receive(Message(Type.ACK, Code.CONTENT, ex1.mid, b"a").encode(), SERVER, 0.1)
    [(data2, addr2)] = client.take_datagrams()
    assert addr2 == SERVER and Message.decode(data2).token == b"b"
    assert ex2.mid != ex1.mid
    ex4 = client.send_request(get(token=b"d"), SERVER, 0.2)
    assert client.take_datagrams() == []
    # empty ACK also ends the outstanding interaction (4.7)
    client.receive(Message(Type.ACK, Code.EMPTY, ex2.mid).encode(), SERVER, 0.3)
    [(data4, _)] = client.take_datagrams()
    assert Message.decode(data4).token == b"d"
    # a timeout frees the slot too
    ex5 = client.send_request(get(token=b"e"), SERVER, 0.4)
    assert client.take_datagrams() == []
    advance(client, 100.0)
    failed = [e.exchange for e in client.take_events() if isinstance(e, ExchangeFailed)]
    assert ex4 in failed and ex3 in failed
    later = [Message.decode(d) for d, _ in client.take_datagrams()]
    # ex5 goes out once the slot is free, under its own message ID
    assert {m.mid for m in later if m.token == b"e"} == {ex5.mid}


def test_nstart_two_allows_two_outstanding() -> None:
    client = make_layer(1, nstart=2)
    for token in (b"a", b"b", b"c"):
        client.send_request(get(token=token), SERVER, 0.0)
    assert len(client.take_datagrams()) == 2


def test_cancel_queued_and_sent_exchanges() -> None:
    client = make_layer(1)
    ex1 = client.send_request(get(token=b"a"), SERVER, 0.0)
    ex2 = client.send_request(get(token=b"b"), SERVER, 0.0)
    client.take_datagrams()
    client.cancel(ex2, 0.1)
    client.cancel(ex1, 0.1)
    assert client.take_datagrams() == []  # ex2 was removed from the queue
    assert client.pending_exchanges == 0
    advance(client, 100.0)
    assert client.take_datagrams() == [] and client.take_events() == []


def test_token_must_be_unique() -> None:
    client = make_layer(1)
    client.send_request(get(token=b"a"), SERVER, 0.0)
    with pytest.raises(ValueError):
        client.send_request(get(token=b"a"), SERVER, 0.0)


def test_non_request_times_out_after_non_lifetime() -> None:
    client = make_layer(1)
    client.send_request(get(confirmable=False), SERVER, 0.0)
    assert len(client.take_datagrams()) == 1
    advance(client, 144.0)
    assert client.take_datagrams() == [] and client.take_events() == []
    advance(client, 145.0)
    ev = only(client.take_events())
    assert isinstance(ev, ExchangeFailed) and isinstance(ev.error, RequestTimeout)


def test_kept_exchange_receives_many_responses_until_forgotten() -> None:
    client = make_layer(1)
    ex = client.send_request(get(), SERVER, 0.0, keep=True)
    client.take_datagrams()
    client.receive(Message(Type.ACK, Code.CONTENT, ex.mid, b"tk").encode(), SERVER, 0.1)
    assert isinstance(only(client.take_events()), ResponseReceived)
    client.receive(Message(Type.NON, Code.CONTENT, 900, b"tk").encode(), SERVER, 1.0)
    assert isinstance(only(client.take_events()), ResponseReceived)
    client.receive(Message(Type.CON, Code.CONTENT, 901, b"tk").encode(), SERVER, 2.0)
    assert isinstance(only(client.take_events()), ResponseReceived)
    [ack] = decoded(client)
    assert ack.type is Type.ACK and ack.mid == 901
    advance(client, 10_000.0)
    assert client.take_events() == []  # no timeout for a live observation
    client.forget(ex, 3.0)
    client.receive(Message(Type.CON, Code.CONTENT, 902, b"tk").encode(), SERVER, 3.0)
    [rst] = decoded(client)
    assert rst.type is Type.RST and rst.mid == 902
    assert client.take_events() == []


def test_tracked_messages_ack_rst_and_timeout() -> None:
    server = make_layer(2)
    con = server.send_message(Message(Type.CON, Code.CONTENT, 0, b"o", [], b"1"), CLIENT, 0.0)
    [(data, _)] = server.take_datagrams()
    server.receive(Message(Type.ACK, Code.EMPTY, con.mid).encode(), CLIENT, 0.1)
    assert isinstance(only(server.take_events()), MessageAcknowledged)
    non = server.send_message(Message(Type.NON, Code.CONTENT, 0, b"o", [], b"2"), CLIENT, 1.0)
    server.take_datagrams()
    server.receive(Message(Type.RST, Code.EMPTY, non.mid).encode(), CLIENT, 1.1)
    ev = only(server.take_events())
    assert isinstance(ev, ExchangeFailed) and isinstance(ev.error, ResetReceived)
    assert ev.exchange is non
    # a NON message is tracked for EXCHANGE_LIFETIME (RFC 7641 4.5), not longer
    late = server.send_message(Message(Type.NON, Code.CONTENT, 0, b"o"), CLIENT, 2.0)
    gone = 2.0 + server.params.exchange_lifetime
    advance(server, gone)
    server.receive(Message(Type.RST, Code.EMPTY, late.mid).encode(), CLIENT, gone)
    assert server.take_events() == []
    lost = server.send_message(Message(Type.CON, Code.CONTENT, 0, b"o"), CLIENT, gone + 10.0)
    advance(server, gone + 200.0)
    ev = only(server.take_events())
    assert isinstance(ev, ExchangeFailed) and ev.exchange is lost
    assert data  # the first notification went out


def test_fail_remote() -> None:
    client = make_layer(1)
    a = client.send_request(get(token=b"a"), SERVER, 0.0)
    b = client.send_request(get(token=b"b"), SERVER, 0.0)
    c = client.send_request(get(token=b"c"), CLIENT, 0.0)
    client.fail_remote(SERVER, RequestTimeout("unreachable"), 0.1)
    failed = {e.exchange.token for e in client.take_events() if isinstance(e, ExchangeFailed)}
    assert failed == {b"a", b"b"}
    assert a.state == b.state != c.state


def test_dedup_limit_bounds_memory() -> None:
    server = MessageLayer(rng=random.Random(3), dedup_limit=10)
    for mid in range(50):
        server.receive(Message(Type.NON, Code.GET, mid, b"t").encode(), CLIENT, 0.0)
    assert len(server.take_events()) == 50
    assert len(server._dedup) == 10


def test_message_ids_are_counted_per_peer() -> None:
    """RFC 7252 4.4: a MID must not repeat towards one peer within EXCHANGE_LIFETIME; traffic
    to other peers must not make it wrap sooner."""
    layer = MessageLayer(rng=random.Random(3))
    a, b = ("127.0.0.1", 1000), ("127.0.0.1", 2000)
    first_a = layer.new_mid(a)
    for _ in range(70_000):
        layer.new_mid(b)
    assert layer.new_mid(a) == (first_a + 1) & 0xFFFF
    seen = {layer.new_mid(a) for _ in range(0xFFFF - 1)}
    assert len(seen) == 0xFFFF - 1 and first_a not in seen


def test_a_layer_gives_back_what_its_exchanges_used() -> None:
    """An idle layer holds no dedup queue, NON tracking queue or grown tables (fleet memory)."""
    client, server = make_layer(1), make_layer(2)
    assert not hasattr(client, "__dict__")
    assert server._dedup_order is None and server._non_sent is None
    client.send_request(get(), SERVER, 0.0)
    [(data, _)] = client.take_datagrams()
    server.receive(data, CLIENT, 0.0)
    request = only(server.take_events())
    assert isinstance(request, RequestReceived)
    server.respond(request.incoming, Message(code=Code.CONTENT), 0.0)
    [(ack, _)] = server.take_datagrams()
    client.receive(ack, SERVER, 0.0)
    assert isinstance(only(client.take_events()), ResponseReceived)
    # The exchange is over: the client's maps are empty and hold no tables any more.
    for table in (client._by_mid, client._by_token, client._outstanding):
        assert table == {} and sys.getsizeof(table) == sys.getsizeof({})
    notification = Message(Type.NON, Code.CONTENT, 0, b"o", [], b"1")
    server.send_message(notification, CLIENT, 0.0)
    assert server._dedup_order is not None and server._non_sent is not None
    # EXCHANGE_LIFETIME later both are forgotten (4.5) and their queues go away.
    advance(server, server.params.exchange_lifetime + 1.0)
    assert server._non_sent is None
    server.receive(Message(Type.NON, Code.GET, 7, b"t").encode(), CLIENT, 2 * 248.0)
    assert len(server._dedup) == 1 and server._dedup_order is not None
    server.take_events()
    server.receive(Message(Type.NON, Code.GET, 8, b"t").encode(), CLIENT, 4 * 248.0)
    assert len(server._dedup) == 1 and len(server._dedup_order) == 1


def test_nstart_queues_and_separate_counts_are_made_when_needed() -> None:
    client = make_layer(1)
    first = client.send_request(get(token=b"a"), SERVER, 0.0)
    client.send_request(get(token=b"b"), SERVER, 0.0)
    assert client._queues is not None and len(client._queues[SERVER]) == 1
    client.cancel(first, 0.1)  # the queued one goes out, the queue goes away
    assert client._queues is None and len(client.take_datagrams()) == 2
    server = make_layer(2)
    server.receive(get().encode(), CLIENT, 0.0)
    incoming = only(server.take_events())
    assert isinstance(incoming, RequestReceived)
    advance(server, 5.0)  # empty ACK: the answer becomes a separate CON response
    server.respond(incoming.incoming, Message(code=Code.CONTENT), 5.0)
    assert server.separate_responses(CLIENT) == 1 == server.separate_total
    separate = Message.decode(server.take_datagrams()[-1][0])
    server.receive(Message(Type.ACK, Code.EMPTY, separate.mid).encode(), CLIENT, 5.1)
    assert server.separate_responses(CLIENT) == 0 == server.separate_total
    assert server._separate is None

"""Bounds on peer-held state, sans-IO, with explicit (fake) time.

Block1 reassembly and streams, Block2 responses kept for later blocks,
observers, separate responses in the message layer, the warning gate and
the :class:`Limits` value itself.
"""

from __future__ import annotations

import logging
import random

import pytest

from lwm2m.coap.blockwise import Block1Receiver, Block1Stream, Block2Cache, StreamAbort
from lwm2m.coap.layer import MessageLayer, RequestReceived, TransmissionParams
from lwm2m.coap.limits import Limits, PeerCounts, WarningGate, service_unavailable
from lwm2m.coap.message import BlockOption, Message
from lwm2m.coap.numbers import Code, OptionNumber, Type
from lwm2m.coap.observe import ObservationRegistry

A = ("10.0.0.1", 5683)
B = ("10.0.0.2", 5683)
BODY = bytes(range(256)) * 8
MAX_AGE = int(OptionNumber.MAX_AGE)


def block(num: int, more: bool, path: str, payload: bytes | None = None) -> Message:
    msg = Message.request(
        Code.PUT, path, payload=BODY[num * 64 : num * 64 + 64] if payload is None else payload
    )
    msg.block1 = BlockOption(num, more, 2)  # 64-byte blocks
    return msg


def assert_busy(response: Message | None, max_age: int = 10) -> None:
    assert response is not None
    assert response.code is Code.SERVICE_UNAVAILABLE
    assert response.max_age == max_age


# ------------------------------------------------------------------ Block1Receiver


def receiver(**kwargs: object) -> Block1Receiver:
    kwargs.setdefault("budget", PeerCounts(2, 3))
    return Block1Receiver(10_000, 6, 30.0, **kwargs)  # type: ignore[arg-type]


def test_block1_transfers_per_peer_are_bounded_and_refused_with_503_max_age() -> None:
    rx = receiver(retry_after=7)
    for i in range(2):
        assert rx.feed(A, block(0, True, f"/a/{i}"), 0.0).response.code is Code.CONTINUE  # type: ignore[union-attr]
    refused = rx.feed(A, block(0, True, "/a/2"), 0.0)
    assert_busy(refused.response, 7)
    assert refused.limit == "per peer"
    assert len(rx) == 2 and rx.budget.of(A) == 2
    # Another peer still gets in; a finished transfer frees the slot.
    assert rx.feed(B, block(0, True, "/b/0"), 0.0).response.code is Code.CONTINUE  # type: ignore[union-attr]
    done = rx.feed(A, block(1, False, "/a/0"), 0.0)
    assert done.body == BODY[:128]
    assert rx.feed(A, block(0, True, "/a/2"), 0.0).response.code is Code.CONTINUE  # type: ignore[union-attr]
    print(f"held {len(rx)} transfers, budget total {rx.budget.total}")


def test_block1_total_bound_counts_every_peer() -> None:
    rx = receiver()
    peers = [(f"10.0.1.{i}", 1) for i in range(4)]
    answers = [rx.feed(p, block(0, True, "/x"), 0.0) for p in peers]
    assert [a.response.code for a in answers[:3]] == [Code.CONTINUE] * 3  # type: ignore[union-attr]
    assert_busy(answers[3].response)
    assert answers[3].limit == "total"
    assert len(rx) == 3


def test_single_block_bodies_and_restarts_take_no_extra_slot() -> None:
    rx = receiver(budget=PeerCounts(1, 1))
    assert rx.feed(A, block(0, True, "/a"), 0.0).response.code is Code.CONTINUE  # type: ignore[union-attr]
    # A one-block body keeps nothing, so the bound does not apply to it.
    single = rx.feed(A, block(0, False, "/b", b"tiny"), 0.0)
    assert single.body == b"tiny" and single.response is None
    # Block 0 again for the same body restarts it in the same slot.
    assert rx.feed(A, block(0, True, "/a"), 1.0).response.code is Code.CONTINUE  # type: ignore[union-attr]
    assert len(rx) == 1 and rx.budget.total == 1 and rx.buffered == 64


def test_buffered_bytes_are_bounded_and_a_refused_block_can_be_sent_again() -> None:
    rx = receiver(budget=PeerCounts(10, 10), max_buffered=200)
    assert rx.feed(A, block(0, True, "/a"), 0.0).response.code is Code.CONTINUE  # type: ignore[union-attr]
    assert rx.feed(A, block(1, True, "/a"), 0.0).response.code is Code.CONTINUE  # type: ignore[union-attr]
    assert rx.feed(B, block(0, True, "/b"), 0.0).response.code is Code.CONTINUE  # type: ignore[union-attr]
    assert rx.buffered == 192
    refused = rx.feed(A, block(2, True, "/a"), 0.0)
    assert_busy(refused.response)
    assert refused.limit == "buffered" and rx.buffered == 192
    # B finishing frees its bytes; A's same block is then taken where it stopped.
    assert rx.feed(B, block(1, False, "/b", b"end"), 0.0).body == BODY[:64] + b"end"
    assert rx.buffered == 128
    assert rx.feed(A, block(2, True, "/a"), 0.0).response.code is Code.CONTINUE  # type: ignore[union-attr]
    assert rx.feed(A, block(3, False, "/a", b"!"), 0.0).body == BODY[:192] + b"!"
    assert rx.buffered == 0 and len(rx) == 0 and rx.budget.total == 0


def test_body_over_max_size_is_413_with_size1_and_frees_everything() -> None:
    rx = Block1Receiver(100, 6, 30.0, budget=PeerCounts(4, 4))
    assert rx.feed(A, block(0, True, "/a"), 0.0).response.code is Code.CONTINUE  # type: ignore[union-attr]
    result = rx.feed(A, block(1, True, "/a"), 0.0)
    assert result.response is not None
    assert result.response.code is Code.REQUEST_ENTITY_TOO_LARGE
    assert result.response.size1 == 100 and result.limit == "too large"
    assert len(rx) == 0 and rx.buffered == 0 and rx.budget.total == 0


def test_block1_expiry_follows_the_last_block_of_each_transfer() -> None:
    rx = receiver(budget=PeerCounts(5, 5))
    assert rx.next_expiry() is None
    rx.feed(A, block(0, True, "/old"), 0.0)
    rx.feed(A, block(0, True, "/busy"), 5.0)
    assert rx.next_expiry() == 30.0
    rx.feed(A, block(1, True, "/old"), 10.0)  # activity moves its deadline
    assert rx.next_expiry() == 35.0
    assert rx.expire(34.9) == 0
    assert rx.expire(35.0) == 1
    assert rx.next_expiry() == 40.0
    assert rx.expire(40.0) == 1
    assert len(rx) == 0 and rx.buffered == 0 and rx.budget.total == 0 and rx.next_expiry() is None


# ------------------------------------------------------------------ Block1Stream


def test_streams_share_the_block1_budget_and_release_it_on_expiry() -> None:
    budget = PeerCounts(2, 10)
    rx = Block1Receiver(10_000, 6, 30.0, budget=budget)
    stream = Block1Stream(None, 6, 20.0, budget=budget, retry_after=3)
    rx.feed(A, block(0, True, "/reassembled"), 0.0)
    step = stream.feed(A, block(0, True, "/fw/1"), 0.0)
    assert step.response is None and budget.of(A) == 2
    refused = stream.feed(A, block(0, True, "/fw/2"), 0.0)
    assert_busy(refused.response, 3)
    assert refused.limit == "per peer"
    stream.answered(step, Message(code=Code.CONTINUE), 1.0)
    assert stream.next_expiry() == 21.0
    stream.expire(21.0)
    assert stream.take_aborted() == [(A, StreamAbort.EXPIRED)]
    assert budget.of(A) == 1 and len(stream) == 0
    assert stream.feed(A, block(0, True, "/fw/2"), 22.0).response is None


# ------------------------------------------------------------------ Block2Cache


def response(size: int = 300) -> Message:
    return Message(code=Code.CONTENT, payload=bytes(size))


def test_block2_cache_per_peer_bound_drops_that_peers_oldest() -> None:
    cache = Block2Cache(60.0, 10, per_peer=2)
    assert cache.store(B, Message.request(Code.GET, "/b"), response(), 0.0) is None
    for i in range(2):
        assert cache.store(A, Message.request(Code.GET, f"/{i}"), response(), float(i)) is None
    assert cache.store(A, Message.request(Code.GET, "/2"), response(), 2.0) == "per peer"
    assert cache.count(A) == 2 and cache.count(B) == 1 and len(cache) == 3
    follow = Message.request(Code.GET, "/0")
    assert cache.lookup(A, follow, 3.0) is None  # A's oldest made room
    assert cache.lookup(B, Message.request(Code.GET, "/b"), 3.0) is not None  # B untouched


def test_block2_cache_total_bound_and_size_bound() -> None:
    cache = Block2Cache(60.0, 3, per_peer=3, max_body_size=1000)
    peers = [(f"10.0.2.{i}", 1) for i in range(4)]
    bounds = [cache.store(p, Message.request(Code.GET, "/x"), response(), 0.0) for p in peers]
    assert bounds == [None, None, None, "total"]
    assert len(cache) == 3 and cache.count(peers[0]) == 0
    assert cache.store(A, Message.request(Code.GET, "/big"), response(1001), 0.0) == "too large"
    assert len(cache) == 3 and cache.count(A) == 0


def test_block2_cache_expiry_in_store_order() -> None:
    cache = Block2Cache(10.0, 10)
    cache.store(A, Message.request(Code.GET, "/1"), response(), 0.0)
    cache.store(B, Message.request(Code.GET, "/2"), response(), 4.0)
    assert cache.next_expiry() == 10.0
    assert cache.expire(9.0) == 0 and cache.expire(10.0) == 1
    assert cache.next_expiry() == 14.0 and cache.count(A) == 0
    assert cache.expire(20.0) == 1 and len(cache) == 0 and cache.next_expiry() is None


# ------------------------------------------------------------------ observers


def observe_request(token: bytes) -> Message:
    return Message.request(Code.GET, "/3/0/9", token=token, observe=0)


def test_observation_registry_counts_per_peer_and_in_total() -> None:
    registry = ObservationRegistry(per_peer=2, total=3)
    first = registry.add(A, observe_request(b"1"), None, 0.0)
    registry.add(A, observe_request(b"2"), None, 0.0)
    assert registry.refusal(A, b"3") == "per peer"
    assert registry.refusal(A, b"2") is None  # re-registration replaces
    registry.add(A, observe_request(b"2"), None, 1.0)
    assert registry.count(A) == 2 and len(registry) == 2
    registry.add(B, observe_request(b"1"), None, 0.0)
    assert registry.refusal(B, b"9") == "total"
    assert registry.remove(first) and registry.count(A) == 1
    assert registry.remove_key(A, b"2") is not None and registry.count(A) == 0
    assert registry.refusal(A, b"3") is None


# ------------------------------------------------------------------ separate responses


def test_layer_counts_separate_responses_until_acked_or_failed() -> None:
    params = TransmissionParams(empty_ack_delay=0.5, ack_timeout=1.0, max_retransmit=1)
    layer = MessageLayer(params, rng=random.Random(5))
    requests = []
    for mid in (1, 2):
        data = Message(Type.CON, Code.GET, mid, bytes([mid])).encode()
        layer.receive(data, A, 0.0)
        [event] = layer.take_events()
        assert isinstance(event, RequestReceived)
        requests.append(event.incoming)
    layer.handle_timeout(0.5)  # empty ACKs: the answers will be separate
    layer.take_datagrams()
    for incoming in requests:
        layer.respond(incoming, Message(code=Code.CONTENT, payload=b"late"), 1.0)
    assert layer.separate_responses(A) == 2 and layer.separate_total == 2
    sent = layer.take_datagrams()  # NSTART 1: one goes out, one waits
    assert len(sent) == 1
    ack = Message(Type.ACK, Code.EMPTY, Message.decode(sent[0][0]).mid, b"").encode()
    layer.receive(ack, A, 1.1)
    assert layer.separate_responses(A) == 1
    # The second is never acknowledged: it fails after its retransmission.
    deadline = layer.next_deadline()
    while deadline is not None:
        layer.handle_timeout(deadline)
        deadline = layer.next_deadline()
    assert layer.separate_responses(A) == 0 and layer.separate_total == 0


# ------------------------------------------------------------------ gate and value


def test_warning_gate_logs_once_per_interval_and_counts_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    gate = WarningGate(logging.getLogger("lwm2m.test.limits"), 60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="lwm2m.test.limits"):
        logged = [gate("block1", "refused %s", i) for i in range(1000)]
        gate("other", "another kind")
        now[0] = 61.0
        gate("block1", "refused %s", "again")
    lines = [r.getMessage() for r in caplog.records]
    assert sum(logged) == 1
    assert lines == [
        "refused 0",
        "another kind",
        "refused again (999 more since the last such warning)",
    ]
    print(f"1000 refusals -> {len(lines) - 1} lines for that kind")


def test_service_unavailable_carries_max_age() -> None:
    msg = service_unavailable(0, "busy")
    assert msg.code is Code.SERVICE_UNAVAILABLE and msg.max_age == 0
    assert msg.has_option(MAX_AGE)  # present even when 0 (do not retry from a cache)


def test_limits_defaults_validation_and_dtls_options() -> None:
    limits = Limits()
    assert limits.max_body_size == 1 << 20 and limits.retry_after == 10
    options = limits.dtls_options()
    assert options["max_handshakes"] == 256 and options["max_handshakes_per_address"] == 32
    assert options["max_sessions"] == 10_000 and options["handshake_timeout"] == 30.0
    with pytest.raises(ValueError):
        Limits(block1_total=0)
    with pytest.raises(ValueError):
        Limits(transfer_timeout=0)
    with pytest.raises(ValueError):
        Limits(retry_after=-1)
    with pytest.raises(AttributeError):
        limits.block1_total = 5  # type: ignore[misc]

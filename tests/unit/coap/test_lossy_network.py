"""Two message layers over a simulated network that drops, duplicates and reorders."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable

import pytest

from lwm2m.coap.layer import (
    ExchangeFailed,
    MessageAcknowledged,
    MessageLayer,
    RequestReceived,
    ResponseReceived,
    TransmissionParams,
)
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code

A = ("10.0.0.1", 5683)
B = ("10.0.0.2", 5683)


class LossyNet:
    """A discrete-event network: drop, duplicate and delay (reorder) each datagram."""

    def __init__(self, seed: int, drop: float, dup: float) -> None:
        self.rng = random.Random(seed)
        self.drop = drop
        self.dup = dup
        self.now = 0.0
        self.queue: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = itertools.count()
        self.sent = 0
        self.dropped = 0

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.queue, (when, next(self.seq), action))

    def transmit(self, data: bytes, src: tuple[str, int], dst: MessageLayer) -> None:
        self.sent += 1
        copies = 2 if self.rng.random() < self.dup else 1
        for _ in range(copies):
            if self.rng.random() < self.drop:
                self.dropped += 1
                continue
            delay = self.rng.uniform(0.001, 0.4)
            self.at(self.now + delay, lambda d=data: dst.receive(d, src, self.now))

    def run(self, until: float, step: Callable[[], None]) -> None:
        while self.queue and self.queue[0][0] <= until:
            when, _, action = heapq.heappop(self.queue)
            self.now = when
            action()
            step()


@pytest.mark.parametrize("confirmable_gap", [0.0, 0.05])
def test_gets_complete_over_lossy_network(confirmable_gap: float) -> None:
    params = TransmissionParams(max_retransmit=8, empty_ack_delay=0.3)
    client = MessageLayer(params, rng=random.Random(11))
    server = MessageLayer(params, rng=random.Random(12))
    net = LossyNet(seed=5, drop=0.3, dup=0.2)
    results: dict[bytes, bytes] = {}
    failures: list[ExchangeFailed] = []
    handled: list[bytes] = []
    wanted = 25
    next_index = itertools.count()

    def start_next() -> None:
        i = next(next_index)
        if i < wanted:
            req = Message.request(Code.GET, f"/r/{i}", token=client.new_token())
            client.send_request(req, B, net.now)

    def pump() -> None:
        for layer, src, dst in ((client, A, server), (server, B, client)):
            deadline = layer.next_deadline()
            if deadline is not None:
                net.at(deadline, lambda layer=layer: layer.handle_timeout(net.now))
            for data, _ in layer.take_datagrams():
                net.transmit(data, src, dst)
        for ev in server.take_events():
            if isinstance(ev, MessageAcknowledged):
                continue  # a separate response was acknowledged
            assert isinstance(ev, RequestReceived)
            handled.append(ev.request.token)
            reply = Message(code=Code.CONTENT, payload=ev.request.path_string.encode())
            if confirmable_gap:
                net.at(net.now + confirmable_gap, lambda e=ev, r=reply: answer(e, r))
            else:
                server.respond(ev.incoming, reply, net.now)
        for cev in client.take_events():
            if isinstance(cev, ResponseReceived):
                results[cev.exchange.token] = cev.response.payload
                expected = cev.exchange.message.path_string.encode()
                assert cev.response.payload == expected
            else:
                assert isinstance(cev, ExchangeFailed)
                failures.append(cev)
            start_next()

    def answer(ev: RequestReceived, reply: Message) -> None:
        server.respond(ev.incoming, reply, net.now)

    start_next()
    pump()
    net.run(10_000.0, pump)
    assert failures == []
    assert len(results) == wanted
    # every request reached the application exactly once despite duplicates
    assert sorted(handled) == sorted(results)
    assert net.dropped > 0.2 * net.sent

"""Error answers to a Block1 Write, and the empty Block2 request a peer sends after them.

Our answer to the last block of a failed Write carries a diagnostic payload; a peer
with a small block size may then send the same method and path with no payload and
Block2 0 to fetch that text block-wise. Such a request is answered as the fresh request
it is (nothing to write: 4.00, in one block), and the failed Write runs once only,
however often the peer asks.
"""

from __future__ import annotations

from client_support import CF, ClientRig

from lwm2m.coap.message import BlockOption, Message
from lwm2m.coap.numbers import Code, OptionNumber
from lwm2m.model import Path

BODY = b"X" * 40  # three Block1 blocks of 16 bytes


def _block1(num: int) -> Message:
    chunk = BODY[num * 16 : (num + 1) * 16]
    more = (num + 1) * 16 < len(BODY)
    msg = Message.request(Code.PUT, "/3/0/14", payload=chunk, content_format=CF.TEXT_PLAIN)
    msg.options.append((OptionNumber.BLOCK1, BlockOption(num, more, 0).encode()))
    return msg


def _empty_block2(num: int) -> Message:
    msg = Message.request(Code.PUT, "/3/0/14")
    msg.options.append((OptionNumber.BLOCK2, BlockOption(num, False, 0).encode()))
    return msg


async def test_empty_block2_request_after_a_failed_block1_write(client_rig: ClientRig) -> None:
    client = client_rig.client
    before = client.store.read_records([Path(3, 0)]).get(Path(3, 0, 14))
    runs: list[object] = []

    def refuse(path: object, value: object) -> bool:
        runs.append(value)
        return False

    client.on_validate("3/0/14", refuse)
    endpoint, remote = client_rig.server.endpoint, client_rig.remote
    answers = [await endpoint.request(_block1(n), remote=remote, timeout=5.0) for n in range(3)]
    assert [a.code for a in answers] == [Code.CONTINUE, Code.CONTINUE, Code.BAD_REQUEST]
    assert b"rejected" in answers[-1].payload
    assert runs == [BODY.decode()]
    for _ in range(7):
        fresh = await endpoint.request(_empty_block2(0), remote=remote, timeout=5.0)
        assert fresh.code == Code.BAD_REQUEST
        assert fresh.payload == b"nothing to write" and len(fresh.payload) <= 16
        block = fresh.block2
        assert block is None or not block.more  # the whole answer in one block
    assert runs == [BODY.decode()]  # the failed Write ran once
    after = client.store.read_records([Path(3, 0)]).get(Path(3, 0, 14))
    assert after == before

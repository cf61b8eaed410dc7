"""Bad input over the wire: each request gets the right code and the store is unchanged."""

from __future__ import annotations

import asyncio
import random
import socket

import cbor2
import pytest
from client_support import CF, TEST_OBJECT, ClientRig

from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, Type

T = TEST_OBJECT
BAD_REQUEST, NOT_FOUND, NOT_ALLOWED = Code.BAD_REQUEST, Code.NOT_FOUND, Code.METHOD_NOT_ALLOWED
UNSUPPORTED = Code.UNSUPPORTED_CONTENT_FORMAT

CASES: list[tuple[str, int, str, bytes, int | None, int]] = [
    # malformed payloads
    ("truncated TLV", Code.POST, f"/{T}/0", b"\xc8\x00\x05ab", CF.LWM2M_TLV, BAD_REQUEST),
    ("broken SenML JSON", Code.POST, f"/{T}/0", b'[{"n":"0","vs":', CF.SENML_JSON, BAD_REQUEST),
    ("SenML CBOR not an array", Code.POST, f"/{T}/0", cbor2.dumps(5), CF.SENML_CBOR, BAD_REQUEST),
    (
        "trailing CBOR bytes",
        Code.PUT,
        f"/{T}/0/3",
        cbor2.dumps(1.0) + b"\x00",
        CF.CBOR,
        BAD_REQUEST,
    ),
    ("text for an integer", Code.PUT, f"/{T}/0/1/0", b"ten", CF.TEXT_PLAIN, BAD_REQUEST),
    ("invalid UTF-8 text", Code.PUT, f"/{T}/0/0", b"\xff\xfe", CF.TEXT_PLAIN, BAD_REQUEST),
    (
        "wrong SenML value type",
        Code.POST,
        f"/{T}/0",
        b'[{"bn":"/10300/0/","n":"0","v":1}]',
        CF.SENML_JSON,
        BAD_REQUEST,
    ),
    (
        "records outside the target",
        Code.POST,
        f"/{T}/0",
        b'[{"n":"/3/0/0","vs":"x"}]',
        CF.SENML_JSON,
        BAD_REQUEST,
    ),
    # wrong content formats
    ("unknown format", Code.PUT, f"/{T}/0/0", b"x", 9999, UNSUPPORTED),
    ("link format body", Code.PUT, f"/{T}/0/0", b"</1>", CF.LINK_FORMAT, UNSUPPORTED),
    ("plain text on an instance", Code.POST, f"/{T}/0", b"x", CF.TEXT_PLAIN, UNSUPPORTED),
    ("composite read in TLV", Code.FETCH, "/", b"\x00", CF.LWM2M_TLV, UNSUPPORTED),
    # unknown paths
    ("unknown object", Code.GET, "/9999/0", b"", None, NOT_FOUND),
    ("unknown instance", Code.GET, "/3/5", b"", None, NOT_FOUND),
    ("unknown resource", Code.GET, "/3/0/999", b"", None, NOT_FOUND),
    ("write to a missing instance", Code.PUT, f"/{T}/8/0", b"x", CF.TEXT_PLAIN, NOT_FOUND),
    ("not a number", Code.GET, "/3/zero", b"", None, NOT_FOUND),
    ("too deep", Code.GET, "/3/0/0/0/0", b"", None, NOT_FOUND),
    ("id out of range", Code.GET, "/70000", b"", None, NOT_FOUND),
    # operations not allowed
    ("write an object", Code.PUT, f"/{T}", b"[]", CF.SENML_JSON, NOT_ALLOWED),
    ("write read-only", Code.PUT, "/3/0/0", b"x", CF.TEXT_PLAIN, NOT_ALLOWED),
    ("execute a readable resource", Code.POST, "/3/0/0", b"", None, NOT_ALLOWED),
    ("read an executable", Code.GET, "/3/0/4", b"", None, NOT_ALLOWED),
    ("delete a resource", Code.DELETE, "/3/0/0", b"", None, NOT_ALLOWED),
    ("read the root", Code.GET, "/", b"", None, NOT_ALLOWED),
    ("write a read-only via TLV", Code.POST, "/3/0", b"\xc1\x00\x05", CF.LWM2M_TLV, NOT_ALLOWED),
    # over-large values
    ("string too long", Code.PUT, f"/{T}/0/0", b"x" * 33, CF.TEXT_PLAIN, BAD_REQUEST),
    ("integer out of range", Code.PUT, "/3311/0/5851", b"101", CF.TEXT_PLAIN, BAD_REQUEST),
    ("integer overflow", Code.PUT, f"/{T}/0/1/0", b"9" * 30, CF.TEXT_PLAIN, BAD_REQUEST),
    ("bad execute arguments", Code.POST, "/3/0/4", b"0='a", None, BAD_REQUEST),
]


@pytest.mark.parametrize(
    ("code", "path", "payload", "cf", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_int_256_bad_request_changes_nothing(
    client_rig: ClientRig, code: int, path: str, payload: bytes, cf: int | None, expected: int
) -> None:
    before = client_rig.snapshot()
    r = await client_rig.request(code, path, payload=payload, content_format=cf)
    assert r.code == expected, r.payload
    assert client_rig.snapshot() == before
    assert client_rig.reboots == []


async def test_unknown_method_and_critical_option(client_rig: ClientRig) -> None:
    before = client_rig.snapshot()
    r = await client_rig.request(7, "/3/0")  # 0.07 PATCH
    assert r.code == Code.METHOD_NOT_ALLOWED
    msg = Message.request(Code.GET, "/3/0/0", options=[(2049, b"x")])  # unknown, critical
    r = await client_rig.server.endpoint.request(msg, remote=client_rig.remote, timeout=5.0)
    assert r.code == Code.BAD_OPTION
    assert client_rig.snapshot() == before


async def test_garbage_datagrams_are_survived(client_rig: ClientRig) -> None:
    before = client_rig.snapshot()
    rng = random.Random(4)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        garbage = [b"", b"\x00", b"\xff" * 64, b"\x40\x01", b"\x4f\x01\x00\x01" + bytes(20)]
        garbage += [rng.randbytes(rng.randrange(1, 200)) for _ in range(100)]
        # Well-formed headers with random options and payloads.
        garbage += [b"\x40\x01\x12\x34" + rng.randbytes(rng.randrange(0, 60)) for _ in range(100)]
        for datagram in garbage:
            sock.sendto(datagram, client_rig.remote)
        await asyncio.sleep(0.1)
    finally:
        sock.close()
    r = await client_rig.request(Code.GET, "/3/0/0", accept=CF.TEXT_PLAIN)
    assert (r.code, r.payload) == (Code.CONTENT, b"Open Mobile Alliance")
    assert client_rig.snapshot() == before
    assert client_rig.client.registered_servers == [101]


async def test_non_request_with_large_body_is_4_13(client_rig: ClientRig) -> None:
    before = client_rig.snapshot()
    msg = Message.request(
        Code.PUT, f"/{T}/0/4", payload=bytes(2 << 20), content_format=CF.OCTET_STREAM
    )
    assert msg.type is Type.CON
    r = await client_rig.server.endpoint.request(msg, remote=client_rig.remote, timeout=10.0)
    assert r.code == Code.REQUEST_ENTITY_TOO_LARGE
    assert client_rig.snapshot() == before

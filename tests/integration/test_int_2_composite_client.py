"""ETS 229, 230, 235, 236, 257, 280, 281: composite operations over the wire (LwM2M 1.1)."""

from __future__ import annotations

import json

from client_support import CF, TEST_OBJECT, ClientRig

from lwm2m import formats
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code
from lwm2m.formats import senml_cbor
from lwm2m.model import Path

T = TEST_OBJECT


def paths_body(*paths: str) -> bytes:
    return json.dumps([{"n": p} for p in paths]).encode()


async def read_composite(rig: ClientRig, *paths: str, accept: int = CF.SENML_JSON) -> Message:
    return await rig.request(
        Code.FETCH, "/", payload=paths_body(*paths), content_format=CF.SENML_JSON, accept=accept
    )


def values(rig: ClientRig, response: Message) -> dict[str, object]:
    records = formats.decode(
        response.content_format or 0, response.payload, "/", rig.client.store.registry
    )
    assert isinstance(records, dict)
    return {str(p): v for p, v in records.items()}


async def test_int_229_read_composite(client_rig: ClientRig) -> None:
    r = await read_composite(client_rig, "/3/0/0", "/3303/0/5700", "/1/0/1")
    assert (r.code, r.content_format) == (Code.CONTENT, CF.SENML_JSON)
    assert values(client_rig, r) == {
        "/3/0/0": "Open Mobile Alliance",
        "/3303/0/5700": 21.5,
        "/1/0/1": 300,
    }


async def test_int_280_read_composite_objects_and_instances(client_rig: ClientRig) -> None:
    r = await read_composite(client_rig, "/6/0", "/3303", accept=CF.SENML_CBOR)
    assert (r.code, r.content_format) == (Code.CONTENT, CF.SENML_CBOR)
    got = values(client_rig, r)
    assert got["/6/0/0"] == 48.85 and got["/6/0/1"] == 2.35
    assert got["/3303/0/5700"] == 21.5
    assert all(k.startswith(("/6/0/", "/3303/0/")) for k in got)


async def test_int_281_read_composite_partly_successful(client_rig: ClientRig) -> None:
    r = await read_composite(client_rig, "/3/0/0", "/3/0/100", f"/{T}/0/2", "/7/5", "/3/0/9")
    assert r.code == Code.CONTENT
    assert values(client_rig, r) == {"/3/0/0": "Open Mobile Alliance", "/3/0/9": 87}
    # Nothing at all readable: 4.04.
    r = await read_composite(client_rig, "/3/0/100", "/7/5")
    assert r.code == Code.NOT_FOUND


async def test_int_236_read_composite_on_partly_present_paths(client_rig: ClientRig) -> None:
    # An object that is defined but has no instance, next to a present one.
    r = await read_composite(client_rig, "/3304", "/3303/0/5700", accept=CF.SENML_CBOR)
    assert r.code == Code.CONTENT
    assert values(client_rig, r) == {"/3303/0/5700": 21.5}


async def test_int_235_read_composite_on_root(client_rig: ClientRig) -> None:
    r = await read_composite(client_rig, "/", accept=CF.SENML_CBOR)
    assert r.code == Code.CONTENT
    got = values(client_rig, r)
    assert got["/3/0/0"] == "Open Mobile Alliance" and got["/6/0/0"] == 48.85
    # The Security object never leaves the client.
    assert not [k for k in got if k.startswith("/0/")]


async def test_int_230_write_composite(client_rig: ClientRig) -> None:
    body = json.dumps(
        [
            {"n": "/3311/0/5851", "v": 20},
            {"n": f"/{T}/0/0", "vs": "composite"},
            {"n": f"/{T}/0/1/4", "v": 44},
        ]
    ).encode()
    r = await client_rig.request(Code.IPATCH, "/", payload=body, content_format=CF.SENML_JSON)
    assert r.code == Code.CHANGED
    client = client_rig.client
    assert client.get("3311/0/5851") == 20 and client.get(f"{T}/0/0") == "composite"
    assert client.get(f"{T}/0/1") == {0: 10, 1: 20, 4: 44}


async def test_int_257_write_composite_failure_changes_nothing(client_rig: ClientRig) -> None:
    before = client_rig.snapshot()
    cases = [
        # the second value is out of range (Dimmer 0..100)
        [{"n": f"/{T}/0/0", "vs": "x"}, {"n": "/3311/0/5851", "v": 101}],
        # a read-only resource
        [{"n": f"/{T}/0/0", "vs": "x"}, {"n": "/3/0/0", "vs": "evil"}],
        # an instance that does not exist
        [{"n": f"/{T}/0/0", "vs": "x"}, {"n": f"/{T}/9/0", "vs": "y"}],
        # the Security object
        [{"n": f"/{T}/0/0", "vs": "x"}, {"n": "/0/0/0", "vs": "coap://evil"}],
    ]
    codes = []
    for records in cases:
        r = await client_rig.request(
            Code.IPATCH, "/", payload=json.dumps(records).encode(), content_format=CF.SENML_JSON
        )
        codes.append(r.code)
    assert codes == [
        Code.BAD_REQUEST,
        Code.METHOD_NOT_ALLOWED,
        Code.NOT_FOUND,
        Code.UNAUTHORIZED,
    ]
    assert client_rig.snapshot() == before


async def test_int_229_read_composite_senml_cbor_request(client_rig: ClientRig) -> None:
    body = senml_cbor.encode_paths([Path(3, 0, 1)])
    r = await client_rig.request(
        Code.FETCH, "/", payload=body, content_format=CF.SENML_CBOR, accept=CF.SENML_CBOR
    )
    assert r.code == Code.CONTENT
    assert values(client_rig, r) == {"/3/0/1": "Lightweight M2M Client"}

"""Random and mutated payloads into the TLV, text, opaque, CBOR and link-format decoders.

Every decoder must either return a value or raise DecodeError, never anything else.
The default run feeds about 2000 cases per decoder; the slow run 100,000.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from types import ModuleType

import pytest

from lwm2m.errors import DecodeError
from lwm2m.formats import cbor, link, opaque, text, tlv
from lwm2m.model import Path, default_registry

REG = default_registry()

DEVICE_TLV = bytes.fromhex(
    "C800144F70656E204D6F62696C6520416C6C69616E6365C801164C69676874776569676874204D324D"
    "20436C69656E74C80209333435303030313233C303312E308606410001410105880708420"
    "00ED842011388870841007D42010384C10964C10A0F830B410000C40D5182428FC60E2B30"
    "323A3030C11055"
)
ACL_TLV = bytes.fromhex(
    "08000EC10001C101008302417F07C1037F080212C10003C10100870241 7F0761013601C1037F".replace(" ", "")
)
LINKS = (
    b'</>;rt="oma.lwm2m";ct=11543,</1>;ver=1.1,</1/0>,</3/0>,'
    b'</3/0/7>;dim=8;gt=50;lt=42.2;title="a, \\"b\\"";obs'
)

Decoder = Callable[[bytes], object]


def _node_decoder(module: ModuleType, path: str) -> Decoder:
    p = Path.parse(path)
    return functools.partial(module.decode, path=p, registry=REG)


# String, Integer, Time, Unsigned Integer, Float, Boolean, Objlnk and an unknown resource.
SINGLE_PATHS = ["/3/0/0", "/3/0/9", "/3/0/13", "/0/0/13", "/6/0/0", "/1/0/6", "/0/0/17"]
SINGLE_PATHS.append("/4242/0/0")
TLV_PATHS = ["/3", "/3/0", "/2", "/2/0", "/3/0/0", "/3/0/7", "/3/0/7/1", "/1/0/6", "/4242/0"]
TLV_DECODERS = {f"tlv {p}": _node_decoder(tlv, p) for p in TLV_PATHS}
TEXT_DECODERS = {f"text {p}": _node_decoder(text, p) for p in SINGLE_PATHS}
CBOR_DECODERS = {f"cbor {p}": _node_decoder(cbor, p) for p in [*SINGLE_PATHS, "/0/0/3"]}
OTHER_DECODERS: dict[str, Decoder] = {
    "opaque": _node_decoder(opaque, "/0/0/3"),
    "link": link.parse_links,
    "discover": link.parse_discover,
    "register": link.parse_object_list,
}
DECODERS = {**TLV_DECODERS, **TEXT_DECODERS, **CBOR_DECODERS, **OTHER_DECODERS}

SEEDS: dict[str, list[bytes]] = {
    "tlv": [
        DEVICE_TLV,
        ACL_TLV,
        b"\x08\x00\x79" + DEVICE_TLV,
        bytes.fromhex("88070842000ED842011388"),
        bytes.fromhex("42011388"),
    ],
    "text": [b"Open Mobile Alliance", b"-9223372036854775808", b"1.5e3", b"1", b"66:0"],
    "cbor": [
        bytes.fromhex(x)
        for x in [
            "1A5182428F",
            "C11A5182428F",
            "F93E00",
            "6436363A30",
            "43010203",
            "F5",
            "7F6161FF",
        ]
    ],
    "opaque": [b"\x00\x01"],
    "link": [LINKS],
    "discover": [LINKS],
    "register": [LINKS],
}


def _seeds_for(name: str) -> list[bytes]:
    return SEEDS[name.split()[0]]


# Type bytes of TLV headers, CBOR heads and link-format delimiters.
INTERESTING = [0x00, 0xFF, 0x08, 0xC8, 0xD8, 0x88, 0x22, 0x3B, 0x2C, 0x3C, 0x3E, 0x5C, 0x7F, 0xC1]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip bits
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert a byte (often a structural one)
            buf[pos:pos] = bytes([rng.choice([*INTERESTING, rng.randrange(256)])])
        elif op == 2 and buf:  # delete a run
            del buf[pos : pos + rng.randint(1, 8)]
        elif op == 3:  # truncate
            del buf[pos:]
        elif op == 4 and buf:  # overwrite with a random byte
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        else:  # duplicate a slice
            j = rng.randrange(len(buf) + 1)
            buf[pos:pos] = buf[min(pos, j) : max(pos, j)][:64]
    return bytes(buf)


def _case(rng: random.Random, seeds: list[bytes]) -> bytes:
    if rng.random() < 0.3:
        return rng.randbytes(rng.randint(0, 64))
    return _mutate(rng, rng.choice(seeds))


def _run(name: str, decoder: Decoder, cases: int) -> None:
    rng = random.Random(f"{name}-{cases}")
    seeds = _seeds_for(name)
    for _ in range(cases):
        payload = _case(rng, seeds)
        try:
            decoder(payload)
        except DecodeError:
            pass
        except Exception as exc:
            pytest.fail(f"{name}: {type(exc).__name__}: {exc} for payload {payload.hex()}")


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_decoders_raise_only_decode_error(name: str) -> None:
    _run(name, DECODERS[name], 2000)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DECODERS))
def test_decoders_raise_only_decode_error_long(name: str) -> None:
    _run(name, DECODERS[name], 100_000)

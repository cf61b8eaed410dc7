"""Random and mutated payloads into the OMA JSON, SenML JSON/CBOR and LwM2M CBOR decoders.

Every decoder must either return a value or raise DecodeError, never anything else.
The default run feeds about 2000 cases per decoder; the slow run 100,000.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable

import cbor2
import pytest

from lwm2m.errors import DecodeError
from lwm2m.formats import lwm2m_cbor, oma_json, senml_cbor, senml_json
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    ObjLink,
    Path,
    ResourceNode,
    default_registry,
)

REG = default_registry()
PATHS = ["/", "/3", "/3/0", "/3/0/0", "/3/0/7", "/3/0/7/1", "/1/0", "/2", "/4242/0"]

DEVICE = InstanceNode(
    0,
    {
        0: ResourceNode(0, "Open Mobile Alliance"),
        7: MultiResourceNode(7, {0: 3800, 1: 5000}),
        9: ResourceNode(9, 100),
        13: ResourceNode(13, 1367491215),
        22: MultiResourceNode(22, {0: ObjLink(3, 0)}),
    },
)
COMPOSITE = {
    Path(3, 0, 0): "OMA",
    Path(1, 0, 6): True,
    Path(4242, 0, 1): b"\x00\x01",
    Path(4242, 0, 2): 1.5,
}

Decoder = Callable[[bytes], object]
FORMATS = {"oma_json": oma_json, "senml_json": senml_json, "senml_cbor": senml_cbor}
FORMATS["lwm2m_cbor"] = lwm2m_cbor


def _seeds(fmt: object) -> list[bytes]:
    encode = fmt.encode  # type: ignore[attr-defined]
    seeds = [encode(DEVICE, Path(3, 0), REG)]
    if fmt is not oma_json:  # LwM2M 1.0 JSON has no composite form
        seeds.append(encode(COMPOSITE, Path(), REG))
    if fmt is senml_json:
        seeds.append(b'[{"bn":"/3/0/","bt":1e9,"n":"9","v":1,"t":-1},{"bn":"/1/0/6","vb":true}]')
    if fmt is senml_cbor:
        seeds.append(cbor2.dumps([{-2: "/3/0/", -3: 1.5, 0: "7/0", 2: 1.0, 6: 2}]))
    if fmt is lwm2m_cbor:
        seeds.append(cbor2.dumps({3: {0: {13: cbor2.CBORTag(1, 5), (7, 0): 1}}}))
    return seeds


DECODERS: dict[str, tuple[Decoder, list[bytes]]] = {}
for _name, _fmt in FORMATS.items():
    for _p, _path in zip(PATHS, map(Path.parse, PATHS), strict=True):
        if _fmt is oma_json and not _path:
            continue
        DECODERS[f"{_name} {_p}"] = (
            lambda b, f=_fmt, p=_path: f.decode(b, p, REG),
            _seeds(_fmt),
        )
for _fmt in (senml_json, senml_cbor):
    DECODERS[f"{_fmt.__name__} paths"] = (
        _fmt.decode_paths,
        [_fmt.encode_paths([Path(3, 0, 0), Path(1), Path(3, 0, 7, 1)])],
    )

_INTERESTING = [b"\x00", b"\xff", b"\x9f", b"\xbf", b"\xc1", b"\xf9", b'"', b"{", b"[", b"]", b":"]


def _mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[pos:pos] = rng.choice(_INTERESTING)
        elif op == 2:
            del data[pos : pos + rng.randint(1, 8)]
        elif op == 3 and data:
            other = rng.randrange(len(data))
            data[pos:pos] = data[other : other + rng.randint(1, 16)]
        else:
            data = data[:pos]
    return bytes(data)


def _run(name: str, cases: int) -> None:
    decode, seeds = DECODERS[name]
    rng = random.Random(f"{name}-{cases}")
    for i in range(cases):
        if i % 4 == 0:
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        else:
            payload = _mutate(rng, rng.choice(seeds))
        with contextlib.suppress(DecodeError):
            decode(payload)


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_decoders_raise_only_decode_error(name: str) -> None:
    for seed in DECODERS[name][1]:
        with contextlib.suppress(DecodeError):
            DECODERS[name][0](seed)
    _run(name, 2000)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DECODERS))
def test_decoders_raise_only_decode_error_long(name: str) -> None:
    _run(name, 100_000)

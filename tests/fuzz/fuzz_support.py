"""Shared machinery of the content-format fuzz tests.

A :class:`Target` is one decoder at one request path together with the matching encoder
and canonical seed payloads. :func:`fuzz` feeds it random and mutated payloads and checks
both sides: a rejected payload raises only DecodeError, and an accepted one re-encodes to a
payload that decodes to the same value (the round-trip property).
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from lwm2m import formats
from lwm2m.errors import DecodeError, EncodeError, ModelError, UnsupportedFormat
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    Node,
    ObjectNode,
    ObjLink,
    Path,
    Records,
    ResourceDef,
    ResourceNode,
    ResourceType,
    Value,
    default_registry,
)

REG = default_registry()
R = ResourceType

# Values of every resource type; those outside a resource's range are left out per resource.
SAMPLES: dict[ResourceType, tuple[Value, ...]] = {
    R.STRING: ("Open Mobile Alliance", "", 'ä, "q"'),
    R.INTEGER: (0, 42, -(2**63), 2**63 - 1),
    R.UNSIGNED_INTEGER: (0, 86400, 2**64 - 1),
    R.FLOAT: (1.5, -0.25, 1e300),
    R.BOOLEAN: (True, False),
    R.OPAQUE: (b"\x00\x01\xff", b""),
    R.TIME: (1367491215, 0),
    R.OBJLNK: (ObjLink(3, 0), ObjLink(65535, 65535)),
    R.CORELNK: ("</3/0>",),
    R.NONE: (),
}
# Values for a resource no definition types.
UNTYPED: tuple[Value, ...] = (b"\x00\x01", "text", 7)


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """A decoder, the encoder that inverts it, and payloads it must accept.

    ``agree(decoded, redecoded)`` tells whether a value survived encoding and decoding;
    by default the two must be :func:`same`.
    """

    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]
    seeds: tuple[bytes, ...]
    agree: Callable[[Any, Any], bool] | None = None


def samples(rdef: ResourceDef | None) -> list[Value]:
    """The sample values that resource ``rdef`` accepts (all untyped ones when None)."""
    if rdef is None:
        return list(UNTYPED)
    out: list[Value] = []
    for value in SAMPLES[rdef.type]:
        try:
            rdef.check(value)
        except ModelError:  # outside the resource's range: not sampled
            continue
        out.append(value)
    return out


def _resource(rid: int, rdef: ResourceDef | None) -> ResourceNode | MultiResourceNode | None:
    values = samples(rdef)
    if not values:
        return None
    if rdef is not None and rdef.multiple:
        return MultiResourceNode(rid, dict(zip((0, 3), values[:2], strict=False)))
    return ResourceNode(rid, values[0])


def _instance(oid: int, iid: int) -> InstanceNode:
    obj = REG.get(oid)
    defs: dict[int, ResourceDef | None] = dict(obj.resources) if obj else dict.fromkeys((1, 2, 5))
    resources = {rid: r for rid, rdef in defs.items() if (r := _resource(rid, rdef)) is not None}
    return InstanceNode(iid, resources)


def nodes_for(path: Path) -> Iterator[Node | Records]:
    """Typed nodes that request ``path`` can carry: one per sample value, or whole trees."""
    if path.level == 0:
        yield {Path(3, 0, 0): "OMA", Path(1, 0, 6): True, Path(3, 0, 7, 1): 5000}
        yield {Path(4242, 0, 1): b"\x00\x01", Path(6, 0, 0): 1.5}
    elif path.level == 1:
        yield ObjectNode(path[0], {0: _instance(path[0], 0), 1: _instance(path[0], 1)})
    elif path.level == 2:
        full = _instance(path[0], path[1])
        yield full
        first = next(iter(full.resources.items()), None)
        yield InstanceNode(path[1], dict([first]) if first else {})
    else:
        rdef = REG.resource(path)
        values = samples(rdef)
        if path.level == 4:
            yield from (ResourceNode(path[3], v) for v in values)
        elif rdef is not None and rdef.multiple:
            yield MultiResourceNode(path[2], dict(enumerate(values)))
            yield MultiResourceNode(path[2], {7: values[0]})
        else:
            yield from (ResourceNode(path[2], v) for v in values)


def node_target(cf: int, path: Path) -> Target:
    """Content format ``cf`` at request ``path``, seeded with our encodings of typed nodes."""
    seeds: list[bytes] = []
    for node in nodes_for(path):
        try:
            seeds.append(formats.encode(cf, node, path, REG))
        except (EncodeError, UnsupportedFormat):
            continue  # e.g. text cannot carry an untyped opaque value
    assert seeds, f"no seed for content format {cf} at {path}"
    return Target(
        decode=lambda b: formats.decode(cf, b, path, REG),
        encode=lambda node: formats.encode(cf, node, path, REG),
        seeds=tuple(seeds),
    )


def same(a: object, b: object) -> bool:
    """Structural equality that also tells types apart and lets NaN equal NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(map(same, a, b))
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return all(
            same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a) if f.compare
        )
    return a == b


# Structural bytes: TLV type bytes, CBOR heads, JSON and link-format delimiters.
INTERESTING = b"\x00\xff\x08\xc8\xd8\x88\x9f\xbf\xc1\xf9\x7f\"',;<>[]{}:\\"


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Apply one to four random edits: bit flips, inserts, deletes, truncation, duplication."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip a bit
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert a byte, often a structural one
            buf[pos:pos] = bytes([rng.choice([*INTERESTING, rng.randrange(256)])])
        elif op == 2 and buf:  # delete a run
            del buf[pos : pos + rng.randint(1, 8)]
        elif op == 3:  # truncate
            del buf[pos:]
        elif op == 4 and buf:  # overwrite a byte
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        else:  # duplicate a slice
            j = rng.randrange(len(buf) + 1)
            buf[pos:pos] = buf[min(pos, j) : max(pos, j)][:64]
    return bytes(buf)


def _check_accepted(name: str, target: Target, payload: bytes, value: object) -> None:
    try:
        again = target.decode(target.encode(value))
    except (DecodeError, EncodeError, UnsupportedFormat) as exc:
        pytest.fail(f"{name}: accepted {payload.hex()} but its re-encoding fails: {exc}")
    if not (target.agree or same)(value, again):
        pytest.fail(f"{name}: {payload.hex()} decodes to {value!r}, re-encoded to {again!r}")


def fuzz(name: str, target: Target, cases: int, extra: Sequence[bytes] = ()) -> int:
    """Feed ``cases`` payloads to ``target``; return how many of them were accepted.

    Every seed must be accepted. A quarter of the cases are random bytes, the rest
    mutations of the seeds and of ``extra`` (more payloads, not necessarily valid here).
    """
    for seed in target.seeds:
        try:
            value = target.decode(seed)
        except DecodeError as exc:
            pytest.fail(f"{name}: our own encoding {seed.hex()} is rejected: {exc}")
        _check_accepted(name, target, seed, value)
    pool = [*target.seeds, *extra]
    rng = random.Random(f"{name}-{cases}")
    accepted = 0
    for i in range(cases):
        random_bytes = i % 4 == 0
        payload = (
            rng.randbytes(rng.randrange(48)) if random_bytes else mutate(rng, rng.choice(pool))
        )
        try:
            value = target.decode(payload)
        except DecodeError:
            continue
        except Exception as exc:
            pytest.fail(f"{name}: {type(exc).__name__}: {exc} for payload {payload.hex()}")
        accepted += 1
        _check_accepted(name, target, payload, value)
    return accepted

"""Codec benchmark: encode + decode of a Device (/3/0) instance in each LwM2M format.

Baseline, measured in the same run: ``json.dumps`` + ``json.loads`` of an equivalent
dict (resource id -> value, or resource instance id -> value for multiple resources).
Each figure is the best of several ``timeit`` rounds that interleave all
the measured functions. The last line is

    RESULT tlv_ratio=<x> senml_json_ratio=<x> senml_cbor_ratio=<x> lwm2m_cbor_ratio=<x>

with ratio = our time / json time (lower is better; the target is <= 3.0). A format
whose module is not available prints ``n/a``.

Run: ``python benchmarks/codecs.py``
"""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable

from lwm2m.coap.numbers import ContentFormat
from lwm2m.errors import UnsupportedFormat
from lwm2m.formats import decode, encode, format_name
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    ObjectDef,
    ObjLink,
    Operations,
    Path,
    Registry,
    ResourceDef,
    ResourceNode,
    ResourceType,
    Value,
)

PATH = Path(3, 0)
ROUNDS = 15

# Sample values of every readable Device resource (LwM2M Core TS Appendix E.4).
SAMPLE: dict[int, Value | list[Value]] = {
    0: "Open Mobile Alliance",
    1: "Lightweight M2M Client",
    2: "345000123",
    3: "1.0",
    6: [1, 5],
    7: [3800, 5000],
    8: [125, 900],
    9: 100,
    10: 15,
    11: [0],
    13: 1367491215,
    14: "+02:00",
    15: "Europe/Berlin",
    16: "U",
    17: "Demo",
    18: "1.0",
    19: "1.0.1",
    20: 1,
    21: 8192,
    22: [ObjLink(65535, 65535)],
}


def _fallback_registry() -> Registry:
    """The Device definition, for a tree without the built-in definitions."""
    t = ResourceType
    types = {
        0: t.STRING, 1: t.STRING, 2: t.STRING, 3: t.STRING, 6: t.INTEGER, 7: t.INTEGER,
        8: t.INTEGER, 9: t.INTEGER, 10: t.INTEGER, 11: t.INTEGER, 13: t.TIME, 14: t.STRING,
        15: t.STRING, 16: t.STRING, 17: t.STRING, 18: t.STRING, 19: t.STRING, 20: t.INTEGER,
        21: t.INTEGER, 22: t.OBJLNK,
    }  # fmt: skip
    resources = {
        rid: ResourceDef(
            rid, f"r{rid}", rtype, Operations.R, multiple=isinstance(SAMPLE[rid], list)
        )
        for rid, rtype in types.items()
    }
    return Registry([ObjectDef(3, "Device", resources, multiple=False)])


def _registry() -> Registry:
    try:
        from lwm2m.model import default_registry

        registry = default_registry()
    except ImportError:
        return _fallback_registry()
    return registry if 3 in registry else _fallback_registry()


def device_instance(registry: Registry) -> InstanceNode:
    """Every readable resource of the registry's Device definition, with sample values."""
    resources: dict[int, ResourceNode | MultiResourceNode] = {}
    for rid, rdef in registry[3].resources.items():
        if not rdef.operations.readable or rid not in SAMPLE:
            continue
        sample = SAMPLE[rid]
        if rdef.multiple:
            values = sample if isinstance(sample, list) else [sample]
            resources[rid] = MultiResourceNode(rid, dict(enumerate(values)))
        else:
            resources[rid] = ResourceNode(rid, sample[0] if isinstance(sample, list) else sample)
    return InstanceNode(0, resources)


def json_equivalent(node: InstanceNode) -> dict[str, object]:
    def plain(v: Value) -> object:
        return str(v) if isinstance(v, ObjLink) else v

    out: dict[str, object] = {}
    for rid, res in node.resources.items():
        if isinstance(res, MultiResourceNode):
            out[str(rid)] = {str(ri): plain(v) for ri, v in res.values.items()}
        else:
            out[str(rid)] = plain(res.value)
    return out


def best_times(fns: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Seconds per call of each function: the best of ROUNDS rounds.

    The rounds interleave the functions, so load that comes and goes on the machine
    hits the baseline and the codecs alike and the ratios stay comparable.
    """
    timers = {key: timeit.Timer(fn) for key, fn in fns.items()}
    numbers = {key: max(1, t.autorange()[0] // 4) for key, t in timers.items()}
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(ROUNDS):
        for key, timer in timers.items():
            best[key] = min(best[key], timer.timeit(numbers[key]) / numbers[key])
    return best


def main() -> None:
    registry = _registry()
    node = device_instance(registry)
    doc = json_equivalent(node)
    dumps, loads = json.dumps, json.loads

    formats = {
        "tlv": ContentFormat.LWM2M_TLV,
        "senml_json": ContentFormat.SENML_JSON,
        "senml_cbor": ContentFormat.SENML_CBOR,
        "lwm2m_cbor": ContentFormat.LWM2M_CBOR,
        "oma_json": ContentFormat.LWM2M_JSON,
    }
    sizes: dict[str, int] = {}
    fns: dict[str, Callable[[], object]] = {"json": lambda: loads(dumps(doc))}
    for key, cf in formats.items():
        try:
            payload = encode(cf, node, PATH, registry)
            if decode(cf, payload, PATH, registry) != node:
                raise SystemExit(f"{key}: decode(encode(node)) differs from node")
        except UnsupportedFormat:
            continue
        sizes[key] = len(payload)

        def roundtrip(cf: int = cf) -> object:
            return decode(cf, encode(cf, node, PATH, registry), PATH, registry)

        fns[key] = roundtrip

    best = best_times(fns)
    baseline = best["json"]
    print(f"Device /3/0 instance: {len(node.resources)} resources, best of {ROUNDS} rounds")
    print(f"{'format':34} {'bytes':>6} {'us/op':>9} {'ratio':>7}")
    label = "json.dumps + json.loads (baseline)"
    print(f"{label:34} {len(dumps(doc)):6d} {baseline * 1e6:9.2f} {1:7.2f}")
    ratios: dict[str, str] = {}
    for key, cf in formats.items():
        if key not in best:
            ratios[key] = "n/a"
            print(f"{format_name(cf):34} {'-':>6} {'n/a':>9} {'n/a':>7}")
            continue
        ratio = best[key] / baseline
        ratios[key] = f"{ratio:.2f}"
        print(f"{format_name(cf):34} {sizes[key]:6d} {best[key] * 1e6:9.2f} {ratio:7.2f}")
    print(
        f"RESULT tlv_ratio={ratios['tlv']} senml_json_ratio={ratios['senml_json']} "
        f"senml_cbor_ratio={ratios['senml_cbor']} lwm2m_cbor_ratio={ratios['lwm2m_cbor']}"
    )


if __name__ == "__main__":
    main()

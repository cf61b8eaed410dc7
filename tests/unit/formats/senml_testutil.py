"""Shared test data for the format tests: the TS example Device instance, an object with every
type, value strategies."""

from __future__ import annotations

import math
from types import ModuleType

from hypothesis import strategies as st

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
    default_registry,
)

R = ResourceType
TYPES_OID = 33000
# resource id -> type; ids 0..8 single, 10..18 the same types as multiple resources.
TYPE_ORDER = [
    R.STRING,
    R.INTEGER,
    R.UNSIGNED_INTEGER,
    R.FLOAT,
    R.BOOLEAN,
    R.OPAQUE,
    R.TIME,
    R.OBJLNK,
]
TYPE_RES = {i: t for i, t in enumerate(TYPE_ORDER)} | {10 + i: t for i, t in enumerate(TYPE_ORDER)}


def make_registry() -> Registry:
    reg = default_registry().copy()
    resources = {
        rid: ResourceDef(rid, f"r{rid}", rtype, multiple=rid >= 10)
        for rid, rtype in TYPE_RES.items()
    }
    reg.add(ObjectDef(TYPES_OID, "Every type", resources))
    return reg


REG = make_registry()

# The single-value formats (text, CBOR): a CoRE Link resource added to the built-in definitions,
# and a single-instance resource of each type in them.
LINKS_OID = 32770


def links_registry() -> Registry:
    reg = default_registry().copy()
    link = ResourceDef(0, "link", ResourceType.CORELNK, Operations.R)
    reg.add(ObjectDef(LINKS_OID, "Links", {0: link}))
    return reg


STRING = Path(3, 0, 0)  # Device: Manufacturer
INTEGER = Path(3, 0, 9)  # Device: Battery Level
TIME = Path(3, 0, 13)  # Device: Current Time
UNSIGNED = Path(0, 0, 13)  # Security: Matching Type
FLOAT = Path(6, 0, 0)  # Location: Latitude
BOOLEAN = Path(1, 0, 6)  # Server: Notification Storing
OBJLNK = Path(0, 0, 17)  # Security: OSCORE Security Mode
OPAQUE = Path(0, 0, 3)  # Security: Public Key or Identity
CORELNK = Path(LINKS_OID, 0, 0)


def device_instance() -> InstanceNode:
    """Read /3/0 of the example client in the TS format examples (Core TS 1.1.1 7.4)."""
    return InstanceNode(
        0,
        {
            0: ResourceNode(0, "Open Mobile Alliance"),
            1: ResourceNode(1, "Lightweight M2M Client"),
            2: ResourceNode(2, "345000123"),
            3: ResourceNode(3, "1.0"),
            6: MultiResourceNode(6, {0: 1, 1: 5}),
            7: MultiResourceNode(7, {0: 3800, 1: 5000}),
            8: MultiResourceNode(8, {0: 125, 1: 900}),
            9: ResourceNode(9, 100),
            10: ResourceNode(10, 15),
            11: MultiResourceNode(11, {0: 0}),
            13: ResourceNode(13, 1367491215),
            14: ResourceNode(14, "+02:00"),
            16: ResourceNode(16, "U"),
        },
    )


INT64 = st.integers(-(2**63), 2**63 - 1)
VALUES: dict[ResourceType, st.SearchStrategy[Value]] = {
    R.STRING: st.text(max_size=20),
    R.INTEGER: st.one_of(st.sampled_from([-(2**63), 2**63 - 1, 0]), INT64),
    R.UNSIGNED_INTEGER: st.one_of(st.sampled_from([0, 2**64 - 1]), st.integers(0, 2**64 - 1)),
    R.FLOAT: st.floats(allow_nan=False, allow_infinity=False),
    R.BOOLEAN: st.booleans(),
    R.OPAQUE: st.binary(max_size=20),
    R.TIME: st.one_of(st.sampled_from([0, 1367491215]), INT64),
    R.OBJLNK: st.builds(ObjLink, st.integers(0, 65535), st.integers(0, 65535)),
}
INSTANCE_IDS = st.one_of(st.just(65534), st.integers(0, 65534))


@st.composite
def instances(draw: st.DrawFn, json_safe: bool = True) -> InstanceNode:
    """An instance of the every-type object with a random subset of resources."""
    inst = InstanceNode(draw(st.sampled_from([0, 1, 65534])))
    for rid in draw(st.lists(st.sampled_from(sorted(TYPE_RES)), unique=True, max_size=8)):
        strat = VALUES[TYPE_RES[rid]]
        if rid < 10:
            inst.resources[rid] = ResourceNode(rid, draw(strat))
        else:
            ids = draw(st.lists(INSTANCE_IDS, unique=True, min_size=1, max_size=3))
            inst.resources[rid] = MultiResourceNode(rid, {ri: draw(strat) for ri in ids})
    return inst


def assert_round_trip(fmt: ModuleType, inst: InstanceNode) -> None:
    """node -> bytes -> node is the identity, and the bytes are canonical (stable)."""
    path = Path(TYPES_OID, inst.id)
    payload = fmt.encode(inst, path, REG)
    back = fmt.decode(payload, path, REG)
    assert back == inst
    assert fmt.encode(back, path, REG) == payload


def non_finite() -> list[float]:
    return [math.nan, math.inf, -math.inf]

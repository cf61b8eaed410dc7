"""The fast instance decoder of the SenML-like formats agrees with the general path.

:func:`senml.fast_instance` must return exactly what :func:`senml.assemble` returns for
the same records, or None (the general path then decides, and raises the errors); it
must never accept records the general path rejects. The fast leaves of a multiple
resource must equal the leaves the general path names and converts.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path as FsPath
from types import ModuleType

from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared senml_testutil module
from senml_testutil import REG, TYPE_RES, TYPES_OID, device_instance, instances

from lwm2m.errors import DecodeError, EncodeError
from lwm2m.formats import oma_json, senml, senml_cbor, senml_json
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    Node,
    ObjLink,
    Path,
    Records,
    Registry,
    ResourceNode,
    ResourceType,
    Value,
    default_registry,
)

FORMATS: dict[str, ModuleType] = {
    "senml_json": senml_json,
    "senml_cbor": senml_cbor,
    "oma_json": oma_json,
}
OPAQUE_IDS = {rid for rid, rtype in TYPE_RES.items() if rtype is ResourceType.OPAQUE}


def _records(fmt: ModuleType, payload: bytes) -> tuple[object, str]:
    """The parsed record list of a payload and the base name the decoder starts from."""
    if fmt is senml_cbor:
        return senml_cbor.load_cbor(payload, "test"), ""
    doc = senml_json.load_json(payload, "test")
    if fmt is oma_json:
        assert isinstance(doc, dict)
        return doc["e"], doc.get("bn", "")
    return doc, ""


def _general(
    items: object, d: senml.Dialect, path: Path, registry: Registry, bn: str
) -> Node | Records | None:
    """The general path's node, or None when it raises DecodeError."""
    try:
        return senml.assemble(senml.resolve(items, d, bn), d, path, registry)
    except DecodeError:
        return None


@given(st.sampled_from(sorted(FORMATS)), instances())
def test_fast_path_decodes_canonical_payloads_like_the_general_path(
    name: str, inst: InstanceNode
) -> None:
    fmt = FORMATS[name]
    path = Path(TYPES_OID, inst.id)
    items, bn = _records(fmt, fmt.encode(inst, path, REG))
    fast = senml.fast_instance(items, fmt.DIALECT, path, REG, bn)
    general = _general(items, fmt.DIALECT, path, REG, bn)
    assert general == inst
    # The fast path takes every non-empty canonical instance, except OMA JSON's Opaque
    # values (base64 in "sv", a field of another kind), which it leaves to the general path.
    declines = not inst.resources or (fmt is oma_json and OPAQUE_IDS & set(inst.resources))
    if declines:
        assert fast is None
    else:
        assert fast == inst


@given(st.sampled_from(sorted(FORMATS)))
def test_fast_path_takes_the_device_instance(name: str) -> None:
    fmt = FORMATS[name]
    registry = default_registry()
    inst = device_instance()
    path = Path(3, 0)
    items, bn = _records(fmt, fmt.encode(inst, path, registry))
    assert senml.fast_instance(items, fmt.DIALECT, path, registry, bn) == inst
    assert fmt.decode(fmt.encode(inst, path, registry), path, registry) == inst


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(["0", "1/0", "10/1", "/33000/0/0", "", "0/", "99", "3:4", "AAEC"]),
    st.binary(max_size=3),
    st.lists(st.integers(0, 3), max_size=2),
)
OPS = st.sampled_from(["drop", "set", "add", "duplicate", "bn", "not_a_map", "empty"])


@given(st.sampled_from(sorted(FORMATS)), instances(), OPS, st.data())
def test_fast_path_declines_or_agrees_on_altered_records(
    name: str, inst: InstanceNode, op: str, data: st.DataObject
) -> None:
    fmt = FORMATS[name]
    d = fmt.DIALECT
    path = Path(TYPES_OID, inst.id)
    items, bn = _records(fmt, fmt.encode(inst, path, REG))
    assert isinstance(items, list)
    if items:
        idx = data.draw(st.integers(0, len(items) - 1))
        rec = items[idx]
        keys = sorted(rec, key=repr)
        all_keys = sorted(d.fields, key=repr)
        if op == "drop":
            del rec[data.draw(st.sampled_from(keys))]
        elif op == "set":
            rec[data.draw(st.sampled_from(keys))] = data.draw(JUNK)
        elif op == "add":
            rec[data.draw(st.sampled_from([*all_keys, "x_", "zz", 99]))] = data.draw(JUNK)
        elif op == "duplicate":
            items.insert(data.draw(st.integers(0, len(items))), copy.deepcopy(rec))
        elif op == "bn":
            bn = data.draw(st.sampled_from(["", "/33000/", f"/{TYPES_OID}/{inst.id}/", "/3/0/"]))
        elif op == "not_a_map":
            items[idx] = data.draw(JUNK)
        else:
            items.clear()
    general = _general(items, d, path, REG, bn)
    fast = senml.fast_instance(items, d, path, REG, bn)
    if fast is not None:
        assert fast == general


def test_fast_path_rejects_what_the_general_path_rejects() -> None:
    path = Path(TYPES_OID, 0)
    d = senml_json.DIALECT
    bad = [
        [{"bn": "/33000/0/", "n": "1", "v": 1.5}],  # Integer with a fraction
        [{"bn": "/33000/0/", "n": "1", "v": 2**63}],  # outside a signed 64-bit int
        [{"bn": "/33000/0/", "n": "2", "v": -1}],  # negative Unsigned Integer
        [{"bn": "/33000/0/", "n": "0", "v": 5}],  # a number for a String
        [{"bn": "/33000/0/", "n": "7", "vlo": "3"}],  # not an object link
        [{"bn": "/33000/0/", "n": "10", "vs": "x"}],  # a multiple resource without ids
        [{"bn": "/33000/0/", "n": "0/1", "vs": "x"}],  # a single resource with an id
        [{"bn": "/33000/0/", "n": "5", "vd": "***"}],  # not base64url
        [{"bn": "/33000/0/", "n": "0", "vs": "x"}, {"n": "0/", "vs": "y"}],  # not a path
    ]
    for items in bad:
        assert senml.fast_instance(items, d, path, REG) is None
        assert _general(items, d, path, REG, "") is None, items


def test_fast_path_leaves_other_valid_shapes_to_the_general_path() -> None:
    path = Path(TYPES_OID, 0)
    d = senml_json.DIALECT
    other = [
        [{"bn": "/33000/0/", "n": "0", "vs": "x", "bt": 1}],  # time fields
        [{"n": "/33000/0/0", "vs": "x"}],  # full names, no base name
        [{"bn": "/33000/", "n": "0/0", "vs": "x"}],  # another base name
        [{"bn": "/33000/0/", "n": "9", "vs": "x"}],  # a resource without a definition
        [{"bn": "/33000/0/", "n": "0", "vs": "x"}, {"bn": "/33000/0/", "n": "1", "v": 1}],
    ]
    for items in other:
        assert senml.fast_instance(items, d, path, REG) is None
        general = _general(items, d, path, REG, "")
        assert isinstance(general, InstanceNode), items
        assert senml_json.decode(senml_json.dump_json(items), path, REG) == general


def test_fast_path_keeps_the_last_of_repeated_names() -> None:
    path = Path(TYPES_OID, 0)
    items = [
        {"bn": "/33000/0/", "n": "0", "vs": "a"},
        {"n": "10/1", "vs": "b"},
        {"n": "0", "vs": "c"},
        {"n": "10/1", "vs": "d"},
    ]
    expected = InstanceNode(0, {0: ResourceNode(0, "c"), 10: MultiResourceNode(10, {1: "d"})})
    assert senml.fast_instance(items, senml_json.DIALECT, path, REG) == expected
    assert _general(items, senml_json.DIALECT, path, REG, "") == expected


LOOSE: dict[ResourceType, st.SearchStrategy[object]] = {
    ResourceType.STRING: st.one_of(st.text(max_size=4), st.integers(0, 3)),
    ResourceType.INTEGER: st.one_of(st.integers(-(2**64), 2**64), st.floats(), st.booleans()),
    ResourceType.UNSIGNED_INTEGER: st.integers(-3, 2**65),
    ResourceType.FLOAT: st.one_of(st.floats(), st.integers(-5, 5)),
    ResourceType.BOOLEAN: st.one_of(st.booleans(), st.integers(0, 1)),
    ResourceType.OPAQUE: st.one_of(st.binary(max_size=3), st.binary(max_size=3).map(bytearray)),
    ResourceType.TIME: st.one_of(st.integers(-(2**64), 2**64), st.text(max_size=2)),
    ResourceType.OBJLNK: st.one_of(
        st.builds(ObjLink, st.integers(0, 65535), st.integers(0, 65535)), st.text(max_size=3)
    ),
}
LOOSE_IDS = st.one_of(st.integers(0, 3), st.just(65534), st.just(65535), st.just(True))


@st.composite
def loose_instances(draw: st.DrawFn) -> InstanceNode:
    """Instances whose values and ids may need converting or be invalid."""
    inst = InstanceNode(0)
    for rid in draw(st.lists(st.sampled_from(sorted(TYPE_RES)), unique=True, max_size=6)):
        strat = LOOSE[TYPE_RES[rid]]
        if draw(st.booleans()) == (rid < 10):
            inst.resources[rid] = ResourceNode(rid, draw(strat))  # type: ignore[arg-type]
        else:
            values = draw(st.dictionaries(LOOSE_IDS, strat, max_size=3))
            inst.resources[rid] = MultiResourceNode(rid, values)  # type: ignore[arg-type]
    return inst


def _reference_leaves(inst: InstanceNode) -> list[senml.Leaf]:
    """The leaves of an instance named and converted one by one (the spec of leaves())."""
    out: list[senml.Leaf] = []
    for rid, res in inst.resources.items():
        rdef = REG.resource(Path(TYPES_OID, 0, rid))
        assert rdef is not None
        if isinstance(res, ResourceNode):
            if rdef.multiple:
                raise EncodeError("single value for a multiple resource")
            out.append((str(rid), *senml.encode_value(res.value, rdef)))
            continue
        if not rdef.multiple:
            raise EncodeError("multiple values for a single resource")
        for ri, v in res.values.items():
            if type(ri) is not int or not 0 <= ri <= 65534:
                raise EncodeError("bad resource instance id")
            out.append((f"{rid}/{ri}", *senml.encode_value(v, rdef)))
    return out


@given(loose_instances())
def test_leaves_match_the_one_by_one_conversion(inst: InstanceNode) -> None:
    path = Path(TYPES_OID, 0)
    try:
        expected: list[senml.Leaf] | None = _reference_leaves(inst)
    except EncodeError:
        expected = None
    try:
        bn, got = senml.leaves(inst, path, REG)
    except EncodeError:
        assert expected is None
        return
    assert bn == "/33000/0/"
    assert got == expected
    assert [type(v) for _, _, v in got] == [type(v) for _, _, v in expected]


@given(loose_instances())
def test_grouped_leaves_flatten_to_the_plain_leaves(inst: InstanceNode) -> None:
    path = Path(TYPES_OID, 0)
    try:
        _, plain = senml.leaves(inst, path, REG)
    except EncodeError:
        return
    _, grouped = senml.leaves(inst, path, REG, grouped=True)
    flat: list[senml.Leaf] = []
    for name, kind, value in grouped:
        if isinstance(value, dict):
            assert value  # empty multiple resources give no leaf
            flat.extend((f"{name}/{ri}", kind, v) for ri, v in value.items())
        else:
            flat.append((name, kind, value))
    assert flat == plain


def test_a_replaced_value_type_takes_the_general_path_again() -> None:
    """A name learned by the fast path does not keep a value of another type alive."""
    path = Path(TYPES_OID, 0)
    d = senml_json.DIALECT
    ok: list[dict[str, Value]] = [{"bn": "/33000/0/", "n": "3", "v": 1.5}]
    assert senml.fast_instance(ok, d, path, REG) == InstanceNode(0, {3: ResourceNode(3, 1.5)})
    as_int: list[dict[str, Value]] = [{"bn": "/33000/0/", "n": "3", "v": 2}]
    node = senml.fast_instance(as_int, d, path, REG)
    assert node == InstanceNode(0, {3: ResourceNode(3, 2.0)})
    assert isinstance(node, InstanceNode)
    res = node.resources[3]
    assert isinstance(res, ResourceNode) and type(res.value) is float

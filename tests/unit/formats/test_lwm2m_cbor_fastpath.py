"""LwM2M CBOR's fast paths agree with its general paths.

Decoding: :func:`lwm2m_cbor.fast_instance` returns exactly what :func:`decode_tree`
returns for the same tree, or None (the general path then decides and raises the
errors). Encoding: the one-pass tree of grouped leaves gives exactly the bytes of the
general tree builder.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path as FsPath
from typing import Any

import cbor2
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared senml_testutil module
from senml_testutil import REG, TYPE_RES, TYPES_OID, device_instance, instances
from test_senml_fastpath import loose_instances

from lwm2m.errors import DecodeError, EncodeError
from lwm2m.formats import lwm2m_cbor, senml
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    Node,
    Path,
    Records,
    ResourceNode,
    default_registry,
)


def _general(tree: Any, path: Path) -> Node | Records | None:
    try:
        return lwm2m_cbor.decode_tree(tree, path, REG)
    except DecodeError:
        return None


@given(instances())
def test_fast_path_decodes_canonical_trees_like_the_general_path(inst: InstanceNode) -> None:
    path = Path(TYPES_OID, inst.id)
    tree = cbor2.loads(lwm2m_cbor.encode(inst, path, REG))
    fast = lwm2m_cbor.fast_instance(tree, path, REG)
    assert _general(tree, path) == inst
    if len(inst.resources) >= 2:  # fewer collapse into one array key: the general path
        assert fast == inst
    else:
        assert fast is None


def test_fast_path_takes_the_device_instance() -> None:
    registry = default_registry()
    inst = device_instance()
    tree = cbor2.loads(lwm2m_cbor.encode(inst, Path(3, 0), registry))
    assert lwm2m_cbor.fast_instance(tree, Path(3, 0), registry) == inst


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(),
    st.text(max_size=4),
    st.sampled_from(["3:4", "65535:65535", "x"]),
    st.binary(max_size=3),
    st.just(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)),
    st.dictionaries(st.integers(0, 3), st.integers(0, 3), max_size=2),
    st.dictionaries(
        st.integers(0, 2), st.dictionaries(st.integers(0, 2), st.integers(), max_size=1)
    ),
)
KEYS = st.one_of(
    st.sampled_from(sorted(TYPE_RES)),
    st.integers(-2, 65536),
    st.booleans(),
    st.tuples(st.sampled_from(sorted(TYPE_RES)), st.integers(-1, 65535)),
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
    st.tuples(st.booleans(), st.integers(0, 2)),
    st.text(max_size=2),
)
OPS = st.sampled_from(["set", "add", "drop", "root", "outer"])


@given(instances(), OPS, st.data())
def test_fast_path_declines_or_agrees_on_altered_trees(
    inst: InstanceNode, op: str, data: st.DataObject
) -> None:
    path = Path(TYPES_OID, inst.id)
    tree = cbor2.loads(lwm2m_cbor.encode(inst, path, REG))
    ((root, inner),) = tree.items() if tree else ((tuple(path), {}),)
    if type(inner) is not dict:
        inner = {root[-1]: inner}
        root = root[:-1]
    if op == "set" and inner:
        inner[data.draw(st.sampled_from(sorted(inner, key=repr)))] = data.draw(JUNK)
    elif op == "add":
        inner[data.draw(KEYS)] = data.draw(JUNK)
    elif op == "drop" and inner:
        del inner[data.draw(st.sampled_from(sorted(inner, key=repr)))]
    elif op == "root":
        root = data.draw(st.sampled_from([(TYPES_OID,), (TYPES_OID, 7), (TYPES_OID, True)]))
    tree = {root: inner}
    if op == "outer":
        tree[data.draw(KEYS)] = data.draw(JUNK)
    general = _general(tree, path)
    fast = lwm2m_cbor.fast_instance(tree, path, REG)
    if fast is not None:
        assert fast == general


def test_fast_path_rejects_what_the_general_path_rejects() -> None:
    path = Path(TYPES_OID, 0)
    root = (TYPES_OID, 0)
    bad: list[dict[Any, Any]] = [
        {root: {1: 1.5, 0: "x"}},  # Integer with a fraction
        {root: {1: 2**63, 0: "x"}},  # outside a signed 64-bit int
        {root: {2: -1, 0: "x"}},  # negative Unsigned Integer
        {root: {7: "3", 0: "x"}},  # not an object link
        {root: {10: "x", 0: "x"}},  # a multiple resource without ids
        {root: {10: {0: "a"}, (10, 0): "b"}},  # a leaf given twice
        {root: {0: "x", 11: {0: 1.5}}},  # Integer with a fraction, in a multiple resource
        {root: {0: "x", 10: {0: {1: "a"}}}},  # five levels
    ]
    for tree in bad:
        assert lwm2m_cbor.fast_instance(tree, path, REG) is None
        assert _general(tree, path) is None, tree


def test_fast_path_converts_like_the_general_path() -> None:
    path = Path(TYPES_OID, 0)
    tree = {(TYPES_OID, 0): {3: 2, 7: "3:4", (17, 1): "5:6", 6: 7}}
    expected = lwm2m_cbor.decode_tree(tree, path, REG)
    node = lwm2m_cbor.fast_instance(tree, path, REG)
    assert node == expected
    assert isinstance(node, InstanceNode)
    res = node.resources[3]
    assert isinstance(res, ResourceNode) and type(res.value) is float
    multi = node.resources[17]
    assert isinstance(multi, MultiResourceNode) and multi.values == {1: senml.parse_objlnk("5:6")}


@given(loose_instances())
def test_encoding_gives_the_bytes_of_the_general_tree(inst: InstanceNode) -> None:
    path = Path(TYPES_OID, 0)
    try:
        _, items = senml.leaves(inst, path, REG)
    except EncodeError:
        return
    assert lwm2m_cbor.encode(inst, path, REG) == lwm2m_cbor.encode_tree(items, path)


@given(instances())
def test_encoding_canonical_instances_gives_the_bytes_of_the_general_tree(
    inst: InstanceNode,
) -> None:
    path = Path(TYPES_OID, inst.id)
    _, items = senml.leaves(inst, path, REG)
    assert lwm2m_cbor.encode(inst, path, REG) == lwm2m_cbor.encode_tree(items, path)

"""LwM2M CBOR, content format 11544 (LwM2M Core TS 1.2 section 7.4.7).

Nested CBOR maps keyed by path ids from the Object down: ``{3: {0: {0:
"Open Mobile Alliance", 7: {0: 3800, 1: 5000}}}}``. A key is an id or an
array of ids that stands for several levels at once (``{[3, 0, 0]: "..."}``).
A leaf value's CBOR major type gives its kind: integers (major types 0/1),
floats (major type 7), text (String, Corelnk, and Objlnk as "o:i"), byte
strings (Opaque), booleans; Time may also arrive as tag 1 (epoch seconds,
truncated to an int). Values are typed as in :mod:`lwm2m.formats.senml`;
text for an unknown resource stays a ``str``.

Canonical form emitted by :func:`encode`:

- the tree holds every leaf below the request path, rooted at the Object;
- every chain of single-child maps collapses into one array key, so Read
  /3/0/0 gives ``{[3, 0, 0]: "..."}`` and Read /3/0 ``{[3, 0]: {0: ..., 6:
  {0: 1, 1: 5}, ...}}``; a key that stands for one level is a plain id;
- map order follows the node's dict order; definite lengths; integers in
  their shortest form; floats as 64-bit; Time as a plain integer; empty
  instances and empty multiple resources are left out (as in SenML); a node
  with no leaf at all is the empty map.

Decoding rejects duplicate leaf paths, paths deeper than 4 levels, ids out
of 0..65534, values that are not leaves of a resource, and trailing bytes.
Duplicates can only come from an array key that starts with another key of the
same map (``{3: {0: {9: 1}}, [3, 0, 9]: 2}``); the leaves are checked for
them only when a map has such keys.

An instance in the canonical shape is read by :func:`fast_instance` straight
from the nested maps and written from the grouped leaves of
:func:`senml.leaves` in one pass; anything else takes the general paths
(:func:`decode_tree`, :func:`encode_tree`), which the fast ones fall back on.
"""

from __future__ import annotations

import datetime
from typing import Any

from lwm2m.errors import DecodeError
from lwm2m.formats import senml
from lwm2m.formats.senml_cbor import dump_cbor, load_cbor
from lwm2m.model import (
    MAX_ID,
    InstanceNode,
    MultiResourceNode,
    Node,
    Path,
    Records,
    Registry,
    ResourceNode,
    ResourceType,
    Value,
)

DIALECT = senml.Dialect(
    name="LwM2M CBOR",
    fields={},
    labels=("number", "text", "boolean", "bytes", "objlnk", "tag 1 time"),
    extra={(ResourceType.OBJLNK, senml.STR): senml.parse_objlnk},
)

_KIND_OF_CBOR: dict[type, int] = {
    int: senml.NUM,
    float: senml.NUM,
    str: senml.STR,
    bool: senml.BOOL,
    bytes: senml.DATA,
}

Tree = dict[Any, Any]


def _collapse(tree: Tree) -> Tree:
    """Merge chains of single-child maps into array keys (canonical form)."""
    out: Tree = {}
    for key, value in tree.items():
        if type(value) is dict:
            if len(value) == 1:
                ids: tuple[int, ...] = (key,)
                while type(value) is dict and len(value) == 1:
                    ((k2, value),) = value.items()
                    ids += (k2,)
                key = ids
            if type(value) is dict:
                value = _collapse(value)
        out[key] = value
    return out


_IDS: dict[str, tuple[int, ...]] = {}
_IDS_SIZE = 2048


def _ids(name: str) -> tuple[int, ...]:
    """The ids of a leaf name made by :func:`senml.leaves` ("7/0", or "/3/0/7/0" for records)."""
    ids = _IDS.get(name)
    if ids is None:
        ids = tuple(int(part) for part in name.split("/") if part)
        if len(_IDS) >= _IDS_SIZE:
            _IDS.clear()
        _IDS[name] = ids
    return ids


def encode(node: Node | Records, path: Path, registry: Registry) -> bytes:
    if len(path) == 2:
        below = _shallow_tree(senml.leaves(node, path, registry, grouped=True)[1])
        if below is not None:
            return dump_cbor(_rooted(below, path))
    return encode_tree(senml.leaves(node, path, registry)[1], path)


def encode_tree(items: list[senml.Leaf], path: Path) -> bytes:
    """The general path: build the nested maps of the leaves (named as :func:`senml.leaves`
    names them) and let cbor2 write them."""
    # The tree below the request path (names are relative to it; composite records
    # carry full names and the request path is the root).
    below: Tree = {}
    nested = False
    ids_get = _IDS.get
    for name, kind, value in items:
        raw = str(value) if kind == senml.OBJLNK else value
        ids = ids_get(name) or _ids(name)
        if len(ids) == 1:
            below[ids[0]] = raw
            continue
        if not ids:  # a single resource or resource instance: the value itself
            return dump_cbor({tuple(path): raw})
        nested = True
        parent = below
        for i in ids[:-1]:
            child = parent.get(i)
            if child is None:
                child = parent[i] = {}
            parent = child
        parent[ids[-1]] = raw
    return dump_cbor(_rooted(_collapse(below) if nested else below, path))


def _rooted(tree: Tree, path: Path) -> Tree:
    """The collapsed tree below ``path`` under the key of ``path`` (collapsing further)."""
    if path and tree:
        if len(tree) == 1:
            ((key, value),) = tree.items()
            return {(*path, *key) if type(key) is tuple else (*path, key): value}
        return {path[0] if len(path) == 1 else tuple(path): tree}
    return tree


def _shallow_tree(items: list[senml.Leaf]) -> Tree | None:
    """The collapsed tree of an instance's grouped leaves, built in one pass.

    Leaves are named "rid" (a single value, or with ``grouped`` a multiple
    resource's values dict) or "rid/ri"; the result is what the loop of
    :func:`encode_tree` and :func:`_collapse` make of the ungrouped leaves. None
    when a multiple resource comes as separate "rid/ri" leaves or a name has
    more levels: :func:`encode_tree` takes them.
    """
    below: Tree = {}
    ids_get = _IDS.get
    objlnk = senml.OBJLNK
    for name, kind, value in items:
        ids = ids_get(name) or _ids(name)
        if len(ids) != 1:
            return None
        if type(value) is dict:
            if kind == objlnk:
                value = {ri: str(v) for ri, v in value.items()}
            if len(value) == 1:
                ((ri, one),) = value.items()
                below[(ids[0], ri)] = one
                continue
        elif kind == objlnk:
            value = str(value)
        below[ids[0]] = value
    return below


def decode(payload: bytes, path: Path, registry: Registry) -> Node | Records:
    tree = load_cbor(payload, DIALECT.name)
    if type(tree) is not dict:
        raise DecodeError(f"{DIALECT.name}: expected a map, got {type(tree).__name__}")
    if len(path) == 2:
        node = fast_instance(tree, path, registry)
        if node is not None:
            return node
    return decode_tree(tree, path, registry)


def decode_tree(tree: Tree, path: Path, registry: Registry) -> Node | Records:
    """The general path: every leaf of the tree, typed and assembled by :mod:`.senml`."""
    leaves: list[senml.RawLeaf] = []
    if _walk(tree, (), leaves):
        _no_duplicates(leaves)
    return senml.assemble(leaves, DIALECT, path, registry, indexed=False)


def _overlaps(tree: Tree) -> bool:
    """True when a key of ``tree`` is an array key that starts with another of its keys.

    Only such keys can lead two leaves to one path: two leaves whose walks part at
    keys neither of which starts the other differ where those keys differ.
    """
    for key in tree:
        if type(key) is tuple:
            if key[0] in tree:  # the plain id of its first level (or the same path)
                return True
            for end in range(1, len(key)):
                if key[:end] in tree:
                    return True
    return False


def _no_duplicates(leaves: list[senml.RawLeaf]) -> None:
    seen: set[Path] = set()
    for (p, *_), _kind, _value in leaves:
        if p in seen:
            raise DecodeError(f"{DIALECT.name}: {p} occurs twice")
        seen.add(p)


def _converted(info: senml.ResInfo, raw: object) -> Value | senml.Refused:
    """A leaf value that is not canonical as it is, by the conversions of the general path.

    REFUSED when the general path must decide (tag 1 times, maps, a bad value).
    """
    kind = _KIND_OF_CBOR.get(type(raw), -1)
    if kind < 0:
        return senml.REFUSED
    return senml.checked_value(DIALECT, info, kind, raw)


def fast_instance(tree: Tree, path: Path, registry: Registry) -> InstanceNode | None:
    """The instance at ``path`` of a tree in the canonical shape; None for anything else.

    The shape :func:`encode` writes for an instance with two or more resources:
    ``{[o, i]: {rid: value, rid: {ri: value, ...}, [rid, ri]: value}}`` with
    defined resources only. The nested maps are read directly. A value whose
    type is the definition's (:func:`senml.canonical`: a CBOR type implies its
    kind) is kept, the others take the conversions of the general path
    (:func:`_converted`). Any doubt returns None and :func:`decode_tree` decides
    (and raises the errors).
    """
    if len(tree) != 1:
        return None
    ((key, inner),) = tree.items()
    if (
        type(key) is not tuple
        or len(key) != 2
        or type(key[0]) is not int
        or type(key[1]) is not int
        or key != path
        or type(inner) is not dict
    ):
        return None
    obj = registry.get(path[0])
    if obj is None:
        return None
    table = senml.resource_table(obj)
    resources: dict[int, ResourceNode | MultiResourceNode] = {}
    for k, v in inner.items():
        if type(k) is int:
            info = table.get(k)
            if info is None or k in resources:
                return None
            pytype, lo, hi = info.pytype, info.lo, info.hi
            if not info.multiple:
                if not (type(v) is pytype and (lo is None or lo <= v <= hi)):  # type: ignore[operator]
                    checked = _converted(info, v)
                    if isinstance(checked, senml.Refused):
                        return None
                    v = checked
                resources[k] = ResourceNode(k, v)
                continue
            if type(v) is not dict or not v:
                return None
            values: dict[int, Any] = {}
            for ri, x in v.items():
                if type(ri) is not int or not 0 <= ri <= MAX_ID:
                    return None
                if not (type(x) is pytype and (lo is None or lo <= x <= hi)):  # type: ignore[operator]
                    checked = _converted(info, x)
                    if isinstance(checked, senml.Refused):
                        return None
                    x = checked
                values[ri] = x
            resources[k] = MultiResourceNode(k, values)
        elif type(k) is tuple and len(k) == 2:
            rid, ri = k
            if type(rid) is not int or type(ri) is not int or not 0 <= ri <= MAX_ID:
                return None
            info = table.get(rid)
            if info is None or not info.multiple:
                return None
            multi = resources.get(rid)
            if multi is None:
                multi = resources[rid] = MultiResourceNode(rid, {})
            elif ri in multi.values:  # type: ignore[union-attr]
                return None
            pytype, lo, hi = info.pytype, info.lo, info.hi
            if not (type(v) is pytype and (lo is None or lo <= v <= hi)):  # type: ignore[operator]
                checked = _converted(info, v)
                if isinstance(checked, senml.Refused):
                    return None
                v = checked
            multi.values[ri] = v  # type: ignore[union-attr]
        else:
            return None
    return InstanceNode(path[1], resources)


def _walk(tree: Tree, prefix: tuple[int, ...], out: list[senml.RawLeaf]) -> bool:
    """Append the leaves below ``prefix`` to ``out``, in map order.

    True when some map of the tree has overlapping keys (:func:`_overlaps`): only then
    can two leaves have one path, and the caller checks.
    """
    append = out.append
    kind_of = _KIND_OF_CBOR.get
    known = senml.TARGETS.get  # valid leaf paths seen before
    overlap = False
    grouped = False
    for key, value in tree.items():
        if type(key) is int and 0 <= key <= MAX_ID:
            ids = (*prefix, key)
        elif type(key) is tuple and 0 < len(key) <= 4 - len(prefix) and _all_ids(key):
            ids = prefix + key
            grouped = True
        elif type(key) is tuple and len(key) > 4 - len(prefix):
            raise DecodeError(
                f"{DIALECT.name}: array key of {len(key)} ids below {_show(prefix)}: "
                "the path is deeper than 4 levels"
            )
        elif type(key) is int:
            raise DecodeError(f"{DIALECT.name}: id {key} below {_show(prefix)} out of range")
        else:
            raise DecodeError(f"{DIALECT.name}: bad key {_short(key)} below {_show(prefix)}")
        if type(value) is dict:
            if len(ids) > 4:
                raise DecodeError(f"{DIALECT.name}: path {_show(ids)} is deeper than 4 levels")
            overlap = _walk(value, ids, out) or overlap
            continue
        t = known(ids)
        if t is None:
            if len(ids) > 4:
                raise DecodeError(f"{DIALECT.name}: path {_show(ids)} is deeper than 4 levels")
            t = senml.target(ids)
        kind = kind_of(type(value), -1)
        if kind < 0:
            if type(value) is datetime.datetime:  # tag 1 (or 0): epoch time
                kind, value = senml.TIME_TAG, int(value.timestamp())
            else:
                raise DecodeError(
                    f"{DIALECT.name}: {_show(ids)}: unsupported CBOR value of type "
                    f"{type(value).__name__}"
                )
        append((t, kind, value))
    return overlap or (grouped and _overlaps(tree))


def _short(key: object) -> str:
    """``repr`` of a map key for an error message, cut short after 40 characters."""
    text = repr(key)
    return text if len(text) <= 40 else f"{text[:40]}..."


def _all_ids(key: tuple[object, ...]) -> bool:
    return all(type(k) is int and 0 <= k <= MAX_ID for k in key)


def _show(ids: tuple[object, ...]) -> str:
    """A path for an error message (the first 5 ids of a longer one)."""
    shown = "/" + "/".join(map(str, ids[:5]))
    return shown if len(ids) <= 5 else f"{shown}/... ({len(ids)} ids)"

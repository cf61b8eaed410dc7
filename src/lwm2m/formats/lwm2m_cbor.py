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
"""

from __future__ import annotations

import datetime
from typing import Any

from lwm2m.errors import DecodeError
from lwm2m.formats import senml
from lwm2m.formats.senml_cbor import dump_cbor, load_cbor
from lwm2m.model import MAX_ID, Node, Path, Records, Registry, ResourceType

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
    _, items = senml.leaves(node, path, registry)
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
    tree = _collapse(below) if nested else below
    if path and tree:
        if len(tree) == 1:
            ((key, value),) = tree.items()
            tree = {(*path, *key) if type(key) is tuple else (*path, key): value}
        else:
            tree = {path[0] if len(path) == 1 else tuple(path): tree}
    return dump_cbor(tree)


def decode(payload: bytes, path: Path, registry: Registry) -> Node | Records:
    tree = load_cbor(payload, DIALECT.name)
    if type(tree) is not dict:
        raise DecodeError(f"{DIALECT.name}: expected a map, got {type(tree).__name__}")
    leaves: list[senml.RawLeaf] = []
    _walk(tree, (), leaves, set())
    return senml.assemble(leaves, DIALECT, path, registry, indexed=False)


def _walk(
    tree: Tree, prefix: tuple[int, ...], out: list[senml.RawLeaf], seen: set[tuple[int, ...]]
) -> None:
    append = out.append
    kind_of = _KIND_OF_CBOR.get
    known = senml.TARGETS.get  # valid leaf paths seen before
    for key, value in tree.items():
        if type(key) is int and 0 <= key <= MAX_ID:
            ids = (*prefix, key)
        elif type(key) is tuple and key and all(type(k) is int and 0 <= k <= MAX_ID for k in key):
            ids = prefix + key
        elif type(key) is int:
            raise DecodeError(f"{DIALECT.name}: id {key} below {_show(prefix)} out of range")
        else:
            raise DecodeError(f"{DIALECT.name}: bad key {key!r} below {_show(prefix)}")
        if type(value) is dict:
            if len(ids) > 4:
                raise DecodeError(f"{DIALECT.name}: path {_show(ids)} is deeper than 4 levels")
            _walk(value, ids, out, seen)
            continue
        t = known(ids)
        if t is None:
            if len(ids) > 4:
                raise DecodeError(f"{DIALECT.name}: path {_show(ids)} is deeper than 4 levels")
            t = senml.target(ids)
        if ids in seen:
            raise DecodeError(f"{DIALECT.name}: {_show(ids)} occurs twice")
        seen.add(ids)
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


def _show(ids: tuple[int, ...]) -> str:
    return "/" + "/".join(map(str, ids))

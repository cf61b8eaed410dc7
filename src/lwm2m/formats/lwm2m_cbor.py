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
        ids: tuple[int, ...] = (key,)
        while type(value) is dict and len(value) == 1:
            ((k2, value),) = value.items()
            ids += (k2,)
        if type(value) is dict:
            value = _collapse(value)
        out[ids[0] if len(ids) == 1 else ids] = value
    return out


def encode(node: Node | Records, path: Path, registry: Registry) -> bytes:
    bn, items = senml.leaves(node, path, registry)
    root: Tree = {}
    for name, kind, value in items:
        ids = senml.parse_name(bn + name)
        assert ids is not None  # names made by leaves() are paths
        parent = root
        for i in ids[:-1]:
            child = parent.get(i)
            if child is None:
                child = parent[i] = {}
            parent = child
        parent[ids[-1]] = str(value) if kind == senml.OBJLNK else value
    return dump_cbor(_collapse(root))


def decode(payload: bytes, path: Path, registry: Registry) -> Node | Records:
    tree = load_cbor(payload, DIALECT.name)
    if type(tree) is not dict:
        raise DecodeError(f"{DIALECT.name}: expected a map, got {type(tree).__name__}")
    asm = senml.Assembler(DIALECT, registry, path)
    seen: set[Path] = set()
    _walk(tree, (), asm, seen)
    return asm.result()


def _walk(tree: Tree, prefix: tuple[int, ...], asm: senml.Assembler, seen: set[Path]) -> None:
    for key, value in tree.items():
        if type(key) is int:
            ids = (*prefix, key)
            if not 0 <= key <= MAX_ID:
                raise DecodeError(f"{DIALECT.name}: id {key} below {_show(prefix)} out of range")
        elif type(key) is tuple and key and all(type(k) is int and 0 <= k <= MAX_ID for k in key):
            ids = prefix + key
        else:
            raise DecodeError(f"{DIALECT.name}: bad key {key!r} below {_show(prefix)}")
        if len(ids) > 4:
            raise DecodeError(f"{DIALECT.name}: path {_show(ids)} is deeper than 4 levels")
        if type(value) is dict:
            _walk(value, ids, asm, seen)
            continue
        p = tuple.__new__(Path, ids)
        if p in seen:
            raise DecodeError(f"{DIALECT.name}: {p} occurs twice")
        seen.add(p)
        kind = _KIND_OF_CBOR.get(type(value), -1)
        if kind < 0:
            if type(value) is datetime.datetime:  # tag 1 (or 0): epoch time
                kind, value = senml.TIME_TAG, int(value.timestamp())
            else:
                raise DecodeError(
                    f"{DIALECT.name}: {p}: unsupported CBOR value of type {type(value).__name__}"
                )
        asm.add(p, kind, value)


def _show(ids: tuple[int, ...]) -> str:
    return "/" + "/".join(map(str, ids))

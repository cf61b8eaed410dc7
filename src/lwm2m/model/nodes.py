"""Values exchanged by the content formats: typed nodes and flat records.

What a payload holds depends on the request path (LwM2M Core TS 6.4 / 7.4):

=====================  ===================================================
request path           node
=====================  ===================================================
``/`` (composite)      :data:`Records` — ``{Path: value}`` of leaf paths
``/o``                 :class:`ObjectNode`
``/o/i``               :class:`InstanceNode`
``/o/i/r``             :class:`ResourceNode` or :class:`MultiResourceNode`
``/o/i/r/ri``          :class:`ResourceNode` whose ``id`` is the instance id
=====================  ===================================================

:func:`to_records` and :func:`from_records` convert between the tree and
the flat form used by SenML and the composite operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lwm2m.errors import ModelError
from lwm2m.model.path import Path
from lwm2m.model.types import Value


@dataclass(slots=True)
class ResourceNode:
    """A single-instance resource, or one instance of a multiple resource."""

    id: int
    value: Value


@dataclass(slots=True)
class MultiResourceNode:
    """A multiple-instance resource: resource instance id -> value."""

    id: int
    values: dict[int, Value] = field(default_factory=dict)


@dataclass(slots=True)
class InstanceNode:
    """An object instance and its resources."""

    id: int
    resources: dict[int, ResourceNode | MultiResourceNode] = field(default_factory=dict)


@dataclass(slots=True)
class ObjectNode:
    """An object with several instances."""

    id: int
    instances: dict[int, InstanceNode] = field(default_factory=dict)


Node = ResourceNode | MultiResourceNode | InstanceNode | ObjectNode
Records = dict[Path, Value]
"""Flat form: leaf path (resource or resource instance) -> value."""


def _add_resource(out: Records, base: Path, res: ResourceNode | MultiResourceNode) -> None:
    if isinstance(res, ResourceNode):
        out[base.child(res.id)] = res.value
    else:
        rpath = base.child(res.id)
        for ri, v in res.values.items():
            out[rpath.child(ri)] = v


def to_records(node: Node | Records, path: Path) -> Records:
    """Flatten ``node`` found at request ``path`` into ``{leaf path: value}``.

    A multiple resource becomes one record per instance; an empty multiple
    resource or an empty instance contributes no record.
    """
    if isinstance(node, dict):
        return dict(node)
    out: Records = {}
    if isinstance(node, ObjectNode):
        opath = Path(node.id)
        for inst in node.instances.values():
            ipath = opath.child(inst.id)
            for res in inst.resources.values():
                _add_resource(out, ipath, res)
    elif isinstance(node, InstanceNode):
        ipath = path if path.level == 2 else path.child(node.id)
        for res in node.resources.values():
            _add_resource(out, ipath, res)
    elif path.level == 4:
        if not isinstance(node, ResourceNode):
            raise ModelError(f"{path}: a resource instance path takes a ResourceNode")
        out[path] = node.value
    else:
        _add_resource(out, path.parent if path.level == 3 else path, node)
    return out


def from_records(
    records: Records,
    path: Path,
    is_multiple: dict[Path, bool] | None = None,
) -> Node | Records:
    """Rebuild the node for request ``path`` from flat records.

    ``is_multiple`` tells, for resource paths, whether the resource is a
    multiple resource (the definition's answer); without an entry a resource
    is multiple exactly when its records carry a resource instance id.
    Records outside ``path`` raise :class:`ModelError`.
    """
    if path.level == 0:
        return dict(records)
    for p in records:
        if not path.is_prefix_of(p):
            raise ModelError(f"record {p} lies outside the request path {path}")
        if p.level < 3:
            raise ModelError(f"record {p} is not a resource or resource instance path")
    if path.level == 4:
        if set(records) != {path}:
            raise ModelError(f"{path}: expected exactly one value for the resource instance")
        return ResourceNode(path[3], records[path])

    instances: dict[tuple[int, int], InstanceNode] = {}
    for p, v in records.items():
        key = (p[0], p[1])
        inst = instances.get(key)
        if inst is None:
            inst = instances[key] = InstanceNode(p[1])
        rpath = tuple.__new__(Path, p[:3])
        multiple = (is_multiple or {}).get(rpath, p.level == 4)
        existing = inst.resources.get(p[2])
        if multiple:
            if p.level != 4:
                raise ModelError(f"{p}: a multiple resource needs resource instance ids")
            if existing is None:
                existing = inst.resources[p[2]] = MultiResourceNode(p[2])
            if not isinstance(existing, MultiResourceNode):
                raise ModelError(f"{rpath}: mixes single and multiple values")
            existing.values[p[3]] = v
        else:
            if p.level == 4:
                raise ModelError(f"{p}: resource {rpath} is single-instance")
            if existing is not None:
                raise ModelError(f"{rpath}: given twice or mixes single and multiple values")
            inst.resources[p[2]] = ResourceNode(p[2], v)

    if path.level == 3:
        node_inst = instances.get((path[0], path[1]))
        res = node_inst.resources.get(path[2]) if node_inst else None
        if res is None:
            multiple = (is_multiple or {}).get(path, False)
            return MultiResourceNode(path[2]) if multiple else ResourceNode(path[2], None)
        return res
    if path.level == 2:
        return instances.get((path[0], path[1]), InstanceNode(path[1]))
    obj = ObjectNode(path[0])
    for (_, iid), inst in sorted(instances.items()):
        obj.instances[iid] = inst
    return obj

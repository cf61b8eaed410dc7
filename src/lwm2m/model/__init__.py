"""The LwM2M data model: paths, value types, definitions, nodes and the registry."""

from lwm2m.model.definitions import ObjectDef, Operations, ResourceDef, ValueRange
from lwm2m.model.nodes import (
    InstanceNode,
    MultiResourceNode,
    Node,
    ObjectNode,
    Records,
    ResourceNode,
    from_records,
    to_records,
)
from lwm2m.model.path import MAX_ID, ROOT, Path
from lwm2m.model.registry import Registry, default_registry
from lwm2m.model.types import ObjLink, ResourceType, Value, coerce, guess_type

__all__ = [
    "MAX_ID",
    "ROOT",
    "InstanceNode",
    "MultiResourceNode",
    "Node",
    "ObjLink",
    "ObjectDef",
    "ObjectNode",
    "Operations",
    "Path",
    "Records",
    "Registry",
    "ResourceDef",
    "ResourceNode",
    "ResourceType",
    "Value",
    "ValueRange",
    "coerce",
    "default_registry",
    "from_records",
    "guess_type",
    "to_records",
]

"""Helpers shared by the single-value formats: text/plain (0), octet-stream (42), CBOR (60)."""

from __future__ import annotations

from lwm2m.errors import EncodeError, UnsupportedFormat
from lwm2m.model import (
    MultiResourceNode,
    Node,
    Path,
    Records,
    Registry,
    ResourceDef,
    ResourceNode,
    Value,
)

__all__ = ["single_target", "single_value"]


def single_target(path: Path, registry: Registry, what: str) -> ResourceDef | None:
    """The definition of the single value at ``path``; reject what is not a single value."""
    if len(path) < 3:
        raise UnsupportedFormat(f"{what} carries a single value, not a {path.level_name}")
    rdef = registry.resource(path)
    if len(path) == 3 and rdef is not None and rdef.multiple:
        raise UnsupportedFormat(f"{what} cannot carry the multiple-instance resource {path}")
    return rdef


def single_value(node: Node | Records, path: Path) -> Value:
    """The value of the single-value ``node`` found at ``path`` (shared by 0, 42 and 60)."""
    if isinstance(node, MultiResourceNode):
        raise UnsupportedFormat(f"a single-value format cannot carry the multiple resource {path}")
    if not isinstance(node, ResourceNode):
        raise UnsupportedFormat(f"a single-value format cannot carry a {type(node).__name__}")
    if node.id != path[-1]:
        raise EncodeError(f"{path}: node id {node.id} does not match the path")
    return node.value

"""application/octet-stream, content format 42 (LwM2M Core TS 1.1 section 7.4.2).

Carries the raw bytes of one Opaque value: a single-instance resource (``/o/i/r``) or one
resource instance (``/o/i/r/ri``). Resources of any other type, multiple resources,
instances and objects raise :class:`UnsupportedFormat` (CoAP 4.06 / 4.15). A resource
without a definition is taken as Opaque. Every byte string is a valid payload, so
:func:`decode` only fails for the path, never for the bytes; the payload is its own
canonical form.
"""

from __future__ import annotations

from lwm2m.errors import EncodeError, UnsupportedFormat
from lwm2m.formats._single import single_target, single_value
from lwm2m.model import Node, Path, Records, Registry, ResourceDef, ResourceNode, ResourceType

__all__ = ["decode", "encode"]


def _check_opaque(rdef: ResourceDef | None, path: Path) -> None:
    if rdef is not None and rdef.type is not ResourceType.OPAQUE:
        raise UnsupportedFormat(
            f"application/octet-stream carries Opaque resources only; {path} is {rdef.type.value}"
        )


def encode(node: Node | Records, path: Path, registry: Registry) -> bytes:
    """The raw bytes of the Opaque value at ``path``."""
    rdef = single_target(path, registry, "application/octet-stream")
    _check_opaque(rdef, path)
    value = single_value(node, path)
    if not isinstance(value, bytes | bytearray | memoryview):
        raise EncodeError(
            f"application/octet-stream {path}: expected bytes, got {type(value).__name__}"
        )
    return bytes(value)


def decode(payload: bytes, path: Path, registry: Registry) -> Node | Records:
    """The Opaque value at ``path`` is the payload itself."""
    rdef = single_target(path, registry, "application/octet-stream")
    _check_opaque(rdef, path)
    return ResourceNode(path[-1], bytes(payload))

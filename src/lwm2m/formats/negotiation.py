"""Which content format can carry what, and which one a client answers with.

What each format carries (LwM2M Core TS 1.1 section 7.4):

- text/plain (0), CBOR (60): one value, a single-instance resource or a resource
  instance; text/plain never carries Opaque values;
- application/octet-stream (42): one Opaque value;
- OMA TLV (11542) and OMA JSON (11543): objects, instances, resources and resource
  instances, not the root path (composite operations);
- SenML JSON (110), SenML CBOR (112), LwM2M CBOR (11544): anything, including the
  root path with composite records.

Default when the request has no Accept option (Core TS 1.0.2 section 6.4, 1.1 section 7.4:
the client "will use its own preferred data format"):

- a single value: text/plain, or application/octet-stream for an Opaque resource;
- anything else: TLV for an LwM2M 1.0 client (TLV is the one multi-value format a 1.0
  client must support); SenML CBOR from LwM2M 1.1 on (1.1 section 7.4: clients SHOULD
  support SenML CBOR or SenML JSON and SHOULD NOT use the legacy TLV or JSON formats).
"""

from __future__ import annotations

from lwm2m.coap.numbers import ContentFormat
from lwm2m.errors import UnsupportedFormat
from lwm2m.model import Node, Path, Records, ResourceNode, ResourceType

__all__ = ["choose_format", "supports"]

_SINGLE_VALUE = frozenset(
    {ContentFormat.TEXT_PLAIN, ContentFormat.OCTET_STREAM, ContentFormat.CBOR}
)
_NO_ROOT = frozenset({ContentFormat.LWM2M_TLV, ContentFormat.LWM2M_JSON})
_ANYTHING = frozenset(
    {ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR, ContentFormat.LWM2M_CBOR}
)


def supports(cf: int, path: Path, node_or_records: Node | Records) -> bool:
    """True when content format ``cf`` can carry ``node_or_records`` found at ``path``."""
    if cf in _ANYTHING:
        return True
    if cf in _NO_ROOT:
        return len(path) > 0 and not isinstance(node_or_records, dict)
    if cf not in _SINGLE_VALUE:
        return False
    if len(path) < 3 or not isinstance(node_or_records, ResourceNode):
        return False
    value = node_or_records.value
    if value is None:
        return False
    is_bytes = isinstance(value, bytes | bytearray | memoryview)
    if cf == ContentFormat.TEXT_PLAIN:
        return not is_bytes
    if cf == ContentFormat.OCTET_STREAM:
        return is_bytes
    return True


def _version(text: str) -> tuple[int, int]:
    parts = text.strip().split(".")
    try:
        major = int(parts[0])
        minor = int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise ValueError(f"invalid LwM2M version {text!r}") from None
    return major, minor


def _can_carry(cf: int, path: Path, single_value_type: ResourceType | None) -> bool:
    if cf in _ANYTHING:
        return True
    if cf in _NO_ROOT:
        return len(path) > 0
    if cf in _SINGLE_VALUE:
        if single_value_type is None or single_value_type is ResourceType.NONE:
            return False
        if cf == ContentFormat.TEXT_PLAIN:
            return single_value_type is not ResourceType.OPAQUE
        if cf == ContentFormat.OCTET_STREAM:
            return single_value_type is ResourceType.OPAQUE
        return True
    return False


def choose_format(
    accept: int | None,
    path: Path,
    lwm2m_version: str,
    single_value_type: ResourceType | None,
) -> int:
    """The content format of a client's answer for ``path``.

    ``single_value_type`` is the resource type when the target is one value (a
    single-instance resource or a resource instance), else None. Raise
    :class:`UnsupportedFormat` (CoAP 4.06) when ``accept`` cannot carry the target, and
    when no format can (the root path for an LwM2M 1.0 client, an executable resource).
    """
    if accept is not None:
        if not _can_carry(accept, path, single_value_type):
            raise UnsupportedFormat(f"content format {accept} cannot carry {path}")
        return accept
    if single_value_type is not None:
        if single_value_type is ResourceType.NONE:
            raise UnsupportedFormat(f"{path} is executable and has no value")
        if single_value_type is ResourceType.OPAQUE:
            return ContentFormat.OCTET_STREAM
        return ContentFormat.TEXT_PLAIN
    if _version(lwm2m_version) < (1, 1):
        if len(path) == 0:
            raise UnsupportedFormat("LwM2M 1.0 has no format for the root path")
        return ContentFormat.LWM2M_TLV
    return ContentFormat.SENML_CBOR

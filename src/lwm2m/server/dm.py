"""Device-management requests, server side, without I/O: build, choose formats, decode.

Every operation of Core TS 1.1 section 6.3/6.4 (1.0.2 section 5.4/5.5) maps to
one CoAP request here, and every answer is checked and decoded here; the asyncio
shell (:mod:`lwm2m.server.server`) only sends and awaits.

=========================  =========================================================
operation                  request
=========================  =========================================================
Read                       GET path, Accept: format
Discover                   GET path, Accept: 40
Write (replace / partial)  PUT / POST path, Content-Format: format
Write-Attributes           PUT path?pmin=..&pmax=.. (no payload)
Execute                    POST path, payload: arguments
Create                     POST /o, the instance in the payload
Delete                     DELETE /o/i
Observe                    GET path, Observe: 0
Read-Composite             FETCH /, SenML list of paths, Accept: format
Write-Composite            iPATCH /, records
Observe-Composite          FETCH /, Observe: 0
=========================  =========================================================

Default formats (when the caller names none), by the client's LwM2M version:

* 1.0 -- a single value in text/plain (application/octet-stream for Opaque),
  anything else in TLV (the one multi-value format every 1.0 client has);
* 1.1 and later -- the first SenML/LwM2M CBOR format the client lists in the
  ``ct`` of its registration, else SenML CBOR.

Errors: a non-2.xx answer raises :class:`DmError` (code and diagnostic text);
an answer that does not decode raises :class:`~lwm2m.coap.errors.BadResponse`.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Final

from lwm2m import formats
from lwm2m.coap.errors import BadResponse, RequestTimeout
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat, dotted
from lwm2m.errors import DecodeError, EncodeError, Lwm2mError, ModelError, UnsupportedFormat
from lwm2m.formats import link as linkfmt
from lwm2m.formats import senml_cbor, senml_json
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    Node,
    ObjectNode,
    ObjLink,
    Path,
    Records,
    Registry,
    ResourceNode,
    ResourceType,
    Value,
    coerce,
)
from lwm2m.server.registration import Registration

log = logging.getLogger(__name__)

__all__ = [
    "ATTRIBUTE_NAMES",
    "UNSET",
    "AttributeArg",
    "ClientNotRegistered",
    "DmError",
    "PathValues",
    "RequestExpired",
    "VersionMismatch",
    "attribute_query",
    "build_composite_paths",
    "build_create",
    "build_read",
    "build_write",
    "build_write_composite",
    "check",
    "created_path",
    "decode_composite",
    "decode_content",
    "decode_discover",
    "default_format",
    "note_unmodelled",
    "parse_path",
    "to_node",
    "to_records",
]

_CBOR_FAMILY: Final = (
    ContentFormat.SENML_CBOR,
    ContentFormat.LWM2M_CBOR,
    ContentFormat.SENML_JSON,
)
#: Write-Attributes parameters (Core TS 1.1 section 5.1.2), in the order sent.
ATTRIBUTE_NAMES: Final = ("pmin", "pmax", "gt", "lt", "st", "epmin", "epmax")


class _Unset:
    """Marker for an attribute the caller did not mention."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
#: A Write-Attributes argument: a number, None to remove the attribute, or UNSET.
AttributeArg = float | _Unset | None


# --- errors ------------------------------------------------------------------------


class DmError(Lwm2mError):
    """The client answered a device-management request with a non-2.xx code.

    ``code`` is the CoAP response code (e.g. ``Code.NOT_FOUND``), ``message`` the
    diagnostic payload the client sent, if any.
    """

    def __init__(self, code: int, message: str = "") -> None:
        self.code = code
        self.message = message
        text = f"{dotted(code)} {self.code_name}"
        super().__init__(f"{text}: {message}" if message else text)

    @property
    def code_name(self) -> str:
        """The code's name, e.g. ``NOT_FOUND`` (``CODE_4_31`` when unregistered)."""
        try:
            return Code(self.code).name
        except ValueError:
            return f"CODE_{self.code >> 5}_{self.code & 0x1F:02d}"


class ClientNotRegistered(Lwm2mError, LookupError):
    """No current registration for that endpoint name (or it ended meanwhile)."""


class RequestExpired(RequestTimeout):
    """A request queued for a sleeping client was not sent before its expiry."""


class VersionMismatch(ModelError):
    """The operation does not exist in the LwM2M version the client registered with."""


# --- paths and values -----------------------------------------------------------------


def parse_path(path: str | Path) -> Path:
    """Parse ``"/3/0/1"``; a bad path raises :class:`ModelError`."""
    return Path.parse(path)


def _value(path: Path, value: object, registry: Registry) -> Value:
    rdef = registry.resource(path)
    if rdef is None:
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        if value is not None and not isinstance(value, str | int | float | bytes | ObjLink):
            raise ModelError(f"{path}: no LwM2M type for {type(value).__name__}")
        return value
    return coerce(rdef.type, value, str(path))


def _resource(path: Path, value: object, registry: Registry) -> ResourceNode | MultiResourceNode:
    if isinstance(value, ResourceNode | MultiResourceNode):
        return value
    if isinstance(value, Mapping):
        return MultiResourceNode(
            path[2], {int(ri): _value(path.child(int(ri)), v, registry) for ri, v in value.items()}
        )
    return ResourceNode(path[2], _value(path, value, registry))


def to_node(path: Path, value: object, registry: Registry) -> Node:
    """The node to write at ``path``: nodes pass through, plain values are wrapped.

    ``/o/i/r/ri``: a value; ``/o/i/r``: a value, or a ``{instance id: value}`` dict
    for a multiple resource; ``/o/i``: a ``{resource id: value or dict}`` dict. Values
    are checked against the registry's resource type (an int for a Float resource
    becomes a float).
    """
    if isinstance(value, ResourceNode | MultiResourceNode | InstanceNode | ObjectNode):
        return value
    if len(path) == 4:
        return ResourceNode(path[3], _value(path, value, registry))
    if len(path) == 3:
        return _resource(path, value, registry)
    if len(path) == 2 and isinstance(value, Mapping):
        return InstanceNode(
            path[1],
            {int(rid): _resource(path.child(int(rid)), v, registry) for rid, v in value.items()},
        )
    raise ModelError(f"cannot build a {path.level_name} node from {type(value).__name__}")


PathValues = Mapping[Any, object]
"""Values keyed by path, as text (``"/3/0/14"``) or :class:`Path` (checked when parsed)."""


def to_records(values: PathValues, registry: Registry) -> Records:
    """Write-Composite records from ``{"/3/0/14": "+02:00", ...}`` (paths as text or Path)."""
    records: Records = {}
    for key, value in values.items():
        path = Path.parse(key)
        if len(path) < 3:
            raise ModelError(f"Write-Composite takes resource paths, not {path}")
        records[path] = _value(path, value, registry)
    return records


def _single_type(path: Path, registry: Registry) -> ResourceType | None:
    """The type of the one value ``path`` names, None if it names several (or unknown)."""
    rdef = registry.resource(path)
    if rdef is None or len(path) < 3 or (len(path) == 3 and rdef.multiple):
        return None
    return rdef.type


def _major_minor(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return 1, 0


def default_format(
    registration: Registration,
    path: Path,
    registry: Registry,
    node: Node | None = None,
) -> int:
    """The format to read ``path`` in (``node`` None) or to write ``node`` in."""
    if _major_minor(registration.version) >= (1, 1):
        for cf in registration.object_links.content_formats:
            if cf in _CBOR_FAMILY:
                return cf
        return ContentFormat.SENML_CBOR
    if node is None:
        rtype = _single_type(path, registry)
    elif isinstance(node, ResourceNode) and len(path) >= 3 and node.value is not None:
        rtype = ResourceType.OPAQUE if isinstance(node.value, bytes) else ResourceType.STRING
    else:
        rtype = None
    if rtype is None or rtype is ResourceType.NONE:
        return ContentFormat.LWM2M_TLV
    return ContentFormat.OCTET_STREAM if rtype is ResourceType.OPAQUE else ContentFormat.TEXT_PLAIN


# --- requests ------------------------------------------------------------------------------


def build_read(path: Path, accept: int, *, observe: bool = False) -> Message:
    return Message.request(Code.GET, path.segments(), accept=accept, observe=0 if observe else None)


def _encode(cf: int, node: Node | Records, path: Path, registry: Registry) -> bytes:
    try:
        return formats.encode(cf, node, path, registry)
    except UnsupportedFormat as exc:
        raise EncodeError(str(exc)) from None


def build_write(path: Path, node: Node, cf: int, registry: Registry, *, replace: bool) -> Message:
    payload = _encode(cf, node, path, registry)
    code = Code.PUT if replace else Code.POST
    return Message.request(code, path.segments(), payload=payload, content_format=cf)


def build_create(object_id: int, instance: InstanceNode, cf: int, registry: Registry) -> Message:
    """Create carries the new instance inside an object (Core TS 1.1 section 6.3.6)."""
    path = Path(object_id)
    payload = _encode(cf, ObjectNode(object_id, {instance.id: instance}), path, registry)
    return Message.request(Code.POST, path.segments(), payload=payload, content_format=cf)


def build_create_bare(object_id: int, resources: InstanceNode, registry: Registry) -> Message:
    """Create with resources only: the client picks the instance id (TLV, Core TS 1.0.2 5.4.6)."""
    cf = ContentFormat.LWM2M_TLV
    payload = _encode(cf, resources, Path(object_id, resources.id), registry)
    return Message.request(Code.POST, [str(object_id)], payload=payload, content_format=cf)


def _paths_body(paths: list[Path], cf: int) -> bytes:
    if cf == ContentFormat.SENML_JSON:
        return senml_json.encode_paths(paths)
    return senml_cbor.encode_paths(paths)


def build_composite_paths(paths: Iterable[Path], cf: int, *, observe: bool = False) -> Message:
    """FETCH / with the SenML list of paths; the answer is asked in ``cf`` (6.4.4)."""
    plist = list(paths)
    if not plist:
        raise ModelError("a composite request needs at least one path")
    # The paths go in SenML (6.4.4); LwM2M CBOR answers still get a SenML CBOR body.
    request_cf = (
        ContentFormat.SENML_JSON if cf == ContentFormat.SENML_JSON else ContentFormat.SENML_CBOR
    )
    return Message.request(
        Code.FETCH,
        "",
        payload=_paths_body(plist, request_cf),
        content_format=request_cf,
        accept=cf,
        observe=0 if observe else None,
    )


def build_write_composite(records: Mapping[Path, Value], cf: int, registry: Registry) -> Message:
    if not records:
        raise ModelError("Write-Composite needs at least one value")
    payload = _encode(cf, dict(records), Path(), registry)
    return Message.request(Code.IPATCH, "", payload=payload, content_format=cf)


def attribute_query(attributes: Mapping[str, object]) -> list[str]:
    """Uri-Query values of Write-Attributes; a value of None clears that attribute."""
    query: list[str] = []
    for name in ATTRIBUTE_NAMES:
        value = attributes.get(name, UNSET)
        if value is UNSET:
            continue
        if value is None:
            query.append(name)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ModelError(f"attribute {name}: expected a number, got {value!r}")
        if name in linkfmt.INT_ATTRIBUTES:
            if not float(value).is_integer() or value < 0:
                raise ModelError(f"attribute {name}: expected a non-negative integer")
            value = int(value)
        elif not math.isfinite(float(value)):
            raise ModelError(f"attribute {name}: {value} is not finite")
        text = linkfmt.format_attribute(name, value)
        query.append(f"{name}={text}")
    if not query:
        raise ModelError("Write-Attributes needs at least one attribute")
    return query


# --- responses ---------------------------------------------------------------------------


def check(response: Message, *expected: int) -> Message:
    """Return ``response`` if its code is one of ``expected`` (any 2.xx when none)."""
    code = response.code
    ok = code in expected if expected else code >> 5 == 2
    if not ok:
        if code >> 5 == 2:
            raise BadResponse(f"unexpected answer {dotted(code)}")
        raise DmError(code, response.payload.decode("utf-8", "replace"))
    return response


def _content_format(response: Message) -> int | None:
    try:
        cf: int | None = response.content_format
    except DecodeError as exc:
        raise BadResponse(f"bad Content-Format option: {exc}") from None
    return cf


def decode_content(
    response: Message, path: Path, registry: Registry, *, endpoint: str | None = None
) -> Node | Records:
    """Decode a Read/Observe answer for ``path``; without Content-Format, text/plain.

    With ``endpoint``, content of an object the registry does not define is
    reported once per endpoint and object (:func:`note_unmodelled`).
    """
    cf = _content_format(response)
    if cf is None:
        cf = ContentFormat.TEXT_PLAIN if len(path) >= 3 else ContentFormat.LWM2M_TLV
    try:
        content = formats.decode(cf, response.payload, path, registry)
    except (DecodeError, UnsupportedFormat, ModelError) as exc:
        raise BadResponse(f"cannot decode the answer for {path} as {cf}: {exc}") from None
    if endpoint is not None:
        note_unmodelled(endpoint, path, content, registry)
    return content


#: (endpoint, object id) pairs already reported by :func:`note_unmodelled`, oldest first.
_unmodelled_seen: OrderedDict[tuple[str, int], None] = OrderedDict()
#: How many pairs are remembered; past that the oldest may be reported again.
UNMODELLED_MEMORY: Final = 10_000


def note_unmodelled(
    endpoint: str, path: Path, content: Node | Records, registry: Registry
) -> list[int]:
    """Log one warning per (endpoint, object) for decoded content of an undefined object.

    Without a definition a value keeps only what its format carries: a TLV or
    CBOR value of such an object comes out as opaque bytes. Return the object
    ids reported by this call.
    """
    if isinstance(content, dict):
        object_ids = sorted({p[0] for p in content if len(p) > 0})
    else:
        object_ids = [path[0]] if len(path) > 0 else []
    reported: list[int] = []
    for oid in object_ids:
        if oid in registry:
            continue
        key = (endpoint, oid)
        if key in _unmodelled_seen:
            continue
        _unmodelled_seen[key] = None
        if len(_unmodelled_seen) > UNMODELLED_MEMORY:
            _unmodelled_seen.popitem(last=False)
        reported.append(oid)
        log.warning(
            "%s: no definition of object %d, so its values are decoded without their "
            "types (TLV and CBOR values as opaque bytes); load its DDF XML file with "
            "`lwm2m server --models DIR` (or Server(registry=...))",
            endpoint,
            oid,
        )
    return reported


def decode_composite(
    response: Message, registry: Registry, *, endpoint: str | None = None
) -> Records:
    content = decode_content(response, Path(), registry, endpoint=endpoint)
    if not isinstance(content, dict):
        raise BadResponse("a composite answer must hold records")
    return content


def decode_discover(response: Message) -> list[linkfmt.DiscoverEntry]:
    cf = _content_format(response)
    if cf not in (None, ContentFormat.LINK_FORMAT):
        raise BadResponse(f"a Discover answer must be link format, not {cf}")
    try:
        return linkfmt.parse_discover(response.payload)
    except DecodeError as exc:
        raise BadResponse(f"cannot parse the Discover answer: {exc}") from None


def created_path(response: Message, object_id: int, instance: InstanceNode | None) -> Path:
    """The new instance's path: the Location-Path of the 2.01, else the id we sent."""
    try:
        location = response.location_path
    except DecodeError as exc:
        raise BadResponse(f"bad Location-Path: {exc}") from None
    if location:
        try:
            path = Path.from_segments(list(location))
        except ModelError as exc:
            raise BadResponse(f"bad Location-Path {'/'.join(location)!r}: {exc}") from None
        if len(path) != 2 or path[0] != object_id:
            raise BadResponse(f"Location-Path {path} is not an instance of /{object_id}")
        return path
    if instance is None:
        raise BadResponse("Create answered without a Location-Path")
    return Path(object_id, instance.id)

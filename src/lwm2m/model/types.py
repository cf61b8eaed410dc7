"""LwM2M resource data types and their Python values (LwM2M Core TS, Appendix C).

Python representation of each type:

=================  ===========================  =====================================
LwM2M type         Python value                 range
=================  ===========================  =====================================
String             ``str``
Integer            ``int``                      signed 64-bit
Unsigned Integer   ``int``                      0 .. 2**64-1
Float              ``float``                    IEEE 754 binary64
Boolean            ``bool``
Opaque             ``bytes``
Time               ``int`` (Unix seconds)       signed 64-bit
Objlnk             :class:`ObjLink`             ids 0..65535 (65535:65535 is "null")
Corelnk            ``str`` (RFC 6690 text)
None               ``None`` (executable only)
=================  ===========================  =====================================
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from lwm2m.errors import ModelError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1


class ResourceType(enum.Enum):
    """Data types of the OMA DDF ``<Type>`` element; values are the DDF spellings."""

    STRING = "String"
    INTEGER = "Integer"
    UNSIGNED_INTEGER = "Unsigned Integer"
    FLOAT = "Float"
    BOOLEAN = "Boolean"
    OPAQUE = "Opaque"
    TIME = "Time"
    OBJLNK = "Objlnk"
    CORELNK = "Corelnk"
    NONE = "none"

    @classmethod
    def from_ddf(cls, text: str) -> ResourceType:
        """Parse the DDF spelling, case-insensitively; an empty ``<Type/>`` is NONE."""
        key = text.strip().lower()
        for member in cls:
            if member.value.lower() == key:
                return member
        if key == "":
            return cls.NONE
        raise ModelError(f"unknown resource type {text!r}")


@dataclass(frozen=True, slots=True, order=True)
class ObjLink:
    """An Object Link value ``object_id:instance_id`` (LwM2M Core TS C.1)."""

    object_id: int
    instance_id: int

    def __post_init__(self) -> None:
        for name in ("object_id", "instance_id"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 65535:
                raise ModelError(f"ObjLink {name} {v!r} out of range 0..65535")

    @classmethod
    def parse(cls, text: str) -> ObjLink:
        """Parse the text form "o:i"."""
        o, sep, i = text.partition(":")
        o, i = o.strip(), i.strip()
        if not sep or not _is_id(o) or not _is_id(i):
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise ModelError(f"invalid object link {shown!r}, expected 'object:instance'")
        return cls(int(o), int(i))

    @property
    def is_null(self) -> bool:
        return self.object_id == 65535 and self.instance_id == 65535

    def __str__(self) -> str:
        return f"{self.object_id}:{self.instance_id}"


def _is_id(text: str) -> bool:
    """1 to 5 ASCII digits (checked before ``int()``, which takes '²' and long strings)."""
    return 0 < len(text) <= 5 and text.isascii() and text.isdigit()


Value = str | int | float | bool | bytes | ObjLink | None
"""A resource (instance) value as held by the model and the codecs."""

_PY_TYPES: dict[ResourceType, tuple[type, ...]] = {
    ResourceType.STRING: (str,),
    ResourceType.CORELNK: (str,),
    ResourceType.INTEGER: (int,),
    ResourceType.UNSIGNED_INTEGER: (int,),
    ResourceType.TIME: (int,),
    ResourceType.FLOAT: (float, int),
    ResourceType.BOOLEAN: (bool,),
    ResourceType.OPAQUE: (bytes, bytearray, memoryview),
    ResourceType.OBJLNK: (ObjLink,),
}


def coerce(rtype: ResourceType, value: object, where: str = "value") -> Value:
    """Check ``value`` against ``rtype`` and return its canonical Python form.

    Integers are accepted for Float (and become ``float``); ``bytearray`` and
    ``memoryview`` become ``bytes``. ``bool`` is never accepted as a number.
    Raise :class:`ModelError` naming ``where`` otherwise.
    """
    if rtype is ResourceType.NONE:
        if value is not None:
            raise ModelError(f"{where}: executable resources carry no value")
        return None
    allowed = _PY_TYPES[rtype]
    if isinstance(value, bool) and rtype is not ResourceType.BOOLEAN:
        raise ModelError(f"{where}: expected {rtype.value}, got a bool")
    if not isinstance(value, allowed):
        raise ModelError(f"{where}: expected {rtype.value}, got {type(value).__name__}")
    if rtype in (ResourceType.INTEGER, ResourceType.TIME):
        assert isinstance(value, int)
        if not INT64_MIN <= value <= INT64_MAX:
            raise ModelError(f"{where}: {value} does not fit a signed 64-bit integer")
        return value
    if rtype is ResourceType.UNSIGNED_INTEGER:
        assert isinstance(value, int)
        if not 0 <= value <= UINT64_MAX:
            raise ModelError(f"{where}: {value} out of range for an unsigned 64-bit integer")
        return value
    if rtype is ResourceType.FLOAT:
        assert isinstance(value, int | float)
        return float(value)
    if rtype is ResourceType.OPAQUE:
        assert isinstance(value, bytes | bytearray | memoryview)
        return bytes(value)
    return value  # type: ignore[return-value]


def guess_type(value: Value) -> ResourceType:
    """The natural LwM2M type of a Python value (for resources without a definition)."""
    if value is None:
        return ResourceType.NONE
    if isinstance(value, bool):
        return ResourceType.BOOLEAN
    if isinstance(value, int):
        return ResourceType.INTEGER
    if isinstance(value, float):
        return ResourceType.FLOAT
    if isinstance(value, str):
        return ResourceType.STRING
    if isinstance(value, bytes):
        return ResourceType.OPAQUE
    if isinstance(value, ObjLink):
        return ResourceType.OBJLNK
    raise ModelError(f"no LwM2M type for {type(value).__name__}")


def is_finite_float(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))

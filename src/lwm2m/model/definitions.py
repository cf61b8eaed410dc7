"""Object and resource definitions: what the OMA DDF XML files describe.

A :class:`ObjectDef` holds its :class:`ResourceDef` entries by id. Both are
immutable; the :class:`~lwm2m.model.registry.Registry` maps object ids to
definitions.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from lwm2m.errors import ModelError
from lwm2m.model.types import ResourceType, Value, coerce


class Operations(enum.Flag):
    """Allowed operations of a resource (DDF ``<Operations>``: R, W, RW, E or empty)."""

    NONE = 0
    R = enum.auto()
    W = enum.auto()
    E = enum.auto()
    RW = R | W

    @classmethod
    def from_ddf(cls, text: str) -> Operations:
        key = text.strip().upper()
        table = {"": cls.NONE, "R": cls.R, "W": cls.W, "RW": cls.RW, "E": cls.E}
        if key not in table:
            raise ModelError(f"unknown operations {text!r}, expected R, W, RW, E or empty")
        return table[key]

    def to_ddf(self) -> str:
        if self == Operations.NONE:
            return ""
        if self == Operations.RW:
            return "RW"
        return self.name or ""

    @property
    def readable(self) -> bool:
        return bool(self & Operations.R)

    @property
    def writable(self) -> bool:
        return bool(self & Operations.W)

    @property
    def executable(self) -> bool:
        return bool(self & Operations.E)


# A number of a DDF range: sign, digits, optional fraction and exponent. The patterns are
# matched on the stripped text, every quantifier is possessive and no two adjacent parts
# can match the same character, so a failing match takes time linear in the text (two
# optional white space runs side by side at the end took quadratic time).
_NUM = r"[-+]?+\d++(?:\.\d++)?+(?:[eE][-+]?+\d++)?+"
_RANGE_RE = re.compile(rf"({_NUM})\s*+(?:\.\.|-|\u2013)\s*+({_NUM})(?:\s*+(?:bytes?+|B))?+")
_SINGLE_RE = re.compile(_NUM)
_ENUM_RE = re.compile(rf"{_NUM}(?:\s*+,\s*+{_NUM})++")


@dataclass(frozen=True, slots=True)
class ValueRange:
    """A parsed DDF ``<RangeEnumeration>``: an inclusive range or a set of allowed numbers.

    For String and Opaque resources a numeric range bounds the length in
    characters/bytes, which is how the OMA registry uses it (e.g. "0..255").
    """

    low: float | None = None
    high: float | None = None
    allowed: frozenset[float] | None = None

    @classmethod
    def parse(cls, text: str) -> ValueRange | None:
        """Parse "0..255", "1-65534", "-40..85" or "0,1,2"; None for free text or empty."""
        text = text.strip() if text else ""
        if not text:
            return None
        m = _RANGE_RE.fullmatch(text)
        if m:
            low, high = float(m.group(1)), float(m.group(2))
            if low > high:
                return None
            return cls(low=low, high=high)
        if _SINGLE_RE.fullmatch(text):
            return cls(allowed=frozenset({float(text)}))
        if _ENUM_RE.fullmatch(text):
            return cls(allowed=frozenset(float(x) for x in text.split(",")))
        return None

    def contains(self, number: float) -> bool:
        if self.allowed is not None:
            return number in self.allowed
        assert self.low is not None and self.high is not None
        return self.low <= number <= self.high


@dataclass(frozen=True, slots=True)
class ResourceDef:
    """One resource of an object definition (DDF ``<Item>``)."""

    id: int
    name: str
    type: ResourceType
    operations: Operations = Operations.R
    multiple: bool = False
    mandatory: bool = False
    range_text: str = ""
    units: str = ""
    description: str = ""
    value_range: ValueRange | None = field(default=None, compare=False)
    # Plain bools derived from ``operations``: the read/write paths test them per
    # resource, and a Flag ``&`` costs far more than an attribute load.
    readable: bool = field(init=False, repr=False, compare=False)
    writable: bool = field(init=False, repr=False, compare=False)
    executable: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.id <= 65534:
            raise ModelError(f"resource id {self.id} out of range 0..65534")
        if self.value_range is None and self.range_text:
            object.__setattr__(self, "value_range", ValueRange.parse(self.range_text))
        ops = self.operations
        object.__setattr__(self, "readable", bool(ops & Operations.R))
        object.__setattr__(self, "writable", bool(ops & Operations.W))
        object.__setattr__(self, "executable", bool(ops & Operations.E))

    def check(self, value: object, where: str | None = None) -> Value:
        """Coerce and check a value for this resource; raise ModelError naming ``where``."""
        label = where or f"resource {self.id} ({self.name})"
        v = coerce(self.type, value, label)
        vr = self.value_range
        if vr is not None and v is not None:
            if isinstance(v, str | bytes):
                measure: float = len(v)
                what = "length"
            elif isinstance(v, int | float) and not isinstance(v, bool):
                measure = v
                what = "value"
            else:
                return v
            if not vr.contains(measure):
                raise ModelError(f"{label}: {what} {measure:g} outside {self.range_text!r}")
        return v


@dataclass(frozen=True, slots=True)
class ObjectDef:
    """An object definition (DDF ``<Object>``)."""

    id: int
    name: str
    resources: dict[int, ResourceDef]
    multiple: bool = True
    mandatory: bool = False
    version: str = "1.0"
    lwm2m_version: str = "1.0"
    urn: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.id <= 65534:
            raise ModelError(f"object id {self.id} out of range 0..65534")
        for rid, rdef in self.resources.items():
            if rid != rdef.id:
                raise ModelError(f"object {self.id}: resource key {rid} != id {rdef.id}")

    def resource(self, rid: int) -> ResourceDef | None:
        return self.resources.get(rid)

    @property
    def mandatory_resources(self) -> list[ResourceDef]:
        return [r for r in self.resources.values() if r.mandatory]

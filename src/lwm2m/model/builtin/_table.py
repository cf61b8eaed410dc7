"""The compact table form of the built-in definitions and its builder.

A resource row is ``(id, name, ops, multiple, mandatory, type, range, units)``
with ``ops`` in the DDF spelling ("R", "W", "RW", "E" or "") and ``type`` the
DDF type name ("" for executable resources). One :class:`ObjectSpec` per
object turns into an :class:`~lwm2m.model.definitions.ObjectDef`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lwm2m.model.ddf import object_urn
from lwm2m.model.definitions import ObjectDef, Operations, ResourceDef
from lwm2m.model.types import ResourceType

Row = tuple[int, str, str, bool, bool, str, str, str]
"""(id, name, operations, multiple, mandatory, type, range, units)."""

# Short names that keep the tables readable.
MULTI = True
SINGLE = False
MAND = True
OPT = False


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """One object of the built-in tables."""

    id: int
    name: str
    multiple: bool
    mandatory: bool
    version: str
    lwm2m_version: str
    rows: tuple[Row, ...]
    description: str = ""


def build(spec: ObjectSpec) -> ObjectDef:
    """Turn a table entry into a definition; duplicate resource ids are a programming error."""
    resources: dict[int, ResourceDef] = {}
    for rid, name, ops, multiple, mandatory, rtype, range_text, units in spec.rows:
        if rid in resources:
            raise ValueError(f"object {spec.id}: resource {rid} listed twice")
        resources[rid] = ResourceDef(
            id=rid,
            name=name,
            type=ResourceType.from_ddf(rtype),
            operations=Operations.from_ddf(ops),
            multiple=multiple,
            mandatory=mandatory,
            range_text=range_text,
            units=units,
        )
    return ObjectDef(
        id=spec.id,
        name=spec.name,
        resources=resources,
        multiple=spec.multiple,
        mandatory=spec.mandatory,
        version=spec.version,
        lwm2m_version=spec.lwm2m_version,
        urn=object_urn(spec.id, spec.version),
        description=spec.description,
    )

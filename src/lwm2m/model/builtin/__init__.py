"""Built-in object definitions: OMA objects 0-7 and a set of IPSO Smart Objects.

Written as compact tables (see :mod:`lwm2m.model.builtin._table`) from the
facts of the OMA LwM2M registry: ids, names, types, operations, instance
multiplicity, mandatory flags, ranges and units.
"""

from __future__ import annotations

import functools

from lwm2m.model.builtin._table import build
from lwm2m.model.builtin.core import CORE_OBJECTS
from lwm2m.model.builtin.ipso import IPSO_OBJECTS
from lwm2m.model.definitions import ObjectDef

__all__ = ["builtin_objects"]


@functools.cache
def _built() -> tuple[ObjectDef, ...]:
    return tuple(build(spec) for spec in (*CORE_OBJECTS, *IPSO_OBJECTS))


def builtin_objects() -> list[ObjectDef]:
    """Every built-in definition, ordered by object id (built once, then cached)."""
    return list(_built())

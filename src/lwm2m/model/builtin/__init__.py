"""Built-in object definitions: OMA objects 0-7 and a set of IPSO Smart Objects.

Written as compact tables (see :mod:`lwm2m.model.builtin._table`) from the
facts of the OMA LwM2M registry: ids, names, types, operations, instance
multiplicity, mandatory flags, ranges and units.
"""

from __future__ import annotations

import functools

from lwm2m.model.builtin._table import build
from lwm2m.model.builtin.core import CORE_OBJECTS, CORE_OLDER_VERSIONS
from lwm2m.model.builtin.ipso import IPSO_OBJECTS
from lwm2m.model.definitions import ObjectDef

__all__ = ["builtin_objects", "builtin_older_versions"]


@functools.cache
def _built() -> tuple[ObjectDef, ...]:
    return tuple(build(spec) for spec in (*CORE_OBJECTS, *IPSO_OBJECTS))


@functools.cache
def _older() -> tuple[ObjectDef, ...]:
    return tuple(build(spec) for spec in CORE_OLDER_VERSIONS)


def builtin_objects() -> list[ObjectDef]:
    """Every built-in definition, ordered by object id (built once, then cached).

    One per object: the current version, the one the codecs use.
    """
    return list(_built())


def builtin_older_versions() -> list[ObjectDef]:
    """The built-in earlier versions of core objects (LwM2M 1.0 models), by object id."""
    return list(_older())

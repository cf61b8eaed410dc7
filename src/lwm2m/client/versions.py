"""Which object definition, and which ``ver``, a client declares for each LwM2M version.

A client registered as LwM2M 1.0 must not describe its objects with models
of a later enabler: a Device object is "Device 1.0" there, not ``</3>;ver=1.1``.
The registry keeps every version of an object (:meth:`Registry.versions`);
:func:`object_def_for` picks the newest one whose LwM2M version is not later
than the one the client speaks to that server, and :func:`declared_version`
gives the ``ver`` link parameter for it (None for 1.0, the implied version).
An object the registry knows only in later models keeps its current one: the
client has it, so it lists it.
"""

from __future__ import annotations

from lwm2m.model import ObjectDef, Registry
from lwm2m.model.registry import version_key

__all__ = ["declared_version", "object_def_for"]

_IMPLIED = (1, 0, 0)


def _enabler(odef: ObjectDef) -> tuple[int, int, int]:
    return version_key(odef.lwm2m_version) or _IMPLIED


def object_def_for(registry: Registry, object_id: int, lwm2m_version: str) -> ObjectDef | None:
    """The definition of ``object_id`` a client of ``lwm2m_version`` uses; None if unknown."""
    current = registry.get(object_id)
    if current is None:
        return None
    limit = version_key(lwm2m_version) or _IMPLIED
    if _enabler(current) <= limit:
        return current
    fitting = [d for d in registry.versions(object_id) if _enabler(d) <= limit]
    return fitting[-1] if fitting else current


def declared_version(registry: Registry, object_id: int, lwm2m_version: str) -> str | None:
    """The ``ver`` link parameter of ``object_id`` for ``lwm2m_version``; None when 1.0."""
    odef = object_def_for(registry, object_id, lwm2m_version)
    if odef is None or (version_key(odef.version) or _IMPLIED) == _IMPLIED:
        return None
    return odef.version

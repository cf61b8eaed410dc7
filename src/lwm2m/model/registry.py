"""The registry of object definitions: object id -> :class:`ObjectDef`.

Codecs take a registry to type values; the client engine and the server use
it to check operations. :func:`default_registry` holds the built-in
definitions; user DDF XML files are added with :meth:`Registry.load_ddf`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path as FsPath

from lwm2m.model.definitions import ObjectDef, ResourceDef
from lwm2m.model.path import Path


class Registry:
    """A mutable map of object definitions."""

    __slots__ = ("_objects",)

    def __init__(self, objects: list[ObjectDef] | None = None) -> None:
        self._objects: dict[int, ObjectDef] = {}
        for obj in objects or ():
            self.add(obj)

    def add(self, obj: ObjectDef, *, replace: bool = True) -> None:
        """Add or replace the definition of ``obj.id``."""
        if not replace and obj.id in self._objects:
            raise ValueError(f"object {obj.id} is already defined")
        self._objects[obj.id] = obj

    def get(self, object_id: int) -> ObjectDef | None:
        return self._objects.get(object_id)

    def __getitem__(self, object_id: int) -> ObjectDef:
        return self._objects[object_id]

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._objects

    def __iter__(self) -> Iterator[ObjectDef]:
        return iter(sorted(self._objects.values(), key=lambda o: o.id))

    def __len__(self) -> int:
        return len(self._objects)

    def resource(self, path: Path) -> ResourceDef | None:
        """The definition of the resource that ``path`` (level 3 or 4) names, if known."""
        if len(path) < 3:
            return None
        obj = self._objects.get(path[0])
        return obj.resources.get(path[2]) if obj is not None else None

    def copy(self) -> Registry:
        return Registry(list(self._objects.values()))

    def load_ddf(self, location: str | FsPath) -> list[ObjectDef]:
        """Load one DDF XML file, or every ``*.xml`` in a directory; return what was added."""
        from lwm2m.model.ddf import load_ddf_path

        objs = load_ddf_path(FsPath(location))
        for obj in objs:
            self.add(obj)
        return objs


_DEFAULT: Registry | None = None


def default_registry() -> Registry:
    """The shared registry of built-in definitions (objects 0-7 and the IPSO set).

    Treat it as read-only; call :meth:`Registry.copy` before adding objects.
    """
    global _DEFAULT
    if _DEFAULT is None:
        from lwm2m.model.builtin import builtin_objects

        _DEFAULT = Registry(builtin_objects())
    return _DEFAULT

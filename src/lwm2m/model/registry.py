"""The registry of object definitions: object id -> :class:`ObjectDef`.

Codecs take a registry to type values; the client engine and the server use
it to check operations. :func:`default_registry` holds the built-in
definitions; user DDF XML files are added with :meth:`Registry.load_ddf` (one
file) or :meth:`Registry.load_directory` (every ``*.xml`` of a directory).

Each object id has one *current* definition, the one :meth:`Registry.get`
returns and the codecs use. The registry also remembers every version of an
object it was given (:meth:`Registry.get_version`, :meth:`Registry.versions`),
so that a server can answer with the model of the version a client declared
in its registration (``</3>;ver=1.1``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path as FsPath

from lwm2m.errors import DecodeError, ModelError
from lwm2m.model.definitions import ObjectDef, ResourceDef
from lwm2m.model.path import Path

__all__ = [
    "DefinitionLoadError",
    "Registry",
    "default_registry",
    "read_directory",
    "version_key",
]

log = logging.getLogger(__name__)

_VERSION_RE = re.compile(r"^\s*(\d{1,9})\.(\d{1,9})(?:\.(\d{1,9}))?\s*$")


def version_key(version: str) -> tuple[int, int, int] | None:
    """An object version as comparable numbers: "1.1" -> (1, 1, 0); "" counts as "1.0".

    None for text that is not a version (``MAJOR.MINOR`` or ``MAJOR.MINOR.PATCH``).
    """
    if not version.strip():
        return (1, 0, 0)
    m = _VERSION_RE.match(version)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def _key(obj: ObjectDef) -> tuple[int, int, int]:
    # Definitions from the DDF loader carry a checked version; one built in
    # code with odd text sorts first rather than failing.
    return version_key(obj.version) or (0, 0, 0)


class DefinitionLoadError(ModelError):
    """Object definitions could not be loaded; ``path`` is the file or directory at fault."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(message)


class Registry:
    """A mutable map of object definitions, with every version seen of each object."""

    __slots__ = ("_objects", "_versions")

    def __init__(self, objects: list[ObjectDef] | None = None) -> None:
        self._objects: dict[int, ObjectDef] = {}
        self._versions: dict[int, dict[tuple[int, int, int], ObjectDef]] = {}
        for obj in objects or ():
            self.add(obj)

    def add(self, obj: ObjectDef, *, replace: bool = True) -> None:
        """Add or replace the definition of ``obj.id``; it becomes the current one.

        It is also kept as the definition of its version (replacing an earlier
        definition of that same version).
        """
        if not replace and obj.id in self._objects:
            raise ValueError(f"object {obj.id} is already defined")
        self._objects[obj.id] = obj
        self._versions.setdefault(obj.id, {})[_key(obj)] = obj

    def get(self, object_id: int) -> ObjectDef | None:
        return self._objects.get(object_id)

    def get_version(self, object_id: int, version: str) -> ObjectDef | None:
        """The definition of ``version`` ("1.1") of an object, None if unknown."""
        key = version_key(version)
        if key is None:
            return None
        return self._versions.get(object_id, {}).get(key)

    def versions(self, object_id: int) -> list[ObjectDef]:
        """Every known version of an object, oldest first."""
        found = self._versions.get(object_id, {})
        return [found[k] for k in sorted(found)]

    def all_versions(self) -> list[ObjectDef]:
        """Every definition of every version, by object id then version."""
        return [obj for oid in sorted(self._versions) for obj in self.versions(oid)]

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
        other = Registry()
        other._objects = dict(self._objects)
        other._versions = {oid: dict(found) for oid, found in self._versions.items()}
        return other

    def load_ddf(self, location: str | FsPath) -> list[ObjectDef]:
        """Load one DDF XML file, or every ``*.xml`` in a directory; return what was added."""
        from lwm2m.model.ddf import load_ddf_path

        objs = load_ddf_path(FsPath(location))
        for obj in objs:
            self.add(obj)
        return objs

    def load_directory(self, directory: str | os.PathLike[str]) -> list[ObjectDef]:
        """Load every DDF XML file (``*.xml``) of ``directory``; return the definitions read.

        All or nothing: a file that cannot be read or parsed, or two files that
        define the same object id and version, raise :class:`DefinitionLoadError`
        naming the file and the problem, and the registry is left unchanged.

        A file may define another version of an object the registry knows (both
        stay available through :meth:`get_version`) or the same version (the
        file's definition replaces it). The current definition of each object,
        the one the codecs use, is its highest known version.
        """
        loaded = read_directory(directory)
        for obj in sorted(loaded, key=_key):
            self._versions.setdefault(obj.id, {})[_key(obj)] = obj
            current = self._objects.get(obj.id)
            if current is None or _key(obj) >= _key(current):
                self._objects[obj.id] = obj
        return loaded


def _problem(name: str, exc: Exception) -> str:
    text = str(exc)
    return text if text.startswith(name) else f"{name}: {text}"


def read_directory(directory: str | os.PathLike[str]) -> list[ObjectDef]:
    """Parse every ``*.xml`` file of ``directory`` (not its subdirectories), in name order.

    Raise :class:`DefinitionLoadError` when the directory is missing or not a
    directory, when a file cannot be read or is not a valid DDF document, and
    when two files define the same object id and version.
    """
    from lwm2m.model.ddf import load_ddf_bytes

    root = FsPath(directory)
    if not root.exists():
        raise DefinitionLoadError(str(root), f"{root}: no such directory")
    if not root.is_dir():
        raise DefinitionLoadError(str(root), f"{root}: not a directory")
    try:
        files = sorted(p for p in root.iterdir() if p.suffix.lower() == ".xml" and p.is_file())
    except OSError as exc:
        raise DefinitionLoadError(str(root), f"{root}: cannot list: {exc.strerror}") from None
    if not files:
        log.warning("%s holds no object definition (*.xml) file", root)
    out: list[ObjectDef] = []
    seen: dict[tuple[int, tuple[int, int, int]], FsPath] = {}
    for file in files:
        name = str(file)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise DefinitionLoadError(name, f"{name}: cannot read: {exc.strerror}") from None
        try:
            objects = load_ddf_bytes(data, name)
        except (DecodeError, ModelError) as exc:
            raise DefinitionLoadError(name, _problem(name, exc)) from None
        for obj in objects:
            key = (obj.id, _key(obj))
            if key in seen:
                raise DefinitionLoadError(
                    name,
                    f"{name}: object {obj.id} version {obj.version} is already defined "
                    f"in {seen[key]}",
                )
            seen[key] = file
            out.append(obj)
    return out


_DEFAULT: Registry | None = None


def default_registry() -> Registry:
    """The shared registry of built-in definitions (objects 0-7 and the IPSO set).

    Treat it as read-only; call :meth:`Registry.copy` before adding objects.
    """
    global _DEFAULT
    if _DEFAULT is None:
        from lwm2m.model.builtin import builtin_objects, builtin_older_versions

        # Older versions first: each object's current definition is the one added last.
        _DEFAULT = Registry([*builtin_older_versions(), *builtin_objects()])
    return _DEFAULT

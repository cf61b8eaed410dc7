"""State that survives a restart: the client's configuration, attributes and chosen values.

Theory of operation
-------------------
A device that was bootstrapped must come back after a reboot with the servers
it was given, without asking the Bootstrap-Server again; a server's
Write-Attributes and the values an application marks persistent must come
back too. :class:`StateStore` keeps them in one file, ``state.json``, in the
directory the application names (``Client(state_dir=...)``, ``lwm2m client
--state DIR``):

* every instance of the Security (0), Server (1) and Access Control (2)
  objects, whoever wrote them (a bootstrap server, a management server);
* the notification attributes each server wrote, per Short Server ID;
* the values of the resources the application marked with
  :meth:`~lwm2m.client.client.Client.persist`.

The file is JSON with a format name and a version number (:data:`FORMAT`,
:data:`VERSION`); each value is tagged with its type so that Opaque keys and
Object Links come back as they were. It is written atomically after each
successful change: to a temporary file in the same directory, flushed and
fsync'ed, then renamed over the old one, and the directory fsync'ed; a crash
leaves the old file or the new one, never half of one. It holds keys, so it is
created readable by its owner only.

A file that cannot be read, is not JSON of this format, has a version this
code does not know, or belongs to another endpoint is refused with a
:class:`StateError` naming the file and the reason; the client logs it, moves
the file aside (``state.json.refused``) and starts from its factory
configuration, which normally means a bootstrap: it never crashes on it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Final

from lwm2m.client.attributes import Attributes
from lwm2m.errors import ModelError
from lwm2m.model import ObjLink, Path

__all__ = [
    "FORMAT",
    "PERSISTED_OBJECTS",
    "STATE_FILE",
    "VERSION",
    "SavedState",
    "StateError",
    "StateStore",
    "decode_value",
    "encode_value",
]

#: The format name and version written in every state file.
FORMAT: Final = "lwm2m-client-state"
VERSION: Final = 1
STATE_FILE: Final = "state.json"
#: Security, Server, Access Control: the configuration a bootstrap or a server writes.
PERSISTED_OBJECTS: Final = (0, 1, 2)

StoredValue = Any  # a resource value, or {resource instance id: value}
ObjectsState = dict[int, dict[int, dict[int, StoredValue]]]


class StateError(Exception):
    """A state file that cannot be used; the message names the file and the reason."""


@dataclass(slots=True)
class SavedState:
    """What a state file holds."""

    endpoint: str
    #: object id (0, 1, 2) -> instance id -> resource id -> value ({ri: value} if multiple)
    objects: ObjectsState = field(default_factory=dict)
    #: Short Server ID -> path -> attributes that server wrote there
    attributes: dict[int, dict[Path, Attributes]] = field(default_factory=dict)
    #: resource (instance) path -> value, for the resources marked persistent
    resources: dict[Path, StoredValue] = field(default_factory=dict)


# --------------------------------------------------------------------------- values


def encode_value(value: object) -> list[Any]:
    """A value as a tagged JSON item: ``["s", text]``, ``["o", base64]``, ``["m", {...}]``..."""
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", value]
    if isinstance(value, float):
        return ["f", value]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, bytes | bytearray | memoryview):
        return ["o", base64.b64encode(bytes(value)).decode("ascii")]
    if isinstance(value, ObjLink):
        return ["l", [value.object_id, value.instance_id]]
    if isinstance(value, Mapping):
        return ["m", {str(int(k)): encode_value(v) for k, v in value.items()}]
    if value is None:
        return ["n", None]
    raise StateError(f"cannot store a value of type {type(value).__name__}")


def decode_value(item: object, where: str) -> StoredValue:
    """The value of a tagged JSON item; StateError naming ``where`` when malformed."""
    if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str):
        raise StateError(f"{where}: not a tagged value")
    tag, raw = item
    if tag == "b" and isinstance(raw, bool):
        return raw
    if tag == "i" and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if tag == "f" and isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if tag == "s" and isinstance(raw, str):
        return raw
    if tag == "n" and raw is None:
        return None
    if tag == "o" and isinstance(raw, str):
        try:
            return base64.b64decode(raw.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raise StateError(f"{where}: bad base64 opaque value") from None
    if tag == "l" and isinstance(raw, list) and len(raw) == 2:
        try:
            return ObjLink(int(raw[0]), int(raw[1]))
        except (ModelError, TypeError, ValueError):
            raise StateError(f"{where}: bad object link {raw!r}") from None
    if tag == "m" and isinstance(raw, dict):
        return {_id(k, where): decode_value(v, f"{where}/{k}") for k, v in raw.items()}
    raise StateError(f"{where}: bad value {item!r}")


def _id(text: object, where: str) -> int:
    if not isinstance(text, str) or not text.isdigit() or len(text) > 5 or int(text) > 65535:
        raise StateError(f"{where}: bad id {text!r}")
    return int(text)


def _path(text: object, where: str) -> Path:
    if not isinstance(text, str):
        raise StateError(f"{where}: bad path {text!r}")
    try:
        return Path.parse(text)
    except ModelError as exc:
        raise StateError(f"{where}: bad path {text!r}: {exc}") from None


# --------------------------------------------------------------------------- document


def to_document(state: SavedState) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "endpoint": state.endpoint,
        "objects": {
            str(oid): {
                str(iid): {str(rid): encode_value(v) for rid, v in sorted(res.items())}
                for iid, res in sorted(instances.items())
            }
            for oid, instances in sorted(state.objects.items())
        },
        "attributes": {
            str(ssid): {str(p): dict(attrs) for p, attrs in sorted(by_path.items())}
            for ssid, by_path in sorted(state.attributes.items())
        },
        "resources": {str(p): encode_value(v) for p, v in sorted(state.resources.items())},
    }


def from_document(doc: object, where: str) -> SavedState:
    """Check and read a parsed state document; StateError naming the first problem."""
    if not isinstance(doc, dict):
        raise StateError(f"{where}: not a state file (no JSON object)")
    if doc.get("format") != FORMAT:
        raise StateError(f"{where}: not a state file of this client (format {doc.get('format')!r})")
    version = doc.get("version")
    if version != VERSION:
        raise StateError(
            f"{where}: state format version {version!r} is not supported "
            f"(this client reads and writes version {VERSION})"
        )
    endpoint = doc.get("endpoint")
    if not isinstance(endpoint, str):
        raise StateError(f"{where}: no endpoint name")
    state = SavedState(endpoint)
    objects = doc.get("objects", {})
    if not isinstance(objects, dict):
        raise StateError(f"{where}: objects is not a map")
    for oid_text, instances in objects.items():
        oid = _id(oid_text, f"{where}: objects")
        if oid not in PERSISTED_OBJECTS or not isinstance(instances, dict):
            raise StateError(f"{where}: object {oid_text!r} is not kept in a state file")
        out: dict[int, dict[int, StoredValue]] = {}
        for iid_text, resources in instances.items():
            iid = _id(iid_text, f"{where}: /{oid}")
            if not isinstance(resources, dict):
                raise StateError(f"{where}: /{oid}/{iid} is not a map")
            out[iid] = {
                _id(rid, f"{where}: /{oid}/{iid}"): decode_value(v, f"{where}: /{oid}/{iid}/{rid}")
                for rid, v in resources.items()
            }
        state.objects[oid] = out
    attributes = doc.get("attributes", {})
    if not isinstance(attributes, dict):
        raise StateError(f"{where}: attributes is not a map")
    for ssid_text, by_path in attributes.items():
        ssid = _id(ssid_text, f"{where}: attributes")
        if not isinstance(by_path, dict):
            raise StateError(f"{where}: attributes of server {ssid} is not a map")
        found: dict[Path, Attributes] = {}
        for path_text, attrs in by_path.items():
            path = _path(path_text, f"{where}: attributes")
            if not isinstance(attrs, dict) or not all(
                isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
                for k, v in attrs.items()
            ):
                raise StateError(f"{where}: attributes of {path_text} are not name -> number")
            found[path] = {k: float(v) for k, v in attrs.items()}
        state.attributes[ssid] = found
    resources = doc.get("resources", {})
    if not isinstance(resources, dict):
        raise StateError(f"{where}: resources is not a map")
    for path_text, item in resources.items():
        path = _path(path_text, f"{where}: resources")
        if len(path) < 3:
            raise StateError(f"{where}: {path_text} is not a resource path")
        state.resources[path] = decode_value(item, f"{where}: {path_text}")
    return state


# --------------------------------------------------------------------------- the file


class StateStore:
    """The state file of one client in ``directory`` (created when first written)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = FsPath(directory)
        self.path = self.directory / STATE_FILE

    def load(self) -> SavedState | None:
        """The saved state; None when there is none; StateError when it cannot be used."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise StateError(f"{self.path}: not a valid state file: {exc}") from None
        return from_document(doc, str(self.path))

    def save(self, state: SavedState) -> None:
        """Write atomically: temporary file, fsync, rename, fsync of the directory."""
        data = json.dumps(to_document(state), indent=1, sort_keys=False).encode("utf-8")
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(STATE_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        self._sync_directory()

    def set_aside(self) -> FsPath | None:
        """Move a refused file out of the way (kept for inspection); its new name."""
        target = self.path.with_name(STATE_FILE + ".refused")
        try:
            os.replace(self.path, target)
        except OSError:
            return None
        self._sync_directory()
        return target

    def erase(self) -> None:
        """Forget everything (factory reset)."""
        for name in (STATE_FILE, STATE_FILE + ".tmp"):
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()
        if self.directory.exists():
            self._sync_directory()

    def _sync_directory(self) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

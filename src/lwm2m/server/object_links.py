"""The "Objects and Object Instances" list a client sends with Register and Update.

LwM2M Core TS 1.1 section 6.2.1 (1.0.2 section 5.3.1): the payload is CoRE Link
Format listing objects (``</5>``, optionally ``;ver=1.1``) and object instances
(``</3/0>``). An optional first link ``</>;rt="oma.lwm2m";ct=...`` (or
``</alt>;rt="oma.lwm2m"`` for an alternate path, under which all other links then
lie) names the LwM2M root and the content formats the client prefers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lwm2m.errors import DecodeError, ModelError
from lwm2m.formats.link import Link, parse_links
from lwm2m.model.path import Path

__all__ = ["ObjectLink", "ObjectLinks", "parse_object_links"]

_RT_LWM2M = "oma.lwm2m"
# Object version: 1*DIGIT "." 1*DIGIT (Core TS 1.1 section 6.2.1, "ver" attribute).
_VERSION_RE = re.compile(r"[0-9]{1,5}\.[0-9]{1,5}")


@dataclass(frozen=True, slots=True)
class ObjectLink:
    """An object (``path`` of length 1) or object instance (length 2) link."""

    path: Path
    version: str | None = None
    params: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectLinks:
    """The parsed list; ``text`` is the payload as received (kept for storage and display)."""

    links: tuple[ObjectLink, ...] = ()
    root_path: str = "/"
    content_formats: tuple[int, ...] = ()
    text: str = ""

    @property
    def objects(self) -> dict[int, str | None]:
        """Object id -> declared version (None when the client gave none)."""
        result: dict[int, str | None] = {}
        for link in self.links:
            if link.version is not None:
                result[link.path[0]] = link.version
            else:
                result.setdefault(link.path[0], None)
        return result

    def instances(self, object_id: int) -> tuple[int, ...]:
        return tuple(
            sorted(
                {lk.path[1] for lk in self.links if lk.path[0] == object_id and lk.path.level == 2}
            )
        )

    def supports(self, path: Path) -> bool:
        """True when ``path`` lies in an object the client listed (the root always does)."""
        return not path or path[0] in self.objects


def _content_formats(link: Link) -> tuple[int, ...]:
    if "ct" not in link.params:
        return ()
    value = link.params["ct"]
    if value is None:
        raise DecodeError(f"link format: 'ct' without a value on <{link.target}>")
    formats: list[int] = []
    for item in value.split():  # RFC 7252 section 7.2.1: a space-separated list
        if len(item) > 5 or not item.isascii() or not item.isdigit() or int(item) > 0xFFFF:
            raise DecodeError(f"link format: invalid content format {item!r} in 'ct'")
        formats.append(int(item))
    return tuple(formats)


def _is_root_link(link: Link) -> bool:
    rt = link.params.get("rt")
    return (rt is not None and _RT_LWM2M in rt.split()) or link.target == "/"


def _object_path(target: str, root: str) -> Path:
    prefix = "" if root == "/" else root.rstrip("/")
    if not target.startswith(prefix + "/"):
        raise DecodeError(f"link format: target {target!r} is outside the LwM2M root {root!r}")
    rest = target[len(prefix) :]
    try:
        path = Path.parse(rest)
    except ModelError as exc:
        raise DecodeError(f"link format: target {target!r} is not an LwM2M path: {exc}") from None
    if path.level not in (1, 2) or rest.endswith("/"):
        raise DecodeError(
            f"link format: target {target!r} must name an object or an object instance"
        )
    return path


def _version(link: Link) -> str | None:
    if "ver" not in link.params:
        return None
    value = link.params["ver"]
    if value is None or not _VERSION_RE.fullmatch(value):
        raise DecodeError(f"link format: invalid object version {value!r} on <{link.target}>")
    return value


def parse_object_links(payload: bytes | str) -> ObjectLinks:
    """Parse and check a registration payload. Raise DecodeError when it is not valid."""
    if isinstance(payload, bytes):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError("link format: payload is not UTF-8", exc.start) from None
    else:
        text = payload
    entries = parse_links(text)
    roots = [e for e in entries if _is_root_link(e)]
    if len(roots) > 1:
        raise DecodeError("link format: more than one LwM2M root link")
    root_path = "/"
    content_formats: tuple[int, ...] = ()
    if roots:
        root = roots[0]
        if not root.target.startswith("/"):
            raise DecodeError(f"link format: LwM2M root {root.target!r} is not an absolute path")
        root_path = root.target
        content_formats = _content_formats(root)
    links = tuple(
        ObjectLink(_object_path(e.target, root_path), _version(e), tuple(e.params.items()))
        for e in entries
        if not _is_root_link(e)
    )
    return ObjectLinks(links, root_path, content_formats, text)

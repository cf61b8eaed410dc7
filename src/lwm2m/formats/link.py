"""CoRE Link Format, content format 40 (RFC 6690), with the LwM2M uses of it.

Generic part: :class:`Link`, :func:`parse_links` and :func:`format_links`.

- ``<target>`` then ``;name=value`` parameters; links are separated by commas.
- White space (spaces, tabs, line breaks) is accepted around commas, semicolons and
  ``=``; RFC 6690 section 2 examples break lines after commas.
- Values are tokens or quoted strings; a quoted string may hold commas, semicolons and
  backslash-escaped quotes or backslashes. The quoting is not kept: ``params`` holds
  the unescaped text.
- A parameter without ``=`` (a flag such as ``obs``) has the value ``None``.
- Unknown parameters are kept. A repeated parameter keeps its last value.
- An empty (or all white space) payload is an empty list. Anything else that does not
  parse raises :class:`DecodeError` naming the offset.

:func:`format_links` writes the canonical form: no white space, ``,`` between links,
parameters in dict order, values quoted when RFC 6690 quotes them (``rt``, ``if``,
``title``, ``anchor``, ``rel``, ``rev``, ``type``, ``hreflang``... see
:data:`QUOTED_PARAMS`) or when they hold characters a token may not hold.

LwM2M part (Core TS 1.1 sections 5.3.1, 5.4.2, 5.1.2, 6.2):

- :func:`format_object_list` / :func:`parse_object_list`: the Register and Update
  payload, e.g. ``</>;rt="oma.lwm2m";ct=11543,</1>;ver=1.1,</1/0>,</3/0>``;
- :func:`format_discover` / :func:`parse_discover`: Discover payloads with attributes,
  e.g. ``</3/0>;pmin=10,</3/0/7>;dim=3``;
- :func:`parse_attribute` / :func:`format_attribute`: typed attribute values (int for
  pmin, pmax, epmin, epmax, dim; float for gt, lt, st; str for ver and unknown names).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lwm2m.errors import DecodeError, EncodeError, ModelError
from lwm2m.formats._numbers import shown
from lwm2m.formats.text import is_decimal
from lwm2m.model import Path

__all__ = [
    "FLOAT_ATTRIBUTES",
    "INT_ATTRIBUTES",
    "QUOTED_PARAMS",
    "AttributeValue",
    "DiscoverEntry",
    "Link",
    "ObjectList",
    "format_attribute",
    "format_discover",
    "format_links",
    "format_object_list",
    "parse_attribute",
    "parse_discover",
    "parse_links",
    "parse_object_list",
]

#: Parameters written as quoted strings (RFC 6690 section 2 and section 3).
QUOTED_PARAMS = frozenset(
    {"rt", "if", "title", "anchor", "rel", "rev", "type", "hreflang", "media", "title*"}
)
#: LwM2M attributes with integer values (Core TS 1.1 section 5.1.2, Table 5.1.2-1).
INT_ATTRIBUTES = frozenset({"pmin", "pmax", "epmin", "epmax", "dim"})
#: LwM2M attributes with float values.
FLOAT_ATTRIBUTES = frozenset({"gt", "lt", "st"})

AttributeValue = int | float | str | None

_WS = " \t\r\n"
_NAME_RE = re.compile(r"[A-Za-z0-9!#$&+\-.^_`|~*]+")
# RFC 6690 ptoken characters: everything printable but '"', ',', ';', '\' and white space.
_TOKEN_RE = re.compile(r"[!#-+\-./0-:<-\[\]-~]+")
_TOKEN_FULL_RE = re.compile(r"[!#-+\-./0-:<-\[\]-~]+\Z")
_INT_RE = re.compile(r"[0-9]++\Z")


@dataclass(slots=True)
class Link:
    """One link-value: its target (the text between ``<`` and ``>``) and parameters."""

    target: str
    params: dict[str, str | None] = field(default_factory=dict)


# --- generic link format ------------------------------------------------------


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in _WS:
        pos += 1
    return pos


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """Parse a quoted string starting at the opening quote; return (value, next pos)."""
    out: list[str] = []
    i = pos + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                break
            out.append(text[i + 1])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise DecodeError("link format: unterminated quoted string", pos)


def parse_links(text: str | bytes) -> list[Link]:
    """Parse an application/link-format payload (RFC 6690 section 2)."""
    if isinstance(text, bytes | bytearray | memoryview):
        try:
            text = bytes(text).decode()
        except UnicodeDecodeError as exc:
            raise DecodeError("link format: invalid UTF-8", exc.start) from None
    links: list[Link] = []
    n = len(text)
    pos = _skip_ws(text, 0)
    if pos == n:
        return links
    while True:
        if pos >= n or text[pos] != "<":
            raise DecodeError("link format: expected '<' to open a link", pos)
        close = text.find(">", pos + 1)
        if close < 0:
            raise DecodeError("link format: missing '>' after the target", pos)
        target = text[pos + 1 : close]
        if "<" in target or any(w in target for w in _WS):
            raise DecodeError("link format: invalid character in the target", pos)
        link = Link(target)
        pos = _skip_ws(text, close + 1)
        while pos < n and text[pos] == ";":
            pos = _skip_ws(text, pos + 1)
            m = _NAME_RE.match(text, pos)
            if m is None:
                raise DecodeError("link format: expected a parameter name after ';'", pos)
            name = m.group()
            pos = _skip_ws(text, m.end())
            value: str | None = None
            if pos < n and text[pos] == "=":
                pos = _skip_ws(text, pos + 1)
                if pos < n and text[pos] == '"':
                    value, pos = _quoted(text, pos)
                else:
                    vm = _TOKEN_RE.match(text, pos)
                    if vm is None:
                        raise DecodeError(f"link format: missing value for {shown(name)}", pos)
                    value = vm.group()
                    pos = vm.end()
                pos = _skip_ws(text, pos)
            link.params[name] = value
        links.append(link)
        if pos == n:
            return links
        if text[pos] != ",":
            raise DecodeError("link format: expected ',' or ';' after a link", pos)
        pos = _skip_ws(text, pos + 1)


def _format_param(name: str, value: str | None) -> str:
    if not _NAME_RE.fullmatch(name):
        raise EncodeError(f"link format: invalid parameter name {name!r}")
    if value is None:
        return f";{name}"
    if name in QUOTED_PARAMS or not _TOKEN_FULL_RE.match(value):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f';{name}="{escaped}"'
    return f";{name}={value}"


def format_links(links: Iterable[Link]) -> str:
    """Write links in the canonical form described in the module docstring."""
    parts: list[str] = []
    for link in links:
        if ">" in link.target or "<" in link.target or any(w in link.target for w in _WS):
            raise EncodeError(f"link format: invalid target {link.target!r}")
        parts.append(
            f"<{link.target}>" + "".join(_format_param(k, v) for k, v in link.params.items())
        )
    return ",".join(parts)


# --- typed LwM2M attributes ----------------------------------------------------------


def parse_attribute(name: str, value: str | None) -> AttributeValue:
    """Type an attribute value: int for pmin/pmax/epmin/epmax/dim, float for gt/lt/st.

    Other names keep the string (``ver``, unknown attributes); ``None`` stays ``None``
    (an attribute without value).
    """
    if value is None:
        return None
    if name in INT_ATTRIBUTES:
        if len(value) > 20 or not _INT_RE.match(value):
            raise DecodeError(
                f"attribute {name}: expected a non-negative integer, got {value[:40]!r}"
            )
        return int(value)
    if name in FLOAT_ATTRIBUTES:
        if len(value) > 64 or not is_decimal(value):
            raise DecodeError(f"attribute {name}: expected a number, got {value[:40]!r}")
        number = float(value)
        if math.isinf(number):
            raise DecodeError(f"attribute {name}: {value[:40]!r} overflows a float")
        return number
    return value


def format_attribute(name: str, value: AttributeValue) -> str | None:
    """The text form of a typed attribute value (inverse of :func:`parse_attribute`).

    Integral floats drop their ``.0`` (``gt=50``), other floats use the shortest text
    that reads back to the same value.
    """
    if value is None:
        return None
    if name in INT_ATTRIBUTES:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise EncodeError(f"attribute {name}: expected a non-negative int, got {value!r}")
        return str(value)
    if name in FLOAT_ATTRIBUTES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EncodeError(f"attribute {name}: expected a number, got {value!r}")
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            raise EncodeError(f"attribute {name}: {number} has no text form")
        if number.is_integer() and abs(number) < 1e16:
            return str(int(number))
        return repr(number)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise EncodeError(f"attribute {name}: unsupported value {value!r}")
    return str(value)


# --- Discover -------------------------------------------------------------------------


@dataclass(slots=True)
class DiscoverEntry:
    """One link of a Discover response: a path and its typed attributes."""

    path: Path
    attributes: dict[str, AttributeValue] = field(default_factory=dict)


def _parse_path(target: str, where: str) -> Path:
    try:
        return Path.parse(target)
    except ModelError as exc:
        raise DecodeError(f"{where}: {exc}") from None


def format_discover(entries: Iterable[DiscoverEntry]) -> str:
    """A Discover payload: ``</3/0>;pmin=10,</3/0/7>;dim=3``."""
    return format_links(
        Link(str(e.path), {k: format_attribute(k, v) for k, v in e.attributes.items()})
        for e in entries
    )


def parse_discover(text: str | bytes) -> list[DiscoverEntry]:
    """Parse a Discover payload into paths and typed attributes."""
    out: list[DiscoverEntry] = []
    for link in parse_links(text):
        path = _parse_path(link.target, "discover")
        attrs = {k: parse_attribute(k, v) for k, v in link.params.items()}
        out.append(DiscoverEntry(path, attrs))
    return out


# --- Register / Update object list ------------------------------------------------------


@dataclass(slots=True)
class ObjectList:
    """The Objects and Object Instances of a Register or Update payload.

    ``paths`` holds object (``/o``) and object instance (``/o/i``) paths, relative to
    ``root`` (the alternate path, "/" by default). ``versions`` maps object ids to their
    ``ver`` attribute. ``content_formats`` is the ``ct`` of the root link, if any.
    """

    paths: list[Path] = field(default_factory=list)
    versions: dict[int, str] = field(default_factory=dict)
    root: str = "/"
    content_formats: tuple[int, ...] = ()


def _join(root: str, path: Path) -> str:
    return str(path) if root == "/" else root + str(path)


def format_object_list(
    paths: Iterable[Path],
    *,
    versions: Mapping[int, str] | None = None,
    root: str = "/",
    content_formats: Iterable[int] = (),
) -> str:
    """The Register/Update payload (Core TS 1.1 section 5.3.1).

    A root link ``</>;rt="oma.lwm2m"`` (with ``ct=``) is written when an alternate
    ``root`` or content formats are given. An object with a version gets a
    ``</o>;ver=x`` link, written before its instances.
    """
    if not root.startswith("/") or (root != "/" and root.endswith("/")):
        raise EncodeError(f"alternate path {root!r} must start with '/' and not end with '/'")
    versions = dict(versions or {})
    cts = list(content_formats)
    links: list[Link] = []
    if root != "/" or cts:
        params: dict[str, str | None] = {"rt": "oma.lwm2m"}
        if cts:
            params["ct"] = " ".join(str(c) for c in cts)
        links.append(Link(root, params))
    written_versions: set[int] = set()
    for path in paths:
        if not 1 <= len(path) <= 2:
            raise EncodeError(f"register payload lists objects and instances, not {path}")
        oid = path[0]
        if oid in versions and oid not in written_versions:
            written_versions.add(oid)
            links.append(Link(_join(root, Path(oid)), {"ver": versions[oid]}))
            if len(path) == 1:
                continue
        links.append(Link(_join(root, path)))
    for oid, ver in versions.items():
        if oid not in written_versions:
            links.append(Link(_join(root, Path(oid)), {"ver": ver}))
    return format_links(links)


def _parse_ct(value: str | None) -> tuple[int, ...]:
    if value is None:
        raise DecodeError("register payload: 'ct' without a value")
    parts = value.split()
    if not parts or not all(p.isascii() and p.isdigit() and len(p) <= 5 for p in parts):
        raise DecodeError(f"register payload: invalid ct {value[:40]!r}")
    return tuple(int(p) for p in parts)


def _is_root_link(link: Link) -> bool:
    """The link that names the LwM2M root: ``rt="oma.lwm2m"``, or a bare ``</>``."""
    return link.params.get("rt") == "oma.lwm2m" or link.target == "/"


def parse_object_list(text: str | bytes) -> ObjectList:
    """Parse a Register/Update payload; links outside the root raise DecodeError."""
    links = parse_links(text)
    result = ObjectList()
    for link in links:
        if _is_root_link(link):
            target = link.target.rstrip("/") or "/"
            if not target.startswith("/"):
                raise DecodeError(f"register payload: invalid alternate path {shown(link.target)}")
            result.root = target
            if "ct" in link.params:
                result.content_formats = _parse_ct(link.params["ct"])
    prefix = "" if result.root == "/" else result.root
    seen: set[Path] = set()
    for link in links:
        if _is_root_link(link):
            continue
        target = link.target
        if prefix:
            if not target.startswith(prefix + "/"):
                raise DecodeError(
                    f"register payload: {shown(target)} is outside {shown(result.root)}"
                )
            target = target[len(prefix) :]
        path = _parse_path(target, "register payload")
        if not 1 <= len(path) <= 2:
            raise DecodeError(f"register payload: {shown(target)} is not an object or instance")
        ver = link.params.get("ver")
        if ver is not None:
            result.versions[path[0]] = ver
        if path not in seen:
            seen.add(path)
            result.paths.append(path)
    return result

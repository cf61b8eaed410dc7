"""LwM2M paths: /o, /o/i, /o/i/r and /o/i/r/ri (LwM2M Core TS, 6.1 / 7.1).

A :class:`Path` is an immutable tuple of 0..4 ids, so paths hash, compare
and sort like tuples: ``Path(3) < Path(3, 0) < Path(3, 0, 0)``.  The empty
path is the root ("/"), used by composite operations and Bootstrap-Delete.
"""

from __future__ import annotations

from typing import SupportsIndex

from lwm2m.errors import ModelError

#: Object, instance, resource and resource-instance ids are 16-bit; 65535 is
#: reserved (LwM2M Core TS 7.1: "ID:65535 is reserved and MUST NOT be used").
MAX_ID = 65534

_LEVEL_NAMES = ("root", "object", "object instance", "resource", "resource instance")
_SHOWN = 60  # characters of a bad path quoted in an error message


def _show(text: str, limit: int = _SHOWN) -> str:
    """``repr`` of ``text`` for an error message, cut short after ``limit`` characters."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


class Path(tuple[int, ...]):
    """An LwM2M path. ``Path(3, 0, 0)`` or ``Path.parse("/3/0/0")``."""

    __slots__ = ()

    def __new__(cls, *ids: SupportsIndex) -> Path:
        if len(ids) > 4:
            raise ModelError(f"path has {len(ids)} levels, at most 4 are allowed")
        checked = []
        for i in ids:
            v = int(i)
            if not 0 <= v <= MAX_ID:
                raise ModelError(f"path id {v} out of range 0..{MAX_ID}")
            checked.append(v)
        return tuple.__new__(cls, checked)

    def __getnewargs__(self) -> tuple[int, ...]:
        # copy/pickle rebuild through __new__(*ids)
        return tuple(self)

    @classmethod
    def parse(cls, text: str | Path) -> Path:
        """Parse "3/0/0", "/3/0/0", "/3/0/" or "/" (root). Raise ModelError when invalid.

        Linear in the text: an id of more than 5 digits is refused before it is converted
        (it cannot be in range), and so is a fifth level.
        """
        if isinstance(text, Path):
            return text
        if not isinstance(text, str):
            raise ModelError(f"path must be a string, not {type(text).__name__}")
        s = text.strip()
        if s in ("", "/"):
            return _ROOT
        if s.startswith("/"):
            s = s[1:]
        if s.endswith("/"):
            s = s[:-1]
        parts = s.split("/", 4)
        if len(parts) > 4:
            raise ModelError(
                f"invalid path {_show(text)}: more than 4 levels, at most 4 are allowed"
            )
        ids = []
        for level, part in enumerate(parts, 1):
            if not part.isdigit() or not part.isascii():
                raise ModelError(
                    f"invalid path {_show(text)}: {_show(part, 12)} (level {level}) "
                    "is not a decimal id"
                )
            if len(part) > 1 and part[0] == "0":
                raise ModelError(
                    f"invalid path {_show(text)}: leading zero in {_show(part, 12)} (level {level})"
                )
            if len(part) > 5:
                raise ModelError(
                    f"invalid path {_show(text)}: id of {len(part)} digits (level {level}) "
                    f"out of range 0..{MAX_ID}"
                )
            ids.append(int(part))
        try:
            return cls(*ids)
        except ModelError as exc:
            raise ModelError(f"invalid path {_show(text)}: {exc}") from None

    @classmethod
    def from_segments(cls, segments: tuple[str, ...] | list[str]) -> Path:
        """Build a path from CoAP Uri-Path segments (empty list is the root)."""
        return cls.parse("/".join(segments))

    # --- levels -------------------------------------------------------------
    @property
    def level(self) -> int:
        """0 root, 1 object, 2 instance, 3 resource, 4 resource instance."""
        return len(self)

    @property
    def level_name(self) -> str:
        return _LEVEL_NAMES[len(self)]

    @property
    def is_root(self) -> bool:
        return len(self) == 0

    @property
    def is_object(self) -> bool:
        return len(self) == 1

    @property
    def is_instance(self) -> bool:
        return len(self) == 2

    @property
    def is_resource(self) -> bool:
        return len(self) == 3

    @property
    def is_resource_instance(self) -> bool:
        return len(self) == 4

    @property
    def object_id(self) -> int | None:
        return self[0] if len(self) > 0 else None

    @property
    def instance_id(self) -> int | None:
        return self[1] if len(self) > 1 else None

    @property
    def resource_id(self) -> int | None:
        return self[2] if len(self) > 2 else None

    @property
    def resource_instance_id(self) -> int | None:
        return self[3] if len(self) > 3 else None

    # --- relations ----------------------------------------------------------
    def child(self, id_: int) -> Path:
        return Path(*self, id_)

    @property
    def parent(self) -> Path:
        if not self:
            raise ModelError("the root path has no parent")
        return tuple.__new__(Path, self[:-1])

    def is_prefix_of(self, other: Path) -> bool:
        """True when ``other`` is this path or lies below it."""
        return len(other) >= len(self) and other[: len(self)] == self

    def startswith(self, prefix: Path) -> bool:
        return prefix.is_prefix_of(self)

    def relative_to(self, prefix: Path) -> tuple[int, ...]:
        if not prefix.is_prefix_of(self):
            raise ModelError(f"{self} is not below {prefix}")
        return tuple(self[len(prefix) :])

    def segments(self) -> list[str]:
        """Uri-Path segments for CoAP."""
        return [str(i) for i in self]

    def __str__(self) -> str:
        return "/" + "/".join(map(str, self)) if self else "/"

    def __repr__(self) -> str:
        return f"Path({str(self)!r})"


_ROOT = tuple.__new__(Path, ())
ROOT = _ROOT

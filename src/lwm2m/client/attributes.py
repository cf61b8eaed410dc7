"""Notification attributes (Write-Attributes, LwM2M Core TS 1.1 section 5.1.2 / 6.3.4).

Attributes are kept per server and per path. A query of a Write-Attributes
request is parsed into an :class:`AttributeUpdate` (``pmin=10``, ``gt=5.5``,
``st`` with no value clears it), checked as a whole against the rules of the
specification, then merged. :meth:`AttributeStore.effective` resolves the
inheritance resource -> instance -> object -> Server object defaults.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from lwm2m.errors import BadRequest
from lwm2m.model import Path

#: Attribute name -> (python type, levels where it is allowed: 1 object .. 4 resource instance).
ATTRIBUTE_KINDS: dict[str, tuple[type, frozenset[int]]] = {
    "pmin": (int, frozenset({1, 2, 3, 4})),
    "pmax": (int, frozenset({1, 2, 3, 4})),
    "gt": (float, frozenset({3, 4})),
    "lt": (float, frozenset({3, 4})),
    "st": (float, frozenset({3, 4})),
    "epmin": (int, frozenset({1, 2, 3, 4})),
    "epmax": (int, frozenset({1, 2, 3, 4})),
}

Attributes = dict[str, float]


@dataclass(slots=True)
class AttributeUpdate:
    """Parsed Write-Attributes query: values to set, names to clear."""

    values: Attributes = field(default_factory=dict)
    cleared: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, queries: tuple[str, ...] | list[str], path: Path) -> AttributeUpdate:
        """Parse Uri-Query values; raise BadRequest (4.00) for anything invalid."""
        update = cls()
        if not path:
            raise BadRequest("Write-Attributes needs an object, instance or resource path")
        for q in queries:
            name, sep, raw = q.partition("=")
            kind = ATTRIBUTE_KINDS.get(name)
            if kind is None:
                raise BadRequest(f"unknown attribute {name!r}")
            pytype, levels = kind
            if path.level not in levels:
                raise BadRequest(f"attribute {name} is not allowed on a {path.level_name}")
            if name in update.values or name in update.cleared:
                raise BadRequest(f"attribute {name} given twice")
            if not sep:
                update.cleared.add(name)
                continue
            update.values[name] = _parse_number(name, raw, pytype)
        return update


def _parse_number(name: str, raw: str, pytype: type) -> float:
    try:
        value = float(int(raw)) if pytype is int else float(raw)
    except ValueError:
        raise BadRequest(f"attribute {name}: {raw!r} is not a valid number") from None
    if not math.isfinite(value):
        raise BadRequest(f"attribute {name}: {raw!r} is not finite")
    if pytype is int and value < 0:
        raise BadRequest(f"attribute {name}: must not be negative")
    return value


def check_consistency(attrs: Attributes) -> None:
    """The rules of Core TS 1.1 5.1.2: pmax >= pmin, lt < gt, lt + 2*st < gt, st > 0..."""
    pmin, pmax = attrs.get("pmin"), attrs.get("pmax")
    if pmin is not None and pmax is not None and pmax < pmin:
        raise BadRequest(f"pmax {pmax:g} is smaller than pmin {pmin:g}")
    epmin, epmax = attrs.get("epmin"), attrs.get("epmax")
    if epmin is not None and epmax is not None and epmax < epmin:
        raise BadRequest(f"epmax {epmax:g} is smaller than epmin {epmin:g}")
    st = attrs.get("st")
    if st is not None and st <= 0:
        raise BadRequest("st must be greater than 0")
    lt, gt = attrs.get("lt"), attrs.get("gt")
    if lt is not None and gt is not None:
        if lt >= gt:
            raise BadRequest(f"lt {lt:g} must be smaller than gt {gt:g}")
        if st is not None and lt + 2 * st >= gt:
            raise BadRequest("lt + 2*st must be smaller than gt")


class AttributeStore:
    """Attributes attached by one server, per path.

    ``on_change`` (set by whoever times notifications) is called after every
    change, so that observations already running follow the new attributes;
    then every callable in ``listeners`` (the client saving its state).
    """

    __slots__ = ("_by_path", "listeners", "on_change")

    def __init__(self) -> None:
        self._by_path: dict[Path, Attributes] = {}
        self.on_change: Callable[[], None] | None = None
        self.listeners: list[Callable[[], None]] = []

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
        for listener in list(self.listeners):
            listener()

    def restore(self, by_path: dict[Path, Attributes]) -> None:
        """Put back attributes saved earlier (each set checked as a Write-Attributes is)."""
        for attrs in by_path.values():
            check_consistency(attrs)
        self._by_path = {p: dict(a) for p, a in by_path.items() if a}
        self._changed()

    def clear(self) -> None:
        if self._by_path:
            self._by_path.clear()
            self._changed()

    def get(self, path: Path) -> Attributes:
        """Attributes attached exactly at ``path`` (a copy)."""
        return dict(self._by_path.get(path, {}))

    def apply(self, path: Path, update: AttributeUpdate) -> None:
        """Merge an update atomically: checked as a whole, nothing changes on failure."""
        merged = self.get(path)
        for name in update.cleared:
            merged.pop(name, None)
        merged.update(update.values)
        check_consistency(merged)
        if merged:
            self._by_path[path] = merged
        else:
            self._by_path.pop(path, None)
        self._changed()

    def effective(self, path: Path, defaults: Attributes | None = None) -> Attributes:
        """Attributes in force at ``path``: the nearest level wins, Server defaults last."""
        result: Attributes = dict(defaults or {})
        for level in range(1, len(path) + 1):
            result.update(self._by_path.get(tuple.__new__(Path, path[:level]), {}))
        return result

    def drop_below(self, path: Path) -> None:
        """Forget attributes at and below ``path`` (its instance was deleted)."""
        gone = [p for p in self._by_path if path.is_prefix_of(p)]
        for p in gone:
            del self._by_path[p]
        if gone:
            self._changed()

    def items(self) -> list[tuple[Path, Attributes]]:
        return sorted((p, dict(a)) for p, a in self._by_path.items())


def format_attribute(value: float, name: str) -> str:
    """Text form used in Discover answers: integers for periods, shortest float otherwise."""
    if ATTRIBUTE_KINDS[name][0] is int or value == int(value):
        return str(int(value))
    return repr(value)

"""When an observation notifies: the attribute rules of LwM2M Core TS 1.1 section 5.1.2.

Theory of operation
-------------------
One :class:`NotifyRule` tracks one observed path of one server. It knows the
attributes in force there (``pmin``, ``pmax``, ``gt``, ``lt``, ``st``,
``epmin``, ``epmax``), the time of the last notification and, for numeric
resources, the last value sent (one per resource instance for a multiple
resource). An Observe-Composite has one rule per path, each with that path's
attributes; the shell asks it two questions:

* :meth:`NotifyRule.on_change` — a value below the observed path changed at
  ``now``: is this change worth a notification (change conditions), and when
  may it be sent (``pmin``)?
* :meth:`NotifyRule.deadline` — the next instant at which something must
  happen without any change: a deferred notification whose ``pmin`` ends, the
  ``pmax`` heartbeat, or an ``epmax`` re-evaluation of a read-on-demand value.

Change conditions (5.1.2): with none of ``gt``, ``lt``, ``st`` set, every
change notifies. Otherwise a numeric value notifies when it crosses ``gt`` or
``lt`` (in either direction) or moves by at least ``st`` from the last value
sent; any one condition is enough. For a multiple resource the conditions
apply to each resource instance (one instance crossing or moving is enough),
and an instance added or removed always notifies. ``pmax`` is ignored when it is smaller
than ``pmin``; ``pmax = 0`` means no heartbeat. ``epmin``/``epmax`` bound how
often a value is sampled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lwm2m.client.attributes import Attributes

Sample = float | dict[int, float]
"""The numeric value of a resource: one number, or one per resource instance."""


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _sample(value: object) -> Sample | None:
    """The numbers of a value (a multiple resource gives one per instance); None: not numeric."""
    if isinstance(value, dict):
        numbers = {ri: _number(v) for ri, v in value.items()}
        if any(n is None for n in numbers.values()):
            return None
        return {int(ri): n for ri, n in numbers.items() if n is not None}
    return _number(value)


@dataclass(slots=True)
class NotifyRule:
    """Notification timing and change conditions of one observed path."""

    attrs: Attributes = field(default_factory=dict)
    last_sent_at: float = 0.0
    last_value: Sample | None = None
    pending_since: float | None = None
    last_sampled_at: float = 0.0

    # ----------------------------------------------------------- attributes
    @property
    def pmin(self) -> float:
        return self.attrs.get("pmin", 0.0)

    @property
    def pmax(self) -> float | None:
        pmax = self.attrs.get("pmax")
        if pmax is None or pmax <= 0 or pmax < self.pmin:
            return None
        return pmax

    @property
    def has_conditions(self) -> bool:
        return any(k in self.attrs for k in ("gt", "lt", "st"))

    # ---------------------------------------------------------------- events
    def sent(self, now: float, value: object = None) -> None:
        """Record that a notification (or the first response) went out at ``now``."""
        self.last_sent_at = now
        self.last_sampled_at = now
        self.pending_since = None
        sample = _sample(value)
        if sample is not None:
            self.last_value = sample

    def condition_met(self, value: object) -> bool:
        """Do the change conditions let this new value through?"""
        if not self.has_conditions:
            return True
        new = _sample(value)
        if new is None:
            return True  # conditions only constrain numeric values
        old = self.last_value
        if old is None:
            return True
        if isinstance(new, dict) or isinstance(old, dict):
            if not isinstance(new, dict) or not isinstance(old, dict) or new.keys() != old.keys():
                return True  # instances added or removed
            return any(self._crossed(old[ri], new[ri]) for ri in new)
        return self._crossed(old, new)

    def _crossed(self, old: float, new: float) -> bool:
        gt, lt, st = self.attrs.get("gt"), self.attrs.get("lt"), self.attrs.get("st")
        if gt is not None and (old <= gt < new or new <= gt < old):
            return True
        if lt is not None and (old >= lt > new or new >= lt > old):
            return True
        return st is not None and abs(new - old) >= st

    def on_change(self, now: float, value: object = None) -> float | None:
        """A change happened. Return when to notify (``<= now``: at once), or None: not at all."""
        if not self.condition_met(value):
            return None
        if self.pending_since is None:
            self.pending_since = now
        return max(now, self.last_sent_at + self.pmin)

    def deadline(self) -> float | None:
        """The next instant at which the shell must call :meth:`due` without a change."""
        candidates: list[float] = []
        if self.pending_since is not None:
            candidates.append(self.last_sent_at + self.pmin)
        pmax = self.pmax
        if pmax is not None:
            candidates.append(self.last_sent_at + pmax)
        epmax = self.attrs.get("epmax")
        if epmax is not None and epmax > 0:
            candidates.append(self.last_sampled_at + epmax)
        return min(candidates) if candidates else None

    def due(self, now: float) -> str | None:
        """What is due at ``now``: "notify", "sample" (re-read the value), or None."""
        if self.pending_since is not None and now >= self.last_sent_at + self.pmin:
            return "notify"
        pmax = self.pmax
        if pmax is not None and now >= self.last_sent_at + pmax:
            return "notify"
        epmax = self.attrs.get("epmax")
        if epmax is not None and epmax > 0 and now >= self.last_sampled_at + epmax:
            epmin = self.attrs.get("epmin", 0.0)
            if now >= self.last_sampled_at + epmin:
                self.last_sampled_at = now
                return "sample"
        return None

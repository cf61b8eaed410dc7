"""Process figures from Linux's /proc: resident memory, its peak, CPU time; the fd limit.

Elsewhere (no /proc) the memory figures fall back to ``ru_maxrss`` for the
current process and to 0 for others, and CPU time of other processes is 0.
"""

from __future__ import annotations

import os
import resource
import sys

__all__ = ["cpu_seconds", "raise_fd_limit", "rss_bytes", "rss_peak_bytes"]

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _status_kb(field: str, pid: int | None) -> int | None:
    path = f"/proc/{pid if pid is not None else 'self'}/status"
    try:
        with open(path, encoding="ascii") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _maxrss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory now (VmRSS) of ``pid`` (None: this process)."""
    kb = _status_kb("VmRSS:", pid)
    if kb is not None:
        return kb * 1024
    return _maxrss() if pid is None else 0


def rss_peak_bytes(pid: int | None = None) -> int:
    """The highest resident memory so far (VmHWM)."""
    kb = _status_kb("VmHWM:", pid)
    if kb is not None:
        return kb * 1024
    return _maxrss() if pid is None else 0


def cpu_seconds(pid: int | None = None) -> float:
    """User plus system CPU time of ``pid`` (None: this process), in seconds."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            text = stat.read()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces: count from the closing parenthesis.
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK
    except (IndexError, ValueError):
        return 0.0


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft if soft != resource.RLIM_INFINITY else 1 << 30
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target

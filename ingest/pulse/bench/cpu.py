"""CPU-seconds of the local stack's processes, read from /proc, so benchmarks report cost per event.

Each supervised service runs in its own process group (``start_new_session``), so a service's cost
is the utime + stime of every live member of its group (a collector's workers, a JVM's threads)
plus what its members already reaped from exited children (cutime + cstime).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from pulse.stack.process import group_members


def process_cpu_s(pid: int) -> float:
    """utime + stime + cutime + cstime of one process (all its threads); 0 if it is gone."""
    try:
        # "pid (comm) state ...": comm may hold spaces and parentheses, so split after the last ")".
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def group_cpu_s(pgid: int) -> float:
    """CPU-seconds of every live process of group ``pgid`` (a supervised service and its children)."""
    return sum(process_cpu_s(pid) for pid in group_members(pgid) or [pgid])


@dataclass(frozen=True)
class CpuSample:
    """CPU-seconds so far per named process group, and of this process (the load generator)."""

    groups: dict[str, float]
    self_s: float


def sample(pids: dict[str, int]) -> CpuSample:
    """CPU-seconds used so far by each named service (its process group) and by this process."""
    times = os.times()
    groups = {}
    for name, pid in pids.items():
        with contextlib.suppress(OSError):
            groups[name] = group_cpu_s(pid)
    return CpuSample(groups, times.user + times.system)


def spent(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """CPU-seconds each service (and ``generator``, this process) used between two samples."""
    used = {name: max(0.0, after.groups[name] - before.groups.get(name, 0.0)) for name in after.groups}
    used["generator"] = after.self_s - before.self_s
    return used

"""Linux /proc readings of the process under test: CPU time, resident memory, core load."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of `pid` so far (10 ms resolution)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # the command name may hold spaces; the fields after it are fixed
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def memory_kib(pid: int, field: str) -> int:
    """A `/proc/<pid>/status` memory field in KiB: VmHWM (peak resident) or VmRSS."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/{pid}/status")


@dataclass(frozen=True, slots=True)
class CoreTimes:
    """Busy and total jiffies of each core, from /proc/stat."""

    busy: tuple[int, ...]
    total: tuple[int, ...]

    @classmethod
    def read(cls) -> CoreTimes:
        """Now."""
        busy: list[int] = []
        total: list[int] = []
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                name, _, rest = line.partition(" ")
                if not name.startswith("cpu") or name == "cpu":
                    continue
                values = [int(value) for value in rest.split()]
                idle = values[3] + values[4]  # idle + iowait
                busy.append(sum(values[:8]) - idle)
                total.append(sum(values[:8]))
        return cls(tuple(busy), tuple(total))

    def utilisation_since(self, earlier: CoreTimes) -> list[float]:
        """Per core, the busy fraction between `earlier` and this reading."""
        return [
            (busy - busy0) / max(1, total - total0)
            for busy, busy0, total, total0 in zip(
                self.busy, earlier.busy, self.total, earlier.total, strict=True
            )
        ]

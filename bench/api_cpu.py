"""CPU accounting for a measured window: the server process's CPU time and the machine's.

On a 2-core machine shared by server, database and load generator, requests per second alone
does not say what limits it. The server's CPU milliseconds per request is the cost that a
faster client or an idle machine cannot remove, and the machine's busy fraction says whether
the run was CPU-bound (near 100%) or waiting on something else. The load generator's own CPU
per request shows how much of the machine it took from the server.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user .. steal; guest time is already counted in user
    return (total - idle) / TICKS, total / TICKS


@dataclass
class CpuWindow:
    """Readings at the start of a window; ``stop`` gives the usage over it."""

    pid: int
    server: float = 0.0
    client: float = 0.0
    busy: float = 0.0
    total: float = 0.0

    def start(self) -> None:
        self.server = process_cpu_seconds(self.pid)
        self.client = time.process_time()
        self.busy, self.total = machine_cpu()

    def stop(self) -> tuple[float, float, float]:
        """(server CPU seconds, load generator CPU seconds, machine busy fraction) since ``start``."""
        server = process_cpu_seconds(self.pid) - self.server
        client = time.process_time() - self.client
        busy, total = machine_cpu()
        return server, client, (busy - self.busy) / max(total - self.total, 1e-9)

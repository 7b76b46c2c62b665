"""CPU seconds per process group during a benchmark run, from /proc/<pid>/stat.

A thread samples every `every` seconds the user + system time of each process
of each named group (a group: a function that lists its pids now, so workers
forked or reaped mid-run are counted while they live), and keeps each pid's
last reading: a pid's time only grows, so the sum of last readings is the
group's CPU over the run. Also the cgroup v1 CPU groups' throttling
(`cpu.stat`: nr_periods, nr_throttled, throttled_time) at the end.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of `pid` (its threads included), None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of stat(5)


def run_delay(pid: int) -> float | None:
    """Seconds `pid`'s threads spent runnable but waiting for a CPU (schedstat's second field)."""
    total, seen = 0, False
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            total += int((task / "schedstat").read_text().split()[1])
            seen = True
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9 if seen else None


def children(pid: int) -> list[int]:
    """`pid`'s direct children (every thread's)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def group_pids(group: Path) -> list[int]:
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def throttling(group: Path) -> dict[str, int]:
    try:
        lines = (group / "cpu.stat").read_text().split("\n")
    except OSError:
        return {}
    return {k: int(v) for k, v in (line.split() for line in lines if line.strip())}


class CpuSampler:
    """CPU seconds per group over the `with` block, sampled by a thread."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]], every: float = 0.25) -> None:
        self.groups, self.every = groups, every
        self.last: dict[str, dict[int, float]] = {name: {} for name in groups}
        self.first: dict[int, float] = {}
        self.waited: dict[str, dict[int, float]] = {name: {} for name in groups}
        self.first_wait: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.seconds = 0.0

    def sample(self) -> None:
        for name, pids in self.groups.items():
            for pid in pids():
                used = cpu_seconds(pid)
                if used is not None:
                    self.first.setdefault(pid, used)
                    self.last[name][pid] = used
                delay = run_delay(pid)
                if delay is not None:  # threads that ended take their wait along: a floor
                    self.first_wait.setdefault(pid, delay)
                    self.waited[name][pid] = max(delay, self.waited[name].get(pid, 0.0))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> CpuSampler:
        self.sample()
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()
        self.seconds = time.monotonic() - self._started

    def used(self) -> dict[str, float]:
        """CPU seconds each group used in the block (a pid's time before it: not counted)."""
        return {
            name: sum(t - self.first[pid] for pid, t in pids.items())
            for name, pids in self.last.items()
        }

    def waits(self) -> dict[str, float]:
        """Each group's time waiting for a CPU, as a share of the block's wall time."""
        return {
            name: sum(t - self.first_wait[pid] for pid, t in pids.items()) / max(self.seconds, 1e-9)
            for name, pids in self.waited.items()
        }

    def shares(self) -> dict[str, float]:
        """Each group's CPU as a share of one core over the block's wall time."""
        return {name: used / max(self.seconds, 1e-9) for name, used in self.used().items()}

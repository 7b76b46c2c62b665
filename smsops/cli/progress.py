"""Progress lines for logs: long plans and applies say how far they are where no one watches.

On a terminal `apply` draws a progress bar. In CI stderr is a log file: a
20,000-send apply or a 1,000,000-row plan would print nothing for minutes,
indistinguishable from a hang. There, one line at most every `INTERVAL`
seconds: counts, rate and time elapsed, never a number or a secret (counts
and the outcome tallies only).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO

from smsops.engine.clock import SYSTEM_CLOCK, Clock

# Seconds between two lines at least (tests set it to 0: a line at every step).
INTERVAL = 10.0


class ProgressLine:
    """`advance(n)` as work gets done; a line on `out` when `interval` s passed since the last.

    `detail` adds what is known besides the count (e.g. the outcomes so far).
    """

    def __init__(
        self,
        what: str,
        unit: str,
        *,
        total: int | None = None,
        detail: Callable[[], str] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        interval: float | None = None,
        out: IO[str] | None = None,
    ) -> None:
        self.what, self.unit, self.total, self.detail = what, unit, total, detail
        self.clock = clock
        self.interval = INTERVAL if interval is None else interval
        self.out = out
        self.done = 0
        self.started = self.last = clock.now()

    def advance(self, count: int) -> None:
        self.done += count
        now = self.clock.now()
        if (now - self.last).total_seconds() < self.interval:
            return
        self.last = now
        elapsed = (now - self.started).total_seconds()
        rate = self.done / elapsed if elapsed > 0 else 0.0
        of = "" if self.total is None else f" of {self.total:,}"
        detail = f"{self.detail()}; " if self.detail is not None else ""
        print(
            f"{self.what}: {self.done:,}{of} {self.unit} ({detail}{rate:,.0f}/s, "
            f"{elapsed:.0f} s elapsed)",
            file=self.out or sys.stderr,
            flush=True,
        )


def for_logs(
    what: str,
    unit: str,
    *,
    total: int | None = None,
    detail: Callable[[], str] | None = None,
    stream: IO[str] | None = None,
) -> ProgressLine | None:
    """A `ProgressLine` on stderr (or `stream`) when it is not a terminal, else None."""
    target = stream or sys.stderr
    if target.isatty():
        return None
    return ProgressLine(what, unit, total=total, detail=detail, out=target)

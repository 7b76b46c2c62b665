"""What a normalising worker process runs (`numbers._computed`'s pool), and all it imports.

A worker imports the module of the function it is given: here only `smsops.core.phone`
(and phonenumbers). From `numbers` it also took dataclasses, tempfile, hashlib and the
snapshot store, ~5 MB of every worker's memory for nothing it runs; a cold plan's peak
memory is summed over the planner and its workers (docs/benchmarks.md §12).
"""

from __future__ import annotations

import contextlib
import os

from smsops.core.phone import PhoneNumber, normalize


def yield_to_planner() -> None:
    """Workers run at a lower priority than the planner that waits for them.

    With as many workers as cores, the planning process (rows, rendering) got
    a fair third of two cores and became the bottleneck; niced workers take
    what it leaves (a cold plan of 1M rows: 19.7 s -> 17.9 s).
    """
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice
        os.nice(5)


def normalize_all(numbers: list[str], region: str | None) -> list[PhoneNumber | str]:
    return [normalize(raw, region) for raw in numbers]

"""Python's cyclic garbage collector, paced for a send loop.

A send allocates in a burst: httpx's and aiohttp's request and response
objects, the claim's and the settlement's rows, the futures that carry them
(~60 container objects a send, all freed by reference counting when the
answer is settled). Python's default first threshold (700 allocations) runs
a collection every ~12 sends, and each promotes the requests then in flight
to an older generation, whose collections scan the whole plan and every
loaded module: ~10% of apply's CPU, 5,000 sends at 0 ms (benchmarks §12).

While a send loop runs, the objects alive when it began (modules, the
config, the plan) are frozen (`gc.freeze`: left out of every collection,
they are not garbage) and the first threshold is `FIRST`: a collection
every ~800 sends. Each costs ~3 ms (its young objects are mostly the
requests in flight), so their number is what counts: at 10,000 (every
~170 sends) they were ~7 us a send, ~4 of it saved at 50,000 (5,000 sends
at 0 ms, `gc.callbacks`: 34 -> 13 ms). Cycles are still collected, only
less often; the objects are unfrozen and the thresholds restored when the last loop ends (loops of
the daemon's rounds may overlap: the first in freezes, the last out
restores). Objects something else froze stay frozen.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

FIRST = 50_000

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] = (700, 10, 10)
_froze = False


@contextmanager
def paced_for_sending() -> Iterator[None]:
    """Freeze what is alive now and collect young objects less often, until the last loop ends."""
    global _depth, _saved, _froze
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            _froze = gc.get_freeze_count() == 0
            if _froze:
                gc.freeze()
            gc.set_threshold(max(FIRST, _saved[0]), _saved[1], _saved[2])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_saved)
                if _froze:
                    gc.unfreeze()

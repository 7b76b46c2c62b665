"""How fast to send: a per-provider pace, and how long to wait before a retry."""

from __future__ import annotations

import asyncio
import random

# Pace a little under the configured rate, so a provider counting over a
# sliding second never sees more than the limit, even with network jitter.
HEADROOM = 0.98


class Pacer:
    """Evenly spaced messages, at most `per_second` in any one-second window.

    A token bucket with a burst of one: each request reserves its slot (one
    interval per message it carries) before it waits, so concurrent senders
    never share a slot and a late wake-up never lets two bunch up later.
    """

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / (per_second * HEADROOM)
        self._next = 0.0

    async def wait(self, messages: int = 1) -> None:
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next)
        self._next = slot + self.interval * messages
        if slot > now:
            await asyncio.sleep(slot - now)


def backoff(attempt: int, retry_after: float | None, base: float, cap: float) -> float:
    """Seconds before retry `attempt` (1 = the first retry): exponential, jittered.

    Half the exponential step is random ("equal jitter"), so many senders hit
    by the same 429 do not come back in step. A provider's Retry-After is a
    floor, never shortened.
    """
    step = min(cap, base * 2.0 ** (attempt - 1))
    delay = step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not security
    return max(delay, retry_after or 0.0)

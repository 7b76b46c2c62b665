"""How fast to send: a per-provider pace, and how long to wait before a retry."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# Pace a little under the configured rate, and count the limit over a little
# more than a second, so a provider counting over a sliding second never sees
# more than the limit even when some requests arrive late (a new connection,
# network jitter) and bunch up with the next ones.
HEADROOM = 0.98
WINDOW = 1.025  # seconds: tolerates 25 ms of arrival jitter


class Pacer:
    """Evenly spaced messages, never more than `per_second` in any one-second window.

    A token bucket with a burst of one: each request reserves its slot (one
    interval per message it carries) before it waits, so concurrent senders
    never share a slot. Slots alone are not enough: when the event loop is
    held up, several late senders wake together. So the times messages really
    leave are kept for the last `WINDOW`, and a sender waits while it is full.
    """

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / (per_second * HEADROOM)
        self.limit = max(1, int(per_second))
        self._next = 0.0
        self._sent: deque[float] = deque()
        self._warm: asyncio.Event | None = None

    @asynccontextmanager
    async def slot(self, messages: int = 1) -> AsyncIterator[None]:
        """Wait for a slot; the request runs inside the block.

        The very first request goes alone: its one-off costs (lazy imports,
        the first connection) make it arrive late, bunched with the next ones.
        """
        first = self._warm is None
        if self._warm is None:
            self._warm = asyncio.Event()
        else:
            await self._warm.wait()
        await self.wait(messages)
        try:
            yield
        finally:
            if first:
                self._warm.set()

    async def wait(self, messages: int = 1) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next)
        self._next = slot + self.interval * messages
        if slot > now:
            await asyncio.sleep(slot - now)
        while True:
            now = loop.time()
            while self._sent and self._sent[0] <= now - WINDOW:
                self._sent.popleft()
            if not self._sent or len(self._sent) + messages <= self.limit:
                break  # (a bulk larger than the limit goes alone)
            await asyncio.sleep(self._sent[0] + WINDOW - now)
        self._sent.extend([now] * messages)


def backoff(attempt: int, retry_after: float | None, base: float, cap: float) -> float:
    """Seconds before retry `attempt` (1 = the first retry): exponential, jittered.

    Half the exponential step is random ("equal jitter"), so many senders hit
    by the same 429 do not come back in step. A provider's Retry-After is a
    floor, never shortened.
    """
    step = min(cap, base * 2.0 ** (attempt - 1))
    delay = step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not security
    return max(delay, retry_after or 0.0)

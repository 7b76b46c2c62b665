"""How fast to send: a per-provider pace, and how long to wait before a retry."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

# Pace a little under the configured rate so the hard guard below rarely has
# to step in: with a few milliseconds of latency, evenly spaced requests at
# exactly the limit would keep brushing against it.
HEADROOM = 0.98
WINDOW = 1.0  # seconds: the provider counts over any one second


class Pacer:
    """Evenly spaced messages, never more than `per_second` in any one-second window.

    Two parts. A token bucket with a burst of one spaces requests: each
    reserves its slot (one interval per message it carries) before it waits,
    so concurrent senders never share a slot.

    A guard makes the limit hold *at the provider*, whatever the network and
    the provider's own stalls do. The provider stamps a request some time
    between our sending it and our reading the answer, so a request counts
    against the limit from the moment it is sent until one second after its
    answer. A new request waits while that count is full. If the provider
    ever saw more than the limit within one second, the last of those
    requests would have been sent while all the others were in flight or
    answered less than a second before, and the guard would have held it.
    The price is throughput: about limit / (1 s + latency).
    """

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / (per_second * HEADROOM)
        self.limit = max(1, int(per_second))
        self._next = 0.0
        self._open = 0  # messages in requests sent and not yet answered
        self._answered: deque[float] = deque()  # when each message's answer came
        self._changed = asyncio.Event()

    @asynccontextmanager
    async def slot(
        self, messages: int = 1, stop: asyncio.Event | None = None
    ) -> AsyncIterator[bool]:
        """Wait for a slot; the request runs inside the block if it yields True.

        False: `stop` was set before the slot came, and no request may be
        made in the block (a stopping run must not wait out a slow pace
        only to claim nothing).
        """
        if not await self.wait(messages, stop):
            yield False
            return
        self._open += messages
        try:
            yield True
        finally:
            self._open -= messages
            self._answered.extend([asyncio.get_running_loop().time()] * messages)
            self._changed.set()

    def delay(self) -> float:
        """Seconds until a request booked now would get its paced slot.

        A send whose window closes before then cannot go out in it: the
        sender expires it instead of booking a slot it would only waste (a
        shared pace would fill with such bookings and starve the live sends).
        Booking happens without a suspension point after this is read, so
        the answer holds for the caller's booking.
        """
        return max(0.0, self._next - asyncio.get_running_loop().time())

    async def wait(self, messages: int = 1, stop: asyncio.Event | None = None) -> bool:
        """Until `messages` may be sent: True, or False as soon as `stop` is set."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next)
        self._next = slot + self.interval * messages
        if slot > now:
            if stop is None:
                await asyncio.sleep(slot - now)
            else:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), slot - now)
        while True:
            if stop is not None and stop.is_set():
                return False
            now = loop.time()
            while self._answered and self._answered[0] <= now - WINDOW:
                self._answered.popleft()
            counted = self._open + len(self._answered)
            if counted == 0 or counted + messages <= self.limit:
                return True  # (a bulk larger than the limit goes alone)
            self._changed.clear()
            if self._answered:  # the oldest answer leaves the window, or one comes in
                expires = self._answered[0] + WINDOW - now
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), expires)
            else:
                await self._changed.wait()


def backoff(attempt: int, retry_after: float | None, base: float, cap: float) -> float:
    """Seconds before retry `attempt` (1 = the first retry): exponential, jittered.

    Half the exponential step is random ("equal jitter"), so many senders hit
    by the same 429 do not come back in step. A provider's Retry-After is a
    floor, never shortened.
    """
    step = min(cap, base * 2.0 ** (attempt - 1))
    delay = step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not security
    return max(delay, retry_after or 0.0)

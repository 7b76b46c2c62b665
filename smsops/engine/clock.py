"""The time a round reads and the waits it makes, as one value a test can replace.

A send's window closes at a wall-clock time, so whether it may still be
claimed, or retried, is asked of `Clock.now`; a retry's wait is
`Clock.sleep`. A round's clock starts at the time it planned at
(`starting_at`). Tests give a fake clock whose provider "takes" time by
moving it, so a window shorter than the send time costs no real seconds.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def _sleep(seconds: float) -> None:
    """asyncio.sleep, imported when first waited on: `plan` reads this clock
    (progress lines) and never waits, and asyncio costs every start ~20 ms."""
    import asyncio

    await asyncio.sleep(seconds)


@dataclass(frozen=True)
class Clock:
    now: Callable[[], datetime] = _utc_now
    sleep: Callable[[float], Awaitable[None]] = _sleep

    @classmethod
    def starting_at(cls, at: datetime) -> Clock:
        """Real time running on from `at`: a round planned at `at` ages as it sends.

        `apply --at T` plans as if at T; its windows close relative to T too,
        not to today (a past T would otherwise find every window closed).
        """
        start = time.monotonic()
        return cls(now=lambda: at + timedelta(seconds=time.monotonic() - start))


SYSTEM_CLOCK = Clock()

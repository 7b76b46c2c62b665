"""A fake `Clock`: time moves only when a test (or a fake provider) moves it, or a retry waits."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from smsops.engine.clock import Clock


class FakeClock(Clock):
    def __init__(self, start: datetime) -> None:
        super().__init__(now=self._now, sleep=self._sleep)
        object.__setattr__(self, "current", start)
        object.__setattr__(self, "slept", [])

    current: datetime
    slept: list[float]

    def _now(self) -> datetime:
        return self.current

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(timedelta(seconds=seconds))
        await asyncio.sleep(0)  # a real wait yields to the other senders

    def advance(self, by: timedelta) -> None:
        object.__setattr__(self, "current", self.current + by)

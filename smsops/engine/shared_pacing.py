"""One provider's pace shared with the other processes on a PostgreSQL ledger.

The same interface as `pacing.Pacer` (`slot`, `delay`), the limit kept in the
ledger (ledger/pace.py, ledger/postgres_pace.py) instead of this process:
a request asks the ledger for its slots, waits as long as it is told, and
reports its answer, after which it counts one second more. The ledger's
calls are blocking round trips, made in a worker thread; within one process
one request at a time asks (the others wait their turn here, not on the
provider's row lock).

Fail closed: a ledger that cannot be reached grants no slot, so nothing is
sent (`PaceUnavailable`, raised before the request); an answer that cannot
be recorded leaves its request counting until its lapse (the provider's
timeout and a second), never less.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from smsops.core.errors import LedgerError
from smsops.engine.pacing import HEADROOM
from smsops.ledger.pace import Pace, SharedPace

log = logging.getLogger("smsops.send")


class PaceUnavailable(LedgerError):
    """The shared limit could not be asked: no slot, so this request is not made."""


class SharedPacer:
    def __init__(self, store: SharedPace, provider: str, per_second: float, timeout: float) -> None:
        self.store = store
        self.interval = 1.0 / (per_second * HEADROOM)
        self.limit = max(1, int(per_second))
        self.pace = Pace(provider, self.interval, self.limit, timeout + 1.0)
        self._next = 0.0  # the loop's time of the provider's next free slot, as last told
        self._asking = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until a request booked now would get its slot, as the ledger last said."""
        return max(0.0, self._next - asyncio.get_running_loop().time())

    @asynccontextmanager
    async def slot(
        self, messages: int = 1, stop: asyncio.Event | None = None
    ) -> AsyncIterator[bool]:
        """As `Pacer.slot`; raises PaceUnavailable (before any request) when the ledger fails."""
        hold = await self._take(messages, stop)
        if hold is None:
            yield False
            return
        try:
            yield True
        finally:
            await self._answered(hold)

    async def _take(self, messages: int, stop: asyncio.Event | None) -> int | None:
        loop = asyncio.get_running_loop()
        reserved = False
        while stop is None or not stop.is_set():
            async with self._asking:
                try:
                    taken = await asyncio.to_thread(self.store.take, self.pace, messages, reserved)
                except LedgerError as exc:
                    raise PaceUnavailable(f"no send slot for {self.pace.provider}: {exc}") from exc
            self._next = loop.time() + taken.next_in
            if taken.hold is not None:
                return taken.hold
            reserved = True  # booked: from now on only the sliding second is waited for
            if stop is None:
                await asyncio.sleep(taken.wait)
            else:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), taken.wait)
        return None

    async def _answered(self, hold: int) -> None:
        try:
            await asyncio.to_thread(self.store.answered, hold)
        except LedgerError as exc:  # it counts until its lapse: later, never sooner
            log.warning("could not record an answer with the shared pace: %s", exc)

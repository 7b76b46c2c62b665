"""One provider's pace shared with the other processes on a PostgreSQL ledger.

The same interface as `pacing.Pacer` (`slot`, `delay`), the limit kept in the
ledger (ledger/pace.py, ledger/postgres_pace.py) instead of this process:
the process asks the ledger for a chunk of slots (about 50 ms of the rate),
waits as long as it is told, hands the slots out to its requests one
interval apart, and reports the chunk answered once its last request is,
after which it counts one second more. The ledger's calls are blocking
round trips, made in a worker thread; within one process one request at a
time asks (the others wait their turn here, not on the provider's row lock).

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


# A process asks the ledger for about this many seconds of slots at once and hands
# them out itself, one interval apart: one round trip per chunk, not per request
# (at 500/s, asking per request reached 190-250/s on a loaded machine).
CHUNK_SECONDS = 0.05


class _Grant:
    """Slots one take granted: one hold in the ledger, handed out here one interval apart.

    The hold counts every slot of it until one second after the last request
    that used it is answered, so requests sharing it are judged together.
    """

    def __init__(self, hold: int, start: float, size: int, interval: float) -> None:
        self.hold, self.size = hold, size
        self.used = 0  # messages handed out
        self.open = 0  # requests using it not yet answered
        self.next = start  # the loop's time of its next slot
        self.end = start + size * interval  # no slot of it is handed out later
        self.reported = False

    def closed(self, now: float) -> bool:
        return self.used >= self.size or now >= self.end


class SharedPacer:
    def __init__(self, store: SharedPace, provider: str, per_second: float, timeout: float) -> None:
        self.store = store
        self.interval = 1.0 / (per_second * HEADROOM)
        self.limit = max(1, int(per_second))
        self.chunk = max(1, int(per_second * CHUNK_SECONDS))
        self.pace = Pace(provider, self.interval, self.limit, timeout + 1.0)
        self._next = 0.0  # the loop's time of the provider's next free slot, as last told
        self._asking = asyncio.Lock()
        self._grant: _Grant | None = None
        self._later: dict[_Grant, asyncio.Task[None]] = {}  # reports waiting for a grant's end

    def delay(self) -> float:
        """Seconds until a request booked now would get its slot, as the ledger last said."""
        return max(0.0, self._next - asyncio.get_running_loop().time())

    @asynccontextmanager
    async def slot(
        self, messages: int = 1, stop: asyncio.Event | None = None
    ) -> AsyncIterator[bool]:
        """As `Pacer.slot`; raises PaceUnavailable (before any request) when the ledger fails."""
        got = await self._reserve(messages, stop)
        if got is None:
            yield False
            return
        grant, at = got
        try:
            if not await _until(at, stop):
                yield False
                return
            yield True
        finally:
            grant.open -= 1
            await self._report(grant)

    async def _reserve(
        self, messages: int, stop: asyncio.Event | None
    ) -> tuple[_Grant, float] | None:
        """This request's grant and the loop time of its slot; None when `stop` came first."""
        loop = asyncio.get_running_loop()
        async with self._asking:
            grant = self._grant
            if grant is None or grant.used + messages > grant.size or loop.time() >= grant.end:
                if grant is not None:
                    self._grant = None
                    await self._report(grant)
                size = max(messages, self.chunk)
                hold = await self._take(size, stop)
                if hold is None:
                    return None
                grant = self._grant = _Grant(hold, loop.time(), size, self.interval)
            at = max(loop.time(), grant.next)
            grant.next = at + self.interval * messages
            grant.used += messages
            grant.open += 1
            return grant, at

    async def _take(self, messages: int, stop: asyncio.Event | None) -> int | None:
        loop = asyncio.get_running_loop()
        reserved = False
        while stop is None or not stop.is_set():
            try:
                taken = await asyncio.to_thread(self.store.take, self.pace, messages, reserved)
            except LedgerError as exc:
                raise PaceUnavailable(f"no send slot for {self.pace.provider}: {exc}") from exc
            self._next = loop.time() + taken.next_in
            if taken.hold is not None:
                return taken.hold
            reserved = True  # booked: from now on only the sliding second is waited for
            if not await _until(loop.time() + taken.wait, stop):
                return None
        return None

    async def _report(self, grant: _Grant) -> None:
        """Once no more of `grant` is handed out and all its requests are answered.

        A grant that may still hand out slots is reported at its end, from a
        task of its own: the request that was its last so far does not wait.
        """
        loop = asyncio.get_running_loop()
        if grant.open or grant.reported:
            return
        if grant is self._grant and not grant.closed(loop.time()):
            if grant not in self._later:
                self._later[grant] = loop.create_task(self._report_at_end(grant))
            return
        grant.reported = True
        try:
            await asyncio.to_thread(self.store.answered, grant.hold)
        except LedgerError as exc:  # it counts until its lapse: later, never sooner
            log.warning("could not record an answer with the shared pace: %s", exc)

    async def _report_at_end(self, grant: _Grant) -> None:
        try:
            await asyncio.sleep(grant.end - asyncio.get_running_loop().time())
            if grant is self._grant:
                self._grant = None  # no slot of it is handed out any more
            await self._report(grant)  # unless a later request took a slot: it reports
        finally:
            del self._later[grant]


async def _until(at: float, stop: asyncio.Event | None) -> bool:
    """Sleep until the loop's time `at`: False as soon as `stop` is set."""
    delay = at - asyncio.get_running_loop().time()
    if stop is None:
        if delay > 0:
            await asyncio.sleep(delay)
        return True
    if delay > 0:
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return not stop.is_set()

"""A schedule's round as units of work, when several replicas share the ledger (PostgreSQL).

A due occurrence is split into shards of its audience (audience/shards.py);
each (schedule, occurrence, shard) is a unit in the ledger
(ledger/postgres_units.py). A replica's round of a schedule takes units of
each due occurrence while it has capacity, plans and sends only those shards
(`Part`), and lets them go marked passed; then takes more, until no free unit
of the occurrence is left that nobody passed since the round began. So K
replicas share many small schedules and one big one alike, and the planning
of a big occurrence is shared as well as its sending.

Capacity: a replica works on at most `SMSOPS_UNITS` batches at once (default
2, over all schedules; a batch: the units of one occurrence it took in one
go, planned in one read), and holds of one occurrence at most its fair share
(ceil(shards / live replicas)): the replica that fires first leaves the
others their share, and one that finishes early takes what is still free. A
unit held by a replica that died is free again when that run's lease lapses:
the `watch` wakes the rounds that wait on their batches (`wake`), and one
with a free slot takes it at once, not after its own batch; it finds the
dead run's claims stale, marks them `uncertain`, and sends the rest of the
shard. A memory or SQLite ledger has
one writer: its rounds take no unit (runner.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import UTC, datetime

from smsops.audience.shards import LOCAL, Part, shards_for
from smsops.config.loader import Config
from smsops.daemon.threads import own_thread
from smsops.engine.owner import gone_runs
from smsops.ledger.base import Ledger
from smsops.schedule.occurrences import due_occurrences, is_recipient_local

log = logging.getLogger("smsops.run")
DEFAULT_UNITS = 2

# Sends one batch of units (a Part of one occurrence); True when it finished whole.
SendPart = Callable[[Part], Awaitable[bool]]


def unit_occurrences(config: Config, name: str, now: datetime) -> list[str]:
    """The occurrences whose units a round at `now` takes (`LOCAL` for a recipient-local one)."""
    schedule = config.schedules[name]
    if is_recipient_local(schedule):
        return [LOCAL]
    return due_occurrences(schedule, now)


class Units:
    """This replica's units: at most `bound` batches at once, over every schedule."""

    def __init__(self, ledger: Ledger, bound: int = DEFAULT_UNITS) -> None:
        self.ledger, self.bound = ledger, bound
        self._slots: asyncio.Semaphore | None = None  # made on the loop that uses it
        self._waiting: set[asyncio.Future[None]] = set()  # rounds waiting for a change

    def _slot(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.bound)
        return self._slots

    def wake(self) -> None:
        """Units may have come free (another run's lease lapsed): rounds that wait for
        one of their batches to end try to take them now, with a free slot."""
        for waiting in self._waiting:
            if not waiting.done():
                waiting.set_result(None)

    async def round(
        self, config: Config, name: str, now: datetime, send: SendPart, stopping: Callable[[], bool]
    ) -> int | None:
        """Take, send and pass `name`'s units due at `now`; the batches sent, None when
        every unit was another replica's (nothing taken)."""
        occurrences = unit_occurrences(config, name, now)
        ledger = self.ledger
        count = await own_thread(lambda: shards_for(config, name), "smsops-units")
        await own_thread(lambda: ledger.forget_units(name, occurrences), "smsops-units")
        since = datetime.now(UTC)  # a unit someone passed after this needs no pass of ours
        batches = 0
        for occurrence in occurrences:
            batches += await self._occurrence(name, occurrence, count, since, send, stopping)
        return batches or None

    async def _occurrence(
        self,
        name: str,
        occurrence: str,
        count: int,
        since: datetime,
        send: SendPart,
        stopping: Callable[[], bool],
    ) -> int:
        """Batches of the occurrence's units while any is free: several at once with free
        slots (a batch taken over from a dead replica need not wait for this one's own)."""
        running: dict[asyncio.Task[None], Part] = {}
        batches = 0
        slots = self._slot()
        try:
            while not stopping():
                await slots.acquire()
                busy = [shard for part in running.values() for shard in part.shards]
                try:
                    part = await self._take(name, occurrence, count, since, busy)
                except BaseException:
                    slots.release()
                    raise
                if part is not None:
                    batches += 1
                    task = asyncio.create_task(self._batch(name, part, send))
                    running[task] = part
                    continue
                slots.release()
                if not running:
                    break
                await self._changed(set(running))  # a batch ended, or units came free
                for done in [task for task in running if task.done()]:
                    del running[done]
                    done.result()  # a batch's error is the round's
        finally:
            if running:
                await asyncio.gather(*running)
        return batches

    async def _batch(self, name: str, part: Part, send: SendPart) -> None:
        """Send one batch and let its units go; its slot is free at the end."""
        passed = False
        try:
            passed = await send(part)
        finally:  # an error goes on to the round (its failure, logged and counted)
            await self._release(name, part, passed)
            self._slot().release()

    async def _changed(self, running: set[asyncio.Task[None]]) -> None:
        waiting = asyncio.get_running_loop().create_future()
        self._waiting.add(waiting)
        try:
            await asyncio.wait({*running, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._waiting.discard(waiting)
            waiting.cancel()

    async def _take(
        self, name: str, occurrence: str, count: int, since: datetime, busy: list[int]
    ) -> Part | None:
        ledger = self.ledger

        def take() -> Part | None:
            now = datetime.now(UTC)
            gone = gone_runs(ledger.leases(), now)
            taken = ledger.take_units(
                name, occurrence, count, now=now, since=since, gone=gone, busy=busy
            )
            if not taken.shards:
                return None
            return Part(occurrence, taken.count, frozenset(taken.shards))

        return await own_thread(take, "smsops-units")

    async def _release(self, name: str, part: Part, passed: bool) -> None:
        """Let the shards go (passed, or free for the next round to try again).

        A release that fails (the ledger out of reach) leaves them held by
        this run: its next round takes them again (a holder may retake its
        own), another replica when this one's lease lapses.
        """
        ledger, shards = self.ledger, sorted(part.shards)
        at = datetime.now(UTC) if passed else None

        def release() -> None:
            ledger.release_units(name, part.occurrence, shards, passed=at)

        with suppress(Exception):
            await own_thread(release, "smsops-units")
            return
        log.warning(
            "%s: could not let go of units %s of %s; this replica takes them again next round",
            name,
            shards,
            part.occurrence,
            extra={"schedule": name},
        )

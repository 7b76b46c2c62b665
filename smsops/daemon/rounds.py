"""Run mode's rounds in parallel: one at a time per schedule, merged, never skipped.

A scheduler job must return at once: a job that awaits a whole round makes
APScheduler skip the fires (and the resync) it cannot start while that round
sends, and the occurrences they stood for pass without a word. So jobs only
*request* a round here. Per schedule at most one round runs; a request that
arrives meanwhile (a fire, the resync, a reload) is merged into one follow-up
round that starts right after it — never more than one is queued, since a
round at T sends everything the plan at T finds missing. Rounds of different
schedules run concurrently.

Each request gets a future answered by the first round that *starts* after
it (with that round's plan, or None), so a caller that needs the outcome
(`Runner.reconcile`, the tests) can wait for it while the jobs never do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from smsops.daemon.failures import guarded
from smsops.engine.plan import Plan

RoundOf = Callable[[str, str], Awaitable[Plan | None]]  # (schedule, why) -> its plan


class _Slot:
    """One schedule: its running round, the merged follow-up, who waits for which."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.again: str | None = None  # why the follow-up runs (the first merged request's)
        self.waiters: list[asyncio.Future[Plan | None]] = []  # answered by the next round
        self.fresh = False  # its task was created and has not started its round yet


class Rounds:
    def __init__(
        self,
        round_of: RoundOf,
        merged: Callable[[str, str], None],
        report: Callable[[str, BaseException], None],
    ) -> None:
        self.round_of, self.merged, self.report = round_of, merged, report
        self.stopping = False
        self._slots: dict[str, _Slot] = {}

    def request(self, name: str, why: str) -> asyncio.Future[Plan | None]:
        """Start `name`'s round now, or merge into the follow-up of the one running."""
        future: asyncio.Future[Plan | None] = asyncio.get_running_loop().create_future()
        if self.stopping:
            future.set_result(None)
            return future
        slot = self._slots.setdefault(name, _Slot())
        slot.waiters.append(future)
        if slot.task is None:
            slot.fresh = True
            slot.task = guarded(f"round:{name}", self._rounds(name, slot, why), self.report)
        elif not slot.fresh:  # (a fresh round has not planned yet: it answers this one too)
            slot.again = slot.again or why
            self.merged(name, why)
        return future

    async def _rounds(self, name: str, slot: _Slot, why: str) -> None:
        """`name`'s round, then its follow-up while one was requested meanwhile."""
        try:
            while True:
                waiters, slot.waiters, slot.fresh = slot.waiters, [], False
                plan: Plan | None = None
                try:
                    plan = await self.round_of(name, why)
                finally:
                    _answer(waiters, plan)
                if slot.again is None or self.stopping:
                    return
                why, slot.again = slot.again, None
        finally:  # nothing awaits between the last check and here: no request is lost
            slot.task, slot.again, slot.fresh = None, None, False
            _answer(slot.waiters, None)
            slot.waiters = []
            if self._slots.get(name) is slot:  # a schedule a reload removed leaves nothing
                del self._slots[name]

    def running(self) -> list[str]:
        """The schedules whose round is running now."""
        return [name for name, slot in self._slots.items() if slot.task is not None]

    def stop(self) -> None:
        """Start no round and no follow-up any more."""
        self.stopping = True

    async def idle(self) -> None:
        """Until no round runs (follow-ups included)."""
        while tasks := [slot.task for slot in self._slots.values() if slot.task is not None]:
            await asyncio.gather(*tasks, return_exceptions=True)


def _answer(waiters: list[asyncio.Future[Plan | None]], plan: Plan | None) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(plan)

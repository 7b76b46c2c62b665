"""Work off the event loop that must not queue behind the rounds' planning."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


async def own_thread(work: Callable[[], T], name: str = "smsops-reload") -> T:
    """`work()` in a thread of its own, awaited.

    Not the default pool: that is where rounds plan, and six big audiences
    planning at once would queue a reload behind them. A daemon thread, so
    a load that hangs can never hold up the exit.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():  # cancelled meanwhile (the service stops)
            outcome()

    def run() -> None:
        outcome: Callable[[], None]
        try:
            outcome = functools.partial(future.set_result, work())
        except BaseException as exc:  # handed to the awaiting coroutine
            outcome = functools.partial(future.set_exception, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await future


class OneAtATime(Generic[T]):
    """`work()` in a thread of its own, one at a time; each caller waits at most `timeout`.

    For a check that may hang (a readiness probe of a database that does not
    answer): a caller that comes while one runs waits for that one instead
    of starting another, so probes every few seconds never pile up threads
    blocked on the same dead connection. A run still hanging after
    `fresh_after` seconds is given up on (it may be stuck on a connection
    the network dropped, while a new one would answer): the next caller
    starts another, `most` of them hanging at once at the very most.
    """

    def __init__(
        self, work: Callable[[], T], name: str, fresh_after: float = 30.0, most: int = 3
    ) -> None:
        self.work, self.name = work, name
        self.fresh_after, self.most = fresh_after, most
        self._runs: list[tuple[float, asyncio.Future[T]]] = []  # (started, run), oldest first

    async def __call__(self, timeout: float) -> T:
        """The result of the run in progress or a new one; TimeoutError after `timeout` s."""
        loop = asyncio.get_running_loop()
        self._runs = [(started, run) for started, run in self._runs if not run.done()]
        stale = not self._runs or loop.time() - self._runs[-1][0] > self.fresh_after
        if stale and len(self._runs) < self.most:
            run = asyncio.ensure_future(own_thread(self.work, self.name))
            run.add_done_callback(_retrieve)
            self._runs.append((loop.time(), run))
        return await asyncio.wait_for(asyncio.shield(self._runs[-1][1]), timeout)


def _retrieve(future: asyncio.Future[T]) -> None:
    """Mark an outcome nobody may await any more as seen (no "never retrieved" warning)."""
    if not future.cancelled():
        future.exception()

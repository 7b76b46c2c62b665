"""Work off the event loop that must not queue behind the rounds' planning."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def own_thread(work: Callable[[], T]) -> T:
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

    threading.Thread(target=run, name="smsops-reload", daemon=True).start()
    return await future

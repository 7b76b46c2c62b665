"""The pacer keeps a provider's limit as the provider counts it."""

from __future__ import annotations

import asyncio
import random

import pytest

from smsops.engine.pacing import Pacer, backoff
from smsops.sandbox.state import busiest_second


def test_the_limit_holds_at_a_provider_that_stalls() -> None:
    """A stalled provider stamps queued requests together when it wakes up.

    Pacing alone sends evenly, so the requests queued during a stall arrive in
    one burst on top of the ones that follow; the guard must hold them back.
    """
    limit = 40
    received: list[float] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        pacer = Pacer(limit)
        stalls = [(loop.time() + 0.3, loop.time() + 0.6), (loop.time() + 1.2, loop.time() + 1.3)]
        slots = asyncio.Semaphore(16)

        async def provider() -> None:
            await asyncio.sleep(0.002)
            for begin, end in stalls:
                if begin <= loop.time() < end:
                    await asyncio.sleep(end - loop.time())
            received.append(loop.time())
            await asyncio.sleep(random.uniform(0, 0.01))  # the answer's way back

        async def one() -> None:
            async with slots, pacer.slot():
                await provider()

        await asyncio.gather(*(one() for _ in range(70)))

    asyncio.run(run())

    assert len(received) == 70
    assert busiest_second(received) <= limit
    # and still close to the limit where nothing stalls
    assert (len(received) - 1) / (max(received) - min(received)) > limit * 0.6


def test_a_bulk_counts_every_message_it_carries() -> None:
    sent: list[tuple[float, int]] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        pacer = Pacer(10)

        async def bulk(size: int) -> None:
            async with pacer.slot(size):
                sent.append((loop.time(), size))

        for size in (6, 6, 6):
            await bulk(size)

    asyncio.run(run())

    times = [at for at, _ in sent]
    assert times[1] - times[0] >= 0.99  # 6 + 6 > 10: the second waits a second after the first
    assert times[2] - times[1] >= 0.99


def test_a_bulk_over_the_limit_still_goes_alone() -> None:
    async def run() -> None:
        pacer = Pacer(5)
        async with pacer.slot(12):
            pass

    asyncio.run(asyncio.wait_for(run(), 2))


@pytest.mark.parametrize("attempt", [1, 2, 3, 6])
def test_backoff_is_jittered_within_its_step_and_honours_retry_after(attempt: int) -> None:
    step = min(8.0, 0.5 * 2 ** (attempt - 1))
    for _ in range(50):
        assert step / 2 <= backoff(attempt, None, 0.5, 8.0) <= step
    assert backoff(attempt, 30.0, 0.5, 8.0) == 30.0

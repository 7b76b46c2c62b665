"""`SharedPacer` (engine/shared_pacing.py) over a real PostgreSQL ledger: three processes'
pacers (three handles, as replicas have) with many requests each, in chunks of slots.

Each request stamps the moment it "reaches the provider" inside its slot, after a
random delay (at times a slow one, as a busy loop or network makes); the sandbox's
window counter judges the stamps. At 200/s a chunk is 10 slots, handed out in the
process: the ledger judges it as one hold until its last request is answered.
"""

from __future__ import annotations

import asyncio
import random
import time

from smsops.engine.shared_pacing import SharedPacer
from smsops.ledger.postgres import PostgresLedger
from smsops.sandbox.state import busiest_second

RATE = 200


async def requests(pacer: SharedPacer, count: int, stamps: list[float], seed: int) -> None:
    pick = random.Random(seed)

    async def worker() -> None:  # 8 per process, as `max_in_flight` lets requests overlap
        for _ in range(count // 8):
            async with pacer.slot(1) as go:
                assert go
                slow = pick.random() < 0.2
                await asyncio.sleep(pick.uniform(0.1, 0.3) if slow else pick.uniform(0, 0.005))
                stamps.append(time.monotonic())
                await asyncio.sleep(pick.uniform(0, 0.005))

    await asyncio.gather(*(worker() for _ in range(8)))


def test_three_processes_pacers_share_the_limit_in_chunks(postgres_db: str) -> None:
    handles = [PostgresLedger(postgres_db) for _ in range(3)]
    stamps: list[float] = []
    try:
        pacers = [SharedPacer(h, "ot", RATE, timeout=10.0) for h in handles]
        assert pacers[0].chunk == 10

        async def main() -> None:
            await asyncio.gather(*(requests(p, 200, stamps, i) for i, p in enumerate(pacers)))

        asyncio.run(main())
    finally:
        for handle in handles:
            handle.close()
    assert len(stamps) == 600  # 3 s at the limit: several full windows
    assert busiest_second(stamps) <= RATE
    assert busiest_second(stamps) >= RATE // 2  # shared, not starved

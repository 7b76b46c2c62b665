"""One replica plans a schedule's round; the others skip it (several `smsops run` on one ledger).

The claim alone already keeps replicas from sending twice; the lock saves
the work: without it every replica would plan every round of every schedule
and most of their claims would lose. On PostgreSQL the lock is
`pg_try_advisory_lock` on a key derived from the schedule's name, on a
connection of its own held for the round (see `PostgresLedger.round_lock`):
released at the end of the round, and by PostgreSQL with the connection when
a replica dies. A memory or SQLite ledger has one writer at a time: no lock,
every round is this process's.

A replica that finds the lock taken skips that round (counted, logged at
debug): the holder's round sends what its plan finds missing, and a fire
that comes while it runs is merged into the holder's follow-up round, since
every replica runs the same schedules' jobs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from smsops.daemon.threads import own_thread
from smsops.ledger.base import Ledger


@asynccontextmanager
async def round_lock(ledger: Ledger, schedule: str) -> AsyncIterator[bool]:
    """Whether this replica runs `schedule`'s round now; held until the block ends.

    Taken and released off the event loop: connecting may wait for the server.
    """
    held = ledger.round_lock(schedule)
    mine = await own_thread(held.__enter__)
    try:
        yield mine
    finally:
        await own_thread(lambda: held.__exit__(None, None, None))

"""One replica runs the opt-out confirmations' round; the others skip it.

A schedule's round takes units instead (daemon/units.py): shards of each due
occurrence that replicas share. The confirmations' round (engine/
confirmations.py) has no audience to shard, so it keeps a lock: on
PostgreSQL `pg_try_advisory_lock` on a key derived from its name, on a
connection of its own held for the round (see `PostgresLedger.round_lock`):
released at the end of the round, and by PostgreSQL with the connection when
a replica dies. A memory or SQLite ledger has one writer at a time: no lock,
every round is this process's. The claim alone already keeps replicas from
sending twice; the lock saves the work.
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

"""Who holds a `pending` claim, and whether that run is gone (its rows are stale).

A claim records its run (`host:pid:token`, see ledger/runs.py), and the run
holds a lease in the ledger's `runs` table, renewed while it lives. A pending
row of another run is stale when that run's lease has lapsed, on whatever
host it ran; a row whose run the ledger does not know (a run of an smsops
before leases, or one forgotten long after its lease ended) is stale once it
has been pending longer than `STALE_AFTER`, far longer than a live run keeps
a row pending (timeout x attempts + backoff). A pid is never looked at: it
means nothing on another host.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from smsops.ledger.base import SendRecord
from smsops.ledger.runs import run_id

STALE_AFTER = timedelta(minutes=15)


class HasLeases(Protocol):
    def leases(self) -> dict[str, datetime]: ...


def this_run() -> str:
    return run_id()


def stale_rule(ledger: HasLeases, now: datetime) -> Callable[[SendRecord], bool]:
    """Whether a pending row is stale at `now` (real time), the leases read once."""
    leases, mine = ledger.leases(), this_run()

    def is_stale(record: SendRecord) -> bool:
        run = record.claimed_by
        if run == mine:
            return False  # ours: this process is alive, whatever its lease says
        if run is not None and run in leases:
            return leases[run] < now
        return record.updated_at < now - STALE_AFTER

    return is_stale

"""Who holds a `pending` claim, and whether that run is gone (its rows are stale).

A claim records its run (`host:pid:token`, see ledger/runs.py), and the run
holds a lease in the ledger's `runs` table, renewed while it lives. A pending
row of another run is stale when that run's lease has lapsed, on whatever
host it ran; a row whose run the ledger does not know (a run of an smsops
before leases, or one forgotten long after its lease ended) is stale once it
has been pending longer than `STALE_AFTER`, far longer than a live run keeps
a row pending (timeout x attempts + backoff). A pid is never looked at: it
means nothing on another host.

A lease is judged only while this process reaches the ledger, and only
`judging_grace` after both its end and this process's own return to the
ledger (`reachable_since`): after an outage that stopped every renewal, the
run that was cut off renews first (see ledger/runs.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

from smsops.ledger.base import SendRecord
from smsops.ledger.runs import judging_grace, lease_length, reachable_since, run_id

STALE_AFTER = timedelta(minutes=15)


class HasLeases(Protocol):
    def leases(self) -> dict[str, datetime]: ...


def this_run() -> str:
    return run_id()


def lapsed_rule(now: datetime) -> Callable[[datetime], bool]:
    """Whether a run whose lease (or last word) ends at the given time is gone at `now`."""
    since, grace = reachable_since(), judging_grace(lease_length())

    def lapsed(end: datetime) -> bool:
        return since is not None and now - max(end, since) >= grace

    return lapsed


def gone_runs(leases: Mapping[str, datetime], now: datetime) -> set[str]:
    """The runs other than this one whose lease is judged lapsed at `now`."""
    lapsed, mine = lapsed_rule(now), this_run()
    return {run for run, end in leases.items() if run != mine and lapsed(end)}


def stale_rule(ledger: HasLeases, now: datetime) -> Callable[[SendRecord], bool]:
    """Whether a pending row is stale at `now` (real time), the leases read once."""
    leases, mine, lapsed = ledger.leases(), this_run(), lapsed_rule(now)

    def is_stale(record: SendRecord) -> bool:
        run = record.claimed_by
        if run == mine:
            return False  # ours: this process is alive, whatever its lease says
        if run is not None and run in leases:
            return lapsed(leases[run])
        return lapsed(record.updated_at + STALE_AFTER)

    return is_stale

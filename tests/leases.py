"""Tests that kill a real process wait for its lease to lapse (a short one: SHORT_LEASE);
others stand in for replicas with leases of their own."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import psycopg

from smsops.ledger.base import Status
from smsops.ledger.open import open_ledger
from smsops.ledger.runs import judging_grace, lease_length

# The lease killed test processes take: their rows are stale a second after the kill.
SHORT_LEASE = "1"


def short_lease_env() -> dict[str, str]:
    """The environment for an smsops process a test may kill."""
    return {**os.environ, "SMSOPS_LEASE": SHORT_LEASE}


def wait_for_lapsed_leases(location: str, timeout: float = 20.0, pid: int | None = None) -> None:
    """Until every run registered in the ledger (or the runs of process `pid`) has no lease
    left, and this process's judging grace has passed since (a run judged here may renew
    within it: ledger/runs.py); read-only, so it registers none."""
    grace = judging_grace(lease_length())
    deadline = time.monotonic() + timeout
    while True:
        ledger = open_ledger(location, readonly=True)
        try:
            leases = ledger.leases()
        finally:
            ledger.close()
        if pid is not None:
            leases = {run: end for run, end in leases.items() if f":{pid}:" in run}
        if all(end + grace < datetime.now(UTC) for end in leases.values()):
            return
        assert time.monotonic() < deadline, f"leases still held after {timeout} s: {leases}"
        time.sleep(0.1)


def rows(url: str, schedule: str = "greet") -> dict[str, Status]:
    """Each recipient's status in `schedule`, read-only (registers no run)."""
    ledger = open_ledger(url, readonly=True)
    try:
        return {r.recipient: r.status for r in ledger.records(schedule)}
    finally:
        ledger.close()


def lease_end(url: str, pid: int) -> datetime:
    """When the lease of process `pid`'s run ends, as the ledger holds it."""
    ledger = open_ledger(url, readonly=True)
    try:
        (end,) = [end for run, end in ledger.leases().items() if f":{pid}:" in run]
        return end
    finally:
        ledger.close()


def other_replicas(url: str, count: int, hours: int = 1) -> None:
    """`count` more live `smsops run` leases on the PostgreSQL ledger at `url`, holding
    nothing: a replica's fair share of units is 1 / (count + 1), as with that many replicas."""
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        for i in range(count):
            conn.execute(
                "INSERT INTO runs VALUES (%s, 'elsewhere', %s, 'smsops run', %s, %s, %s)",
                (f"elsewhere:{i}:x", 1000 + i, now, now, now + timedelta(hours=hours)),
            )

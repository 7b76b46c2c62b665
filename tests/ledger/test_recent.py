"""The status view's reads (ledger/recent.py) equal a count of every row, on every backend."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from smsops.ledger.base import Ledger, Status
from smsops.ledger.recent import recent_of, uncertain_of
from tests.ledger.seeding import generated, row, write

SCHEDULES = ["alpha", "beta", "gamma-2", "order_shipped", "z"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recent_counts_equal_every_rows_count(
    open_ledger_handle: Callable[[], Ledger], seed: int
) -> None:
    ledger = open_ledger_handle()
    rows = generated(seed, SCHEDULES, 400)
    write(ledger, rows)
    stored = [(r.schedule, r.occurrence, r.status) for r in ledger.records()]
    assert sorted(stored) == sorted((r.schedule, r.occurrence, r.status) for r in rows)
    for last in (1, 2, 5, 13, 50):
        counts = ledger.recent_counts(last)
        assert counts == recent_of(stored, last), last
        assert all(len(per) == min(last, 13) for per in counts.values())
    for limit in (1, 7, 1000):
        assert ledger.open_uncertain(limit) == uncertain_of(stored, limit)


def test_recent_counts_of_an_empty_ledger(open_ledger_handle: Callable[[], Ledger]) -> None:
    ledger = open_ledger_handle()
    assert ledger.recent_counts(5) == {}
    assert ledger.open_uncertain(5) == []


def test_recent_counts_take_the_newest_occurrences(
    open_ledger_handle: Callable[[], Ledger],
) -> None:
    ledger = open_ledger_handle()
    old, new = "2027-03-01T09:00:00+00:00", "2027-03-02T09:00:00+00:00"
    write(
        ledger,
        [
            row("daily", old, "+15550000001", Status.SENT),
            row("daily", new, "+15550000001", Status.DELIVERED),
            row("daily", new, "+15550000002", Status.UNCERTAIN),
            row("daily", new, "+15550000003", Status.EXPIRED),
        ],
    )
    assert ledger.recent_counts(1) == {
        "daily": {new: {"delivered": 1, "uncertain": 1, "expired": 1}}
    }
    assert ledger.open_uncertain(10) == [("daily", new, 1)]


def test_runs_name_each_lease_and_its_renewal(open_ledger_handle: Callable[[], Ledger]) -> None:
    ledger = open_ledger_handle()
    runs = ledger.runs()
    assert {r.id: r.expires_at for r in runs} == ledger.leases()
    assert all(r.heartbeat_at <= r.expires_at for r in runs)

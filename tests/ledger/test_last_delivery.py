"""The delivery of each schedule's last occurrence, as `plan` shows it, on every backend.

For each schedule asked: its newest occurrence that has sends the provider
took (sent, delivered, undelivered), with how many were delivered, undelivered
and still wait for a receipt. Checked against a plain count of the rows the
test wrote, over many generated ledgers.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.core.occurrence import ONCE
from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.ledger.policy import DONE
from smsops.ledger.receipts import LastDelivery
from smsops.ledger.sqlite import SqliteLedger

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
RUN = "host:1:aaaa"
_SERIAL = itertools.count()
DAY1, DAY2, DAY3 = "2026-11-20T09:00:00Z", "2026-11-21T09:00:00Z", "2026-11-22T09:00:00Z"


@pytest.fixture
def ledger(open_ledger_handle: Callable[[], Ledger]) -> Ledger:
    return open_ledger_handle()


def put(ledger: Ledger, schedule: str, occurrence: str, status: Status, n: int = 1) -> None:
    """`n` rows of one occurrence in `status`, each written the way a run writes it."""
    for _ in range(n):
        recipient = f"+4477009{next(_SERIAL):05d}"
        record = SendRecord.claim(
            schedule, occurrence, recipient, provider="sky", template="t", text_hash="h",
            segments=1, now=T0, claimed_by=RUN,
        )  # fmt: skip
        (won,) = ledger.claim([record])
        if status is Status.PENDING:
            continue
        took = status in DONE
        first = Status.SENT if took else status
        settled = won.settled(first, T0, message_id=f"id-{recipient}" if took else None)
        ledger.settle([settled])
        if status in (Status.DELIVERED, Status.UNDELIVERED):
            ledger.receipt([settled.settled(status, T0 + timedelta(minutes=1))])


def test_a_schedule_never_sent_has_no_last_delivery(ledger: Ledger) -> None:
    put(ledger, "s", DAY1, Status.FAILED, 2)
    put(ledger, "s", DAY1, Status.PENDING)
    put(ledger, "s", DAY1, Status.EXPIRED)
    assert ledger.last_deliveries(["s", "never"]) == {}


def test_sent_without_any_receipt_waits_and_has_no_rate(ledger: Ledger) -> None:
    put(ledger, "s", DAY1, Status.SENT, 3)
    (found,) = ledger.last_deliveries(["s"]).values()
    assert found == LastDelivery(DAY1, delivered=0, undelivered=0, awaiting=3)
    assert (found.sent, found.rate) == (3, None)


def test_the_newest_occurrence_with_sends_counts_and_others_do_not(ledger: Ledger) -> None:
    put(ledger, "s", DAY1, Status.DELIVERED, 5)
    put(ledger, "s", DAY2, Status.DELIVERED, 3)
    put(ledger, "s", DAY2, Status.UNDELIVERED)
    put(ledger, "s", DAY2, Status.SENT, 2)
    put(ledger, "s", DAY2, Status.FAILED)  # the provider did not take it: no receipt comes
    put(ledger, "s", DAY2, Status.UNCERTAIN)
    put(ledger, "s", DAY3, Status.FAILED, 2)  # newer, but nothing went out
    put(ledger, "s", DAY3, Status.PENDING)
    put(ledger, "other", DAY3, Status.DELIVERED)  # not asked
    found = ledger.last_deliveries(["s"])
    assert found == {"s": LastDelivery(DAY2, delivered=3, undelivered=1, awaiting=2)}
    assert (found["s"].sent, found["s"].rate) == (6, 0.75)


def test_a_fire_time_is_newer_than_once(ledger: Ledger) -> None:
    """`once` sorts after every fire time as text; a schedule that has both (it was given a
    trigger later) was last sent at its newest fire time."""
    put(ledger, "s", ONCE, Status.DELIVERED, 2)
    put(ledger, "s", DAY1, Status.UNDELIVERED)
    put(ledger, "t", ONCE, Status.DELIVERED, 2)
    assert ledger.last_deliveries(["s", "t"]) == {
        "s": LastDelivery(DAY1, delivered=0, undelivered=1, awaiting=0),
        "t": LastDelivery(ONCE, delivered=2, undelivered=0, awaiting=0),
    }


def test_no_schedule_asked_reads_nothing(ledger: Ledger) -> None:
    put(ledger, "s", DAY1, Status.SENT)
    assert ledger.last_deliveries([]) == {}


def test_names_are_data_not_sql(ledger: Ledger) -> None:
    hostile = "x'); DELETE FROM sends; --"
    put(ledger, hostile, DAY1, Status.DELIVERED)
    put(ledger, "s", DAY1, Status.SENT)
    assert ledger.last_deliveries([hostile, "s", "s"]) == {
        hostile: LastDelivery(DAY1, delivered=1, undelivered=0, awaiting=0),
        "s": LastDelivery(DAY1, delivered=0, undelivered=0, awaiting=1),
    }


OCCURRENCES = [DAY1, DAY2, DAY3, "2026-11-22T10:00:00", ONCE]


def expected(rows: list[tuple[str, str, Status]], asked: list[str]) -> dict[str, LastDelivery]:
    """The oracle: a plain count over what the test wrote."""
    found = {}
    for schedule in asked:
        took = [(o, s) for name, o, s in rows if name == schedule and s in DONE]
        if not took:
            continue
        times = [o for o, _ in took if o != ONCE]
        newest = max(times) if times else ONCE
        statuses = [s for o, s in took if o == newest]
        found[schedule] = LastDelivery(
            newest,
            delivered=statuses.count(Status.DELIVERED),
            undelivered=statuses.count(Status.UNDELIVERED),
            awaiting=statuses.count(Status.SENT),
        )
    return found


@pytest.mark.parametrize("seed", range(12))
def test_generated_ledgers_agree_with_a_plain_count(
    open_ledger_handle: Callable[[], Ledger], seed: int
) -> None:
    pick = random.Random(seed)
    ledger = open_ledger_handle()
    rows = [
        (pick.choice("abcd"), pick.choice(OCCURRENCES), pick.choice(list(Status)))
        for _ in range(pick.randrange(0, 40))
    ]
    for schedule, occurrence, status in rows:
        put(ledger, schedule, occurrence, status)
    asked = pick.sample("abcde", pick.randrange(0, 6))
    assert ledger.last_deliveries(asked) == expected(rows, asked)


def test_sqlite_reads_it_with_one_statement_however_many_schedules(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    try:
        for i in range(700):  # past any per-statement chunk of names
            put(ledger, f"s{i}", DAY1, Status.SENT)
        statements: list[str] = []
        db: sqlite3.Connection = ledger._db
        db.set_trace_callback(statements.append)
        found = ledger.last_deliveries([f"s{i}" for i in range(700)])
        db.set_trace_callback(None)
        assert len(found) == 700
        assert sum(1 for s in statements if "FROM sends" in s) == 1
    finally:
        ledger.close()


@pytest.mark.parametrize("seed", range(8))
def test_stats_and_deliveries_in_one_read_equal_the_two_reads(
    open_ledger_handle: Callable[[], Ledger], seed: int
) -> None:
    """What `plan` reads of a ledger (its counts and each schedule's last delivery) in one
    scan is what the two separate reads give, on generated ledgers."""
    pick = random.Random(1000 + seed)
    ledger = open_ledger_handle()
    for _ in range(pick.randrange(0, 50)):
        put(ledger, pick.choice("abcd"), pick.choice(OCCURRENCES), pick.choice(list(Status)))
    asked = pick.sample("abcde", pick.randrange(0, 6))
    both = ledger.stats_and_deliveries(asked)
    assert both == (ledger.stats(), ledger.last_deliveries(asked))


def test_sqlite_reads_stats_and_deliveries_with_one_statement(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    try:
        put(ledger, "s", DAY1, Status.SENT, 2)
        put(ledger, "t", ONCE, Status.EXPIRED)
        statements: list[str] = []
        db: sqlite3.Connection = ledger._db
        db.set_trace_callback(statements.append)
        stats, deliveries = ledger.stats_and_deliveries(["s", "t"])
        db.set_trace_callback(None)
        assert stats == {"s": {"sent": 2}, "t": {"expired": 1}}
        assert deliveries == {"s": LastDelivery(DAY1, delivered=0, undelivered=0, awaiting=2)}
        assert sum(1 for s in statements if "FROM sends" in s) == 1
    finally:
        ledger.close()


def test_a_row_in_an_unknown_state_is_counted_and_never_read_as_a_delivery(
    tmp_path: Path,
) -> None:
    """A row some other version wrote, in a state this one does not know, as the two reads
    give it: in the counts, and no delivery made of it (never an error)."""
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    try:
        put(ledger, "s", DAY1, Status.SENT, 2)
        put(ledger, "s", DAY2, Status.SENT)
        ledger._db.execute("UPDATE sends SET status = 'bogus' WHERE occurrence = ?", (DAY2,))
        both = ledger.stats_and_deliveries(["s"])
        assert both == (ledger.stats(), ledger.last_deliveries(["s"]))
        assert both[0] == {"s": {"sent": 2, "bogus": 1}}
    finally:
        ledger.close()

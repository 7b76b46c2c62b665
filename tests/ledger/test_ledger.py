"""Every ledger (memory, SQLite, PostgreSQL) honours one contract: the key is the claim."""

from __future__ import annotations

import multiprocessing
import os
import random
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from smsops.core.errors import GuardLost, ResolveRefused, UsageError
from smsops.ledger.base import Decision, Known, Ledger, SendRecord, Status
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.open import open_ledger
from smsops.ledger.records import OccurrenceKeys, send_key
from smsops.ledger.sqlite import (
    MIGRATIONS,
    NEWEST_OCCURRENCE,
    STATS,
    LedgerError,
    SqliteLedger,
    _as_claimed,
)

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def record(
    recipient: str, schedule: str = "s", occurrence: str = "once", now: datetime = T0
) -> SendRecord:
    return SendRecord.claim(
        schedule,
        occurrence,
        recipient,
        provider="ses",
        template="t",
        text_hash="h",
        segments=1,
        now=now,
    )


@pytest.fixture
def ledger(open_ledger_handle: Callable[[], Ledger]) -> Ledger:
    """One ledger on each backend (tests/ledger/conftest.py)."""
    return open_ledger_handle()


def test_key_is_stable_and_distinct() -> None:
    assert send_key("s", "once", "+447400123456") == send_key("s", "once", "+447400123456")
    assert send_key("s", "once", "+447400123456") != send_key(
        "s", "2026-11-22T09:00:00Z", "+447400123456"
    )
    # The separator keeps ("a", "bc") and ("ab", "c") apart.
    assert send_key("a", "bc", "+1") != send_key("ab", "c", "+1")


@pytest.mark.parametrize(
    ("schedule", "occurrence", "recipient"),
    [("s", "once", "+447400123456"), ("é-mail", "2026-11-22T09:00:00", "+12025550199")],
)
def test_occurrence_keys_are_send_keys(schedule: str, occurrence: str, recipient: str) -> None:
    keys = OccurrenceKeys(schedule, occurrence)
    number = keys.number(recipient)
    assert keys.text(number) == send_key(schedule, occurrence, recipient)
    assert Known.of([send_key(schedule, occurrence, recipient)], {}).done == {number}


def test_keys_are_the_documented_sha256_prefix() -> None:
    """Against hashlib directly (a ledger's rows were keyed so): one OccurrenceKeys asked
    for many recipients in turn, so no state carries from one key to the next."""
    import hashlib

    rng = random.Random(11)
    for _ in range(20):
        schedule, occurrence = rng.choice(["s", "a", "é-mail"]), rng.choice(["once", "bc", ""])
        keys = OccurrenceKeys(schedule, occurrence)
        for _ in range(20):
            recipient = "".join(rng.choice("+0123456789\x1fé") for _ in range(rng.randint(0, 15)))
            joined = f"{schedule}\x1f{occurrence}\x1f{recipient}".encode()
            want = hashlib.sha256(joined).hexdigest()[:32]
            assert keys.text(keys.number(recipient)) == want
            assert send_key(schedule, occurrence, recipient) == want


def test_only_the_first_claim_wins(ledger: Ledger) -> None:
    first = ledger.claim([record("+447400123456"), record("+447400123457")])
    assert len(first) == 2
    again = ledger.claim([record("+447400123456"), record("+447400123458")])
    assert [r.recipient for r in again] == ["+447400123458"]


def test_a_key_given_twice_in_one_claim_is_won_once(ledger: Ledger) -> None:
    won = ledger.claim([record("+447400123456"), record("+447400123456"), record("+447400123457")])
    assert sorted(r.recipient for r in won) == ["+447400123456", "+447400123457"]


def test_settle_and_read_back(ledger: Ledger) -> None:
    (claimed,) = ledger.claim([record("+447400123456")])
    sent = claimed.settled(Status.SENT, T0 + timedelta(seconds=1), message_id="m-1", attempts=2)
    ledger.settle([sent])
    assert ledger.get([claimed.key]) == {claimed.key: sent}
    assert list(ledger.records(status=Status.SENT)) == [sent]
    assert list(ledger.records(schedule="other")) == []
    assert ledger.stats() == {"s": {"sent": 1}}


def test_stats_count_every_schedule_and_status_without_reading_the_rows(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = [record(f"+4474001234{i:02}") for i in range(5)]
    failed = [record(f"+4474001235{i:02}", schedule="b") for i in range(3)]
    pending = [record("+447400123600", schedule="b"), record("+447400123601", occurrence="x")]
    pending.append(record("+447400123602", schedule="b", occurrence="x"))  # b's in two
    ledger.claim(sent + failed + pending)
    ledger.settle([r.settled(Status.SENT, T0) for r in sent])
    ledger.settle([r.settled(Status.FAILED, T0, error="no") for r in failed])
    expected = {"s": {"sent": 5, "pending": 1}, "b": {"failed": 3, "pending": 2}}
    by_rows: dict[str, dict[str, int]] = {}
    for row in ledger.records():
        per = by_rows.setdefault(row.schedule, {})
        per[row.status.value] = per.get(row.status.value, 0) + 1
    assert by_rows == expected
    if not isinstance(ledger, MemoryLedger):
        # `plan` reads these on every run: a scan of a million rows took 20 s on SQLite.
        def scan(*args: object, **kwargs: object) -> None:
            raise AssertionError("stats() read every row instead of counting in SQL")

        monkeypatch.setattr(ledger, "records", scan)
    assert ledger.stats() == expected
    assert ledger.status_counts(Status.PENDING) == {"s": 1, "b": 2}


def test_newest_occurrence_is_the_latest_label_below_a_bound_never_once(ledger: Ledger) -> None:
    now = "2026-12-01T00:00:00Z"
    assert ledger.newest_occurrence("s", now) is None
    ledger.claim([record("+447400123456")])  # `once`: sorts after every time, is none
    assert ledger.newest_occurrence("s", now) is None
    assert ledger.newest_occurrence("s", "zzz") is None
    labels = ["2026-11-22T09:00:00Z", "2026-11-30T09:00:00Z", "2026-11-23T23:59:00Z"]
    ledger.claim([record("+447400123456", occurrence=label) for label in labels])
    ledger.claim([record("+447400123456", occurrence="2027-06-01T09:00:00Z")])  # --at ahead
    ledger.claim([record("+447400123456", schedule="other", occurrence="2026-11-01T00:00:00Z")])
    assert ledger.newest_occurrence("s", now) == "2026-11-30T09:00:00Z"
    assert ledger.newest_occurrence("s", "2026-11-30T09:00:00Z") == "2026-11-23T23:59:00Z"
    assert ledger.newest_occurrence("other", now) == "2026-11-01T00:00:00Z"


def test_sqlite_newest_occurrence_seeks_the_index(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    db = sqlite3.connect(tmp_path / "l.sqlite")
    try:
        plan = db.execute(f"EXPLAIN QUERY PLAN {NEWEST_OCCURRENCE}", ("s", "once", "2026"))
        steps = " ".join(row[3] for row in plan)
        assert "SEARCH" in steps, steps  # not a scan of every row
        assert "INDEX" in steps, steps
    finally:
        db.close()
        ledger.close()


def test_sqlite_stats_count_along_the_index_without_sorting(tmp_path: Path) -> None:
    """Every plan and apply reads stats(): a sort of every row was 0.28 s per 900,000."""
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    db = sqlite3.connect(tmp_path / "l.sqlite")
    try:
        steps = " ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {STATS}"))
        assert "COVERING INDEX" in steps, steps
        assert "TEMP B-TREE" not in steps, steps
    finally:
        db.close()
        ledger.close()


def test_known_splits_one_occurrence_into_done_keys_and_open_rows(ledger: Ledger) -> None:
    sent, delivered, failed, pending = (record(f"+44740012345{i}") for i in range(4))
    elsewhere = record("+447400123456", occurrence="2026-11-22T09:00:00Z")
    other_schedule = record("+447400123456", schedule="other")
    ledger.claim([sent, delivered, failed, pending, elsewhere, other_schedule])
    ledger.settle(
        [
            sent.settled(Status.SENT, T0),
            delivered.settled(Status.SENT, T0),
            failed.settled(Status.FAILED, T0, error="429", retryable=True),
            elsewhere.settled(Status.SENT, T0),
            other_schedule.settled(Status.SENT, T0),
        ]
    )
    ledger.receipt([delivered.settled(Status.DELIVERED, T0)])  # a delivery report
    known, keys = ledger.known("s", "once"), OccurrenceKeys("s", "once")
    assert keys.number(sent.recipient) in known.done
    assert keys.number(delivered.recipient) in known.done
    assert keys.number(failed.recipient) not in known.done
    assert len(known.done) == 2
    assert set(known.open) == {failed.key, pending.key}
    assert known.open[failed.key].reclaimable
    assert known.open[pending.key].status is Status.PENDING
    assert ledger.known("s", "never") == Known(frozenset(), {})


def test_stale_pending_becomes_uncertain_and_fresh_stays(ledger: Ledger) -> None:
    old = record("+447400123456", now=T0)
    fresh = record("+447400123457", now=T0 + timedelta(minutes=10))
    done = record("+447400123458", now=T0)
    ledger.claim([old, fresh, done])
    ledger.settle([done.settled(Status.SENT, T0)])
    cutoff = T0 + timedelta(minutes=5)
    stale = ledger.mark_stale(lambda r: r.updated_at < cutoff, now=T0 + timedelta(minutes=11))
    assert [r.key for r in stale] == [old.key]
    assert ledger.get([old.key])[old.key].status is Status.UNCERTAIN
    assert ledger.get([fresh.key])[fresh.key].status is Status.PENDING
    assert ledger.get([done.key])[done.key].status is Status.SENT


# What each backend's live connection says about a commit that has returned:
# nothing outlives a memory ledger's process; SQLite syncs its WAL at every
# commit (FULL; NORMAL "might roll back following a power loss"); PostgreSQL
# waits for its WAL flush (the test server runs with synchronous_commit=off:
# the session's own setting is what holds).
DURABILITY = {
    "MemoryLedger": None,
    "SqliteLedger": "synchronous=FULL",
    "PostgresLedger": "synchronous_commit=on",
}


def test_a_claim_is_durable_before_the_request_leaves(ledger: Ledger) -> None:
    """The contract: a claim that returned survives a crash of the host, read from the live
    connection that writes claims (after a claim, so a lazily opened one is the one asked)."""
    ledger.claim([record("+447400123456")])
    assert ledger.durability() == DURABILITY[type(ledger).__name__]


def committed(statements: list[str]) -> list[str]:
    """The synchronous level each COMMIT ran at, from an SQLite trace of its statements."""
    level, levels = "FULL", []
    for statement in statements:
        if statement.upper().startswith("PRAGMA SYNCHRONOUS="):
            level = statement.split("=", 1)[1].strip().upper()
        elif statement.upper() == "COMMIT":
            levels.append(level)
    return levels


def test_sqlite_syncs_each_claim_and_leaves_a_settlement_to_the_next_sync(tmp_path: Path) -> None:
    """The write-ahead claim is synced before it returns; a settlement is committed (every
    reader sees it) without its own sync: a power loss may take it back to the claim, which
    recovery turns `uncertain` (test_transactional), never a resend. The connection is
    FULL again after it, whatever the settle raised."""
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    statements: list[str] = []
    ledger._db.set_trace_callback(statements.append)
    try:
        (won,) = ledger.claim([record("+447400123456")])
        claimed = committed(statements)
        statements.clear()
        ledger.settle([won.settled(Status.SENT, T0, message_id="m")])
        settled = committed(statements)
        statements.clear()
        with pytest.raises(GuardLost):  # settled already: refused, and FULL all the same
            ledger.settle([won.settled(Status.FAILED, T0, error="late")])
        assert len(ledger.claim([record("+447400123457")])) == 1
        after = committed(statements)
    finally:
        ledger._db.set_trace_callback(None)
    assert claimed == ["FULL"]
    assert set(settled) == {"NORMAL"}  # at least one, and no other
    assert after[-1] == "FULL"  # the claim after a refused settle
    assert ledger.durability() == "synchronous=FULL"
    assert ledger.get([won.key])[won.key].status is Status.SENT  # committed: read back
    ledger.close()


def test_sqlite_settles_a_batch_in_one_commit_even_with_a_refused_row(tmp_path: Path) -> None:
    """A settle's moves (settled and expired rows) and its look for parked receipts are one
    transaction: one commit a batch, not three. A refused row does not undo the others."""
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    won = ledger.claim([record(f"+4474001234{n:02d}") for n in range(3)])
    done, late, other = won
    ledger.settle([other.settled(Status.SENT, T0, message_id="m0")])
    statements: list[str] = []
    ledger._db.set_trace_callback(statements.append)
    try:
        with pytest.raises(GuardLost) as lost:
            ledger.settle(
                [
                    done.settled(Status.SENT, T0, message_id="m1"),
                    late.settled(Status.EXPIRED, T0, error="window closed"),
                    other.settled(Status.FAILED, T0, error="settled already"),
                ]
            )
    finally:
        ledger._db.set_trace_callback(None)
    assert lost.value.keys == [other.key]
    assert committed(statements) == ["NORMAL"]
    rows = ledger.get([done.key, late.key, other.key])
    assert [rows[r.key].status for r in won] == [Status.SENT, Status.EXPIRED, Status.SENT]
    ledger.close()


def test_a_ledger_created_on_first_write_settles_as_its_backend_does(tmp_path: Path) -> None:
    """`apply`'s ledger (created by its first write) hands a settlement to the backend's own
    `settle`: on SQLite committed without a sync of its own, as above."""
    ledger = open_ledger(str(tmp_path / "l.sqlite"), create_on_write=True)
    (won,) = ledger.claim([record("+447400123456")])
    backend = ledger._ledger  # type: ignore[attr-defined]
    statements: list[str] = []
    backend._db.set_trace_callback(statements.append)
    try:
        ledger.settle([won.settled(Status.SENT, T0, message_id="m")])
        ledger.settle([])  # nothing to write: nothing done
    finally:
        backend._db.set_trace_callback(None)
    assert set(committed(statements)) == {"NORMAL"}
    assert ledger.get([won.key])[won.key].status is Status.SENT
    ledger.close()


def test_sqlite_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "ledger.sqlite"
    first = SqliteLedger(path)
    (claimed,) = first.claim([record("+447400123456")])
    first.close()
    second = SqliteLedger(path)
    assert second.claim([record("+447400123456")]) == []
    assert second.get([claimed.key])[claimed.key] == claimed
    second.close()


def test_sqlite_is_wal_and_versioned(tmp_path: Path) -> None:
    SqliteLedger(tmp_path / "l.sqlite").close()
    db = sqlite3.connect(tmp_path / "l.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(LedgerError, match="schema version 99, newer than this smsops knows"):
        SqliteLedger(tmp_path / "l.sqlite")


def test_sqlite_concurrent_claimers_never_share_a_key(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    SqliteLedger(path).close()
    batch = [record(f"+4474001{i:05d}") for i in range(2000)]
    won: list[list[SendRecord]] = []

    def claimer() -> None:
        ledger = SqliteLedger(path)
        won.append(ledger.claim(batch))
        ledger.close()

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [r.key for claimed in won for r in claimed]
    assert len(keys) == len(set(keys)) == 2000


def test_open_ledger_locations(tmp_path: Path) -> None:
    assert isinstance(open_ledger("memory://"), MemoryLedger)
    by_url = open_ledger(f"sqlite:///{tmp_path / 'a.sqlite'}")
    by_path = open_ledger(str(tmp_path / "b.sqlite"))
    assert isinstance(by_url, SqliteLedger)
    assert isinstance(by_path, SqliteLedger)
    by_url.close()
    by_path.close()
    with pytest.raises(UsageError, match="unknown ledger URL"):
        open_ledger("redis://x")


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LedgerError, match="cannot open the ledger"):
        SqliteLedger(blocker / "ledger.sqlite")


def test_retryable_failures_are_reclaimed_and_keep_their_attempts(ledger: Ledger) -> None:
    rejected, retry, unsure, sent = (record(f"+4474001234{i}") for i in range(4))
    ledger.claim([rejected, retry, unsure, sent])
    later = T0 + timedelta(minutes=1)
    ledger.settle(
        [
            rejected.settled(Status.FAILED, later, error="invalid number", attempts=1),
            retry.settled(Status.FAILED, later, error="HTTP 429", attempts=5, retryable=True),
            unsure.settled(Status.UNCERTAIN, later, error="timeout", attempts=1),
            sent.settled(Status.SENT, later, message_id="m", attempts=1),
        ]
    )
    again = [record(f"+4474001234{i}", now=later) for i in range(4)]
    won = ledger.claim(again)
    assert [r.key for r in won] == [retry.key]
    assert won[0].attempts == 5
    assert won[0].created_at == T0
    stored = ledger.get([retry.key])[retry.key]
    assert stored.status is Status.PENDING
    assert not stored.retryable
    assert stored.error is None
    # A second claimer loses now that the row is pending again.
    assert ledger.claim(again) == []
    assert [r.key for r in ledger.claim(again, resend_uncertain=True)] == [unsure.key]


def test_sqlite_upgrades_a_version_1_ledger(tmp_path: Path) -> None:
    from smsops.ledger.sqlite import MIGRATIONS

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    db.execute(
        "INSERT INTO sends VALUES ('k', 's', 'once', '+447400123456', 'ses', 't', 'h', 1, "
        "'sent', 'm-1', 1, NULL, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')"
    )
    db.commit()
    db.close()
    with pytest.raises(
        LedgerError, match=f"has schema version 1; this smsops uses {len(MIGRATIONS)}"
    ):
        SqliteLedger(path, readonly=True)
    upgraded = SqliteLedger(path)
    (row,) = upgraded.records()
    assert row.status is Status.SENT
    assert row.claimed_by is None
    assert row.retryable is False
    upgraded.close()


def test_readonly_open_never_creates_or_writes(tmp_path: Path) -> None:
    missing = tmp_path / "none" / "ledger.sqlite"
    empty = open_ledger(str(missing), readonly=True)
    assert list(empty.records()) == []
    assert not missing.parent.exists()
    path = tmp_path / "l.sqlite"
    writer = SqliteLedger(path)
    writer.claim([record("+447400123456")])
    writer.close()
    reader = open_ledger(str(path), readonly=True)
    assert [r.recipient for r in reader.records()] == ["+447400123456"]
    with pytest.raises(LedgerError, match="read-only"):
        reader.claim([record("+447400123457")])
    reader.close()


DECIDED = T0 + timedelta(hours=1)


def decision(status: Status = Status.SENT) -> Decision:
    return Decision(status, "provider dashboard shows it delivered", "ann@desk", DECIDED)


def uncertain_rows(ledger: Ledger) -> list[SendRecord]:
    """Two uncertain rows of schedule s (two occurrences), one of t, and one sent row of s."""
    rows = [
        record("+447400123450"),
        record("+447400123451", occurrence="2026-11-23T09:00:00Z"),
        record("+447400123452", schedule="t"),
        record("+447400123453"),
    ]
    ledger.claim(rows)
    ledger.settle([r.settled(Status.UNCERTAIN, T0, error="timeout") for r in rows[:3]])
    ledger.settle([rows[3].settled(Status.SENT, T0, message_id="m")])
    return rows


def test_uncertain_rows_are_counted_per_schedule(ledger: Ledger) -> None:
    assert ledger.uncertain_counts() == {}
    uncertain_rows(ledger)
    assert ledger.uncertain_counts() == {"s": 2, "t": 1}


def test_resolve_by_schedule_decides_only_its_uncertain_rows(ledger: Ledger) -> None:
    rows = uncertain_rows(ledger)
    changed = ledger.resolve(decision(), schedule="s")
    assert sorted(r.key for r in changed) == sorted(r.key for r in rows[:2])
    for key in (rows[0].key, rows[1].key):
        stored = ledger.get([key])[key]
        assert stored.status is Status.SENT
        assert stored.resolution == "provider dashboard shows it delivered"
        assert stored.resolved_by == "ann@desk"
        assert stored.resolved_at == DECIDED
        assert stored.error == "timeout"  # what happened stays beside the decision
    assert ledger.uncertain_counts() == {"t": 1}
    # Done now: a later run never claims them again.
    assert ledger.claim([record("+447400123450")], resend_uncertain=True) == []


def test_resolve_by_occurrence(ledger: Ledger) -> None:
    rows = uncertain_rows(ledger)
    changed = ledger.resolve(decision(), schedule="s", occurrence="2026-11-23T09:00:00Z")
    assert [r.key for r in changed] == [rows[1].key]
    assert ledger.uncertain_counts() == {"s": 1, "t": 1}


def test_resolve_as_failed_lets_the_next_apply_send_again(ledger: Ledger) -> None:
    rows = uncertain_rows(ledger)
    (changed,) = ledger.resolve(decision(Status.FAILED), keys=[rows[2].key])
    assert changed.status is Status.FAILED
    assert ledger.get([rows[2].key])[rows[2].key].reclaimable
    (again,) = ledger.claim([record("+447400123452", schedule="t")])
    assert again.status is Status.PENDING


def test_resolve_refuses_rows_that_are_not_uncertain_and_changes_nothing(ledger: Ledger) -> None:
    rows = uncertain_rows(ledger)
    before = list(ledger.records())
    with pytest.raises(ResolveRefused, match="is sent, not uncertain") as refused:
        ledger.resolve(decision(), keys=[rows[0].key, rows[3].key, "f" * 32])
    assert f"{'f' * 32}: no such row" in str(refused.value)
    assert list(ledger.records()) == before
    with pytest.raises(ResolveRefused, match="no uncertain rows match"):
        ledger.resolve(decision(), schedule="nope")
    with pytest.raises(ValueError, match="a decision is one of"):
        ledger.resolve(decision(Status.DELIVERED), keys=[rows[0].key])
    assert list(ledger.records()) == before


def test_sqlite_first_use_by_several_processes_migrates_once(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 4  # every process imported and waiting: they open at once
    with context.Pool(6) as pool:
        outcomes = pool.map(_open_and_claim, [(str(path), i, start_at) for i in range(6)], 1)
    assert outcomes == ["ok"] * 6
    reader = SqliteLedger(path, readonly=True)
    assert len(list(reader.records())) == 6
    reader.close()


def _open_and_claim(job: tuple[str, int, float]) -> str:
    path, number, start_at = job
    time.sleep(max(0.0, start_at - time.time()))
    try:
        ledger = SqliteLedger(Path(path))
        ledger.claim([record(f"+4474001234{number:02d}")])
        ledger.close()
    except Exception as exc:  # reported to the parent as text
        return repr(exc)
    return "ok"


def test_sqlite_locked_ledger_names_its_writers_after_a_bounded_wait(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    running = SqliteLedger(path, wait=0.5, command="smsops run")  # its claim waits 0.5 s too
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer, mid-transaction
    try:
        started = time.monotonic()
        with pytest.raises(LedgerError) as locked:
            SqliteLedger(path, wait=0.5, command="smsops apply")
        assert time.monotonic() - started < 5
        message = str(locked.value)
        assert f"the ledger {str(path)!r}: it is locked" in message
        assert "did not finish within 0.5 s" in message
        assert f"smsops run (pid {os.getpid()} on {socket.gethostname()}, since " in message
        with pytest.raises(LedgerError, match="it is locked"):
            running.claim([record("+447400123456")])
    finally:
        other.execute("ROLLBACK")
        other.close()
    (claimed,) = running.claim([record("+447400123456")])  # free again
    running.close()
    assert claimed.status is Status.PENDING


def test_sqlite_writers_of_dead_processes_are_not_named(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    SqliteLedger(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(
        "INSERT INTO writers VALUES ('x', ?, ?, 'smsops apply', '2026-01-01T00:00:00+00:00')",
        (socket.gethostname(), 2**22 + 7),  # above pid_max's default: never alive
    )
    db.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LedgerError, match="no smsops process says it is writing it"):
            SqliteLedger(path, wait=0.2)
    finally:
        db.execute("ROLLBACK")
        db.close()
    SqliteLedger(path).close()  # a writer that can register clears the dead one's row
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM writers").fetchone() == (0,)
    db.close()


def test_sqlite_disk_full_claims_nothing_and_says_so(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    (pages,) = ledger._db.execute("PRAGMA page_count").fetchone()
    ledger._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLITE_FULL beyond this
    batch = [record(f"+4474001{i:05d}") for i in range(500)]
    with pytest.raises(LedgerError, match="the disk is full") as full:
        ledger.claim(batch)
    assert "cannot rollback" not in str(full.value)
    assert list(ledger.records()) == []  # all or nothing
    (small,) = ledger.claim([record("+447400123456")])  # the ledger still works
    assert small.status is Status.PENDING
    ledger.close()


@pytest.mark.parametrize(
    ("content", "wanted"),
    [
        (b"\x00garbage, not a database" * 300, "not an SQLite database"),
        (None, "is a directory"),
    ],
)
@pytest.mark.parametrize("readonly", [False, True])
def test_sqlite_not_a_ledger_is_a_clear_error(
    tmp_path: Path, content: bytes | None, wanted: str, readonly: bool
) -> None:
    path = tmp_path / "l.sqlite"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(LedgerError, match=wanted):
        SqliteLedger(path, readonly=readonly)
    if content is not None:
        assert path.read_bytes() == content  # never overwritten


def test_sqlite_writers_on_other_hosts_are_named_with_a_caveat(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    SqliteLedger(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.executemany(
        "INSERT INTO writers VALUES (?, 'pod-a', 7, 'smsops run', ?)",
        [(f"w{i}", f"2026-01-0{i + 1}T00:00:00+00:00") for i in range(7)],
    )
    db.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LedgerError) as locked:
            SqliteLedger(path, wait=0.2)
    finally:
        db.execute("ROLLBACK")
        db.close()
    message = str(locked.value)
    assert "smsops run (pid 7 on pod-a, since 2026-01-07T00:00:00+00:00; another host" in message
    assert message.count("pod-a") == 5  # the newest five


def test_a_ledger_created_on_first_write_reads_empty_until_a_write_creates_it(
    tmp_path: Path,
) -> None:
    """`apply` opens this way: stopping before it sends leaves no file (nor folder) behind."""
    path = tmp_path / "state" / "l.sqlite"
    ledger = open_ledger(str(path), create_on_write=True)
    assert list(ledger.records()) == []
    assert ledger.stats() == {}
    assert ledger.mark_stale(lambda r: True, T0) == []  # nothing to mark: nothing written
    assert ledger.claim([]) == []
    assert not path.parent.exists()
    (won,) = ledger.claim([record("+447400123456")])
    assert path.exists()
    assert ledger.get([won.key]) == {won.key: won}  # reads now go to the file
    assert ledger.durability() == "synchronous=FULL"
    ledger.settle([won.settled(Status.SENT, T0, message_id="m")])
    ledger.close()
    again = open_ledger(str(path), create_on_write=True)  # there now: opened as usual
    assert isinstance(again, SqliteLedger)
    assert again.get([won.key])[won.key].status is Status.SENT
    again.close()


def test_claimed_since_counts_in_sql_what_a_read_of_every_row_counts(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`max_per_day`'s ledger figure: rows of one schedule claimed in the 24 hours before
    `since` + 24 h that may have gone out, counted by the database on many rows."""
    rows = 4000 if isinstance(ledger, MemoryLedger) else 20_000
    zones = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
    made = [
        record(
            f"+4474{i:08}",
            schedule="s" if i % 3 else "other",
            now=(T0 + timedelta(minutes=7 * i, microseconds=i % 997)).astimezone(zones[i % 3]),
        )
        for i in range(rows)
    ]
    ledger.claim(made)
    outcome = [Status.SENT, Status.FAILED, Status.UNCERTAIN, Status.SENT, None, Status.EXPIRED]
    ledger.settle(
        [r.settled(s, T0) for i, r in enumerate(made) if (s := outcome[i % 6]) is not None]
    )
    counted = (Status.PENDING, Status.UNCERTAIN, Status.SENT, Status.DELIVERED, Status.UNDELIVERED)
    sinces = [T0 - timedelta(days=1), T0 + timedelta(hours=30), made[rows // 2].created_at]
    sinces += [T0 + timedelta(days=400)]
    expected = [
        sum(1 for r in ledger.records("s") if r.created_at > since and r.status in counted)
        for since in sinces
    ]
    assert expected[0] > expected[1] > expected[2] > 0
    assert expected[3] == 0
    if not isinstance(ledger, MemoryLedger):

        def scan(*args: object, **kwargs: object) -> None:
            raise AssertionError("claimed_since() read every row instead of counting in SQL")

        monkeypatch.setattr(ledger, "records", scan)
    assert [ledger.claimed_since("s", since) for since in sinces] == expected


def test_a_won_claim_is_the_record_with_the_stored_attempts_and_first_claim_time() -> None:
    """`_as_claimed` hands the record itself back when the row holds its own values; on
    generated records and stored rows it equals the copy it stands in for, field by field,
    down to each time's tzinfo object and fold."""
    zones = [UTC, timezone(timedelta(0)), timezone(timedelta(hours=2)), ZoneInfo("UTC")]
    rng = random.Random(11)
    for _ in range(2000):
        when = T0 + timedelta(microseconds=rng.choice([0, 1, 999_999, rng.randrange(10**9)]))
        made = when.astimezone(rng.choice(zones)).replace(fold=rng.choice([0, 0, 1]))
        mine = replace(record("+447400123456", now=made), attempts=rng.choice([0, 0, 2]))
        stored_at = rng.choice([made, made, when + timedelta(seconds=rng.choice([-1, 1]))])
        attempts = rng.choice([mine.attempts, mine.attempts, 3])
        text = stored_at.astimezone(UTC).isoformat()  # as sqlite_schema.row_values writes it
        expected = replace(mine, attempts=attempts, created_at=datetime.fromisoformat(text))
        got = _as_claimed(mine, attempts, text)
        assert got == expected
        for name in ("created_at", "updated_at"):
            ours, theirs = getattr(got, name), getattr(expected, name)
            assert (ours.tzinfo, ours.fold) == (theirs.tzinfo, theirs.fold)
        assert got.attempts == expected.attempts


def test_known_holds_each_done_key_as_its_number() -> None:
    """`Known.of` turns keys into numbers in C; each is what `OccurrenceKeys.parse` gives."""
    keys = OccurrenceKeys("s", "once")
    texts = [keys.text(keys.number(f"+4477009{i:05d}")) for i in range(500)]
    texts += ["0" * 32, "f" * 32, "0" * 31 + "1"]
    known = Known.of(iter(texts), {})
    assert known.done == frozenset(OccurrenceKeys.parse(text) for text in texts)
    assert all(keys.text(number) in texts for number in known.done)

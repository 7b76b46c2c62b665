"""Both ledgers honour one contract: the key is the claim, settles stick, stale pendings."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.core.errors import UsageError
from smsops.ledger.base import Known, Ledger, OccurrenceKeys, SendRecord, Status, send_key
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.open import open_ledger
from smsops.ledger.sqlite import MIGRATIONS, LedgerError, SqliteLedger

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


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    opened: Ledger = (
        MemoryLedger() if request.param == "memory" else SqliteLedger(tmp_path / "l.sqlite")
    )
    yield opened
    opened.close()


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


def test_known_splits_one_occurrence_into_done_keys_and_open_rows(ledger: Ledger) -> None:
    sent, delivered, failed, pending = (record(f"+44740012345{i}") for i in range(4))
    elsewhere = record("+447400123456", occurrence="2026-11-22T09:00:00Z")
    other_schedule = record("+447400123456", schedule="other")
    ledger.claim([sent, delivered, failed, pending, elsewhere, other_schedule])
    ledger.settle(
        [
            sent.settled(Status.SENT, T0),
            delivered.settled(Status.DELIVERED, T0),
            failed.settled(Status.FAILED, T0, error="429", retryable=True),
            elsewhere.settled(Status.SENT, T0),
            other_schedule.settled(Status.SENT, T0),
        ]
    )
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
    with pytest.raises(UsageError, match="PostgreSQL ledgers are not available"):
        open_ledger("postgresql://localhost/smsops")
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
    with pytest.raises(LedgerError, match=f"has schema version 1; this smsops uses {len(MIGRATIONS)}"):
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

"""Delivery receipts on every backend: matched by (provider, message id), moved by the policy
table, idempotent, parked when they race the settle, and the parked table bounded."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.core.hooks import Delivery, Receipt, ReceiptResult
from smsops.ledger import receipts as receipt_rules
from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.ledger.sqlite import MIGRATIONS, SqliteLedger

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
RUN = "host:1:aaaa"
R = ReceiptResult


def claimed(ledger: Ledger, recipient: str, provider: str = "sky") -> SendRecord:
    record = SendRecord.claim(
        "s", "once", recipient, provider=provider, template="t", text_hash="h", segments=1,
        now=T0, claimed_by=RUN,
    )  # fmt: skip
    (won,) = ledger.claim([record])
    return won


def sent(ledger: Ledger, recipient: str, message_id: str, status: Status = Status.SENT) -> str:
    record = claimed(ledger, recipient)
    ledger.settle([record.settled(status, T0, message_id=message_id)])
    return record.key


def receipt(
    message_id: str,
    delivery: Delivery = Delivery.DELIVERED,
    *,
    provider: str = "sky",
    code: str = "N202",
    error: str | None = None,
    at: datetime | None = T0 + timedelta(minutes=1),
) -> Receipt:
    return Receipt(provider, message_id, delivery, code, error, at)


NOW = T0 + timedelta(minutes=2)


@pytest.fixture
def ledger(open_ledger_handle: Callable[[], Ledger]) -> Ledger:
    return open_ledger_handle()


def row(ledger: Ledger, key: str) -> SendRecord:
    return ledger.get([key])[key]


def test_a_receipt_moves_sent_to_delivered_with_its_time_and_code(ledger: Ledger) -> None:
    key = sent(ledger, "+447700900001", "trk-1")
    assert ledger.receipts([receipt("trk-1")], NOW) == [R.APPLIED]
    found = row(ledger, key)
    assert found.status is Status.DELIVERED
    assert (found.receipt_at, found.receipt_code, found.receipt_error) == (
        T0 + timedelta(minutes=1), "N202", None,
    )  # fmt: skip
    assert found.provider_message_id == "trk-1"


def test_the_same_receipt_twice_is_a_duplicate_and_changes_nothing(ledger: Ledger) -> None:
    key = sent(ledger, "+447700900001", "trk-1")
    assert ledger.receipts([receipt("trk-1"), receipt("trk-1")], NOW) == [R.APPLIED, R.DUPLICATE]
    before = row(ledger, key)
    assert ledger.receipts([receipt("trk-1")], NOW + timedelta(hours=1)) == [R.DUPLICATE]
    assert row(ledger, key) == before


def test_the_first_final_word_wins(ledger: Ledger) -> None:
    first = sent(ledger, "+447700900001", "trk-1")
    second = sent(ledger, "+447700900002", "trk-2")
    failed = receipt("trk-1", Delivery.UNDELIVERED, code="E202", error="expired")
    assert ledger.receipts([failed, receipt("trk-1")], NOW) == [R.APPLIED, R.DUPLICATE]
    assert ledger.receipts([receipt("trk-2")], NOW) == [R.APPLIED]
    late = receipt("trk-2", Delivery.UNDELIVERED, code="E202")
    assert ledger.receipts([late], NOW) == [R.DUPLICATE]
    assert row(ledger, first).status is Status.UNDELIVERED
    assert row(ledger, first).receipt_error == "expired"
    assert row(ledger, second).status is Status.DELIVERED


def test_uncertain_to_delivered_proves_it_went_out(ledger: Ledger) -> None:
    key = sent(ledger, "+447700900001", "trk-u", Status.UNCERTAIN)
    assert ledger.receipts([receipt("trk-u")], NOW) == [R.APPLIED]
    assert row(ledger, key).status is Status.DELIVERED


def test_an_interim_receipt_changes_no_row_and_is_not_parked(ledger: Ledger) -> None:
    key = sent(ledger, "+447700900001", "trk-1")
    before = row(ledger, key)
    interim = [receipt("trk-1", Delivery.INTERIM, code="N201"), receipt("nobody", Delivery.INTERIM)]
    assert ledger.receipts(interim, NOW) == [R.INTERIM, R.INTERIM]
    assert row(ledger, key) == before
    assert ledger.parked() == []


def test_a_receipt_matches_only_its_own_provider(ledger: Ledger) -> None:
    key = sent(ledger, "+447700900001", "same-id")
    assert ledger.receipts([receipt("same-id", provider="twilio")], NOW) == [R.PARKED]
    assert row(ledger, key).status is Status.SENT


def test_multi_part_receipts_count_once(ledger: Ledger) -> None:
    key = sent(ledger, "+447700900001", "trk-long")
    parts = [receipt("trk-long", code=f"N202 part {n}") for n in range(3)]
    assert ledger.receipts(parts, NOW) == [R.APPLIED, R.DUPLICATE, R.DUPLICATE]
    assert row(ledger, key).receipt_code == "N202 part 0"
    assert ledger.stats() == {"s": {"delivered": 1}}


def test_a_receipt_before_the_settle_is_parked_then_applied_by_the_settle(ledger: Ledger) -> None:
    record = claimed(ledger, "+447700900001")
    assert ledger.receipts([receipt("trk-early")], NOW) == [R.PARKED]
    assert ledger.receipts([receipt("trk-early")], NOW) == [R.DUPLICATE]  # parked once
    assert [p.message_id for p in ledger.parked()] == ["trk-early"]
    ledger.settle([record.settled(Status.SENT, T0, message_id="trk-early")])
    found = row(ledger, record.key)
    assert found.status is Status.DELIVERED
    assert found.receipt_code == "N202"
    assert ledger.parked() == []


def test_the_race_the_other_way_a_receipt_parked_while_the_row_appears(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settle commits between the receipt's lookup and its park: the receipt's second
    look after parking finds the row and applies it (the settle's own look came too early)."""
    record = claimed(ledger, "+447700900001")
    real_park = type(ledger).park

    def park_after_the_settle(self: Ledger, *args: object, **kwargs: object) -> object:
        self.settle([record.settled(Status.SENT, T0, message_id="trk-race")])
        return real_park(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(type(ledger), "park", park_after_the_settle)
    assert ledger.receipts([receipt("trk-race")], NOW) == [R.APPLIED]
    assert row(ledger, record.key).status is Status.DELIVERED
    assert ledger.parked() == []


def test_a_parked_receipt_waits_for_a_settle_from_another_handle(
    open_ledger_handle: Callable[[], Ledger],
) -> None:
    hook_side, sender = open_ledger_handle(), open_ledger_handle()
    record = claimed(sender, "+447700900001")
    failed = receipt("trk-x", Delivery.UNDELIVERED, code="E202", error="E202 expired")
    assert hook_side.receipts([failed], NOW) == [R.PARKED]
    sender.settle([record.settled(Status.SENT, T0, message_id="trk-x")])
    assert hook_side.get([record.key])[record.key].status is Status.UNDELIVERED
    assert hook_side.parked() == []


def test_parked_receipts_are_bounded_by_age_and_count(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receipt_rules, "MAX_PARKED", 3)
    old = [receipt(f"old-{n}") for n in range(2)]
    assert ledger.receipts(old, T0) == [R.PARKED] * 2
    later = T0 + receipt_rules.PARK_FOR + timedelta(seconds=1)
    assert ledger.receipts([receipt("new-0")], later) == [R.PARKED]
    assert [p.message_id for p in ledger.parked()] == ["new-0"]  # the old ones expired
    flood = [receipt(f"new-{n}") for n in range(1, 6)]
    assert ledger.receipts(flood, later + timedelta(seconds=1)) == [R.PARKED] * 5
    kept = sorted(p.message_id for p in ledger.parked())
    assert len(kept) == 3  # the newest three


def test_receipt_results_come_one_per_item_in_order(ledger: Ledger) -> None:
    sent(ledger, "+447700900001", "a")
    items = [receipt("a"), receipt("zz"), receipt("a", Delivery.INTERIM), receipt("a")]
    assert ledger.receipts(items, NOW) == [R.APPLIED, R.PARKED, R.INTERIM, R.DUPLICATE]


def test_an_old_sqlite_ledger_opens_migrated_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(";".join(MIGRATIONS[:4]) + "; PRAGMA user_version = 4;")
    db.execute(
        "INSERT INTO sends (key, schedule, occurrence, recipient, provider, template, text_hash, "
        "segments, status, provider_message_id, created_at, updated_at) VALUES "
        "('00', 's', 'once', '+447700900001', 'sky', 't', 'h', 1, 'sent', 'trk-old', ?, ?)",
        (T0.isoformat(), T0.isoformat()),
    )
    db.commit()
    db.close()
    ledger = SqliteLedger(path)
    try:
        assert ledger.receipts([receipt("trk-old")], NOW) == [R.APPLIED]
        assert ledger.get(["00"])["00"].status is Status.DELIVERED
        assert ledger.suppressed() == frozenset()
    finally:
        ledger.close()

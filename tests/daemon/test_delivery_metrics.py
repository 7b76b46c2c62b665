"""`smsops_ledger_delivery`: delivered and undelivered rows per schedule, from the ledger."""

from __future__ import annotations

from prometheus_client import generate_latest

from smsops.daemon.metrics import Metrics


def test_delivery_per_schedule_is_set_from_the_ledger_and_dropped_with_the_schedule() -> None:
    metrics = Metrics()
    stats = {"promo": {"delivered": 7, "undelivered": 2, "sent": 1}, "other": {"sent": 3}}
    metrics.observe_delivery(stats, ["promo", "other"])
    text = generate_latest(metrics.registry).decode()
    assert 'smsops_ledger_delivery{schedule="promo",status="delivered"} 7.0' in text
    assert 'smsops_ledger_delivery{schedule="promo",status="undelivered"} 2.0' in text
    assert 'smsops_ledger_delivery{schedule="other",status="delivered"} 0.0' in text
    metrics.keep_only(["promo"])
    text = generate_latest(metrics.registry).decode()
    assert 'schedule="other"' not in text.split("smsops_ledger_delivery", 1)[1]
    assert 'smsops_ledger_delivery{schedule="promo",status="delivered"} 7.0' in text


def test_a_parked_receipt_counts_once_as_parked_and_the_ledger_gauge_shows_its_delivery() -> None:
    """The documented split (docs/operations.md#metrics): `smsops_receipts_total` says what
    each receipt did when it arrived; a parked one applied later by a settle is not counted
    again, and `smsops_ledger_delivery` (read from the ledger each round) has the delivery."""
    from datetime import UTC, datetime

    from smsops.core.hooks import Delivery, Receipt
    from smsops.ledger.base import SendRecord, Status
    from smsops.ledger.memory import MemoryLedger

    now = datetime(2026, 11, 22, 9, tzinfo=UTC)
    metrics, ledger = Metrics(), MemoryLedger()
    early = [Receipt("sky", "m1", Delivery.DELIVERED, "N202")]
    metrics.observe_receipts("sky", early, ledger.receipts(early, now))  # as the hook does
    record = SendRecord.claim(
        "s", "once", "+447700900001", provider="sky", template="t", text_hash="h",
        segments=1, now=now, claimed_by="run",
    )  # fmt: skip
    ledger.claim([record])
    ledger.settle([record.settled(Status.SENT, now, message_id="m1")])  # applies the parked one
    assert ledger.stats() == {"s": {"delivered": 1}}
    metrics.observe_delivery(ledger.stats(), ["s"])  # as each round does after its plan

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert sample("smsops_receipts_total", provider="sky", status="parked") == 1
    assert sample("smsops_receipts_total", provider="sky", status="delivered") is None
    assert sample("smsops_ledger_delivery", schedule="s", status="delivered") == 1

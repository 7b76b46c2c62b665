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

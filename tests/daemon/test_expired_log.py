"""Run mode says what expired: one log line per schedule-occurrence, and the metrics."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from prometheus_client import generate_latest

from smsops.core.expiry import ExpiryReason
from smsops.daemon.metrics import Metrics
from smsops.daemon.round_log import log_report
from smsops.engine.apply import ApplyReport

OCCURRENCE = "2026-11-22T09:00:00Z"


def expired_report() -> ApplyReport:
    report = ApplyReport(sent=4, expired=6)
    report.expired_by = {
        ("a", OCCURRENCE, ExpiryReason.SENDING): 3,
        ("a", OCCURRENCE, ExpiryReason.FAULTS): 1,
        ("b", OCCURRENCE, ExpiryReason.NOT_REACHED): 2,
    }
    report.outcomes = {("ot", "sent"): 4, ("ot", "expired"): 6}
    return report


def test_one_line_per_schedule_occurrence_with_its_count_and_reasons(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        log_report(SimpleNamespace(schedules=[]), expired_report(), "fire")  # type: ignore[arg-type]
    expired = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in expired] == [
        f"4 sends of a {OCCURRENCE} expired (3 {ExpiryReason.SENDING.value}; "
        f"1 {ExpiryReason.FAULTS.value})",
        f"2 sends of b {OCCURRENCE} expired (2 {ExpiryReason.NOT_REACHED.value})",
    ]
    assert [(r.schedule, r.expired, r.reasons) for r in expired] == [  # type: ignore[attr-defined]
        ("a", 4, {"sending": 3, "faults": 1}),
        ("b", 2, {"not_reached": 2}),
    ]
    (summary,) = [r for r in caplog.records if r.levelno == logging.INFO]
    assert "expired 6" in summary.getMessage()


def test_expired_sends_are_counted_by_status_and_per_schedule_and_reason() -> None:
    metrics = Metrics()
    metrics.observe_report(expired_report())
    text = generate_latest(metrics.registry).decode()
    assert 'smsops_sends_total{provider="ot",status="expired"} 6.0' in text
    assert 'smsops_expired_sends_total{reason="sending",schedule="a"} 3.0' in text
    assert 'smsops_expired_sends_total{reason="faults",schedule="a"} 1.0' in text
    assert 'smsops_expired_sends_total{reason="not_reached",schedule="b"} 2.0' in text

"""A round whose ledger could not be written says so in the log (run mode never drops silently)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from smsops.daemon.round_log import log_report
from smsops.engine.apply import ApplyReport


def test_a_ledger_error_is_logged_with_what_was_not_sent(caplog: pytest.LogCaptureFixture) -> None:
    report = ApplyReport(sent=3, not_started=5, unsettled=2, ledger_error="the disk is full")
    with caplog.at_level(logging.INFO):
        log_report(SimpleNamespace(schedules=[]), report, "cron")  # type: ignore[arg-type]
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.getMessage() == (
        "the ledger could not be written: the disk is full; 5 not sent (the next round sends "
        "them), 2 results not written (those rows stay pending, then uncertain)"
    )


def test_a_clean_round_logs_no_ledger_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        log_report(SimpleNamespace(schedules=[]), ApplyReport(sent=1), "cron")  # type: ignore[arg-type]
    assert [r.levelno for r in caplog.records] == [logging.INFO]

"""The log lines of a finished round: one summary, one per expired schedule-occurrence, problems.

Numbers are already masked and provider texts scrubbed in the report; this
only words it. Nothing is dropped silently: an expiry and a ledger that
could not be written each get their own line.
"""

from __future__ import annotations

import logging

from smsops.core.expiry import ExpiryReason
from smsops.engine.apply import ApplyReport
from smsops.engine.plan import Plan
from smsops.ledger.base import SendRecord

log = logging.getLogger("smsops.run")


def log_stale(records: list[SendRecord]) -> None:
    """A round marked a dead run's claims uncertain (every kind of round says it alike)."""
    if records:
        log.warning(
            "marked %d sends uncertain: pending from a run that stopped mid-send", len(records)
        )


def log_report(plan: Plan, report: ApplyReport, why: str) -> None:
    # the schedules that sent, and those whose closed windows were only recorded expired
    named = [s.schedule for s in plan.schedules if s.to_send]
    named += sorted({schedule for schedule, _, _ in report.expired_by} - set(named))
    schedules = ",".join(named)
    log.info(
        "sent %d, failed %d, uncertain %d, expired %d (%d segments) for %s [%s]",
        report.sent,
        report.failed,
        report.uncertain,
        report.expired,
        report.segments,
        schedules,
        why,
        extra={
            "sent": report.sent,
            "failed": report.failed,
            "uncertain": report.uncertain,
            "expired": report.expired,
            "segments": report.segments,
            "schedules": schedules,
        },
    )
    for (schedule, occurrence), reasons in sorted(report.expired_occurrences().items()):
        count = sum(reasons.values())
        why_ = "; ".join(f"{reasons[r]} {r.value}" for r in ExpiryReason if r in reasons)
        log.warning(  # one line per schedule-occurrence: never dropped silently
            "%d sends of %s %s expired (%s)",
            count,
            schedule,
            occurrence,
            why_,
            extra={
                "schedule": schedule,
                "occurrence": occurrence,
                "expired": count,
                "reasons": {reason.short: n for reason, n in reasons.items()},
            },
        )
    for problem in report.problems:  # numbers already masked and scrubbed
        log.error("%s", problem)
    if report.ledger_error:  # the round stopped claiming: say so, never drop silently
        log.error(
            "the ledger could not be written: %s; %d not sent (the next round sends them), "
            "%d results not written (those rows stay pending, then uncertain)",
            report.ledger_error,
            report.not_started,
            report.unsettled,
        )

"""When run mode wakes up for a schedule: its trigger as an APScheduler 3 trigger.

A wake-up only asks "what is due now?": the planner answers from the ledger,
so a duplicate fire, a restart or a late wake-up never sends twice, and a
missed occurrence is caught up only while its window is open.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from smsops.config.models import Schedule
from smsops.engine.occurrences import EVERY_ANCHOR, is_recipient_local, trigger_zone

# Recipient-local schedules, quiet hours and windows need a look more often
# than the trigger fires (each recipient's 09:00 comes at a different hour;
# a send held by quiet hours goes when they end): a steady resync does it.
RESYNC = timedelta(minutes=1)


def trigger_for(schedule: Schedule) -> Any | None:
    """The APScheduler trigger of a schedule's own fire times (None: `once` or recipient-local)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.date import DateTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    trigger = schedule.trigger
    if trigger is None or is_recipient_local(schedule):
        return None
    zone = trigger_zone(schedule)
    if trigger.cron is not None:
        return CronTrigger.from_crontab(trigger.cron, timezone=zone)
    if trigger.every is not None:
        anchor = trigger.start or EVERY_ANCHOR
        start = anchor if anchor.tzinfo else anchor.replace(tzinfo=zone)
        return IntervalTrigger(
            seconds=trigger.every.total_seconds(), start_date=start, timezone=zone
        )
    at = trigger.at
    assert at is not None
    return DateTrigger(run_date=at if at.tzinfo else at.replace(tzinfo=zone), timezone=zone)

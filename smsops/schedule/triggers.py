"""When run mode wakes up for a schedule: its fire times as an APScheduler 3 trigger.

APScheduler only wakes the runner up; the fire times come from
`smsops.schedule.fires`, the implementation the planner uses, so the
daemon wakes exactly when `plan` says an occurrence starts (and
`smsops_next_fire_timestamp_seconds` shows that time). A wake-up only asks
"what is due now?": the planner answers from the ledger, so a duplicate
fire, a restart or a late wake-up never sends twice, and a missed
occurrence is caught up only while its window is open.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger

from smsops.config.models import Schedule
from smsops.schedule.fires import FireTimes, fire_times
from smsops.schedule.occurrences import is_recipient_local, trigger_zone

# Recipient-local schedules, quiet hours and windows need a look more often
# than the trigger fires (each recipient's 09:00 comes at a different hour;
# a send held by quiet hours goes when they end): a steady resync does it.
RESYNC = timedelta(minutes=1)
_JUST_BEFORE = timedelta(microseconds=1)


class FireTimeTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 is untyped
    """An APScheduler 3 trigger that asks `smsops.schedule` for every fire time."""

    def __init__(self, fires: FireTimes) -> None:
        self.fires = fires

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The first fire after the previous one; at the start, the first at or after `now`.

        Like APScheduler's own triggers: a fire time between the previous
        one and `now` is still returned (the scheduler's misfire grace and
        coalescing decide about it).
        """
        if previous_fire_time is not None:
            return self.fires.next_after(previous_fire_time)
        return self.fires.next_after(now - _JUST_BEFORE)

    def __str__(self) -> str:
        return f"smsops[{self.fires}]"


def trigger_for(schedule: Schedule) -> Any | None:
    """The trigger of a schedule's own fire times (None: `once` or recipient-local)."""
    trigger = schedule.trigger
    if trigger is None or is_recipient_local(schedule):
        return None
    return FireTimeTrigger(fire_times(trigger, trigger_zone(schedule)))

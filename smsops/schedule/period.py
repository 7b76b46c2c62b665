"""A schedule's period, as an alert on "no successful round in 2x the period" needs it.

Cron fire times are irregular (weekdays at 09:00: one day apart, then three),
so the period is the longest gap between the coming fire times: an alert
built on it never fires on a weekend. A one-off (`at`) or recipient-local
schedule has none (each recipient's 09:00 comes at a different hour).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from smsops.config.models import Schedule
from smsops.schedule.fires import fire_times
from smsops.schedule.occurrences import is_recipient_local, trigger_zone

# Fire times looked at: a week of a daily cron, enough for its weekend gap.
LOOK_AHEAD = 8


def longest_gap(schedule: Schedule, now: datetime) -> timedelta | None:
    """The longest gap between the schedule's next LOOK_AHEAD fire times after `now`."""
    trigger = schedule.trigger
    if trigger is None or is_recipient_local(schedule):
        return None
    fires = fire_times(trigger, trigger_zone(schedule))
    times: list[datetime] = []
    after = now
    while len(times) < LOOK_AHEAD:
        fire = fires.next_after(after)
        if fire is None:
            break
        times.append(fire)
        after = fire
    gaps = [later - earlier for earlier, later in pairwise(times)]
    return max(gaps, default=None)

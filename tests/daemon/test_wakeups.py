"""Run mode wakes exactly when the planner says a schedule fires, DST included.

Both ask `smsops.schedule.fires`; these tests keep it that way (before, the
planner and APScheduler's own triggers disagreed: `every: 24h` in London
woke at 00:00Z while plans said 23:00Z, and cron weekdays were off by one).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from smsops.config.models import Schedule
from smsops.schedule.occurrences import next_fires, occurrence_label
from smsops.schedule.triggers import trigger_for

TRIGGERS = [
    {"cron": "0 9 * * *", "timezone": "Europe/London"},
    {"cron": "30 1 * * *", "timezone": "Europe/London"},  # skipped in March, repeated in October
    {"cron": "*/30 0-3 * * 0", "timezone": "Europe/London"},
    {"cron": "0 9 * * 1", "timezone": "America/New_York"},
    {"cron": "0 2 * * *", "timezone": "Australia/Sydney"},
    {"every": "24h", "timezone": "Europe/London"},
    {"every": "1h", "start": "2027-03-01T00:30:00", "timezone": "Europe/London"},
    {"every": "90m", "timezone": "America/New_York"},
    {"every": "7d", "start": "2027-03-01T01:30:00", "timezone": "Europe/London"},
    {"at": "2027-03-28T01:30:00", "timezone": "Europe/London"},
    {"at": "2027-10-31T01:30:00", "timezone": "Europe/London"},
    {"at": "2027-07-01T09:00:00", "timezone": "Australia/Sydney"},
]
STARTS = ["2027-03-26T12:00:00+00:00", "2027-10-29T12:00:00+00:00", "2027-04-02T12:00:00+00:00"]


def schedule(trigger: dict[str, str]) -> Schedule:
    data = {"template": "t", "audience": "a", "provider": "p", "trigger": trigger}
    return Schedule.model_validate(data)


def wakeups(sched: Schedule, now: datetime, count: int) -> list[str]:
    """What APScheduler does with the trigger: first fire at/after now, then each next one."""
    trigger = trigger_for(sched)
    found: list[str] = []
    previous = None
    while len(found) < count:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        found.append(occurrence_label(fire))
        previous = now = fire
    return found


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: " ".join(t.values()))
def test_daemon_wakeups_are_the_planners_fire_times(trigger: dict[str, str], start: str) -> None:
    sched = schedule(trigger)
    now = datetime.fromisoformat(start)
    planned = [occurrence_label(f) for f in next_fires(sched, now, 6)]
    assert wakeups(sched, now, 6) == planned


def test_every_24h_in_london_wakes_at_the_planned_hour() -> None:
    """Local midnight (23:00Z in summer) for both: the daemon used to wake at 00:00Z."""
    sched = schedule({"every": "24h", "timezone": "Europe/London"})
    summer = datetime(2027, 7, 1, 12, tzinfo=UTC)
    assert wakeups(sched, summer, 1) == ["2027-07-01T23:00:00Z"]
    assert [occurrence_label(f) for f in next_fires(sched, summer, 1)] == ["2027-07-01T23:00:00Z"]


def test_a_wakeup_exactly_at_now_is_kept() -> None:
    """On the first call APScheduler wants a fire at or after `now` (like its own triggers)."""
    sched = schedule({"cron": "0 9 * * *", "timezone": "UTC"})
    at_nine = datetime(2027, 3, 1, 9, tzinfo=UTC)
    assert trigger_for(sched).get_next_fire_time(None, at_nine) == at_nine


def test_the_scheduler_job_shows_the_planned_next_fire() -> None:
    """`smsops_next_fire_timestamp_seconds` comes from the job's next_run_time."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    sched = schedule({"cron": "0 9 * * 1", "timezone": "Europe/London"})

    async def next_run() -> datetime:
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.start(paused=True)
        try:
            job = scheduler.add_job(lambda: None, trigger_for(sched))
            when: datetime = job.next_run_time
            return when
        finally:
            scheduler.shutdown(wait=False)

    when = asyncio.run(next_run())
    planned = next_fires(sched, datetime.now(UTC), 1)
    assert [occurrence_label(when)] == [occurrence_label(f) for f in planned]
    assert when.astimezone(ZoneInfo("Europe/London")).strftime("%a %H:%M") == "Mon 09:00"

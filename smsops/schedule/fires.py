"""When a trigger fires: the one implementation the planner and run mode share.

All three kinds answer `next_after(t)`: the first fire time strictly after
the aware instant `t` (None when there is none), as an aware datetime in the
trigger's zone.

- `cron`: `cronsim`, Vixie semantics (see `smsops.schedule.cron`). Across a
  DST change it does what Debian's cron does: a job at a fixed time (its
  minute and hour fields do not start with `*`) whose wall time is skipped
  by the spring change fires once, at the first minute after the gap
  (02:00 for 01:30 in London); in the repeated autumn hour it fires once,
  the first time. A job whose minute or hour field starts with `*` follows
  real time: it fires at every matching minute that exists, so an hourly
  job fires in both passes of a repeated hour and not in a skipped one.
- `every`: from `start` (default midnight 2000-01-01 in the trigger's
  zone). A whole number of days (`24h`, `7d`) steps the calendar and keeps
  the wall time, like cron (`every: 24h` from 18:00 is 18:00 local all
  year); any other interval is elapsed time (`every: 1h` is 60 real
  minutes apart across DST changes, 25 fires on the autumn day).
- `at`: once.

A local date-time (`at`, `start`) that a spring change skips is read as the
first minute after the gap, like cron; one that occurs twice is the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from cronsim import CronSim

from smsops.config.models import Trigger
from smsops.schedule.cron import normalise

EVERY_ANCHOR = datetime(2000, 1, 1)


class FireTimes(Protocol):
    """A trigger in one zone."""

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after` (aware), or None."""


@dataclass(frozen=True)
class CronFires:
    expression: str  # five normalised fields
    zone: ZoneInfo

    def next_after(self, after: datetime) -> datetime | None:
        fields = self.expression.split()
        try:
            if fields[0].startswith("*") or fields[1].startswith("*"):
                return self._real_time(after)
            for fire in self._from(after.astimezone(self.zone)):
                # A fixed-time job is computed on the wall clock, so from inside a
                # repeated hour it can name the first pass (already past): skip it.
                if _after(fire, after):
                    return fire
        except OverflowError:  # within a day of year 1 or 9999: nothing we can name
            return None
        return None

    def _real_time(self, after: datetime) -> datetime | None:
        """A job on real time, walked one stretch of constant UTC offset at a time.

        cronsim steps such a job in UTC hours from a local `minute=0`, so on
        the day a zone shifts by 30 minutes (Lord Howe) it drifts off the
        hour and skips fires; within one offset nothing can drift.
        """
        cursor = after
        offset = after.astimezone(self.zone).utcoffset()
        while True:
            assert offset is not None
            fire = next(self._from(cursor.astimezone(timezone(offset))), None)
            if fire is None:
                return None
            if fire.astimezone(self.zone).utcoffset() == offset:
                return fire.astimezone(self.zone)
            # The offset changed before this fire: go on from the change, in the new offset.
            change = _offset_change(cursor, fire, self.zone)
            offset = change.astimezone(self.zone).utcoffset()
            cursor = max(after, change - timedelta(seconds=1))

    def _from(self, start: datetime) -> Iterator[datetime]:
        yield from CronSim(self.expression, start)


def _offset_change(low: datetime, high: datetime, zone: ZoneInfo) -> datetime:
    """The first whole second in (low, high] where the zone's offset differs from low's."""
    before = low.astimezone(zone).utcoffset()
    low = low.replace(microsecond=0)
    while high - low > timedelta(seconds=1):
        middle = (low + (high - low) / 2).replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high


@dataclass(frozen=True)
class EveryFires:
    """Elapsed time: the anchor plus whole multiples of the interval."""

    anchor: datetime  # aware
    interval: timedelta

    def next_after(self, after: datetime) -> datetime | None:
        try:
            # In UTC: arithmetic between two times of one zone is wall-clock arithmetic.
            anchor, after = self.anchor.astimezone(UTC), after.astimezone(UTC)
            if after < anchor:
                return self.anchor
            steps = (after - anchor) // self.interval + 1
            return (anchor + steps * self.interval).astimezone(self.anchor.tzinfo)
        except OverflowError:  # within a day of year 1 or 9999
            return None


@dataclass(frozen=True)
class EveryDaysFires:
    """Every `days` calendar days at the anchor's wall time, resolved like cron across DST."""

    anchor: datetime  # naive: the local date and wall time of the first fire
    days: int
    zone: ZoneInfo

    def next_after(self, after: datetime) -> datetime | None:
        try:
            local_day = after.astimezone(self.zone).date()
            step = max(0, (local_day - self.anchor.date()).days // self.days - 1)
            while True:  # at most three steps: the fire of the day before, of the day, after
                fire = resolve_local(self.anchor + timedelta(days=step * self.days), self.zone)
                if _after(fire, after):
                    return fire
                step += 1
        except OverflowError:  # within a day of year 1 or 9999
            return None


@dataclass(frozen=True)
class AtFires:
    at: datetime  # aware

    def next_after(self, after: datetime) -> datetime | None:
        return self.at if _after(self.at, after) else None


def _after(fire: datetime, after: datetime) -> bool:
    """`fire > after` in real time: Python compares two times of one zone on the wall
    clock, so both passes of a repeated hour would look equal."""
    return fire.astimezone(UTC) > after.astimezone(UTC)


def fire_times(trigger: Trigger, zone: ZoneInfo) -> FireTimes:
    """The fire times of `trigger` in `zone` (for `timezone: recipient`, the recipient's)."""
    return _fire_times(trigger, zone)


# Bounded: run mode reloads configs for months; each edit may bring new triggers.
@lru_cache(maxsize=4096)
def _fire_times(trigger: Trigger, zone: ZoneInfo) -> FireTimes:
    if trigger.cron is not None:
        return CronFires(normalise(trigger.cron), zone)
    if trigger.every is not None:
        start = trigger.start or EVERY_ANCHOR
        if trigger.every % timedelta(days=1):
            return EveryFires(resolve_local(start, zone), trigger.every)
        local = start.astimezone(zone).replace(tzinfo=None) if start.tzinfo else start
        return EveryDaysFires(local, trigger.every.days, zone)
    assert trigger.at is not None
    return AtFires(resolve_local(trigger.at, zone))


def resolve_local(when: datetime, zone: ZoneInfo) -> datetime:
    """`when` as an aware instant: a naive (local) time is read in `zone`, like cron.

    A wall time the spring change skips becomes the first minute after the
    gap; a repeated one is its first pass.
    """
    if when.tzinfo is not None:
        return when
    local = when.replace(tzinfo=zone, fold=0)
    while _skipped(local):
        local = (local + timedelta(minutes=1)).replace(second=0, microsecond=0, fold=0)
    return local


def _skipped(local: datetime) -> bool:
    """Whether a wall time does not exist in its zone (it falls in a spring gap)."""
    return local.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) != local.replace(
        tzinfo=None
    )


def fires_between(fires: FireTimes, start: datetime, end: datetime) -> list[datetime]:
    """Fire times in (start, end], oldest first."""
    found: list[datetime] = []
    cursor = start
    while (fire := fires.next_after(cursor)) is not None and not _after(fire, end):
        found.append(fire)
        cursor = fire
    return found

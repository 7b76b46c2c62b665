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
- `every`: elapsed time, not wall time: `start` (default midnight
  2000-01-01 in the trigger's zone) plus whole multiples of the interval,
  so `every: 24h` keeps 24 real hours between fires across DST changes.
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
    anchor: datetime  # aware
    interval: timedelta

    def next_after(self, after: datetime) -> datetime | None:
        # In UTC: arithmetic between two times of one zone is wall-clock arithmetic.
        try:
            anchor, after = self.anchor.astimezone(UTC), after.astimezone(UTC)
            if after < anchor:
                return self.anchor
            steps = (after - anchor) // self.interval + 1
            return (anchor + steps * self.interval).astimezone(self.anchor.tzinfo)
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
        return EveryFires(resolve_local(trigger.start or EVERY_ANCHOR, zone), trigger.every)
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

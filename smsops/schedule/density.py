"""How many fires a window can hold, computed without walking the fires.

A due occurrence costs a ledger read and a pass over the audience, so a
window that can hold more than `MAX_FIRES_PER_WINDOW` fires of its trigger
(e.g. `every: 1s` with `window: 3650d`) is refused at validate.

The count is the worst case over every position of the window:

- `at`: 1. `every`: the most multiples of the interval a half-open stretch
  of the window's length can hold, ceil(window / interval); for whole days,
  which keep the wall time, the window is one DST jump longer (see below).
- `cron`: its fires are the matching days x the matching times of day.
  Counted on the local clock, exactly, from `cronsim`'s own parse: the days
  over one 28-year Gregorian cycle (2001-2028, in which every combination of
  date, weekday and leap year that a window of up to 33 days can meet
  occurs) and the times of day, combined with prefix counts, so
  `* * * * *` costs no more than `0 9 * * *`. In a zone with DST the spring
  change packs a day into fewer real hours, so the window is counted one
  DST jump longer; a job whose minute or hour field starts with `*` fires in
  both passes of a repeated autumn hour, so those fires count twice. For
  `timezone: recipient` the jump is 2 hours, the largest of any zone.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from cronsim import CronSim

from smsops.config.models import Trigger
from smsops.schedule.cron import normalise

MAX_FIRES_PER_WINDOW = 100
RECIPIENT_DST_JUMP = timedelta(hours=2)
_CYCLE_START = date(2001, 1, 1)
_CYCLE_END = date(2029, 3, 1)  # one 28-year cycle, plus the longest window
_DAY = 1440  # minutes


def most_fires_in(trigger: Trigger, window: timedelta, zone: ZoneInfo | None) -> int:
    """The most fires of `trigger` any window of this length can hold (see the module doc).

    `zone` is the trigger's zone, or None for `timezone: recipient`.
    """
    if trigger.at is not None:
        return 1
    jump = RECIPIENT_DST_JUMP if zone is None else dst_jump(zone)
    if trigger.every is not None:
        # Whole days keep the wall time, so a spring change brings two fires closer.
        longer = window if trigger.every % timedelta(days=1) else window + jump
        micro = timedelta(microseconds=1)
        return -(-(longer // micro) // (trigger.every // micro))
    assert trigger.cron is not None
    expression = normalise(trigger.cron)
    most = _cron_most(expression, _minutes(window + jump))
    fields = expression.split()
    if jump and (fields[0].startswith("*") or fields[1].startswith("*")):
        most += _cron_most(expression, _minutes(jump))
    return most


def _minutes(length: timedelta) -> int:
    """How many whole minutes m satisfy e - length < m <= e: cron fires fall on minutes."""
    return math.ceil(length / timedelta(minutes=1))


@cache
def dst_jump(zone: ZoneInfo) -> timedelta:
    """The largest forward change of the zone's UTC offset in 2025-2053 (0 without DST)."""
    day = datetime(2025, 1, 1, tzinfo=UTC)
    previous = day.astimezone(zone).utcoffset() or timedelta(0)
    jump = timedelta(0)
    while day.year < 2054:
        day += timedelta(days=1)
        offset = day.astimezone(zone).utcoffset() or timedelta(0)
        jump = max(jump, offset - previous)
        previous = offset
    return jump


@lru_cache(maxsize=1024)
def _cron_most(expression: str, span: int) -> int:
    """The most fires in `span` consecutive minutes of the local clock."""
    parsed = CronSim(expression, datetime(2001, 1, 1))
    times = sorted(h * 60 + m for h in parsed.hours for m in parsed.minutes)
    matching = _matching_days(parsed)
    if not times or not matching:
        return 0
    per_day = len(times)
    # prefix[i]: matching days before day i of the cycle
    prefix = [0]
    for matched in matching:
        prefix.append(prefix[-1] + matched)
    best = 0
    # A busiest window ends on a fire: day d0 (matching) at times[j]. It starts
    # `back` days earlier at minute `start` and holds: times[:j+1] on d0, every
    # time of each matching day in between, times[start:] on the first day.
    groups: dict[int, tuple[int, int]] = {}  # back -> (best with first day, best without)
    for j, end in enumerate(times):
        first = end - span + 1
        back, start = -(first // _DAY), first % _DAY
        if back == 0:
            best = max(best, bisect_right(times, end) - bisect_left(times, start))
            continue
        with_first = j + 1 + per_day - bisect_left(times, start)
        old = groups.get(back, (0, 0))
        groups[back] = (max(old[0], with_first), max(old[1], j + 1))
    for back, (with_first, without_first) in groups.items():
        for d0 in range(back, len(matching)):
            if not matching[d0]:
                continue
            between = prefix[d0] - prefix[d0 - back + 1]
            edge = with_first if matching[d0 - back] else without_first
            best = max(best, per_day * between + edge)
    return best


def _matching_days(parsed: CronSim) -> list[bool]:
    """Whether each day of the cycle matches the month, day-of-month and day-of-week fields."""
    days: list[bool] = []
    day = _CYCLE_START
    while day < _CYCLE_END:
        days.append(day.month in parsed.months and parsed.match_day(day))
        day += timedelta(days=1)
    return days

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
  both passes of a repeated autumn hour, so up to one jump of the local
  clock (no more than the window) counts twice. For `timezone: recipient`
  the jump is 2 hours, the largest of any zone. Whatever the zone, a real
  window of W minutes holds at most ceil(W / 1 min) cron fires (they fall on
  distinct whole minutes), which caps every count: `* * * * *` with
  `window: 1m` is 1, not the 121 the local-clock passes would add up to.

Where that count exceeds the cap in a named zone (a window of up to a day),
it is counted again at each of the zone's real changes of 2025-2053, on the
real dates and the real time of day of the jump, before a refusal: `* 3/10
* * */4` with `window: 4h` in New York holds 60, not the 120 a jump on any
day at any time would allow. Checked against croniter in
tests/schedule/test_density_croniter.py.

`validate` asks only whether the cap is exceeded (`too_many_fires`), and
first bounds the count from above without the zone or the 28-year cycle
(`_bound`): a jump of any zone is under 48 hours (Python keeps every UTC
offset within ±24 h), and `span` minutes of the local clock touch at most
ceil(span / 1 day) + 1 days, each with at most its times of day. A bound
within the cap decides it (~2-5 ms a schedule less, most of `validate`'s
schedule checks); above it, the exact count decides as before.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
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


def too_many_fires(trigger: Trigger, window: timedelta, zone: ZoneInfo | None) -> int | None:
    """`most_fires_in` when it exceeds `MAX_FIRES_PER_WINDOW`, else None (see the module doc)."""
    if _bound(trigger, window) <= MAX_FIRES_PER_WINDOW:
        return None  # the exact count is at most the bound
    most = most_fires_in(trigger, window, zone)
    return most if most > MAX_FIRES_PER_WINDOW else None


# Above any zone's jump: a forward change of the UTC offset, each within ±24 hours.
_ANY_JUMP = timedelta(hours=48)


def _bound(trigger: Trigger, window: timedelta) -> int:
    """At least `most_fires_in(trigger, window, zone)` for every zone (and `recipient`).

    Its count with the jump at its largest and every day of a span matching: each
    quantity it adds only grows with both.
    """
    most = _count(trigger, window, _ANY_JUMP, _cron_bound)
    return most if trigger.cron is None else min(most, _minutes(window))


def _cron_bound(expression: str, span: int) -> int:
    """At least `_cron_most(expression, span)`: every day `span` minutes touch matching."""
    parsed = CronSim(expression, datetime(2001, 1, 1))
    return len(parsed.hours) * len(parsed.minutes) * (-(-span // _DAY) + 1)


def most_fires_in(trigger: Trigger, window: timedelta, zone: ZoneInfo | None) -> int:
    """The most fires of `trigger` any window of this length can hold (see the module doc).

    `zone` is the trigger's zone, or None for `timezone: recipient`.
    """
    jump = RECIPIENT_DST_JUMP if zone is None or trigger.at is not None else dst_jump(zone)
    most = _count(trigger, window, jump, _cron_most)
    if trigger.cron is None:
        return most
    expression = normalise(trigger.cron)
    if most > MAX_FIRES_PER_WINDOW and zone is not None and window <= timedelta(days=1):
        # Counted at the zone's real changes only where it decides a refusal (40-100 ms).
        most = min(most, _changes_most(expression, _minutes(window), zone))
    # Every zone's offset is whole minutes, so cron fires fall on distinct whole
    # minutes of real time: a window can never hold more than its minutes.
    return min(most, _minutes(window))


def _count(
    trigger: Trigger, window: timedelta, jump: timedelta, per_span: Callable[[str, int], int]
) -> int:
    """The count before a zone's real changes: `per_span(expression, minutes)` counts a
    cron's fires in that many minutes of the local clock (exactly, or a bound)."""
    if trigger.at is not None:
        return 1
    if trigger.every is not None:
        # Whole days keep the wall time, so a spring change brings two fires closer.
        longer = window if trigger.every % timedelta(days=1) else window + jump
        micro = timedelta(microseconds=1)
        return -(-(longer // micro) // (trigger.every // micro))
    assert trigger.cron is not None
    expression = normalise(trigger.cron)
    # Spring: the window spans `jump` more of the local clock (a fixed-time job's
    # skipped fires come at once after the gap, a real-time job's do not come).
    most = per_span(expression, _minutes(window + jump))
    fields = expression.split()
    if jump and (fields[0].startswith("*") or fields[1].startswith("*")):
        # Autumn: a real-time job fires in both passes of a repeated stretch, of which
        # a window holds at most min(jump, window) (counted on top of the spring
        # allowance, which keeps a window holding both changes covered).
        most += per_span(expression, _minutes(min(jump, window)))
    return most


def _minutes(length: timedelta) -> int:
    """How many whole minutes m satisfy e - length < m <= e: cron fires fall on minutes."""
    return math.ceil(length / timedelta(minutes=1))


@cache
def dst_jump(zone: ZoneInfo) -> timedelta:
    """The largest forward change of the zone's UTC offset in 2025-2053 (0 without DST)."""
    return max((timedelta(minutes=jump) for _, jump in _changes(zone)), default=timedelta(0))


@cache
def _changes(zone: ZoneInfo) -> tuple[tuple[datetime, int], ...]:
    """The zone's offset changes in 2025-2053: the local wall time the clock leaves
    (naive), and the change in minutes (positive forward, negative back)."""
    found: list[tuple[datetime, int]] = []
    day, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2054, 1, 1, tzinfo=UTC)
    previous = _offset(day, zone)
    while day < end:
        # A week at a time, day by day only through a week whose ends differ: the
        # same changes (tests/schedule compare it with the daily walk) for ~1,900
        # offset look-ups instead of 10,600, ~40 ms less per zone at each validate.
        # A change and its reversal within one week would go unseen; no zone has
        # one (Morocco's Ramadan breaks, the closest, last about a month).
        step = min(_WEEK, end - day)
        if _offset(day + step, zone) == previous:
            day += step
            continue
        for _ in range(step.days):
            after = day + _ONE_DAY
            offset = _offset(after, zone)
            if offset != previous:
                low, high = day, after  # the first minute of the new offset, by bisection
                while high - low > timedelta(minutes=1):
                    middle = low + (high - low) / 2
                    same = middle.astimezone(zone).utcoffset() == previous
                    low, high = (middle, high) if same else (low, middle)
                wall = (high + previous).replace(tzinfo=None, second=0, microsecond=0)
                found.append((wall, (offset - previous) // timedelta(minutes=1)))
            day, previous = after, offset
    return tuple(found)


@lru_cache(maxsize=1024)
def _changes_most(expression: str, span: int, zone: ZoneInfo) -> int:
    """The most fires in `span` real minutes (at most a day) of a zone with changes,
    counted at each of its real changes of 2025-2053 on the real dates.

    Exact where the day-exact count one jump longer is not: that one does not
    know at what time of day, or on which day, the clock jumps (`* 2 * * *` in
    New York never fires in its repeated hour, 01:00-01:59).
    """
    parsed = CronSim(expression, datetime(2001, 1, 1))
    times = [False] * _DAY
    for minute in (h * 60 + m for h in parsed.hours for m in parsed.minutes):
        times[minute] = True
    fields = expression.split()
    real_time = fields[0].startswith("*") or fields[1].startswith("*")
    best = _cron_most(expression, span)  # windows clear of every change
    for wall, change in _changes(zone):
        midnight = wall.replace(hour=0, minute=0)
        matching = {
            offset: (day := (midnight + timedelta(days=offset)).date()).month in parsed.months
            and parsed.match_day(day)
            for offset in (-2, -1, 0, 1, 2)
        }

        def fires(first: int, last: int, matching: dict[int, bool] = matching) -> list[int]:
            """Local minutes [first, last) from the change day's midnight: 1 for a fire."""
            return [int(times[m % _DAY] and matching[m // _DAY]) for m in range(first, last)]

        leaves = wall.hour * 60 + wall.minute
        if change > 0:  # the clock skips [leaves, lands)
            lands = leaves + change
            # A fixed-time job's skipped fires come together at the first minute after.
            first = fires(lands, lands + 1) if real_time else [int(any(fires(leaves, lands + 1)))]
            minutes = fires(leaves - span, leaves) + first + fires(lands + 1, lands + span)
        else:  # the clock goes back to leaves + change and reads that stretch again
            again = fires(leaves + change, leaves + change + span)
            if not real_time:  # a fixed-time job fires once, in the first pass
                again[:-change] = [0] * min(-change, span)
            minutes = fires(leaves - span, leaves) + again
        best = max(best, _busiest(minutes, span))
    return best


def _busiest(minutes: list[int], span: int) -> int:
    """The largest sum of `span` consecutive items."""
    best = total = sum(minutes[:span])
    for index in range(span, len(minutes)):
        total += minutes[index] - minutes[index - span]
        best = max(best, total)
    return best


_ONE_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)


def _offset(moment: datetime, zone: ZoneInfo) -> timedelta:
    return moment.astimezone(zone).utcoffset() or timedelta(0)


@lru_cache(maxsize=1024)
def _cron_most(expression: str, span: int) -> int:
    """The most fires in `span` consecutive minutes of the local clock."""
    parsed = CronSim(expression, datetime(2001, 1, 1))
    times = sorted(h * 60 + m for h in parsed.hours for m in parsed.minutes)
    matching, prefix = _days(expression)
    if not times or not matching:
        return 0
    per_day = len(times)
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


@lru_cache(maxsize=64)
def _days(expression: str) -> tuple[tuple[bool, ...], tuple[int, ...]]:
    """The cycle's matching days, and prefix[i]: matching days before day i.

    Walked once per expression: its spans (spring, autumn, another window) share it.
    """
    matching = _matching_days(CronSim(expression, datetime(2001, 1, 1)))
    prefix = [0]
    for matched in matching:
        prefix.append(prefix[-1] + matched)
    return tuple(matching), tuple(prefix)


def _matching_days(parsed: CronSim) -> list[bool]:
    """Whether each day of the cycle matches the month, day-of-month and day-of-week fields."""
    months = parsed.months
    if parsed.parts[3] == "*" and parsed.parts[5] == "*":
        # Every day of a matching month (match_day would say yes 10,000 times: ~10 ms)
        return [day.month in months for day in _cycle()]
    return [day.month in months and parsed.match_day(day) for day in _cycle()]


@cache
def _cycle() -> tuple[date, ...]:
    """The days of the cycle, made once for every expression."""
    return tuple(map(date.fromordinal, range(_CYCLE_START.toordinal(), _CYCLE_END.toordinal())))

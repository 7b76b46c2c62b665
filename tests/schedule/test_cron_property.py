"""Our cron fire times against an independent implementation, on thousands of random crontabs.

The oracle, used only here: this file's own expansion of each field into
the plain list of values Vixie cron means (ranges, steps, `a/n`, names,
7 = Sunday), handed to `croniter` with Vixie's day rule spelled out
(`day_or`: day of month OR day of week unless either field starts with
`*`). So the syntax is checked against an expander written from the
crontab(5) man page, and the calendar walk, the OR/AND rule and time zones
against croniter; neither shares code with cronsim.

Every generated expression mixes `*`, `*/n`, `a-b`, `a-b/n` (steps wider
than their range too), `a/n`, lists, month and day names, 0-7 for the day
of week, and both day fields restricted.

Exactness: in UTC and fixed-offset zones every fire time must be equal.
In zones with DST the two libraries legitimately differ only at the
transitions (a fixed-time job in a skipped or repeated hour: croniter has
its own rule), so there fire times within 3 hours of a transition are left
out of both lists and everything else must be equal; the transition
behaviour itself is pinned by hand-written cases in test_fires.py. Start
times are random over 2026-2030, and in DST zones half of them lie within
two days of a transition.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from smsops.config.models import Trigger
from smsops.schedule.cron import CronTextError
from smsops.schedule.fires import fire_times

RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
FIXED_ZONES = ["UTC", "Asia/Kolkata", "America/Sao_Paulo"]  # Sao Paulo: no DST since 2019
DST_ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe"]
CASES_PER_ZONE = 600
FIRES = 8
NEAR_TRANSITION = timedelta(hours=3)


def value(rng: random.Random, field: int) -> str:
    low, high = RANGES[field]
    number = rng.randint(low, high)
    if field == 3 and rng.random() < 0.3:
        return MONTHS[number - 1]
    if field == 4 and rng.random() < 0.3:
        return DAYS[number % 7]
    return str(number)


def number(text: str, field: int) -> int:
    if field == 3 and text in MONTHS:
        return MONTHS.index(text) + 1
    if field == 4 and text in DAYS:
        return DAYS.index(text)
    return int(text)


def item(rng: random.Random, field: int) -> str:
    low, high = RANGES[field]
    kind = rng.randrange(6)
    if kind == 0:
        return "*"
    if kind == 1:
        return f"*/{rng.randint(1, high - low + 2)}"
    first, second = sorted((value(rng, field), value(rng, field)), key=lambda v: number(v, field))
    if kind == 2:
        return f"{first}-{second}"
    if kind == 3:
        return f"{first}-{second}/{rng.randint(1, high - low + 2)}"
    if kind == 4:
        return first
    return f"{first}/{rng.randint(1, high - low + 1)}"


def expression(rng: random.Random) -> list[str]:
    fields = []
    for field in range(5):
        items = [item(rng, field) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
        fields.append(",".join(items))
    return fields


def expand(text: str, field: int) -> str:
    """The values crontab(5) gives a field, as a plain list (Sunday as 0)."""
    low, high = RANGES[field]
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            start, end = (number(v, field) for v in base.split("-"))
        else:
            start = number(base, field)
            end = high if step_text else start  # `a/n` runs to the field's end
        values.update(range(start, end + 1, step))
    if field == 4:
        values = {v % 7 for v in values}
    return ",".join(str(v) for v in sorted(values))


def ours(text: str, start: datetime, zone: ZoneInfo) -> list[datetime] | None:
    try:
        fires = fire_times(Trigger(cron=text), zone)
        found: list[datetime] = []
        cursor = start
        while len(found) < FIRES and (fire := fires.next_after(cursor)) is not None:
            found.append(fire)
            cursor = fire
        return found or None
    except CronTextError:
        return None


def theirs(fields: list[str], start: datetime, zone: ZoneInfo) -> list[datetime] | None:
    plain = " ".join(expand(text, field) for field, text in enumerate(fields))
    day_or = not (fields[2].startswith("*") or fields[4].startswith("*"))
    try:
        it = croniter(plain, start.astimezone(zone), day_or=day_or)
        return [it.get_next(datetime) for _ in range(FIRES)]
    except Exception:  # croniter's "no such date" errors have several types
        return None


def transitions(zone: ZoneInfo) -> list[datetime]:
    """Instants (to the minute) where the zone's UTC offset changes, 2025-2031."""
    found = []
    day = datetime(2025, 1, 1, tzinfo=UTC)
    while day.year < 2032:
        after = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset():
            low, high = day, after
            while high - low > timedelta(minutes=1):
                mid = low + (high - low) / 2
                same = mid.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset()
                low, high = (mid, high) if same else (low, mid)
            found.append(high.replace(second=0, microsecond=0))
        day = after
    return found


def starts(rng: random.Random, zone: ZoneInfo, changes: list[datetime]) -> datetime:
    if changes and rng.random() < 0.5:
        near = rng.choice(changes) + timedelta(minutes=rng.randint(-2880, 2880))
        return near + timedelta(seconds=rng.randint(0, 59))
    offset = timedelta(minutes=rng.randint(0, 5 * 366 * 1440), seconds=rng.randint(0, 59))
    return datetime(2026, 1, 1, tzinfo=UTC) + offset


@pytest.mark.parametrize("zone_name", FIXED_ZONES + DST_ZONES)
def test_random_crontabs_agree_with_an_independent_implementation(zone_name: str) -> None:
    zone = ZoneInfo(zone_name)
    changes = transitions(zone)
    rng = random.Random(f"cron-{zone_name}")
    checked = 0
    for _ in range(CASES_PER_ZONE):
        fields = expression(rng)
        text = " ".join(fields)
        start = starts(rng, zone, changes)
        mine, other = ours(text, start, zone), theirs(fields, start, zone)
        assert (mine is None) == (other is None), (text, start, mine, other)
        if mine is None or other is None:
            continue
        if changes:
            horizon = min(mine[-1], other[-1])

            def away(fires: list[datetime], horizon: datetime = horizon) -> list[datetime]:
                return [
                    f
                    for f in fires
                    if f <= horizon and all(abs(f - c) > NEAR_TRANSITION for c in changes)
                ]

            mine, other = away(mine), away(other)
        assert mine == other, f"{text!r} in {zone_name} after {start}"
        checked += len(mine)
    assert checked > CASES_PER_ZONE  # most cases compared real fire times

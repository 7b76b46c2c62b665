"""The window-fire cap: the count computed without walking equals a walk of the real fires."""

from __future__ import annotations

import random
import zoneinfo
from datetime import UTC, datetime, timedelta
from itertools import islice, takewhile
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim

from smsops.config.models import Trigger
from smsops.schedule.cron import normalise
from smsops.schedule.density import (
    _CYCLE_END,
    _CYCLE_START,
    MAX_FIRES_PER_WINDOW,
    _bound,
    _changes,
    _cycle,
    _matching_days,
    dst_jump,
    most_fires_in,
    too_many_fires,
)
from smsops.schedule.fires import fire_times, fires_between
from tests.schedule.test_cron_property import expression


def busiest(fires: list[datetime], window: timedelta) -> int:
    """The most of `fires` (sorted) that any window (t - window, t] holds."""
    most, first = 0, 0
    for last, fire in enumerate(fires):
        while fires[first] <= fire - window:
            first += 1
        most = max(most, last - first + 1)
    return most


@pytest.mark.parametrize(
    ("trigger", "window", "expected"),
    [
        ({"at": "2027-03-01T09:00:00"}, "31d", 1),
        ({"every": "1h"}, "1h", 1),
        ({"every": "1h"}, "61m", 2),
        ({"every": "1s"}, "31d", 31 * 86400),
        ({"every": "7m"}, "100m", 15),
        ({"every": "24h", "timezone": "Europe/London"}, "24h", 2),  # 23 hours apart in spring
        ({"every": "24h"}, "24h", 1),
        ({"cron": "* * * * *"}, "1h", 60),
        ({"cron": "* * * * *"}, "90s", 2),
        ({"cron": "0 9 * * *"}, "31d", 31),
        ({"cron": "0 9 * * MON-FRI"}, "7d", 5),
        ({"cron": "0 9 1,15 * 1"}, "31d", 8),  # 1st, 15th and every Monday
        ({"cron": "0 0 29 2 *"}, "31d", 1),
        ({"cron": "@hourly", "timezone": "Europe/London"}, "2h", 3 + 1),  # +1h DST, +1h twice
        ({"cron": "0 9 * * *", "timezone": "Europe/London"}, "1d", 2),  # a 23-hour day
        ({"cron": "0 9 * * *", "timezone": "recipient"}, "1d", 2),
    ],
)
def test_most_fires_in_a_window(trigger: dict[str, str], window: str, expected: int) -> None:
    model = Trigger.model_validate(trigger)
    zone = None if model.timezone == "recipient" else ZoneInfo(model.timezone)
    length = Trigger.model_validate({"every": window}).every
    assert length is not None
    assert most_fires_in(model, length, zone) == expected


def test_the_cap_is_computed_not_walked() -> None:
    """`* * * * *` over 31 days is 44,640 fires: counted in well under a second."""
    started = datetime.now(UTC)
    assert most_fires_in(Trigger(cron="* * * * *"), timedelta(days=31), ZoneInfo("UTC")) == 44640
    assert datetime.now(UTC) - started < timedelta(seconds=2)


def test_the_cheap_bound_decides_as_the_exact_count() -> None:
    """`too_many_fires` (a bound first, the count only above it) refuses exactly what
    `most_fires_in` over the cap refuses, with the same count, on generated triggers:
    cron texts, intervals and one-off times, in zones with and without DST and for
    `timezone: recipient`; the bound is never under the count."""
    rng = random.Random("bound")
    zones = [ZoneInfo(n) for n in ("UTC", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata")]
    minutes = [1, 7, 59, 60, 61, 90, 100, 101, 120, 300, 1439, 1440, 2000, 10080, 44640]
    crons = [" ".join(expression(rng)) for _ in range(40)]  # each counted once (cached)
    refused = decided = 0
    for case in range(240):
        kind = case % 6
        if kind < 4:
            trigger = Trigger(cron=rng.choice(crons))
        elif kind == 4:
            trigger = Trigger(
                every=timedelta(minutes=rng.choice(minutes[:11]) * rng.choice([1, 60]))
            )
        else:
            trigger = Trigger(every=timedelta(days=rng.choice([1, 2, 7])))
        window = timedelta(minutes=rng.choice(minutes), seconds=rng.choice([0, 0, 30]))
        zone = rng.choice([*zones, None])
        try:
            most = most_fires_in(trigger, window, zone)
        except ValueError:
            continue  # cron text that never fires
        assert _bound(trigger, window) >= most, (trigger, window, zone)
        expected = most if most > MAX_FIRES_PER_WINDOW else None
        assert too_many_fires(trigger, window, zone) == expected, (trigger, window, zone)
        refused += expected is not None
        decided += _bound(trigger, window) <= MAX_FIRES_PER_WINDOW
    assert refused > 20, refused  # both paths, many times
    assert decided > 80, decided
    at = Trigger(at=datetime(2027, 3, 1, 9))
    assert _bound(at, timedelta(days=31)) == 1
    assert too_many_fires(at, timedelta(days=31), None) is None


def test_random_crontabs_in_utc_match_a_walk() -> None:
    """Exact in a zone without DST: the busiest window of a walk over a year never holds
    more than the computed count, and for most expressions exactly as many."""
    rng = random.Random("density")
    checked = exact = 0
    while checked < 80:
        text = " ".join(expression(rng))
        window = timedelta(minutes=rng.choice([1, 7, 59, 60, 61, 300, 1440, 2000]))
        try:
            computed = most_fires_in(Trigger(cron=text), window, ZoneInfo("UTC"))
        except ValueError:
            continue  # cron text that never fires
        walk = CronSim(normalise(text), datetime(2027, 1, 1, tzinfo=UTC))
        fires = list(takewhile(lambda f: f.year < 2028, islice(walk, 20000)))
        if len(fires) == 20000:
            continue  # too dense to walk a year of it here
        walked = busiest(fires, window)
        # A year need not hold the 28-year cycle's busiest stretch (a leap day on a
        # Monday...), so the walk may find less, never more.
        assert walked <= computed, text
        checked += 1
        exact += walked == computed
    assert exact > 60


def transitions_2027(zone: ZoneInfo) -> list[datetime]:
    day, found = datetime(2027, 1, 1, tzinfo=UTC), []
    while day.year < 2028:
        if (
            day.astimezone(zone).utcoffset()
            != (day + timedelta(days=1)).astimezone(zone).utcoffset()
        ):
            found.append(day)
        day += timedelta(days=1)
    return found


@pytest.mark.parametrize("zone_name", ["Europe/London", "Australia/Lord_Howe", "America/New_York"])
@pytest.mark.parametrize("cron", ["* 1 * * *", "*/5 0-3 * * *", "30 1 * * *", "0,30 * * * 0"])
def test_in_dst_zones_the_count_covers_the_changes(zone_name: str, cron: str) -> None:
    """Around each DST change of 2027, no real window holds more than the computed count."""
    zone = ZoneInfo(zone_name)
    trigger = Trigger(cron=cron)
    times = fire_times(trigger, zone)
    for change in transitions_2027(zone):
        fires = fires_between(times, change - timedelta(days=3), change + timedelta(days=3))
        # In UTC: aware times of one zone compare on the wall clock, which would put
        # both passes of a repeated hour in one window.
        fires = [fire.astimezone(UTC) for fire in fires]
        for window in (timedelta(minutes=30), timedelta(hours=2), timedelta(hours=25)):
            assert busiest(fires, window) <= most_fires_in(trigger, window, zone)


def test_dst_jumps() -> None:
    assert dst_jump(ZoneInfo("UTC")) == timedelta(0)
    assert dst_jump(ZoneInfo("Asia/Kolkata")) == timedelta(0)
    assert dst_jump(ZoneInfo("Europe/London")) == timedelta(hours=1)
    assert dst_jump(ZoneInfo("Australia/Lord_Howe")) == timedelta(minutes=30)


def test_the_cap_is_about_a_hundred() -> None:
    assert MAX_FIRES_PER_WINDOW == 100


def _daily_changes(zone: ZoneInfo) -> list[tuple[datetime, int]]:
    """The reference: the UTC offset at every midnight UTC of 2025-2053, compared day to
    day; each change found by bisection to the minute (wall time left, minutes)."""
    found = []
    day = datetime(2025, 1, 1, tzinfo=UTC)
    previous = day.astimezone(zone).utcoffset() or timedelta(0)
    while day.year < 2054:
        after = day + timedelta(days=1)
        offset = after.astimezone(zone).utcoffset() or timedelta(0)
        if offset != previous:
            low, high = day, after
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                same = middle.astimezone(zone).utcoffset() == previous
                low, high = (middle, high) if same else (low, middle)
            wall = (high + previous).replace(tzinfo=None, second=0, microsecond=0)
            found.append((wall, (offset - previous) // timedelta(minutes=1)))
        day, previous = after, offset
    return found


# Morocco's Ramadan breaks (changes ~30 days apart), a 2-hour jump (Troll), half
# hours (Lord Howe), the southern hemisphere, zones with no DST, and a sample of the rest.
_ZONES = sorted(
    {"Africa/Casablanca", "Antarctica/Troll", "Australia/Lord_Howe", "America/Santiago"}
    | {"Pacific/Chatham", "Asia/Tehran", "Europe/Dublin", "Asia/Gaza", "UTC"}
    | set(sorted(zoneinfo.available_timezones())[::40])
)


@pytest.mark.parametrize("name", _ZONES)
def test_offset_changes_equal_the_day_by_day_walk(name: str) -> None:
    zone = ZoneInfo(name)
    daily = _daily_changes(zone)
    assert list(_changes(zone)) == daily
    jumps = [timedelta(minutes=m) for _, m in daily]
    assert dst_jump(zone) == max(jumps, default=timedelta(0))


@pytest.mark.parametrize(
    "cron", ["0 9 * * *", "*/5 * * 2 *", "0 0 29 2 *", "0 0 * * 5", "0 0 */10 * *", "0 0 1 * 1"]
)
def test_matching_days_equal_cronsim_day_by_day(cron: str) -> None:
    parsed = CronSim(normalise(cron), datetime(2001, 1, 1))
    days = _cycle()
    assert days[0] == _CYCLE_START
    assert days[-1] == _CYCLE_END - timedelta(days=1)
    assert _matching_days(parsed) == [
        d.month in parsed.months and parsed.match_day(d) for d in days
    ]

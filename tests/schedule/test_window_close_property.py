"""Which windows have closed, checked against croniter on many random schedules.

`closed_between` (what a catch-up records `expired`), `missed_since` (what
a restart counts as missed) and `window_closes` (when one occurrence's
window closes) are computed from our fire times with interval arithmetic.
The oracle here walks croniter's fire times one by one and applies each
rule as docs/concepts.md words it, with no shared code: a window closes at fire +
window; a catch-up over (since, until] records the fires whose window closed
in it, the newest `CLOSED_KEPT`; a restart counts the fires after the
ledger's newest occurrence whose window closed by now, a week back at most.

Zones are UTC and fixed-offset ones (Asia/Kolkata): fire times at DST
transitions are croniter's own rule (see test_cron_property.py), not what
is checked here. Windows run from a minute to three days, spans from
nothing to two days (a third of the restarts: past the week-long look-back),
so windows far longer than the interval (overlapping occurrences), the
100-window bound and the look-back all come up.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from smsops.config.models import Schedule
from smsops.schedule.occurrences import (
    CLOSED_KEPT,
    LOOKBACK,
    closed_between,
    missed_since,
    occurrence_label,
    window_closes,
)

ZONES = ["UTC", "Asia/Kolkata"]
CASES = 120


def crontab(rng: random.Random, sparse: bool = False) -> str:
    """A random crontab; `sparse`: at most two fires an hour (long spans stay cheap to walk)."""
    minutes = ["*", f"*/{rng.randint(2, 30)}"] * (not sparse) + [f"{rng.randint(0, 59)}", "5,35"]
    minute = rng.choice(minutes)
    hour = rng.choice(["*", f"*/{rng.randint(2, 12)}", f"{rng.randint(0, 23)}", "8-17"])
    weekday = rng.choice(["*", "*", "1-5", "0,6"])
    return f"{minute} {hour} * * {weekday}"


def oracle_fires(expr: str, zone: str, after: datetime, until: datetime) -> list[datetime]:
    """croniter's fire times in (after, until], in UTC."""
    walk = croniter(expr, after.astimezone(ZoneInfo(zone)))
    fires = []
    while (fire := walk.get_next(datetime).astimezone(UTC)) <= until:
        fires.append(fire)
    return fires


def case(
    seed: int, zone: str, long: bool = False
) -> tuple[str, Schedule, timedelta, datetime, datetime]:
    """A schedule and a span; `long`: a span past the look-back (a week and up to 3 days)."""
    rng = random.Random(seed)
    expr = crontab(rng, sparse=long)
    window = timedelta(minutes=rng.choice([1, 7, 30, 60, 61, 240, 1440, 4320]))
    schedule = Schedule.model_validate(
        {
            "template": "t",
            "audience": "a",
            "provider": "p",
            "trigger": {"cron": expr, "timezone": zone},
            "window": f"{int(window.total_seconds() // 60)}m",
        }
    )
    since = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(2 * 365 * 86400))
    span = LOOKBACK + timedelta(days=rng.randint(0, 3)) if long else timedelta(days=2)
    until = since + timedelta(seconds=rng.randrange(int(span.total_seconds())))
    return expr, schedule, window, since, until


@pytest.mark.parametrize("zone", ZONES)
def test_closed_between_agrees_with_a_walk_of_croniter(zone: str) -> None:
    for seed in range(CASES):
        expr, schedule, window, since, until = case(seed, zone)
        fires = oracle_fires(expr, zone, since - window - timedelta(minutes=1), until)
        closed = [f for f in fires if since < f + window <= until]
        expected = closed[-CLOSED_KEPT:]
        got = closed_between(schedule, since, until)
        assert got == expected, (seed, expr, window, since, until)
        for fire in got[:5]:
            assert window_closes(schedule, occurrence_label(fire)) == fire + window


@pytest.mark.parametrize("zone", ZONES)
def test_missed_since_agrees_with_a_walk_of_croniter(zone: str) -> None:
    for seed in range(CASES):
        expr, schedule, window, newest, now = case(seed, zone, long=seed % 3 == 0)
        fires = oracle_fires(expr, zone, newest, now)
        expected = [f for f in fires if f + window <= now and f + window > now - LOOKBACK]
        got = missed_since(schedule, newest, now)
        assert got == expected, (seed, expr, window, newest, now)

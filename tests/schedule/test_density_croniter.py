"""The window-fire cap checked against croniter: never below a count croniter finds, and
never a refusal croniter cannot back with a window that holds more than the cap.

Random Vixie expressions (test_cron_property's generator and expander), random windows
and zones with every kind of change (1 hour at 01:00, 02:00 or midnight, 30 minutes on
Lord Howe). croniter's fire times are the oracle, read with the one rule where it
knowingly differs from ours (test_cron_property.py): in a repeated autumn hour a
fixed-time job fires once, the first time, where croniter fires it in both passes.
"""

from __future__ import annotations

import random
from collections import deque
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from smsops.config.models import Trigger
from smsops.schedule.cron import CronTextError
from smsops.schedule.density import MAX_FIRES_PER_WINDOW, most_fires_in
from tests.schedule.test_cron_property import expand, expression, transitions
from tests.schedule.test_density import busiest

ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Africa/Casablanca",
]
WINDOWS = [1, 2, 5, 30, 60, 61, 90, 120, 150, 180, 240, 360]  # minutes
CASES = 160


class Oracle:
    """croniter's fire times of one expression in one zone, in UTC."""

    def __init__(self, fields: list[str], zone: ZoneInfo) -> None:
        self.plain = " ".join(expand(text, field) for field, text in enumerate(fields))
        self.day_or = not (fields[2].startswith("*") or fields[4].startswith("*"))
        self.fixed = not (fields[0].startswith("*") or fields[1].startswith("*"))
        self.zone = zone

    def fires(self, start: datetime, end: datetime, cap: int) -> list[datetime]:
        """Fire times in (start, end], at most `cap` of them."""
        walk = croniter(self.plain, start.astimezone(self.zone), day_or=self.day_or)
        found: list[datetime] = []
        seen: set[datetime] = set()
        while len(found) < cap:
            fire = walk.get_next(datetime)
            if fire.astimezone(UTC) > end:
                break
            wall = fire.replace(tzinfo=None)
            if self.fixed and wall in seen:
                continue  # the second pass of a repeated hour (see the module doc)
            seen.add(wall)
            found.append(fire.astimezone(UTC))
        return sorted(set(found))

    def holds_more(self, window: timedelta, most: int) -> bool:
        """Whether a window among the first 6,000 fires from 2026 holds more than `most`."""
        start = datetime(2026, 1, 1, tzinfo=UTC).astimezone(self.zone)
        walk = croniter(self.plain, start, day_or=self.day_or)
        held: deque[datetime] = deque()
        seen: set[datetime] = set()
        for _ in range(6000):
            fire = walk.get_next(datetime)
            wall = fire.replace(tzinfo=None)
            if self.fixed and wall in seen:
                continue  # the second pass of a repeated hour (see the module doc)
            seen.add(wall)
            held.append(fire.astimezone(UTC))
            while held[0] <= held[-1] - window:
                held.popleft()
            if len(held) > most:
                return True
        return False


def cases() -> list[tuple[str, list[str], ZoneInfo, timedelta]]:
    rng = random.Random("density-croniter")
    found = []
    while len(found) < CASES:
        fields = expression(rng)
        zone = ZoneInfo(rng.choice(ZONES))
        window = timedelta(minutes=rng.choice(WINDOWS))
        found.append((" ".join(fields), fields, zone, window))
    return found


@pytest.mark.parametrize("case", range(0, CASES, 20))
def test_the_cap_covers_and_is_backed_by_croniter(case: int) -> None:
    rng = random.Random(f"density-croniter-{case}")
    checked = 0
    for text, fields, zone, window in cases()[case : case + 20]:
        try:
            computed = most_fires_in(Trigger(cron=text), window, zone)
            for_recipient = most_fires_in(Trigger(cron=text, timezone="recipient"), window, None)
            oracle = Oracle(fields, zone)
            oracle.fires(datetime(2026, 1, 1, tzinfo=UTC), datetime(2036, 1, 1, tzinfo=UTC), 1)
        except (ValueError, CronTextError):
            continue  # never fires
        except Exception:  # croniter's "no such date" errors have several types
            continue
        seen = 0
        # Windows around every change of 2026-2029, then windows opening at random fires.
        for change in (t for t in transitions(zone) if 2026 <= t.year <= 2029):
            margin = window + timedelta(minutes=10)
            fires = oracle.fires(change - margin, change + margin, 3000)
            seen = max(seen, busiest(fires, window))
        for _ in range(6):
            start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(4 * 525_600))
            first = oracle.fires(start, start + timedelta(days=3660), 1)
            if first:
                opened = first[0] - timedelta(seconds=1)
                seen = max(seen, len(oracle.fires(opened, opened + window, 101)))
        assert seen <= computed, (text, zone, window)
        assert seen <= for_recipient, (text, zone, window)
        if computed > MAX_FIRES_PER_WINDOW:
            # Refused: croniter must show a window that holds more than the cap.
            assert oracle.holds_more(window, MAX_FIRES_PER_WINDOW), (text, zone, window)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize(
    "zone_name", ["Europe/London", "America/New_York", "Australia/Lord_Howe", "recipient"]
)
@pytest.mark.parametrize(("window", "most"), [("1m", 1), ("90s", 2), ("1h", 60), ("100m", 100)])
def test_a_window_of_w_minutes_holds_at_most_w_minute_fires(
    zone_name: str, window: str, most: int
) -> None:
    """The finding: `* * * * *` with `window: 1m` was refused in every DST zone ("can
    hold 121 fires"); a real window of W minutes holds at most ceil(W / 1 min)."""
    trigger = Trigger(cron="* * * * *", timezone=zone_name)
    length = Trigger.model_validate({"every": window}).every
    assert length is not None
    zone = None if zone_name == "recipient" else ZoneInfo(zone_name)
    assert most_fires_in(trigger, length, zone) == most

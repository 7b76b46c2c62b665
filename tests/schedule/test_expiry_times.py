"""When an occurrence's window closes, and which occurrences closed between two times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from smsops.config.models import Schedule
from smsops.schedule.occurrences import CLOSED_KEPT, ONCE, closed_between, window_closes

T = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def schedule(trigger: dict[str, object] | None, window: str | None = "10m") -> Schedule:
    return Schedule.model_validate(
        {"template": "t", "audience": "a", "provider": "p", "trigger": trigger, "window": window}
    )


def test_a_window_closes_one_window_after_its_fire() -> None:
    every = schedule({"every": "1h"})
    assert window_closes(every, "2026-11-22T09:00:00Z") == T + timedelta(minutes=10)
    assert window_closes(schedule(None, None), ONCE) is None


def test_a_recipient_local_window_closes_first_in_the_earliest_zone() -> None:
    local = schedule({"cron": "0 9 * * *", "timezone": "recipient"})
    zones = (ZoneInfo("America/New_York"), ZoneInfo("Europe/London"))
    closes = window_closes(local, "2026-11-22T09:00:00", zones)
    assert closes == T + timedelta(minutes=10)  # 09:10 London comes before 09:10 New York
    assert closed_between(local, T, T + timedelta(days=1)) == []  # the sender finds these


def test_closed_between_is_the_fires_whose_window_closed_in_the_span() -> None:
    every = schedule({"every": "1h"})
    # windows closing at 09:10, 10:10, 11:10: (09:10, 11:10] holds the last two
    found = closed_between(every, T + timedelta(minutes=10), T + timedelta(hours=2, minutes=10))
    assert found == [T + timedelta(hours=1), T + timedelta(hours=2)]
    # a window still open is not closed yet
    assert closed_between(every, T, T + timedelta(minutes=9)) == []
    assert closed_between(schedule(None, None), T, T + timedelta(days=1)) == []


def test_closed_between_keeps_only_the_newest() -> None:
    minutely = schedule({"every": "1m"}, "1m")
    found = closed_between(minutely, T, T + timedelta(days=1))
    assert len(found) == CLOSED_KEPT
    assert found[-1] == T + timedelta(days=1) - timedelta(minutes=1)
    assert found == sorted(found)

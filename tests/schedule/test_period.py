"""A schedule's period (smsops_schedule_period_seconds): the longest gap between its fires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smsops.config.models import Schedule
from smsops.schedule.period import longest_gap

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday


def schedule(trigger: dict[str, Any] | None, **more: Any) -> Schedule:
    fields: dict[str, Any] = {"template": "t", "audience": "a", "provider": "p", **more}
    if trigger is not None:
        fields["trigger"] = trigger
    return Schedule.model_validate(fields)


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        ({"every": "1h"}, timedelta(hours=1)),
        (
            {"every": "24h", "start": "2026-01-01T18:00:00", "timezone": "Europe/Lisbon"},
            timedelta(days=1),  # a calendar day in Lisbon
        ),
        ({"every": "24h", "timezone": "recipient"}, None),  # each recipient's own day
        ({"cron": "*/15 * * * *"}, timedelta(minutes=15)),
        # weekdays at 09:00: Friday to Monday is the longest gap, so an alert at
        # twice the period never fires over a weekend
        ({"cron": "0 9 * * MON-FRI"}, timedelta(days=3)),
        ({"at": "2026-05-01T09:00:00"}, None),  # fires once: no period
    ],
)
def test_the_period_is_the_longest_gap_between_coming_fires(
    trigger: dict[str, Any], expected: timedelta | None
) -> None:
    assert longest_gap(schedule(trigger), NOW) == expected


def test_a_schedule_without_a_trigger_has_no_period() -> None:
    assert longest_gap(schedule(None), NOW) is None

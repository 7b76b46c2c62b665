"""The forecast's part of the PR comment keeps the comment's guarantees at any size."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from smsops.engine.forecast import DayTotal, Forecast, ScheduleForecast, Spread
from smsops.engine.plan import Plan
from smsops.report.forecast_markdown import FORECAST_SHARE, forecast_markdown
from smsops.report.plan_markdown import MARKDOWN_LIMIT, as_markdown
from tests.report.gfm import render
from tests.report.test_plan_markdown import HOSTILE, NOTES, plan_of

AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def _forecast(count: int) -> tuple[Plan, Forecast]:
    schedules, forecasts = [], []
    hostile = list(HOSTILE.values())
    for i in range(count):
        name = hostile[i % len(hostile)] + str(i)
        planned = plan_of(hostile[:3], schedule=name, skips=((name, name),), currency=name)
        (s,) = planned.schedules
        schedules.append(s)
        spread = Spread({name: 2, "Asia/Tokyo": 1}, AT, AT + timedelta(hours=9))
        day = DayTotal(date(2026, 11, 23), 1, 3, 3, {name: Decimal("0.5")})
        forecasts.append(
            ScheduleForecast(
                name, i % 2 == 0, True, True, [name] * 3, 10_001, True, name, s, spread, [day]
            )
        )
    return Plan(AT, schedules), Forecast(AT, timedelta(days=7), forecasts)


def test_the_forecast_for_2000_hostile_schedules_stays_within_its_share_and_inert() -> None:
    plan, forecast = _forecast(2000)
    section = forecast_markdown(forecast)
    assert len(section) < FORECAST_SHARE
    assert "more schedules are not in this table" in section
    assert "schedules are not detailed here in the forecast" in section
    markdown = as_markdown(plan, section)
    assert len(markdown) < MARKDOWN_LIMIT
    render(markdown).assert_inert(notes=NOTES)


def test_a_small_forecast_is_whole_and_inert() -> None:
    plan, forecast = _forecast(4)
    markdown = as_markdown(plan, forecast_markdown(forecast))
    assert "not in this table" not in markdown
    assert "not detailed" not in markdown
    assert "(disabled: sends nothing" in markdown
    render(markdown).assert_inert(notes=NOTES)

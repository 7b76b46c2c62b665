"""The forecast (engine/forecast.py) as JSON and as rich-markup text.

The next occurrence of each schedule is a `SchedulePlan` planned as if due,
so it is shown with the due-now plan's own pieces (sends, samples, skips):
one wording for both. Numbers are masked, outside text escaped, as there.
"""

from __future__ import annotations

from typing import Any

from smsops.core.units import format_duration
from smsops.engine.forecast import DayTotal, Forecast, ScheduleForecast
from smsops.engine.plan import Disposition
from smsops.report.plan_format import (
    approval_sentence,
    cost_text,
    over_json,
    rendered_json,
    shown,
    text_sends,
    text_skips,
    utc,
)
from smsops.report.wording import exclusions_text, plural

DAYS_SHOWN = 8  # in the text view (the horizon's days, partial first and last; JSON: all)


def forecast_json(forecast: Forecast) -> dict[str, Any]:
    """The `forecast` member of `smsops plan --format json` (format_version 1, additive)."""
    return {
        "horizon": format_duration(forecast.horizon),
        "until": utc(forecast.end),
        "messages": forecast.messages,
        "segments": forecast.segments,
        "cost": forecast.cost(),
        "capped": forecast.capped,
        "needs_approval": [s.schedule for s in forecast.needs_approval()],
        "per_day": [_day_json(day) for day in forecast.per_day()],
        "schedules": [_schedule_json(s) for s in forecast.schedules],
    }


def _day_json(day: DayTotal) -> dict[str, Any]:
    return {
        "day": day.day.isoformat(),
        "fires": day.fires,
        "messages": day.messages,
        "segments": day.segments,
        "cost": day.cost,
    }


def _schedule_json(s: ScheduleForecast) -> dict[str, Any]:
    nxt = s.next
    return {
        "schedule": s.schedule,
        "enabled": s.enabled,
        "triggered": s.triggered,
        "recipient_local": s.recipient_local,
        "fires": s.fires,
        "fire_count": s.fire_count,
        "capped": s.capped,
        "next_occurrence": s.next_occurrence,
        "needs_approval": over_json(s.over_limits),
        "next": None
        if nxt is None
        else {
            "to_send": nxt.to_send,
            "counts": {d.value: nxt.counts[d] for d in Disposition if nxt.counts[d]},
            "exclusions": nxt.exclusions,
            **rendered_json(nxt, occurrence=False),
        },
        "spread": None
        if s.spread is None
        else {
            "zones": s.spread.zones,
            "earliest": utc(s.spread.earliest),
            "latest": utc(s.spread.latest),
        },
        "per_day": [_day_json(day) for day in s.per_day],
    }


def state(s: ScheduleForecast) -> str:
    """` (disabled: sends nothing; if enabled:)` or empty: every view marks it so."""
    return (
        " (disabled: sends nothing; below, what it would send if enabled)" if not s.enabled else ""
    )


# A `once` schedule (no trigger, nothing held by quiet hours): its send is in the due-now plan.
ONCE_DUE = "sent once, from the first apply (see due now)"


def fires_phrase(s: ScheduleForecast, at_least: str = "at least ") -> str:
    """`7 fires: 2027-03-02T09:00:00Z, ...` or why there are none."""
    if not s.triggered and s.next is not None:
        return (
            f"no trigger: {s.next.to_send:,} held by quiet hours now (see due now): sent when "
            "they end, by the first run or apply after"
        )
    if not s.triggered:
        return f"no trigger: {ONCE_DUE}"
    if not s.fire_count:
        return "no fire in the horizon"
    more = ", ..." if s.fire_count > len(s.fires) else ""
    count = f"{at_least if s.capped else ''}{plural(s.fire_count, 'fire')}"
    local = " (wall times in each recipient's zone)" if s.recipient_local else ""
    return f"{count}{local}: {', '.join(s.fires)}{more}"


def next_phrase(s: ScheduleForecast, name: Any = str) -> str:
    """`next 2027-03-02T09:00:00Z, as if due`, or when a `once` schedule's held sends go."""
    if not s.triggered:
        return f"{name(s.next_occurrence or '')}, when the quiet hours end"
    return f"next {name(s.next_occurrence or '')}, as if due"


def spread_phrase(s: ScheduleForecast) -> str | None:
    if s.spread is None:
        return None
    zones = ", ".join(f"{n:,} in {zone}" for zone, n in list(s.spread.zones.items())[:5])
    more = len(s.spread.zones) - 5
    zones += f" and {more:,} more zones" if more > 0 else ""
    return (
        f"reaches recipients from {utc(s.spread.earliest)} to {utc(s.spread.latest)} "
        f"({plural(len(s.spread.zones), 'zone')}: {zones})"
    )


def days_phrase(days: list[DayTotal], currency: Any = str) -> str:
    shown_days = [
        f"{day.day.isoformat()} {day.messages:,}"
        + (f" ({cost_text(day.cost, currency)})" if day.cost and day.messages else "")
        for day in days[:DAYS_SHOWN]
    ]
    return ", ".join(shown_days) + (", ..." if len(days) > DAYS_SHOWN else "")


def total_line(forecast: Forecast, currency: Any = str) -> str:
    cost = cost_text(forecast.cost(), currency)
    at_least = "at least " if forecast.capped else ""
    return (
        f"{at_least}{plural(forecast.messages, 'message')} in the next "
        f"{format_duration(forecast.horizon)} ({plural(forecast.segments, 'segment')}"
        + (f", about {cost})" if cost and forecast.messages else ")")
    )


def forecast_text(forecast: Forecast) -> str:
    """The forecast section of the text plan (after the due-now plan)."""
    lines = [
        "",
        f"[bold]Forecast[/] to {utc(forecast.end)} (--horizon {format_duration(forecast.horizon)}"
        "; each fire counted as sending what its next one would):",
        "",
    ]
    for s in forecast.schedules:
        lines.append(f"[bold]{shown(s.schedule)}[/]{state(s)}")
        lines.append(f"  {fires_phrase(s)}")
        if s.next is not None:
            lines.append(f"  {next_phrase(s, shown)}:")
            if not s.next.to_send:
                lines.append("  nothing to send")
            lines.extend(text_sends(s.next))
            lines.extend(f"  [bold red]! needs approval: {shown(str(o))}[/]" for o in s.over_limits)
            if s.next.exclusions:
                lines.append(f"  {exclusions_text(s.next.exclusions, shown)}")
            lines.extend(text_skips(s.next))
        if (spread := spread_phrase(s)) is not None:
            lines.append(f"  {shown(spread)}")
        if s.per_day:
            lines.append(f"  per day: {days_phrase(s.per_day, shown)}")
        lines.append("")
    per_day = forecast.per_day()
    if per_day:
        lines.append(f"per day, every enabled schedule: {days_phrase(per_day, shown)}")
    over = [s.schedule for s in forecast.needs_approval()]
    if held := approval_sentence(over, shown, forecast=True):
        lines.append(f"[bold red]{held}[/]")
    lines.append(f"[bold]Forecast:[/] {total_line(forecast, shown)}.")
    return "\n".join(lines) + "\n"

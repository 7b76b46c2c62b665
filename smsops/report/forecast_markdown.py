"""The forecast as a section of the pull-request comment, within its own share of the limit.

`plan_markdown.as_markdown` places this section after the due-now table; it
is built here within `FORECAST_SHARE` characters however many schedules
there are (the table first, then details while they fit; what does not fit
is counted). The same guarantees as the rest of the comment: names, zones
and skip details are code spans, sample texts fenced code blocks, numbers
masked (see `markdown_literal`).
"""

from __future__ import annotations

from smsops.core.units import format_duration
from smsops.engine.forecast import Forecast, ScheduleForecast, next_cost
from smsops.report.forecast_format import (
    days_phrase,
    fires_phrase,
    next_phrase,
    total_line,
)
from smsops.report.markdown_parts import (
    Budget,
    currency,
    field,
    sample_lines,
    skipped_details,
    tablecurrency,
)
from smsops.report.plan_format import cost_text, utc
from smsops.report.wording import encodings_text, exclusions_text, plural, skip_counts

FORECAST_SHARE = 20_000  # of the comment's MARKDOWN_LIMIT
TABLE_SHARE = 8_000  # of FORECAST_SHARE: the rest goes to details


def forecast_markdown(forecast: Forecast) -> str:
    """The forecast section, always under FORECAST_SHARE characters."""
    head = [
        f"## Forecast to {utc(forecast.end)} (next {format_duration(forecast.horizon)})",
        "",
        f"**{total_line(forecast, currency)}**; each fire counted as sending what its next "
        "one would.",
        "",
    ]
    per_day = forecast.per_day()
    if per_day:
        head += [f"Per day, every enabled schedule: {days_phrase(per_day, currency)}", ""]
    head += [
        "| schedule | fires | next | to send | skipped | segments | cost |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    total = len(forecast.schedules)
    table = Budget(TABLE_SHARE)
    table.add("\n".join(head))
    in_table = table.add_all([_row(s) for s in forecast.schedules])
    if in_table < total:
        table.force(f"\n_{total - in_table:,} more schedules are not in this table._")
    out = Budget(FORECAST_SHARE - 200)  # room for the closing note
    out.add(table.text())
    detailed = out.add_all([_details(s) for s in forecast.schedules if s.next is not None])
    left = sum(1 for s in forecast.schedules if s.next is not None) - detailed
    if left:
        out.force(
            f"_{left:,} schedules are not detailed here in the forecast, to keep this comment "
            "short; `smsops plan --format json` has everything._\n"
        )
    return out.text()


def _row(s: ScheduleForecast) -> str:
    name = field(s.schedule, in_table=True) + ("" if s.enabled else " (disabled)")
    name += " **needs approval**" if s.over_limits else ""
    nxt = s.next
    if nxt is None:
        figures = "- | - | - | -"
    else:
        cost = (nxt.to_send and cost_text(next_cost(s), tablecurrency)) or "-"
        figures = f"{nxt.to_send:,} | {nxt.skipped:,} | {nxt.segments:,} | {cost}"
    fires = f"{'≥' if s.capped else ''}{s.fire_count:,}" if s.triggered else "once (due now)"
    fires = "once (after quiet hours)" if not s.triggered and s.next is not None else fires
    when = field(s.next_occurrence, in_table=True) if s.next_occurrence else "-"
    return f"| {name} | {fires} | {when} | {figures} |"


def _details(s: ScheduleForecast) -> str:
    nxt = s.next
    assert nxt is not None
    disabled = " (disabled: sends nothing; below, what it would send if enabled)"
    lines = [
        f"### Forecast: {field(s.schedule)}{'' if s.enabled else disabled}",
        "",
        f"- {_fires(s)}",
        f"- {next_phrase(s, field)}: "
        + (
            f"**{nxt.to_send:,} to send**: {plural(nxt.segments, 'segment')}, "
            f"{encodings_text(nxt.encodings)}"
            + (f", about {cost_text(next_cost(s), currency)}" if next_cost(s) else "")
            if nxt.to_send
            else "nothing to send"
        ),
    ]
    lines.extend(f"- **needs approval**: {field(str(o))}" for o in s.over_limits)
    if nxt.exclusions:
        lines.append(f"- {exclusions_text(nxt.exclusions, field)}")
    if nxt.skipped:
        lines.append(f"- {nxt.skipped:,} skipped: {skip_counts(nxt.skip_counts)}")
    if s.spread is not None:
        zones = ", ".join(f"{n:,} in {field(zone)}" for zone, n in list(s.spread.zones.items())[:5])
        lines.append(
            f"- reaches recipients from {utc(s.spread.earliest)} to {utc(s.spread.latest)} "
            f"({plural(len(s.spread.zones), 'zone')}: {zones})"
        )
    if s.per_day:
        lines.append(f"- per day: {days_phrase(s.per_day, currency)}")
    for sample in nxt.samples:
        lines += ["", *sample_lines(sample)]
    lines += skipped_details(nxt.skips, nxt.skipped)
    return "\n".join(lines) + "\n"


def _fires(s: ScheduleForecast) -> str:
    """Fire times as code spans (labels are ours, but kept inert like everything else)."""
    phrase = fires_phrase(s, at_least="at least ")
    if not s.triggered or not s.fire_count:
        return phrase
    count, _, _ = phrase.partition(": ")
    more = ", ..." if s.fire_count > len(s.fires) else ""
    return f"{count}: " + ", ".join(field(label) for label in s.fires) + more

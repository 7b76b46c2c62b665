"""Guardrails: which of its `limits` a schedule's plan is over (docs/operations.md).

One check (`exceeded`) for every plan that is judged: the due plan `apply`
or a `run` round makes (`over_limits`), and the forecast's next occurrence
planned as if due (engine/forecast.py), so a pull request shows the schedule
a merge would hold. `max_recipients` counts the plan's sends (messages, one
per recipient and due occurrence), `max_segments` their segments, `max_cost`
their estimated cost in the currency of the first provider's price, summed
exactly (`SchedulePlan.exact_cost`: a plan exactly at its limit is within
it, whatever binary floats add up to), `max_per_day` the messages of any 24
hours (`in_24_hours`, the one rule for both): for a due plan, the ledger's
rows of the schedule claimed in the 24 hours before it that may have gone
out, plus its sends; for the forecast, the same at each of its fires (what
is claimed by the plan's time, the due plan's sends, and the sends of its
earlier fires in those 24 hours). A plan over any is shown as needing
approval; `apply` refuses it without `--approve`, `run` holds the schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from smsops.core.words import plural
from smsops.engine.plan import OverLimit, SchedulePlan, exact

if TYPE_CHECKING:
    from smsops.config.loader import Config
    from smsops.config.models import Limits
    from smsops.engine.planner import LedgerView

DAY = timedelta(hours=24)


class PerDay(NamedTuple):
    """The messages `max_per_day` is compared with, and how they are made."""

    messages: int
    detail: str


def over_limits(
    config: Config, ledger: LedgerView, at: datetime, plan: SchedulePlan
) -> list[OverLimit]:
    """The limits the due plan `plan` is over, in a fixed order (none when it sends nothing)."""
    limits = config.limits(plan.schedule)
    sends = plan.to_send
    per_day = None
    if sends and limits.max_per_day is not None:  # a count in the ledger: only when needed
        before = ledger.claimed_since(plan.schedule, at - DAY)
        total, _, _ = in_24_hours([at], sends, at, before)
        detail = (
            f"{before:,} in the 24 hours before and {sends:,} in this plan make "
            f"{plural(total, 'message')}"
        )
        per_day = PerDay(total, detail)
    return exceeded(limits, plan, "this plan", per_day)


def in_24_hours(
    times: Sequence[datetime], each: int, at: datetime, before: int
) -> tuple[int, int, datetime]:
    """`max_per_day`'s rule, the messages of any 24 hours, over sends of `each` messages at
    each of `times` (sorted, none before `at`): the most in the 24 hours up to one of them
    (after it minus 24 h, through it), as (messages, of them `before`, that time).

    `before`: the messages claimed by `at` in the 24 hours before the first time (the
    ledger's, a due plan's), counted in each 24 hours that begin before `at`. For a
    later time within the day it is a bound from above (rows claimed before its own 24
    hours began are in it): the ledger is counted once, not once per fire.
    """
    best = (0, 0, times[0])
    first = 0
    for last, end in enumerate(times):
        start = end - DAY
        while times[first] <= start:
            first += 1
        earlier = before if start < at else 0
        total = (last - first + 1) * each + earlier
        if total > best[0]:
            best = (total, earlier, end)
    return best


def exceeded(
    limits: Limits, plan: SchedulePlan, subject: str, per_day: PerDay | None
) -> list[OverLimit]:
    """The limits `plan` (called `subject` in the details) and `per_day` are over."""
    sends = plan.to_send
    if not sends:
        return []
    found: list[OverLimit] = []
    if limits.max_recipients is not None and sends > limits.max_recipients:
        detail = f"{subject} sends {plural(sends, 'message')}"
        found.append(OverLimit("max_recipients", limits.max_recipients, sends, detail))
    if limits.max_segments is not None and plan.segments > limits.max_segments:
        detail = f"{subject} sends {plural(plan.segments, 'segment')}"
        found.append(OverLimit("max_segments", limits.max_segments, plan.segments, detail))
    cost = plan.exact_cost or Decimal(0)  # validate requires a price where max_cost is set
    if limits.max_cost is not None and cost > exact(limits.max_cost):
        currency = plan.currency or ""
        detail = f"{subject} costs about {cost:,.2f} {currency}".rstrip()
        found.append(OverLimit("max_cost", limits.max_cost, float(cost), detail))
    if (
        limits.max_per_day is not None
        and per_day is not None
        and per_day.messages > limits.max_per_day
    ):
        found.append(OverLimit("max_per_day", limits.max_per_day, per_day.messages, per_day.detail))
    return found

"""Guardrails: which of its `limits` a schedule's plan is over (docs/operations.md).

Every limit is counted on one plan of one schedule: `max_recipients` its
sends (messages, one per recipient and due occurrence), `max_segments` their
segments, `max_cost` their estimated cost in the currency of the first
provider's price (the plan's own estimate), `max_per_day` its sends plus the
ledger's rows of the schedule claimed in the 24 hours before the plan's time
that may have gone out. A plan over any is shown as needing approval; `apply`
refuses it without `--approve`, `run` holds the schedule.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from smsops.engine.plan import OverLimit, SchedulePlan

if TYPE_CHECKING:
    from smsops.config.loader import Config
    from smsops.engine.planner import LedgerView

DAY = timedelta(hours=24)


def over_limits(
    config: Config, ledger: LedgerView, at: datetime, plan: SchedulePlan
) -> list[OverLimit]:
    """The limits `plan` is over, in a fixed order (none when it sends nothing)."""
    limits = config.limits(plan.schedule)
    sends = plan.to_send
    if not sends:
        return []
    found: list[OverLimit] = []
    if limits.max_recipients is not None and sends > limits.max_recipients:
        detail = f"this plan sends {sends:,} messages"
        found.append(OverLimit("max_recipients", limits.max_recipients, sends, detail))
    if limits.max_segments is not None and plan.segments > limits.max_segments:
        detail = f"this plan sends {plan.segments:,} segments"
        found.append(OverLimit("max_segments", limits.max_segments, plan.segments, detail))
    cost = plan.cost or 0.0  # validate requires a price where max_cost is set
    if limits.max_cost is not None and cost > limits.max_cost:
        currency = plan.currency or ""
        detail = f"this plan costs about {cost:,.2f} {currency}".rstrip()
        found.append(OverLimit("max_cost", limits.max_cost, cost, detail))
    if limits.max_per_day is not None:
        before = ledger.claimed_since(plan.schedule, at - DAY)
        if before + sends > limits.max_per_day:
            detail = (
                f"{before:,} in the 24 hours before and {sends:,} in this plan "
                f"make {before + sends:,} messages"
            )
            found.append(OverLimit("max_per_day", limits.max_per_day, before + sends, detail))
    return found

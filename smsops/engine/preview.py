"""`smsops render`: every message of each schedule's next occurrence, no ledger, no secrets."""

from __future__ import annotations

from datetime import datetime

from smsops.config.loader import Config
from smsops.engine.plan import SchedulePlan
from smsops.engine.planner import PlanOptions, make_plan
from smsops.ledger.memory import MemoryLedger


def preview(
    config: Config, now: datetime, only: list[str] | None = None, samples: int = 3
) -> list[SchedulePlan]:
    """A preview of each enabled schedule (or of `only`), rendered as of `now`."""
    options = PlanOptions(only=only, samples=samples, preview=True)
    return make_plan(config, MemoryLedger(), now, lambda _: False, options).schedules

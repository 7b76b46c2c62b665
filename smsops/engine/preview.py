"""`smsops render`: every message of each schedule's next occurrence, no ledger, no secrets."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from smsops.config.loader import Config
from smsops.engine.plan import SchedulePlan
from smsops.engine.planner import PlanOptions, make_plan
from smsops.ledger.memory import MemoryLedger


def preview(
    config: Config,
    now: datetime,
    only: list[str] | None = None,
    samples: int = 3,
    cache_dir: Path | None = None,
) -> list[SchedulePlan]:
    """A preview of each enabled schedule (or of `only`), rendered as of `now`.

    `cache_dir`: where normalised CSV numbers are kept (see `PlanOptions`).
    """
    options = PlanOptions(only=only, samples=samples, preview=True, cache_dir=cache_dir)
    return make_plan(config, MemoryLedger(), now, lambda _: False, options).schedules

"""The start of every apply round (the `apply` command and run mode): the plan, as of now."""

from __future__ import annotations

from datetime import UTC, datetime

from smsops.config.loader import Config
from smsops.engine.owner import is_stale
from smsops.engine.plan import Plan
from smsops.engine.planner import LedgerView, PlanOptions, make_plan
from smsops.ledger.base import Ledger, SendRecord


def plan_against(
    config: Config, ledger: Ledger | LedgerView, at: datetime, options: PlanOptions
) -> Plan:
    """The plan at `at`; whether a pending row is stale is judged by the real clock."""
    now = datetime.now(UTC)
    return make_plan(config, ledger, at, lambda record: is_stale(record, now), options)


def mark_stale(ledger: Ledger) -> list[SendRecord]:
    """Turn the pending rows of runs that died mid-send into `uncertain`; return them."""
    now = datetime.now(UTC)
    return ledger.mark_stale(lambda record: is_stale(record, now), now)

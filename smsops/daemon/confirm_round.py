"""Run mode's opt-out confirmations: a round of `engine.round` over the confirmations owed.

Requested like a schedule's round (daemon/rounds.py: one at a time, merged),
under the name CONFIRM_SCHEDULE: by every STOP the hook sink records
(`Runner.confirm_soon`, from the sink's thread) and with every round of all
schedules (start, resync, reload, takeover), which sends what a STOP's own
request did not get to (a crash in between, another replica's STOP). What
is owed and why it goes once is engine/confirmations.py's; the sending is
the same `Round` as every schedule's, sharing the providers' lanes.

Never raises: a failure is one masked line, `smsops_job_errors_total` and
`/healthz` (job `opt-out-confirm`) until a confirmation round succeeds.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from smsops.daemon.round_lock import round_lock
from smsops.daemon.round_log import log_report, log_stale
from smsops.engine.apply import ApplyReport
from smsops.engine.clock import Clock
from smsops.engine.confirmations import CONFIRM_SCHEDULE, confirmation_plan
from smsops.engine.owner import stale_rule
from smsops.engine.plan import Plan
from smsops.engine.round import Round, RoundHooks
from smsops.ledger.base import SendRecord

if TYPE_CHECKING:
    from smsops.daemon.runner import Runner

log = logging.getLogger("smsops.run")
CONFIRM_JOB = "opt-out-confirm"


async def confirm_round(runner: Runner, why: str) -> None:
    """Send the opt-out confirmations owed now; never raises."""
    config = runner.config  # a reload swaps it between rounds, never during one
    if runner.stopping or config.opt_out().confirm_template is None:
        return
    ledger = runner.ledger

    def planned(at: datetime) -> Plan:
        return confirmation_plan(config, ledger, at, stale_rule(ledger, datetime.now(UTC)))

    round_ = Round(
        config,
        ledger,
        runner.env,
        _ConfirmHooks(runner, why),
        lanes=runner.lanes,  # one pace and one in-flight cap per provider, with the schedules
        clock=Clock(now=runner.clock),
        planner=planned,
    )
    try:
        async with round_lock(ledger, CONFIRM_SCHEDULE) as mine:
            if not mine:  # another replica confirms now (the claim would keep it once anyway)
                return
            runner.active[CONFIRM_SCHEDULE] = round_
            await round_.run(runner.clock())
    except Exception as exc:  # the daemon lives on; the next round tries again
        if round_.sender is not None:
            runner.metrics.observe_report(round_.sender.report)
        runner.job_failed(CONFIRM_JOB, exc)
    else:
        runner.jobs.succeeded(CONFIRM_JOB)
    finally:
        runner.active.pop(CONFIRM_SCHEDULE, None)


class _ConfirmHooks(RoundHooks):
    """Logs and metrics of a confirmation round, as a schedule's round has them."""

    def __init__(self, runner: Runner, why: str) -> None:
        self.runner, self.why = runner, why

    def stale(self, records: list[SendRecord]) -> None:
        log_stale(records)

    def planned(self, plan: Plan) -> None:
        skipped: Counter[str] = Counter()
        for schedule in plan.schedules:
            skipped.update({reason.value: n for reason, n in schedule.skip_counts.items()})
        if skipped:  # the reasons name no number (normalize, render: masked)
            log.warning(
                "%d opt-out confirmations not sent: %s",
                sum(skipped.values()),
                ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())),
                extra={"schedule": CONFIRM_SCHEDULE, "skipped": dict(skipped)},
            )

    def sent(self, plan: Plan, report: ApplyReport) -> None:
        self.runner.metrics.observe_report(report)
        log_report(plan, report, self.why)

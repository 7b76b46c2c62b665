"""Run mode's rounds: the same `engine.round` as `apply`, with the daemon's hooks.

The ledger alone decides what is sent: a round at time T sends what the plan
at T finds missing, so duplicate fires, restarts and late wake-ups are safe.
Rounds never overlap; `stop()` lets the current one settle what is in flight.

A round never raises (see `failures`): a schedule whose plan or send fails
is logged in one masked line, counted and shown on `/healthz`, and the other
schedules of the round still send. Schedules that need a secret that is not
set are held (see `readiness`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from smsops.config.loader import Config
from smsops.core.expiry import ExpiryReason
from smsops.core.skips import SkipReason
from smsops.daemon.failures import RoundFailures, describe
from smsops.daemon.metrics import Metrics
from smsops.daemon.readiness import MissingSecret, missing_secrets, secret_values
from smsops.engine.apply import ApplyReport
from smsops.engine.plan import Disposition, Plan
from smsops.engine.round import Round, RoundHooks
from smsops.ledger.base import Ledger, SendRecord
from smsops.schedule.occurrences import due_occurrences, last_closed_fire, occurrence_label

log = logging.getLogger("smsops.run")


class Runner:
    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        env: Mapping[str, str],
        metrics: Metrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache_dir: Path | None = None,
    ) -> None:
        self.ledger, self.env, self.metrics = ledger, env, metrics
        self.clock = clock
        self.cache_dir = cache_dir  # for normalised CSV numbers (see PlanOptions)
        self.stopping = False
        self.round: Round | None = None  # while a round runs
        self.failures = RoundFailures()
        self.missing: list[MissingSecret] = []
        self._secrets: list[str] = []
        self._lock = asyncio.Lock()
        self._settled: dict[str, tuple[Config, list[str]]] = {}  # see _unsettled
        self.config = config

    @property
    def config(self) -> Config:
        return self._config

    @config.setter
    def config(self, config: Config) -> None:
        """Adopt `config` (at start and on every reload): its secrets are checked here.

        A setter, so no way of handing the runner a config can skip the check.
        """
        self._config = config
        self._secrets = secret_values(config, self.env)
        self.missing = missing_secrets(config, self.env)
        for missing in self.missing:
            log.error(
                "secret missing: %s",
                missing,
                extra={"provider": missing.provider, "variable": missing.variable},
            )
        self.failures.keep_only(n for n, s in config.schedules.items() if s.enabled)

    def describe(self, error: BaseException) -> str:
        """`error` in one line fit for a log: numbers masked, this config's secrets hidden."""
        return describe(error, self._secrets)

    def held(self) -> set[str]:
        """Schedules that send nothing until a secret they need is set."""
        return {name for missing in self.missing for name in missing.schedules}

    async def reconcile(self, names: list[str] | None = None, why: str = "resync") -> Plan | None:
        """Plan at the clock's time for `names` (default: every enabled schedule), send the rest.

        Never raises: a failure is logged in one masked line, counted in
        `smsops_round_failures_total` and shown on `/healthz` until that
        schedule's next successful round.
        """
        async with self._lock:
            if self.stopping:
                return None
            config = self.config  # a reload swaps it between rounds, never during one
            now = self.clock()
            names = self._unheld(config, names, why)
            try:
                names = self._unsettled(config, now, names)
                if not names:
                    return None
                plan, errors = await self._round(config, now, names, why)
            except Exception as exc:  # whatever it is, the daemon lives on
                plan, errors = None, dict.fromkeys(names, exc)
            if errors:
                for name in errors:
                    self.metrics.round_failures.labels(name).inc()
                    self._settled.pop(name, None)  # planned afresh next time
                self.failures.failed(errors, why, self._secrets)
            self.failures.succeeded(name for name in names if name not in errors)
            return plan

    async def _round(
        self, config: Config, now: datetime, names: list[str], why: str
    ) -> tuple[Plan | None, dict[str, BaseException]]:
        """One round; a schedule whose plan fails is left out, the others still send."""
        hooks = _DaemonHooks(self, config, now, why)
        round_ = self.round = Round(
            config, self.ledger, self.env, hooks, isolate_failures=True, cache_dir=self.cache_dir
        )
        try:
            await round_.run(now, names)
        except Exception as exc:
            if round_.sender is None:  # not sending yet: the whole round failed
                raise
            # What went out before it failed; blamed on the schedules that were sending.
            self.metrics.observe_report(round_.sender.report)
            sending = round_.plan.schedules if round_.plan else []
            round_.errors.update((s.schedule, exc) for s in sending if s.to_send)
        finally:
            self.round = None
        return round_.plan, round_.errors

    def _unheld(self, config: Config, names: list[str] | None, why: str) -> list[str]:
        """`names` (default: every enabled schedule) without those a missing secret holds."""
        wanted = [n for n, s in config.schedules.items() if s.enabled] if names is None else names
        held = self.held()
        for name in wanted:
            if name in held and why == "fire":
                log.warning(
                    "%s fired but sends nothing: a secret it needs is not set (see /readyz)",
                    name,
                    extra={"schedule": name},
                )
        return [name for name in wanted if name not in held]

    def _unsettled(self, config: Config, now: datetime, names: list[str] | None) -> list[str]:
        """The schedules worth planning now: not known settled for what is due.

        Re-reading a big audience every minute to find nothing to send is
        waste: a schedule whose last plan found nothing to do that time alone
        could change is left alone while its due occurrences stay the same.
        A config reload (new audience files included) starts afresh.
        """
        # memos of an older config are void (and would keep that config alive)
        self._settled = {n: memo for n, memo in self._settled.items() if memo[0] is config}
        wanted = [n for n, s in config.schedules.items() if s.enabled] if names is None else names
        unsettled = []
        for name in wanted:
            schedule = config.schedules.get(name)
            if schedule is None:
                continue
            memo = self._settled.get(name)
            if memo is None or memo[1] != due_occurrences(schedule, now):
                unsettled.append(name)
        return unsettled

    def remember_settled(self, config: Config, plan: Plan) -> None:
        for s in plan.schedules:
            settled = (
                not s.recipient_local  # each recipient's own clock: due sets move per zone
                and s.to_send == 0
                and s.counts[Disposition.IN_FLIGHT] == 0  # another run may fail them
                and s.skip_counts[SkipReason.QUIET_HOURS] == 0  # held until the morning
            )
            if settled:
                self._settled[s.schedule] = (config, s.occurrences)
            else:
                self._settled.pop(s.schedule, None)

    def report_missed(self, config: Config, plan: Plan, now: datetime) -> None:
        """Occurrences whose window closed while smsops was not running are not sent late."""
        for s in plan.schedules:
            fire = last_closed_fire(config.schedules[s.schedule], now)
            if fire is None or not self.ledger.has_sends(s.schedule):
                continue  # nothing closed, or a new schedule with no history
            label = occurrence_label(fire)
            if not self.ledger.has_sends(s.schedule, label):
                self.metrics.missed.labels(s.schedule).inc()
                log.warning(
                    "missed occurrence %s of %s: its window closed while smsops was not "
                    "running; it is not sent late",
                    label,
                    s.schedule,
                    extra={"schedule": s.schedule, "occurrence": label},
                )

    def in_flight(self) -> int:
        return self.round.in_flight() if self.round else 0

    def stop(self) -> None:
        """Claim nothing more; the round in progress settles what it has sent."""
        self.stopping = True
        if self.round is not None:
            self.round.stop()

    async def idle(self) -> None:
        """Wait for the round in progress (if any) to finish."""
        async with self._lock:
            return


class _DaemonHooks(RoundHooks):
    """The daemon's part of a round: logs and metrics, never output."""

    def __init__(self, runner: Runner, config: Config, now: datetime, why: str) -> None:
        self.runner, self.config, self.now, self.why = runner, config, now, why

    def stale(self, records: list[SendRecord]) -> None:
        if records:
            log.warning(
                "marked %d sends uncertain: pending from a run that stopped mid-send",
                len(records),
            )

    def planned(self, plan: Plan) -> None:
        runner = self.runner
        if self.why == "start":
            runner.report_missed(self.config, plan, self.now)
        runner.metrics.reconciles.labels(self.why).inc()
        runner.metrics.observe_plan(plan)
        runner.remember_settled(self.config, plan)

    def sent(self, plan: Plan, report: ApplyReport) -> None:
        self.runner.metrics.observe_report(report)
        _log_report(plan, report, self.why)


def _log_report(plan: Plan, report: ApplyReport, why: str) -> None:
    schedules = ",".join(s.schedule for s in plan.schedules if s.to_send)
    log.info(
        "sent %d, failed %d, uncertain %d, expired %d (%d segments) for %s [%s]",
        report.sent,
        report.failed,
        report.uncertain,
        report.expired,
        report.segments,
        schedules,
        why,
        extra={
            "sent": report.sent,
            "failed": report.failed,
            "uncertain": report.uncertain,
            "expired": report.expired,
            "segments": report.segments,
            "schedules": schedules,
        },
    )
    for (schedule, occurrence), reasons in sorted(report.expired_occurrences().items()):
        count = sum(reasons.values())
        why_ = "; ".join(f"{reasons[r]} {r.value}" for r in ExpiryReason if r in reasons)
        log.warning(  # one line per schedule-occurrence: never dropped silently
            "%d sends of %s %s expired (%s)",
            count,
            schedule,
            occurrence,
            why_,
            extra={
                "schedule": schedule,
                "occurrence": occurrence,
                "expired": count,
                "reasons": {reason.short: n for reason, n in reasons.items()},
            },
        )
    for problem in report.problems:  # numbers already masked and scrubbed
        log.error("%s", problem)
    if report.ledger_error:  # the round stopped claiming: say so, never drop silently
        log.error(
            "the ledger could not be written: %s; %d not sent (the next round sends them), "
            "%d results not written (those rows stay pending, then uncertain)",
            report.ledger_error,
            report.not_started,
            report.unsettled,
        )

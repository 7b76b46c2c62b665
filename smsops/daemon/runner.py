"""Run mode's rounds: the same `engine.round` as `apply`, with the daemon's hooks.

The ledger alone decides what is sent: a round at time T sends what the plan
at T finds missing, so duplicate fires, restarts and late wake-ups are safe.
Each schedule has its own rounds, one at a time, merged when requests pile
up (see `rounds`); different schedules' rounds run in parallel, sharing each
provider's in-flight cap and pace (`engine.lanes`), the ledger claim keeping
every send exact. `stop()` lets every running round settle what is in flight.

A round never raises (see `failures`): a schedule whose plan or send fails
is logged in one masked line, counted and shown on `/healthz`, and the other
schedules still send. Schedules that need a secret that is not set are held
(see `readiness`).

Over 250 lines: a round's steps and its hooks read together; the parts
that stand alone are apart (`rounds`, `settled`, `catch_up`, `round_log`,
`failures`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

from smsops.audience.shards import Part
from smsops.config.loader import Config
from smsops.daemon.catch_up import CatchUp
from smsops.daemon.confirm_round import confirm_round
from smsops.daemon.failures import JobErrors, RoundFailures, describe
from smsops.daemon.metrics import Metrics
from smsops.daemon.readiness import MissingSecret, missing_secrets, secret_values
from smsops.daemon.round_log import log_report, log_stale
from smsops.daemon.rounds import Rounds
from smsops.daemon.settled import Settled
from smsops.daemon.threads import own_thread
from smsops.daemon.units import DEFAULT_UNITS, Units, unit_occurrences
from smsops.daemon.watch import STUCK_JOB
from smsops.engine.apply import ApplyReport
from smsops.engine.clock import Clock
from smsops.engine.confirmations import CONFIRM_SCHEDULE
from smsops.engine.holds import note, secret_holds
from smsops.engine.lanes import Lanes
from smsops.engine.plan import Plan
from smsops.engine.round import Round, RoundHooks
from smsops.ledger.base import Ledger, SendRecord
from smsops.schedule.occurrences import CLOSED_KEPT, occurrence_label

log = logging.getLogger("smsops.run")
OTHER_REPLICA = "other replica"  # why a round was skipped: other replicas hold its units


class Runner:
    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        env: Mapping[str, str],
        metrics: Metrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache_dir: Path | None = None,
        units: int = DEFAULT_UNITS,
    ) -> None:
        self.ledger, self.env, self.metrics = ledger, env, metrics
        self.units = Units(ledger, units)  # several replicas on one ledger (units.py)
        self.clock = clock
        self.cache_dir = cache_dir  # for normalised CSV numbers (see PlanOptions)
        self.stopping = False
        self.active: dict[str, Round] = {}  # schedule -> its round, while it runs
        self.failures = RoundFailures()
        self.jobs = JobErrors()
        self.missing: list[MissingSecret] = []
        # Schedules whose latest plan is over their limits: held (see `over_limits`).
        self.over_limits: dict[str, list[str]] = {}
        # every round's providers: one cap and one pace each, and their requests' latency
        self.lanes = Lanes(metrics.observe_request, ledger.shared_pace())
        self.catch_up = CatchUp(ledger)  # what closed since each schedule's last plan
        self.rounds = Rounds(self._round_of, self._merged, self.job_failed)
        self._secrets: list[str] = []
        self.settled = Settled()
        self.loop: asyncio.AbstractEventLoop | None = None  # set by the first request
        self.config = config

    @property
    def config(self) -> Config:
        return self._config

    @config.setter
    def config(self, config: Config) -> None:
        """Adopt `config` (at start and on every reload): its secrets are checked here.

        A setter, so no way of handing the runner a config can skip the check.
        Rounds that start from now on use it; running ones finish with theirs.
        """
        self.catch_up.adopt(getattr(self, "_config", None), config, self.clock())
        self._config = config
        self.metrics.adopt(config)  # its series exist from now, at 0
        self._secrets = secret_values(config, self.env)
        self.missing = missing_secrets(config, self.env)
        for missing in self.missing:
            log.error(
                "secret missing: %s",
                missing,
                extra={"provider": missing.provider, "variable": missing.variable},
            )
        self.failures.keep_only(n for n, s in config.schedules.items() if s.enabled)
        for gone in self.over_limits.keys() - {n for n, s in config.schedules.items() if s.enabled}:
            del self.over_limits[gone]
        self.lanes.keep_only(config.providers, self.env)

    def describe(self, error: BaseException) -> str:
        """`error` in one line fit for a log: numbers masked, this config's secrets hidden."""
        return describe(error, self._secrets)

    def observe_limits(self, plan: Plan) -> None:
        """Which planned schedules are over their limits (the round holds them): logged
        when that changes, and kept for /readyz until a plan of the schedule is within."""
        for s in plan.schedules:
            over = [str(o) for o in s.over_limits]
            if over == self.over_limits.get(s.schedule, []):
                continue
            if over:
                self.over_limits[s.schedule] = over
                log.warning(
                    "%s held: its plan is over its limits (%s); nothing of it is sent. Approve "
                    "this plan with `smsops apply --approve %s`, or raise its limits",
                    s.schedule,
                    "; ".join(over),
                    s.schedule,
                    extra={"schedule": s.schedule, "limits": [o.limit for o in s.over_limits]},
                )
            else:
                del self.over_limits[s.schedule]
                log.info("%s no longer held: its plan is within its limits", s.schedule)

    def held(self) -> set[str]:
        """Schedules that send nothing until a secret they need is set."""
        return {name for missing in self.missing for name in missing.schedules}

    # --- requests ---------------------------------------------------------
    def request(self, names: list[str] | None, why: str) -> list[asyncio.Future[Plan | None]]:
        """Ask for a round of each of `names` (default: every enabled schedule); never waits.

        Each future is answered with that schedule's plan (None: not planned)
        by its first round that starts after this request.
        """
        self.loop = asyncio.get_running_loop()  # where `confirm_soon` asks from other threads
        if names is None:
            names = [n for n, s in self.config.schedules.items() if s.enabled]
            if self.config.opt_out().confirm_template is not None:  # what a STOP's request missed
                names.append(CONFIRM_SCHEDULE)
        return [self.rounds.request(name, why) for name in names]

    def confirm_soon(self) -> None:
        """A STOP was recorded: a confirmation round soon. Safe from any thread (the hook
        sink runs off the loop); before the loop runs, the first round confirms it."""
        loop = self.loop
        if loop is not None and self.config.opt_out().confirm_template is not None:
            with suppress(RuntimeError):  # the loop has closed: the next start confirms it
                loop.call_soon_threadsafe(self.rounds.request, CONFIRM_SCHEDULE, "opt-out")

    async def wake(self, names: list[str] | None, why: str) -> None:
        """A scheduler job: request the rounds and return at once."""
        self.request(names, why)

    async def reconcile(self, names: list[str] | None = None, why: str = "resync") -> Plan | None:
        """Request rounds of `names` and wait for them: their plans together (None: none planned).

        Never raises: a failure is logged in one masked line, counted in
        `smsops_round_failures_total` and shown on `/healthz` until that
        schedule's next successful round.
        """
        at = self.clock()
        plans = [plan for plan in await asyncio.gather(*self.request(names, why)) if plan]
        if not plans:
            return None
        return Plan(at, [s for plan in plans for s in plan.schedules])

    def _merged(self, name: str, why: str) -> None:
        self.metrics.fires_merged.labels(name).inc()
        log.debug(
            "%s: a %s request came while its round runs; merged into one follow-up round",
            name,
            why,
            extra={"schedule": name, "trigger": why},
        )

    def takeover(self, runs: set[str]) -> None:
        """Other runs' leases lapsed (`watch`): a round of every schedule now, not at the resync.

        Their claims are marked `uncertain` by that round and what they left
        unsent goes out while its window is open; every memo of a settled
        schedule is void (a dead run's claims were counted as in flight).
        """
        for run in sorted(runs):
            log.warning(
                "run %s lost its lease: resuming what it left unsent in open windows",
                run,
                extra={"run": run},
            )
        self.metrics.takeovers.inc(len(runs))
        for name in self.config.schedules:
            self.settled.forget(name)
        self.units.wake()  # rounds that are sending take the dead run's units now
        self.request(None, "takeover")

    def stuck(self, error: BaseException | None) -> None:
        """Rows of live runs pending past their window (`watch`): `/healthz` degraded until none."""
        if error is None:
            self.jobs.succeeded(STUCK_JOB)
        elif self.jobs.errors.get(STUCK_JOB) != self.describe(error):  # said once per change
            self.job_failed(STUCK_JOB, error)

    def job_failed(self, job: str, error: BaseException) -> None:
        """Anything the daemon runs that raised: one masked line, a metric, `/healthz` degraded."""
        self.metrics.job_errors.labels(job, "error").inc()
        self.jobs.failed(job, error, self._secrets)

    # --- one schedule's round ----------------------------------------------
    async def _round_of(self, name: str, why: str) -> Plan | None:
        """Plan `name` at the clock's time and send the rest; never raises."""
        if name == CONFIRM_SCHEDULE:  # not a schedule of the config (engine/confirmations.py)
            await confirm_round(self, why)
            return None
        if self.stopping:
            return None
        config = self.config  # a reload swaps it between rounds, never during one
        now = self.clock()
        names = self._unheld(config, [name], why)
        try:
            if not names:  # a missing secret holds it: said in the ledger, for `smsops status`
                held = secret_holds(config, self.env, [name])
                await asyncio.to_thread(note, self.ledger, held, now)
                return None
            ledger, planning = self.ledger, names
            names = await own_thread(
                lambda: self.settled.unsettled(config, now, planning, ledger), "smsops-settled"
            )
            if not names:
                return None
            if self.ledger.shares_units and unit_occurrences(config, name, now):
                plan, errors, took = await self._units_round(config, name, why)
                if not took:
                    self.metrics.rounds_skipped.labels(name, OTHER_REPLICA).inc()
                    log.debug("%s: other replicas hold every unit of this round; skipped", name)
                    return None
            else:
                started = time.perf_counter()
                plan, errors = await self._round(config, now, names, why)
                for planned in names:
                    self.metrics.round_seconds.labels(planned).observe(
                        time.perf_counter() - started
                    )
        except Exception as exc:  # whatever it is, the daemon lives on
            plan, errors = None, dict.fromkeys(names or [name], exc)
        finished = time.time()  # the real time, for alerts (the round's clock may be a test's)
        for succeeded in names:
            if succeeded not in errors:
                self.metrics.last_success.labels(succeeded).set(finished)
        if errors:
            for failed in errors:
                self.metrics.round_failures.labels(failed).inc()
                self.settled.forget(failed)  # planned afresh next time
            self.failures.failed(errors, why, self._secrets)
        self.failures.succeeded(n for n in names if n not in errors)
        return plan

    async def _units_round(
        self, config: Config, name: str, why: str
    ) -> tuple[Plan | None, dict[str, BaseException], bool]:
        """`name`'s round as units (units.py): each batch of shards taken is planned at the
        clock's time then and sent, but for the shards known settled (settled.py); the
        plans of the batches together, the first error, and whether any unit was taken."""
        plans: list[Plan] = []
        errors: dict[str, BaseException] = {}
        ledger = self.ledger

        async def send(taken: Part) -> bool:
            part = await own_thread(
                lambda: self.settled.unsettled_part(config, name, taken, ledger), "smsops-settled"
            )
            if part is None:  # every shard settled: passed, not read again
                return True
            started, now = time.perf_counter(), self.clock()
            plan, failed = await self._round(config, now, [name], why, part)
            self.metrics.round_seconds.labels(name).observe(time.perf_counter() - started)
            if plan is not None:
                plans.append(plan)
            errors.update(failed)
            return not failed

        took = await self.units.round(config, name, self.clock(), send, lambda: self.stopping)
        if not plans:
            return None, errors, took is not None
        return Plan(plans[-1].at, [s for p in plans for s in p.schedules]), errors, True

    async def _round(
        self,
        config: Config,
        now: datetime,
        names: list[str],
        why: str,
        part: Part | None = None,
    ) -> tuple[Plan | None, dict[str, BaseException]]:
        """One round; a schedule whose plan fails is left out, the others still send.

        `part`: the units this replica holds of the one schedule in `names`.
        """
        hooks = _DaemonHooks(self, config, now, why, part)
        round_ = Round(
            config,
            self.ledger,
            self.env,
            hooks,
            isolate_failures=True,
            cache_dir=self.cache_dir,
            lanes=self.lanes,
            clock=Clock(now=self.clock),  # windows close by the daemon's clock
            part=part,
        )
        for name in names:
            self.active[name] = round_
        try:
            overdue = self.catch_up.overdue(config, now, names)
            self.report_missed()
            try:
                await round_.run(now, names, overdue)
            finally:  # a backlog keeps the schedule unsettled: the next resync goes on
                left = overdue if round_.deferred is None else round_.deferred
                self.catch_up.defer(left)
                for name in left:
                    self.settled.forget(name)
        except Exception as exc:
            if round_.sender is None:  # not sending yet: the whole round failed
                raise
            # What went out before it failed; blamed on the schedules that were sending.
            self.metrics.observe_report(round_.sender.report)
            sending = round_.plan.schedules if round_.plan else []
            round_.errors.update((s.schedule, exc) for s in sending if s.to_send)
        finally:
            for name in names:
                self.active.pop(name, None)
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

    def report_missed(self) -> None:
        """Occurrences whose window closed while smsops was not running: said, never sent late."""
        for name, fires in self.catch_up.take_missed().items():
            self.metrics.missed.labels(name).inc(len(fires))
            first, last = occurrence_label(fires[0]), occurrence_label(fires[-1])
            extra = {"schedule": name, "occurrence": last, "missed": len(fires)}
            kept = min(len(fires), CLOSED_KEPT)
            if len(fires) == 1:
                said = f"missed occurrence {last} of {name}: its window closed while smsops "
                said += "was not running; it is not sent late, its sends are recorded expired"
            else:
                said = f"missed {len(fires)} occurrences of {name} ({first} to {last}): their "
                said += "windows closed while smsops was not running; they are not sent late"
                said += f", the sends of the newest {kept} are recorded expired"
            log.warning("%s", said, extra=extra)

    def in_flight(self) -> int:
        """Requests on the wire now, over every running round."""
        return sum(round_.in_flight() for round_ in set(self.active.values()))

    def stop(self) -> None:
        """Claim nothing more; the rounds in progress settle what they have sent."""
        self.stopping = True
        self.rounds.stop()
        for round_ in set(self.active.values()):
            round_.stop()

    async def idle(self) -> None:
        """Wait for every round in progress (if any) to finish."""
        await self.rounds.idle()


class _DaemonHooks(RoundHooks):
    """The daemon's part of a round: logs and metrics, never output."""

    def __init__(
        self, runner: Runner, config: Config, now: datetime, why: str, part: Part | None = None
    ) -> None:
        self.runner, self.config, self.now, self.why = runner, config, now, why
        # The shards planned (the units of a shared ledger; None: whole). What a part's
        # plan finds settled holds for its shards (settled.py), and complete for none.
        self.part = part
        self.whole = part is None or part.whole

    def stale(self, records: list[SendRecord]) -> None:
        log_stale(records)

    def planned(self, plan: Plan) -> None:
        runner = self.runner
        runner.catch_up.planned(plan, self.now)
        runner.metrics.reconciles.labels(self.why).inc()
        runner.metrics.observe_plan(plan)
        # Off the event loop (a round prepares in a worker thread): one grouped count.
        planned = [s.schedule for s in plan.schedules]
        runner.metrics.observe_delivery(runner.ledger.stats(), planned)
        runner.observe_limits(plan)
        runner.settled.remember(self.config, plan, self.part)
        if not self.whole:
            runner.catch_up.incomplete(plan)

    def catch_up_bounded(self, schedule: str, recorded: int, left: int, budget: int) -> None:
        log.info(
            "%s: %d closed windows wait for the next round (this one records %d, at most "
            "%d sends a round, before the open window's sends)",
            schedule,
            left,
            recorded,
            budget,
            extra={"schedule": schedule},
        )

    def sent(self, plan: Plan, report: ApplyReport) -> None:
        self.runner.catch_up.sent(plan, report)
        if not self.whole:
            self.runner.catch_up.incomplete(plan)
        self.runner.metrics.observe_report(report)
        log_report(plan, report, self.why)

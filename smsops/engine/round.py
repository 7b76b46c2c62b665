"""One apply round, for the `apply` command and the daemon alike.

A round at time T: mark the pending rows of runs that died mid-send
`uncertain`, plan at T (all enabled schedules, or the ones named), check that
every secret the sends need is set, send, report. The ledger alone decides
what is sent, so a repeated round sends nothing twice.

What differs between the callers is not the round but what they do around
its steps, so those are `RoundHooks`: the CLI shows the plan, prints a dry
run, asks before sending and draws progress; the daemon logs, counts
metrics and remembers settled schedules. The engine never prints.

Just over 250 lines: the catch-up of closed occurrences (`_overdue`) plans
like the round's own plan and is best read beside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from smsops.audience.shards import Part
from smsops.config.loader import Config
from smsops.config.secret_refs import unset_variables
from smsops.core.errors import GuardLost, LedgerError, NeedsApproval, SecretsMissing
from smsops.core.expiry import ExpiryReason
from smsops.engine.apply import ApplyOptions, ApplyReport, Sender
from smsops.engine.clock import Clock
from smsops.engine.holds import (
    decided,
    guardrail,
    note,
    provider_holds,
    secret_holds,
    skips_of,
)
from smsops.engine.lanes import Lanes
from smsops.engine.owner import stale_rule, this_run
from smsops.engine.plan import OverLimit, Plan, SchedulePlan, Send
from smsops.engine.planner import PlanOptions, plan_against
from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.ledger.held import HoldReason
from smsops.schedule.occurrences import occurrence_label, window_closes

# Schedule name -> fire times whose window has closed unsent, each with the
# reason to record (see `Round.run`).
Overdue = Mapping[str, Sequence[tuple[datetime, ExpiryReason]]]
# Sends of closed windows one round records `expired` at most (oldest windows
# first, one at least; the rest wait for the next round): ~50 MB of planned
# sends, a few seconds of ledger writes before the open window's sends go.
CATCH_UP_SENDS = 50_000


class RoundHooks:
    """What a caller does between the steps of a round; each does nothing by default."""

    def stale(self, records: list[SendRecord]) -> None:
        """Rows of a run that stopped mid-send were just marked uncertain."""

    def planning(self, rows: int) -> None:
        """`rows` more audience rows were read while planning (see PlanOptions.progress)."""

    def planned(self, plan: Plan) -> None:
        """The plan at T, before anything is sent (also when it sends nothing)."""

    def dry_run(self, sender: Sender, sends: list[Send]) -> None:
        """A dry run ends here, secrets checked: `sender.requests(sends)` is what it would send."""

    def confirm(self, count: int) -> None:
        """Last word before `count` messages go out: raise to send none."""

    def sending(self, sender: Sender, count: int) -> AbstractContextManager[None]:
        """Wraps the sending (progress, signal handlers): `sender` is live inside it."""
        return nullcontext()

    def sent(self, plan: Plan, report: ApplyReport) -> None:
        """The round is over: what went out, failed, or stayed uncertain."""

    def catch_up_bounded(self, schedule: str, recorded: int, left: int, budget: int) -> None:
        """`left` closed windows of `schedule` wait for the next round: past `budget` sends."""


class Round:
    """One round over `ledger`: `run` it once (or `prepare`, then `send`).

    `isolate_failures` (the daemon): a schedule whose plan fails is left out and kept in
    `errors`, the others still send; a schedule over its `limits` (not in `approved`) is
    held: its sends are left out and it is kept in `held`. Without it (the CLI) the
    first failure is raised, and a plan over limits raises `NeedsApproval` before
    anything is sent. `sender` is set once the plan has sends (before secrets are
    checked), so a caller can stop it, and read what it sent when sending fails.
    """

    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        env: Mapping[str, str],
        hooks: RoundHooks,
        *,
        resend_uncertain: bool = False,
        dry_run: bool = False,
        isolate_failures: bool = False,
        cache_dir: Path | None = None,
        lanes: Lanes | None = None,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        select: Callable[[Plan], list[Send]] | None = None,
        approved: frozenset[str] = frozenset(),
        planner: Callable[[datetime], Plan] | None = None,
        part: Part | None = None,
    ) -> None:
        self.config, self.ledger, self.env, self.hooks = config, ledger, env, hooks
        # None: real time running on from the round's `at` (Clock.starting_at).
        self.clock = clock
        self.transport = transport  # tests: httpx.MockTransport
        self.resend_uncertain = resend_uncertain
        self.dry_run = dry_run
        self.isolate_failures = isolate_failures
        self.cache_dir = cache_dir  # normalised CSV numbers (see PlanOptions)
        self.lanes = lanes  # run mode: provider lanes shared with its other rounds
        # Which of the plan's sends go (`apply --plan`: the saved plan's); default all.
        self.select = select
        self.plan: Plan | None = None
        self.errors: dict[str, BaseException] = {}
        self.sender: Sender | None = None
        self.sends: list[Send] = []  # what `send` hands the sender
        # Closed windows this round did not record, per schedule: for the next round
        # (past the catch-up budget, or its plan failed). None: the catch-up never ran.
        self.deferred: dict[str, list[tuple[datetime, ExpiryReason]]] | None = None
        self.stopping = False
        self.abandoned: list[SendRecord] = []  # claims a failed sending left, settled uncertain
        # Schedules whose plan may go over their `limits` (`apply --approve`).
        self.approved = approved
        # Schedules over their limits and not approved (isolating: held, their sends
        # dropped; otherwise NeedsApproval is raised before anything is sent).
        self.held: dict[str, list[OverLimit]] = {}
        # A plan that is not the config's schedules' (the opt-out confirmations,
        # engine/confirmations.py): the rest of the round is the same.
        self.planner = planner
        # A replica's units of one occurrence (daemon/units.py): its due plan keeps only
        # them; closed windows (`overdue`) are planned whole, their expiries claimed once.
        self.part = part

    async def run(
        self, at: datetime, only: list[str] | None = None, overdue: Overdue | None = None
    ) -> ApplyReport | None:
        """The whole round at `at` for `only` (default: every enabled schedule).

        `overdue`: occurrences whose window closed before any round reached
        them (the daemon finds them with `closed_between`). Each is planned
        as it stood just before its close, keeping only that occurrence's
        sends; the sender records them `expired` with the reason given,
        because their window has closed: the one path every expiry takes.

        Preparing reads the ledger and the audiences (seconds for a big one):
        off the event loop, so the daemon's /healthz and /metrics keep
        answering meanwhile.
        """
        if not await asyncio.to_thread(self.prepare, at, only, overdue):
            return None
        return await self.send()

    def prepare(
        self, at: datetime, only: list[str] | None = None, overdue: Overdue | None = None
    ) -> bool:
        """Mark stale rows, plan at `at`, check secrets, then dry-run or confirm.

        True when there is something to `send()`; False when nothing is due
        or this is a dry run. Apart from `send` so the CLI asks its question
        outside an event loop (Ctrl-C at the prompt acts as usual).
        """
        if not self.dry_run:  # a dry run writes nothing, not even stale marks
            self.hooks.stale(mark_stale(self.ledger))
        plan = self.plan = self._plan(at, only)
        self.hooks.planned(plan)
        self.held = {
            s.schedule: s.over_limits
            for s in plan.schedules
            if s.over_limits and s.schedule not in self.approved
        }
        over = {name: guardrail(limits) for name, limits in self.held.items()}
        # What this plan skipped, per occurrence and shard (ledger/held.py): status reads it.
        if self._noting:
            self.ledger.note_skips(skips_of(plan, self.part))
        if self.held and not self.isolate_failures:
            self._note(plan, over, at, held_only=True)
            raise NeedsApproval({name: list(map(str, over)) for name, over in self.held.items()})
        sends = plan.sends if self.select is None else self.select(plan)
        sends = [send for send in sends if send.schedule not in self.held]
        closed, reasons = ([], {}) if self.dry_run else self._overdue(overdue or {}, plan)
        # Closed windows first, oldest first: a stop midway leaves the newest
        # occurrence in the ledger before the ones not yet recorded, so the
        # next start's look-back (which begins there) still finds them.
        self.sends = closed + sends
        if self.stopping:
            return False
        if not self.sends:
            self._note(plan, over, at)
            return False
        options = ApplyOptions(
            resend_uncertain=self.resend_uncertain,
            claimed_by=this_run(),
            clock=self.clock or Clock.starting_at(at),
            overdue=reasons,
        )
        sender = self.sender = Sender(
            self.config,
            self.ledger,
            self.env,
            options,
            transport=self.transport,
            shared=self.lanes,
        )
        used = {provider for send in sends for provider in send.providers}
        if unset := unset_variables(self.config, self.env, used):  # all of them, located
            sending = {send.schedule for send in sends}
            self._note(plan, secret_holds(self.config, self.env, sending), at, held_only=True)
            raise SecretsMissing([str(variable) for variable in unset])
        sender.check_secrets(sends)  # SecretMissing: nothing has been sent yet
        if self.dry_run:
            self.hooks.dry_run(sender, sends)
            return False
        self.hooks.confirm(len(sends))
        self._note(plan, over, at)
        return True

    def _note(
        self,
        plan: Plan,
        held: Mapping[str, tuple[HoldReason, str]],
        at: datetime,
        *,
        held_only: bool = False,
    ) -> None:
        """Record in the ledger which schedules this round holds and why, and (unless
        `held_only`: nothing goes ahead) that the others go ahead (their holds end).
        A dry run writes nothing."""
        if not self._noting:
            return
        note(self.ledger, dict(held) if held_only else decided(plan, held, self.errors), at)

    @property
    def _noting(self) -> bool:
        """Whether this round records its holds and skips: not a dry run (it writes
        nothing), nor a plan of no config schedule (the opt-out confirmations)."""
        return not self.dry_run and self.planner is None

    async def send(self) -> ApplyReport | None:
        """Send what `prepare` planned (None if stopped before the first claim).

        Whatever escapes the sending (a bug) stops it, and the rows this
        round claimed but did not settle are settled before the error goes
        on (`settle_abandoned`): never left `pending` while this run lives.
        """
        if self.plan is None or self.sender is None or self.stopping:
            return None
        sends = self.sends
        try:
            with self.hooks.sending(self.sender, len(sends)):
                report = await self.sender.run(sends)
        except Exception as exc:
            self.sender.stop()
            with suppress(Exception):  # the ledger too? the error goes on; /healthz shows the rest
                self.abandoned = await asyncio.to_thread(settle_abandoned, self.ledger, sends, exc)
            raise
        await self._note_reached(report)
        self.hooks.sent(self.plan, report)
        return report

    async def _note_reached(self, report: ApplyReport) -> None:
        """Record which schedules found a provider down, or that one answered again
        (`provider_holds`). The sends are done: a ledger that fails here is reported
        with them, as a failed write of theirs is."""
        if not self._noting or not report.reach or self.plan is None:
            return
        noted = provider_holds(report.reach)
        try:
            await asyncio.to_thread(note, self.ledger, noted, self.plan.at, reached=True)
        except LedgerError as exc:
            report.ledger_error = report.ledger_error or str(exc)

    def stop(self) -> None:
        """Claim nothing more; what is in flight is finished and settled."""
        self.stopping = True
        if self.sender is not None:
            self.sender.stop()

    def in_flight(self) -> int:
        """Requests on the wire now."""
        return self.sender.in_flight if self.sender is not None else 0

    def _plan(self, at: datetime, only: list[str] | None) -> Plan:
        """The plan of `only`; if it fails (isolating), one plan per schedule finds which.

        Planning them together reads shared files once; apart only when
        something is broken, so one schedule's missing audience does not
        stop the others.
        """
        if self.planner is not None:
            return self.planner(at)
        try:
            return plan_against(self.config, self.ledger, at, self._options(only))
        except Exception as exc:  # kept per schedule in `errors`
            if not self.isolate_failures:
                raise
            names = self._names(only)
            if len(names) == 1:
                self.errors[names[0]] = exc
                return Plan(at, [])
        planned: list[SchedulePlan] = []
        for name in names:
            try:
                plan = plan_against(self.config, self.ledger, at, self._options([name]))
            except Exception as exc:  # as above
                self.errors[name] = exc
            else:
                planned.extend(plan.schedules)
        return Plan(at, planned)

    def _overdue(
        self, overdue: Overdue, plan: Plan
    ) -> tuple[list[Send], dict[tuple[str, str], ExpiryReason]]:
        """The sends of closed occurrences, as planned just before each closed, and why.

        Oldest window first, until `CATCH_UP_SENDS` sends are kept (one
        window at least): each window is a plan of the whole audience, so
        after a long downtime a big audience must not hold hundreds of them
        in memory, nor delay the open window's sends by minutes. The windows
        left over are kept in `deferred` for the caller's next round.
        """
        planning = {send.key for send in plan.sends}
        closed: list[Send] = []
        reasons: dict[tuple[str, str], ExpiryReason] = {}
        budget = CATCH_UP_SENDS
        self.deferred = deferred = {}
        for name, fires in overdue.items():
            schedule = self.config.schedules.get(name)
            if schedule is None:
                continue  # removed by a reload
            if name in self.errors:  # its plan fails (already reported): tried next round
                deferred[name] = list(fires)
                continue
            for done, (fire, reason) in enumerate(fires):
                label = occurrence_label(fire)
                closes = window_closes(schedule, label)
                if closes is None:
                    continue
                if budget <= 0:
                    deferred[name] = list(fires[done:])
                    self.hooks.catch_up_bounded(name, done, len(fires) - done, CATCH_UP_SENDS)
                    break
                try:
                    before = plan_against(
                        self.config,
                        self.ledger,
                        closes - timedelta(microseconds=1),
                        self._options([name], whole=True),
                    )
                except Exception as exc:  # as in _plan
                    if not self.isolate_failures:
                        raise
                    self.errors[name] = exc
                    deferred[name] = list(fires[done:])
                    break
                kept = [s for s in before.sends if s.occurrence == label and s.key not in planning]
                planning.update(send.key for send in kept)
                closed.extend(kept)
                budget -= len(kept)
                reasons[(name, label)] = reason
        return closed, reasons

    def _options(self, only: list[str] | None, whole: bool = False) -> PlanOptions:
        return PlanOptions(
            part=None if whole else self.part,
            only=only,
            keep_sends=True,
            resend_uncertain=self.resend_uncertain,
            cache_dir=self.cache_dir,
            progress=self.hooks.planning,
        )

    def _names(self, only: list[str] | None) -> list[str]:
        if only is not None:
            return only
        return [name for name, s in self.config.schedules.items() if s.enabled]


def settle_abandoned(
    ledger: Ledger, sends: Sequence[Send], error: BaseException
) -> list[SendRecord]:
    """This run's rows among `sends` still `pending` after its sending failed: `uncertain`.

    The round no longer knows whether their requests left (a request may be
    on the wire when the error escapes), so they are never sent again unless
    a person says so. A row settled meanwhile (a request still finishing) is
    left as it was written; a late `sent` with its id still reaches a row
    marked here (the policy table). Returns the rows marked.
    """
    mine, now = this_run(), datetime.now(UTC)
    reason = (
        f"the round stopped on an error ({type(error).__name__}) after claiming it; "
        "its request may have gone out"
    )
    rows = ledger.get([send.key for send in sends]).values()
    marked = [
        row.settled(Status.UNCERTAIN, now, error=reason)
        for row in rows
        if row.status is Status.PENDING and row.claimed_by == mine
    ]
    with suppress(GuardLost):  # settled by its own request meanwhile: as it was written
        ledger.settle(marked)
    return marked


def mark_stale(ledger: Ledger) -> list[SendRecord]:
    """Turn the pending rows of runs that died mid-send into `uncertain`; return them."""
    now = datetime.now(UTC)
    return ledger.mark_stale(stale_rule(ledger, now), now)

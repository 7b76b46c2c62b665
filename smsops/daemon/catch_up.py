"""Catch-up: every due send of a closed window is accounted for, none passes unrecorded.

A schedule's round records as `expired` the sends still missing from the
windows that closed since its previous plan (`Round.run(overdue=...)`): a
fire that came while that schedule's previous round was still sending, or
while it was held, or while smsops was not running, or one whose run (a
replica, the process before a restart) stopped mid-round. An occurrence the
previous round left complete is not planned again.

After a restart (or on a replica's first round of a schedule) nothing is
known in memory: the ledger's newest occurrence of the schedule is where the
look-back starts, so every window that closed while smsops was down is
recorded (the newest `CLOSED_KEPT`; older ones, up to a week, are counted
in `missed`, which the runner logs and counts). A schedule with no rows owes
nothing for its past.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from smsops.config.loader import Config
from smsops.core.expiry import ExpiryReason
from smsops.core.skips import SkipReason
from smsops.engine.apply import ApplyReport
from smsops.engine.plan import Disposition, Plan
from smsops.engine.round import Overdue
from smsops.ledger.base import Ledger
from smsops.schedule.occurrences import (
    LOOKBACK,
    closed_between,
    fire_of,
    missed_since,
    occurrence_label,
)

log = logging.getLogger("smsops.run")
ODD_LABELS_SKIPPED = 10  # rows with labels that name no fire time, passed over at most


class CatchUp:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.planned_at: dict[str, datetime] = {}  # schedule -> when it was last planned
        self.complete: dict[str, set[str]] = {}  # schedule -> occurrences its last round finished
        # schedule -> fires no run reached (smsops was down), found at its first look-back
        self.missed: dict[str, list[datetime]] = {}
        # schedule -> closed windows a round left for the next (past its catch-up budget)
        self.backlog: dict[str, list[tuple[datetime, ExpiryReason]]] = {}
        self._looked_back: set[str] = set()  # each schedule's downtime is reported once

    def adopt(self, old: Config | None, config: Config, now: datetime) -> None:
        """A config (`old`: the one it replaces; None at process start) is adopted at `now`.

        A schedule a reload adds, enables again or redefines owes nothing for
        the time before: its windows are counted from now (a disabled schedule's
        windows were never due). Schedules gone or disabled are forgotten. At
        process start nothing is known: the first rounds look back (`overdue`).
        """
        enabled = {name: s for name, s in config.schedules.items() if s.enabled}
        for name in list(self.planned_at) + list(self.complete) + list(self.backlog):
            if name not in enabled:
                self.planned_at.pop(name, None)
                self.complete.pop(name, None)
                self.backlog.pop(name, None)
        if old is None:
            return
        for name, schedule in enabled.items():
            before = old.schedules.get(name)
            if before is None or not before.enabled or before != schedule:
                self.planned_at[name] = now
                self.complete.pop(name, None)
                self.backlog.pop(name, None)

    def planned(self, plan: Plan, at: datetime) -> None:
        """A round planned at `at` (in a worker thread; one schedule per round)."""
        for s in plan.schedules:
            self.planned_at[s.schedule] = at
        self._note(plan, None)

    def sent(self, plan: Plan, report: ApplyReport) -> None:
        """The round's sends are over: what it left complete."""
        self._note(plan, report)

    def incomplete(self, plan: Plan) -> None:
        """`plan` held a few shards of its schedule only (daemon/units.py): other replicas
        send the rest, so nothing of it is known complete here; a window of it that closes
        is planned whole by the next round (its sends missing recorded `expired` once)."""
        for s in plan.schedules:
            self.complete.pop(s.schedule, None)

    def overdue(self, config: Config, now: datetime, names: list[str]) -> Overdue:
        """Per schedule, the fires whose window closed since its last plan, unless complete.

        Their sends still missing are recorded `expired` by the round (see
        `Round.run`), so no due send passes unaccounted: a fire after the last
        plan was never reached (its schedule's previous round was still
        sending, or the schedule was held); one planned but left incomplete
        closed while sending. A schedule's first round in this process looks
        back from the ledger's newest occurrence of it (see the module's text).
        """
        overdue: dict[str, list[tuple[datetime, ExpiryReason]]] = {}
        for name in names:
            schedule = config.schedules.get(name)
            if schedule is None:
                continue
            since = self.planned_at.get(name)
            if since is None:
                fires = self._look_back(name, config, now)
            else:
                done = self.complete.get(name, set())
                fires = [
                    (fire, self._unreached(name, fire) if fire > since else ExpiryReason.SENDING)
                    for fire in closed_between(schedule, since, now)
                    if fire > since or occurrence_label(fire) not in done
                ]
            # what an earlier round left past its budget comes first, oldest first
            left = self.backlog.pop(name, [])
            waiting = {fire for fire, _ in left}
            fires = left + [f for f in fires if f[0] not in waiting]
            if fires:
                overdue[name] = fires
        return overdue

    def defer(self, deferred: Overdue) -> None:
        """Closed windows a round did not record: the schedule's next round takes them first."""
        for name, fires in deferred.items():
            if fires:
                self.backlog[name] = list(fires)

    def _look_back(
        self, name: str, config: Config, now: datetime
    ) -> list[tuple[datetime, ExpiryReason]]:
        """The windows closed since the ledger's newest occurrence of `name` (the newest kept).

        That occurrence itself too, and any overlapping it: the run that
        planned them may have stopped before finishing them (their sends still
        missing closed while it was sending); the later ones no run reached.
        Rows of a later occurrence than now (an `apply --at` ahead) do not count.
        """
        schedule = config.schedules[name]
        newest = self._newest_fire(name, now)
        if newest is None:
            return []  # no history (or only `once` rows): nothing was ever due
        if name not in self._looked_back:
            self._looked_back.add(name)
            missed = missed_since(schedule, newest, now)
            if missed:
                self.missed[name] = missed
        return [
            (fire, self._unreached(name, fire) if fire <= newest else ExpiryReason.NOT_REACHED)
            for fire in closed_between(schedule, max(newest, now - LOOKBACK), now)
        ]

    def _unreached(self, name: str, fire: datetime) -> ExpiryReason:
        """Why a closed occurrence this process never planned is incomplete.

        Rows of it in the ledger: another run claimed part of it and stopped
        mid-round (a live one holds the schedule's round until it is done).
        None: no run reached it.
        """
        label = occurrence_label(fire)
        after = occurrence_label(fire + timedelta(seconds=1))
        if self.ledger.newest_occurrence(name, after) == label:
            return ExpiryReason.STOPPED
        return ExpiryReason.NOT_REACHED

    def _newest_fire(self, name: str, now: datetime) -> datetime | None:
        """The newest fire time up to `now` the ledger holds rows of, for `name`.

        A label that names no UTC fire time (a row written by hand, a former
        recipient-local occurrence) is passed over, a few at most.
        """
        below = occurrence_label(now.replace(microsecond=0) + timedelta(seconds=1))
        for _ in range(ODD_LABELS_SKIPPED + 1):
            label = self.ledger.newest_occurrence(name, below)
            if label is None:
                return None
            fire = fire_of(label)
            if fire is not None:
                return fire
            below = label
        log.warning(
            "%s: its newest ledger rows name no fire time (e.g. %r): no look-back for "
            "windows closed while smsops was down",
            name,
            label,
            extra={"schedule": name},
        )
        return None

    def take_missed(self) -> dict[str, list[datetime]]:
        """The missed fires found since the last call, per schedule (for the log and metric)."""
        missed, self.missed = self.missed, {}
        return missed

    def _note(self, plan: Plan, report: ApplyReport | None) -> None:
        """Remember the occurrences a round left with every recipient accounted for.

        Complete: nothing left to send (all sent, failed, uncertain, expired
        or skipped), nothing another run holds, nothing held by quiet hours;
        after sending, only if the round finished (nothing not started, every
        result written). A catch-up need not plan those again.
        """
        finished = report is None or (
            report.not_started == 0 and report.unsettled == 0 and report.ledger_error is None
        )
        for s in plan.schedules:
            complete = (
                finished
                and not s.recipient_local
                and (report is not None or s.to_send == 0)
                and s.counts[Disposition.IN_FLIGHT] == 0
                and s.skip_counts[SkipReason.QUIET_HOURS] == 0
            )
            self.complete[s.schedule] = set(s.occurrences) if complete else set()

"""`plan --base` in as few reads of the audiences as it takes (docs/benchmarks.md §14).

`make_diff` on its own forecasts each changed schedule at base apart (its
audience read and every message rendered once more) and reads a changed
audience in full on both sides to compare its members. `plan_and_diff`
makes the same plan, forecast and diff with less reading:

- a changed schedule whose audience is unchanged (same members, same
  exclusions, no inline contacts, whose YAML places may move) has its base
  forecast planned in the head plan's read of that audience: a planner with
  the base's config and template given each member the head's planners get
  (`plan_with_next`'s riders). Its skips name the base's file, as its own
  read would;
- the members of a changed audience are collected in the passes that read
  it anyway: the head's plan or forecast, the base's forecast.

Whatever was not read that way is read as `make_diff` reads it.
tests/diff/test_base_one_read.py checks the result equals `make_diff`'s on
generated base/head pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from smsops.config.loader import Config
from smsops.core.recipient import Recipient
from smsops.core.skips import Skip
from smsops.engine.diff import ConfigDiff, Prepared, Sides, changed, make_diff
from smsops.engine.diff_samples import Members
from smsops.engine.forecast import Before, Forecast, forecast_from, next_to_plan
from smsops.engine.forecast import plan_with_forecast as plan_head
from smsops.engine.plan import Plan, SchedulePlan
from smsops.engine.planner import (
    LedgerView,
    PlanOptions,
    plan_with_next,
    respects_opt_out,
)
from smsops.engine.schedule_planner import SchedulePlanner
from smsops.ledger.base import SendRecord
from smsops.render.renderer import compile_templates


class MemberList(SchedulePlanner):
    """Plans nothing: rides a read (`read_together`) to keep the numbers of its members in
    file order, as `diff_samples.audience_delta` compares them; `fed` once it was read."""

    def __init__(self) -> None:  # nothing of a planner's state is needed
        self.numbers: Members = {}
        self.fed = False

    def start(self) -> None:
        self.fed = True

    def _member(self, member: Recipient | Skip) -> None:
        if isinstance(member, Recipient):
            self.numbers[member.phone] = None

    def read(self) -> None:
        return None


def plan_and_diff(
    base_name: str,
    base: Config,
    head: Config,
    ledger: LedgerView,
    at: datetime,
    horizon: timedelta,
    is_stale: Callable[[SendRecord], bool],
    names: list[str] | None,
    options: PlanOptions,
) -> tuple[Plan, Forecast, ConfigDiff]:
    """The head's plan and forecast (`plan_with_forecast`) and its diff against `base`
    (`make_diff`), the base's forecast of a changed schedule planned in the head's read."""
    old, audiences = changed(base, head)
    fires, ahead = next_to_plan(base, at, horizon, old, options)
    riders = _Riders(base, head, ledger, is_stale, audiences)
    for name, (fire, as_if_due) in ahead.items():
        riders.base_forecast(name, fire, as_if_due)
    for name, schedule in head.schedules.items():
        if schedule.audience in audiences:
            riders.head[name].append(riders.listed(schedule.audience, "head"))
    plan, forecast = plan_head(head, ledger, at, horizon, is_stale, names, options, riders.head)
    planned: dict[str, SchedulePlan] = {}
    for name, (fire, as_if_due) in ahead.items():
        planned[name] = riders.planned(name) or riders.alone(name, fire, as_if_due)
    made = forecast_from(base, fires, planned, Before(ledger, at, horizon, {}))
    before = {s.schedule: s for s in made.schedules}
    prepared = Prepared(before, riders.members())
    sides = Sides(ledger, at, forecast, options, is_stale)
    return plan, forecast, make_diff(base_name, base, head, sides, prepared)


class _Riders:
    """The planners and member lists given to the head's reads, and what they found."""

    def __init__(
        self,
        base: Config,
        head: Config,
        ledger: LedgerView,
        is_stale: Callable[[SendRecord], bool],
        audiences: list[str],
    ) -> None:
        self.base, self.head_config, self.ledger, self.is_stale = base, head, ledger, is_stale
        self.audiences = audiences
        self.head: dict[str, list[SchedulePlanner]] = {name: [] for name in head.schedules}
        self.riding: dict[str, tuple[SchedulePlanner, MemberList]] = {}
        self.lists: dict[tuple[str, str], list[MemberList]] = {}
        self._suppressed: frozenset[str] | None = None

    def listed(self, audience: str, side: str) -> MemberList:
        found = MemberList()
        self.lists.setdefault((audience, side), []).append(found)
        return found

    def base_forecast(self, name: str, fire: datetime, as_if_due: PlanOptions) -> None:
        """Schedule `name`'s next occurrence at base, to ride the head's read of its audience
        when that audience is the same on both sides."""
        audience = self.base.schedules[name].audience
        theirs = self.head_config.schedules.get(name)
        if theirs is None or theirs.audience != audience or audience in self.audiences:
            return
        if self.base.audiences[audience].contacts:
            return  # a contact's YAML place may differ between the sides: read at base
        template = self.base.schedules[name].template
        compiled = compile_templates(self.base, {template})
        held = self.suppressed() if respects_opt_out(self.base, name) else frozenset()
        rider = SchedulePlanner(
            self.base, compiled, name, fire, self.ledger, self.is_stale, as_if_due, held
        )
        if rider.reads():
            seen = MemberList()
            self.riding[name] = (rider, seen)
            self.head[name] += [rider, seen]

    def suppressed(self) -> frozenset[str]:
        if self._suppressed is None:
            self._suppressed = self.ledger.suppressed()
        return self._suppressed

    def planned(self, name: str) -> SchedulePlan | None:
        """The base forecast planned in a head read (None: no head read took it)."""
        if name not in self.riding or not self.riding[name][1].fed:
            return None
        found = self.riding[name][0].finish()
        audience = self.base.schedules[name].audience
        was = self.head_config.audiences[audience].source_path()
        now = self.base.audiences[audience].source_path()
        if was is not None and now is not None and was != now:
            found.skips = [_moved(skip, was, now) for skip in found.skips]
        return found

    def alone(self, name: str, fire: datetime, as_if_due: PlanOptions) -> SchedulePlan:
        """The base forecast in its own read of the audience, keeping its members if the
        audience changed."""
        audience = self.base.schedules[name].audience
        extra: dict[str, list[SchedulePlanner]] = {}
        if audience in self.audiences:
            extra[name] = [self.listed(audience, "base")]
        plan = plan_with_next(self.base, self.ledger, fire, self.is_stale, as_if_due, {}, extra)
        return plan[0].schedules[0]

    def members(self) -> dict[str, tuple[Members, Members]]:
        found = {}
        for audience in self.audiences:
            sides = [
                next((m.numbers for m in self.lists.get((audience, side), []) if m.fed), None)
                for side in ("base", "head")
            ]
            if sides[0] is not None and sides[1] is not None:
                found[audience] = (sides[0], sides[1])
        return found


def _moved(skip: Skip, was: Path, now: Path) -> Skip:
    """A skip found in the head's read, as the base's own read names it: its CSV file."""
    where = skip.where
    if where.file == was:
        where = replace(where, file=now)
    return replace(skip, detail=skip.detail.replace(str(was), str(now)), where=where)

"""The forecast: what each schedule will send at its next fires, due now or not.

A typed value (`Forecast`) computed by a pure function (`make_forecast`) from
the config, a time `at` and a horizon, with the ledger read-only; every view
in `smsops.report` reads it. The due-now plan says what `apply` would send at
`at`; the forecast says what the schedules will send after it, which is what
a reviewer of a pull request needs (a new daily cron is "nothing due" at noon
and 20,000 messages every morning).

For each schedule, enabled or not: its fire times in (at, at + horizon],
asked of `smsops.schedule` (the one implementation run mode wakes up by),
and its next occurrence planned as if due by the planner itself
(`PlanOptions.as_if_due`: the same rendering, skips, quiet hours, segments
and cost as a real plan). Per day, each fire is counted as sending what the
next one would: an estimate from the audience and templates as they are.
Recipient-local schedules fire at a wall time in each recipient's zone: their
fires are the wall times read as UTC, and the spread says when, in real time,
the next one reaches the zones of its recipients.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal

from smsops.config.loader import Config
from smsops.config.models import QuietHours, zone_info
from smsops.core.words import plural
from smsops.engine.limits import DAY, PerDay, exceeded, in_24_hours
from smsops.engine.plan import OverLimit, Plan, SchedulePlan
from smsops.engine.planner import (
    LedgerView,
    PlanOptions,
    make_plan,
    plan_with_next,
)
from smsops.engine.schedule_planner import SchedulePlanner
from smsops.ledger.base import SendRecord
from smsops.schedule.occurrences import ONCE, is_recipient_local, next_fire, occurrence_label
from smsops.schedule.zones import quiet_end

HORIZON = timedelta(days=7)
HORIZON_BOUNDS = (timedelta(hours=1), timedelta(days=31))
# Fire times counted per schedule at most: a minutely cron holds 44,640 in 31
# days; past this the per-day figures say "at least" (`capped`).
FIRES_COUNTED = 10_000
FIRES_LISTED = 10  # the first fire times each view names
# Money's arithmetic: room for every digit of a price (17 at most, read back from its
# float) times any count, where the default context keeps 28 and would round.
_MONEY = Context(prec=60)


def horizon_problem(horizon: timedelta) -> str | None:
    """Why a horizon cannot be used (None when it can)."""
    low, high = HORIZON_BOUNDS
    if not low <= horizon <= high:
        return "the horizon must be from 1h to 31d, e.g. 7d or 36h"
    return None


@dataclass(frozen=True)
class DayTotal:
    """What the fires of one day (UTC; a recipient-local schedule's wall date) send."""

    day: date
    fires: int
    messages: int
    segments: int
    cost: dict[str, Decimal]  # exact: the config's prices in decimal (`SchedulePlan.exact_cost`)


@dataclass(frozen=True)
class Spread:
    """When a recipient-local occurrence reaches its recipients, in real time."""

    zones: dict[str, int]  # sends per zone, most first
    earliest: datetime  # UTC
    latest: datetime  # UTC


@dataclass
class ScheduleForecast:
    schedule: str
    enabled: bool
    triggered: bool  # False: sent once, from the first apply (its send is in due now)
    recipient_local: bool
    fires: list[str]  # the first FIRES_LISTED occurrence labels in the horizon
    fire_count: int
    capped: bool  # more than FIRES_COUNTED fires: counts are lower bounds
    next_occurrence: str | None
    next: SchedulePlan | None  # the next occurrence as if due; None without a fire
    spread: Spread | None
    per_day: list[DayTotal]
    # The limits its next fire or its busiest day is over (enabled schedules
    # only: a disabled one sends nothing, so nothing is held).
    over_limits: list[OverLimit] = field(default_factory=list)


@dataclass
class Forecast:
    at: datetime
    horizon: timedelta
    schedules: list[ScheduleForecast]

    @property
    def end(self) -> datetime:
        return self.at + self.horizon

    def per_day(self) -> list[DayTotal]:
        """Every enabled schedule's days added up (a disabled one sends nothing)."""
        days: dict[date, list[DayTotal]] = {}
        for s in self.schedules:
            if s.enabled:
                for day in s.per_day:
                    days.setdefault(day.day, []).append(day)
        return [_added(day, totals) for day, totals in sorted(days.items())]

    @property
    def messages(self) -> int:
        return sum(day.messages for day in self.per_day())

    @property
    def segments(self) -> int:
        return sum(day.segments for day in self.per_day())

    def cost(self) -> dict[str, Decimal]:
        return _sum_costs([day.cost for day in self.per_day()])

    @property
    def capped(self) -> bool:
        return any(s.capped for s in self.schedules if s.enabled)

    def needs_approval(self) -> list[ScheduleForecast]:
        """The schedules a merge would have held: over a limit at their next fires."""
        return [s for s in self.schedules if s.over_limits]


def _added(day: date, totals: list[DayTotal]) -> DayTotal:
    return DayTotal(
        day,
        sum(t.fires for t in totals),
        sum(t.messages for t in totals),
        sum(t.segments for t in totals),
        _sum_costs([t.cost for t in totals]),
    )


def _sum_costs(costs: list[dict[str, Decimal]]) -> dict[str, Decimal]:
    # Money adds up in decimal: floats summed over days, schedules and providers drift
    # (350.55 a segment over a million recipients for a week loses cents).
    total: dict[str, Decimal] = {}
    for cost in costs:
        for currency, value in cost.items():
            total[currency] = _MONEY.add(total.get(currency, Decimal(0)), value)
    return dict(sorted(total.items()))


def next_cost(s: ScheduleForecast) -> dict[str, Decimal]:
    """What the schedule's next fire costs, exactly ({} without a price)."""
    nxt = s.next
    cost = None if nxt is None else nxt.exact_cost
    if nxt is None or cost is None or nxt.currency is None:
        return {}
    return {nxt.currency: cost}


def make_forecast(
    config: Config,
    ledger: LedgerView,
    at: datetime,
    horizon: timedelta,
    is_stale: Callable[[SendRecord], bool],
    names: list[str] | None = None,
    options: PlanOptions | None = None,
    due: Mapping[str, int] | None = None,
) -> Forecast:
    """The forecast of `names` (default: every schedule, enabled or not) after `at`.

    `options` carries what the plan was made with (samples, cache, progress);
    `due`, the sends of the due plan at `at` per schedule (`max_per_day` counts
    them). Each next occurrence is planned on its own; `plan_with_forecast`
    makes the same forecast with the due-now plan, reading each audience once.
    """
    fires, ahead = next_to_plan(config, at, horizon, names, options or PlanOptions())
    planned = {
        name: make_plan(config, ledger, fire, is_stale, as_if_due).schedules[0]
        for name, (fire, as_if_due) in ahead.items()
    }
    return forecast_from(config, fires, planned, Before(ledger, at, horizon, due or {}))


def plan_with_forecast(
    config: Config,
    ledger: LedgerView,
    at: datetime,
    horizon: timedelta,
    is_stale: Callable[[SendRecord], bool],
    names: list[str] | None = None,
    options: PlanOptions | None = None,
    riders: Mapping[str, list[SchedulePlanner]] | None = None,
) -> tuple[Plan, Forecast]:
    """The due-now plan (of `options.only`) and the forecast (of `names`) together.

    A schedule in both has its next occurrence planned in the same read of
    its audience as its due-now plan (`plan_with_next`); what either shows
    is what `make_plan` and `make_forecast` would (tests/forecast/
    test_forecast_reuse.py checks it on generated configs). `riders`: more planners given
    the members of a schedule's read (`plan_with_next`; engine/diff_pass.py).
    """
    options = options or PlanOptions()
    fires = _fire_times(config, at, horizon, names)
    due = options.only
    due = [n for n, s in config.schedules.items() if s.enabled] if due is None else due
    ahead = _next(config, fires, options, at)
    plan, planned = plan_with_next(
        config, ledger, at, is_stale, options, {n: ahead[n] for n in due if n in ahead}, riders
    )
    for name, (fire, as_if_due) in ahead.items():
        if name not in planned:
            alone = plan_with_next(config, ledger, fire, is_stale, as_if_due, {}, riders)[0]
            planned[name] = alone.schedules[0]
    sends = {s.schedule: s.to_send for s in plan.schedules}
    return plan, forecast_from(config, fires, planned, Before(ledger, at, horizon, sends))


def next_to_plan(
    config: Config, at: datetime, horizon: timedelta, names: list[str] | None, options: PlanOptions
) -> tuple[Fires, dict[str, tuple[datetime, PlanOptions]]]:
    """The fire times of `names` in the horizon, and each next occurrence with the options
    that plan it as if due (planned by the caller: then `forecast_from`)."""
    fires = _fire_times(config, at, horizon, names)
    return fires, _next(config, fires, options, at)


Fires = dict[str, tuple[list[datetime], bool]]


def _fire_times(config: Config, at: datetime, horizon: timedelta, names: list[str] | None) -> Fires:
    """Each chosen schedule's fire times in the horizon (see `_fires`)."""
    problem = horizon_problem(horizon)
    if problem is not None:
        raise ValueError(problem)
    chosen = list(config.schedules) if names is None else names
    return {name: _fires(config, name, at, at + horizon) for name in chosen}


def _next(
    config: Config, fires: Fires, options: PlanOptions, at: datetime
) -> dict[str, tuple[datetime, PlanOptions]]:
    """Each schedule's next fire and the options that plan it as if due; for an enabled
    `once` schedule with quiet hours, what they hold at `at` (`PlanOptions.after_quiet`)."""
    found: dict[str, tuple[datetime, PlanOptions]] = {}
    for name, (times, _) in fires.items():
        schedule = config.schedules[name]
        if times:
            label = _label(config, name, times[0])
            found[name] = (times[0], replace(options, only=[name], as_if_due=label))
        elif schedule.trigger is None and schedule.enabled and _quiet(config, name) is not None:
            found[name] = (at, replace(options, only=[name], as_if_due=ONCE, after_quiet=True))
    return {name: (when, replace(o, keep_sends=False)) for name, (when, o) in found.items()}


def _quiet(config: Config, name: str) -> QuietHours | None:
    schedule = config.schedules[name]
    return schedule.quiet_hours_for(config.templates[schedule.template])


def _label(config: Config, name: str, fire: datetime) -> str:
    return occurrence_label(fire, is_recipient_local(config.schedules[name]))


def forecast_from(
    config: Config, fires: Fires, planned: dict[str, SchedulePlan], before: Before
) -> Forecast:
    """The forecast of the schedules of `fires`, their next occurrences planned."""
    schedules = [
        _schedule(config, name, found, capped, planned.get(name), before)
        for name, (found, capped) in fires.items()
    ]
    return Forecast(before.at, before.horizon, schedules)


def _schedule(
    config: Config,
    name: str,
    fires: list[datetime],
    capped: bool,
    nxt: SchedulePlan | None,
    before: Before,
) -> ScheduleForecast:
    schedule = config.schedules[name]
    local = is_recipient_local(schedule)
    labels = [occurrence_label(fire, local) for fire in fires]
    spread = _spread(labels[0], nxt) if local and nxt is not None else None
    if schedule.trigger is None:  # a `once` schedule: what quiet hours hold, if anything
        spread = _held(config, name, nxt, before.at) if nxt is not None else None
        nxt = nxt if spread is not None else None
        fires, labels = ([spread.earliest], [ONCE]) if spread is not None else ([], [])
    per_day = _per_day(fires, nxt)
    return ScheduleForecast(
        schedule=name,
        enabled=schedule.enabled,
        triggered=schedule.trigger is not None,
        recipient_local=local,
        fires=labels[:FIRES_LISTED],
        fire_count=len(fires),
        capped=capped,
        next_occurrence=labels[0] if labels else None,
        next=nxt,
        spread=spread,
        per_day=per_day,
        over_limits=_over_limits(config, name, fires, nxt, before) if schedule.enabled else [],
    )


def _over_limits(
    config: Config, name: str, fires: list[datetime], nxt: SchedulePlan | None, before: Before
) -> list[OverLimit]:
    """The limits the next fire, or the busiest 24 hours of the horizon, is over: the
    check a due plan gets (engine/limits.py), on the forecast's figures."""
    if nxt is None:
        return []
    limits = config.limits(name)
    label = occurrence_label(fires[0], is_recipient_local(config.schedules[name]))
    per_day = None
    if nxt.to_send and limits.max_per_day is not None:  # a count in the ledger: when needed
        at = before.at
        times = [fire.astimezone(UTC) for fire in fires]
        claimed = before.claimed(name, times[0] - DAY) if times[0] - DAY < at else 0
        total, earlier, end = in_24_hours(times, nxt.to_send, at, claimed)
        shown = occurrence_label(end, is_recipient_local(config.schedules[name]))
        detail = f"the forecast sends {plural(total, 'message')} in the 24 hours to {shown}"
        if earlier:
            by = occurrence_label(at.replace(microsecond=0))  # views show times to the second
            detail = (
                f"{earlier:,} claimed by {by} and {total - earlier:,} at its "
                f"fires make {plural(total, 'message')} in the 24 hours to {shown}"
            )
        per_day = PerDay(total, detail)
    return exceeded(limits, nxt, f"its next fire ({label})", per_day)


@dataclass(frozen=True)
class Before:
    """The forecast's start: its time, horizon, and what is claimed by then (the ledger's
    rows, the due plan's sends per schedule)."""

    ledger: LedgerView
    at: datetime
    horizon: timedelta
    due: Mapping[str, int]

    def claimed(self, name: str, since: datetime) -> int:
        return self.ledger.claimed_since(name, since) + self.due.get(name, 0)


def _fires(config: Config, name: str, at: datetime, end: datetime) -> tuple[list[datetime], bool]:
    """Fire times in (at, end], at most FIRES_COUNTED; and whether more were left out."""
    schedule = config.schedules[name]
    found: list[datetime] = []
    cursor = at
    while (fire := next_fire(schedule, cursor)) is not None and fire.astimezone(UTC) <= end:
        if len(found) == FIRES_COUNTED:
            return found, True
        found.append(fire)
        cursor = fire
    return found, False


def _spread(label: str, planned: SchedulePlan) -> Spread | None:
    if not planned.local_zones:
        return None
    wall = datetime.fromisoformat(label)
    instants = [wall.replace(tzinfo=zone_info(z)).astimezone(UTC) for z in planned.local_zones]
    zones = dict(sorted(planned.local_zones.items(), key=lambda item: (-item[1], item[0])))
    return Spread(zones, min(instants), max(instants))


def _held(config: Config, name: str, planned: SchedulePlan, at: datetime) -> Spread | None:
    """When a `once` schedule's sends held by quiet hours at `at` go: as each zone's quiet
    hours end (the first run or apply after sends them); None when none are held."""
    quiet = _quiet(config, name)
    if quiet is None or not planned.to_send:
        return None
    ends = [quiet_end(quiet, zone_info(zone), at).astimezone(UTC) for zone in planned.local_zones]
    zones = dict(sorted(planned.local_zones.items(), key=lambda item: (-item[1], item[0])))
    return Spread(zones, min(ends), max(ends))


def _per_day(fires: list[datetime], planned: SchedulePlan | None) -> list[DayTotal]:
    if planned is None:
        return []
    # A recipient-local fire is a wall time read as UTC: its date is the wall date.
    days = Counter(fire.astimezone(UTC).date() for fire in fires)
    cost = planned.exact_cost if planned.to_send else Decimal(0)
    return [
        DayTotal(
            day,
            n,
            n * planned.to_send,
            n * planned.segments,
            {}
            if cost is None or planned.currency is None
            else {planned.currency: _MONEY.multiply(n, cost)},
        )
        for day, n in sorted(days.items())
    ]

"""The planner: config + a read-only view of the ledger + a time `at` → a `Plan`.

Pure: it reads the config's files and asks the ledger which keys exist, and
writes nothing. For each enabled schedule: the occurrences due at `at`
(fire <= at < fire + window; `once` for a schedule with no trigger), times
its audience; each desired send is looked up in what the ledger knows of its
occurrence (read once per occurrence) and counted as new, retry, sent,
uncertain, failed or in flight. Only the sends still to make are rendered.

Here: what a plan is asked with (`PlanOptions`, `LedgerView`) and the plan of
every schedule, with the forecast's next occurrence planned in the same read
(`plan_with_next`). One schedule's planning is `schedule_planner.py`, the read
of an audience shared by planners `audience_read.py`, what a plan makes of one
send (its disposition, its sample text) `planned_send.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from smsops.audience.shards import Part
from smsops.config.loader import Config
from smsops.config.secret_refs import provider_variables
from smsops.engine.audience_read import read_together
from smsops.engine.limits import over_limits
from smsops.engine.owner import stale_rule
from smsops.engine.plan import Plan, ProviderSeen, SchedulePlan
from smsops.engine.schedule_planner import SchedulePlanner
from smsops.ledger.base import Known, Ledger, SendRecord
from smsops.render.renderer import compile_templates


class LedgerView(Protocol):
    def get(self, keys: Iterable[str]) -> dict[str, SendRecord]: ...
    def known(self, schedule: str, occurrence: str) -> Known: ...
    def leases(self) -> dict[str, datetime]: ...
    def claimed_since(self, schedule: str, since: datetime) -> int: ...
    def suppressed(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class PlanOptions:
    only: list[str] | None = None  # schedule names; default every enabled one
    resend_uncertain: bool = False
    keep_sends: bool = False  # apply needs the messages; plan only counts them
    samples: int = 3
    # `smsops render`: every schedule's next occurrence whether due or not, no
    # quiet hours; with an empty ledger it previews every message.
    preview: bool = False
    # Where normalised CSV numbers are kept (the CLI and the daemon pass the
    # SMSOPS_CACHE_DIR setting); None: normalised afresh, nothing written.
    cache_dir: Path | None = None
    # Told the audience rows read, every `progress_every` and the rest at each
    # schedule's end (CI logs of long plans: cli/progress.py).
    progress: Callable[[int], None] | None = None
    progress_every: int = 10_000
    # The forecast (engine/forecast.py): this occurrence label is planned as
    # the only one due, for every recipient (recipient-local: at the label's
    # wall time in each recipient's zone, quiet hours judged there).
    as_if_due: str | None = None
    # The forecast of a `once` schedule (with `as_if_due`): only the sends quiet hours
    # hold at `at`, each counted as sent when they end in the zone that holds it
    # (`local_zones`); the rest go in the due plan.
    after_quiet: bool = False
    # A replica's units (daemon/units.py): only these shards of one occurrence are planned,
    # so K replicas share the reading, rendering and sending of a big occurrence.
    part: Part | None = None


def make_plan(
    config: Config,
    ledger: LedgerView,
    at: datetime,
    is_stale: Callable[[SendRecord], bool],
    options: PlanOptions | None = None,
) -> Plan:
    return plan_with_next(config, ledger, at, is_stale, options or PlanOptions(), {})[0]


def plan_with_next(
    config: Config,
    ledger: LedgerView,
    at: datetime,
    is_stale: Callable[[SendRecord], bool],
    options: PlanOptions,
    ahead: Mapping[str, tuple[datetime, PlanOptions]],
    riders: Mapping[str, list[SchedulePlanner]] | None = None,
) -> tuple[Plan, dict[str, SchedulePlan]]:
    """The plan at `at`, and each schedule of `ahead` planned at its (time, options) too:
    the forecast's next occurrence (options with `as_if_due`), in the same read of the
    audience as its due-now plan, with its renders when the template allows
    (`CompiledTemplate.same_every_occurrence`): what a second planning would find, for
    what the audience read and the renders cost once (docs/benchmarks.md §13). `riders`:
    more planners given each member of a schedule's read, if it is read (engine/diff_pass)."""
    names = (
        options.only
        if options.only is not None
        else [name for name, s in config.schedules.items() if s.enabled]
    )
    compiled = compile_templates(config, {config.schedules[name].template for name in names})
    # Read once per plan: a set lookup per recipient, only where a schedule honours it.
    honours = [name for name in names if respects_opt_out(config, name)]
    suppressed = ledger.suppressed() if honours else frozenset()
    schedules, planned = [], {}
    for name in names:
        held = suppressed if name in honours else frozenset()
        planner = SchedulePlanner(config, compiled, name, at, ledger, is_stale, options, held)
        group = [planner] if planner.reads() else []
        if name in ahead:
            when, as_if_due = ahead[name]
            twin = SchedulePlanner(config, compiled, name, when, ledger, is_stale, as_if_due, held)
            if group:
                twin.lender = planner if planner.template.same_every_occurrence else None
                planner.lends = twin.lender is not None
            group.append(twin)
        if group:
            read_together([*group, *(riders or {}).get(name, [])])
        schedules.append(planner.finish())
        if name in ahead:
            planned[name] = group[-1].finish()
    if not options.preview and options.as_if_due is None:  # the forecast judges its own
        for schedule in schedules:
            schedule.over_limits = over_limits(config, ledger, at, schedule)
    return Plan(at, schedules, providers=providers_in_use(config, schedules)), planned


def respects_opt_out(config: Config, schedule: str) -> bool:
    """Whether a schedule skips suppressed numbers: marketing always, others when it says so."""
    found = config.schedules[schedule]
    template = config.templates[found.template]
    return template.category == "marketing" or found.respect_opt_out


def providers_in_use(config: Config, schedules: list[SchedulePlan]) -> list[ProviderSeen]:
    """Each provider the planned schedules send through, in order of first use."""
    variables = provider_variables(config)
    seen: dict[str, ProviderSeen] = {}
    for schedule in schedules:
        for name in schedule.providers:
            if name not in seen:
                provider = config.providers[name]
                env = tuple(dict.fromkeys(variable for variable, _ in variables[name]))
                seen[name] = ProviderSeen(name, provider.type, provider.destination(), env)
    return list(seen.values())


def plan_against(
    config: Config, ledger: Ledger | LedgerView, at: datetime, options: PlanOptions
) -> Plan:
    """The plan at `at`; whether a pending row is stale is judged by the real clock.

    Here, not in engine.round: `smsops plan` needs it and nothing of a round's
    sending (httpx, aiohttp and what they load, ~0.3 s of its start).
    """
    return make_plan(config, ledger, at, stale_rule(ledger, datetime.now(UTC)), options)

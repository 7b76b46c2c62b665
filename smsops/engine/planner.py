"""The planner: config + a read-only view of the ledger + a time `at` → a `Plan`.

Pure: it reads the config's files and asks the ledger which keys exist, and
writes nothing. For each enabled schedule: the occurrences due at `at`
(fire <= at < fire + window; `once` for a schedule with no trigger), times
its audience; each desired send is looked up in what the ledger knows of its
occurrence (read once per occurrence) and counted as new, retry, sent,
uncertain, failed or in flight. Only the sends still to make are rendered.

Over 500 lines on purpose: the tuned loop over a million recipients, the
bookkeeping it feeds, and the forecast's next occurrence planned in the same
read (`plan_with_next`) read best in one place (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from smsops.audience.recipients import recipients
from smsops.audience.shards import Part, shard_of
from smsops.config.loader import Config
from smsops.config.models import Audience
from smsops.config.secret_refs import provider_variables
from smsops.core.phone import hide_number, mask
from smsops.core.recipient import Recipient
from smsops.core.skips import Skip, SkipReason
from smsops.engine.limits import over_limits
from smsops.engine.messages import message_for
from smsops.engine.owner import stale_rule
from smsops.engine.plan import Disposition, Plan, ProviderSeen, Sample, SchedulePlan, Send
from smsops.engine.sendable import NO_SECRETS, ProviderCheck
from smsops.ledger.base import DONE, Known, Ledger, OccurrenceKeys, SendRecord, Status
from smsops.ledger.held import WHOLE
from smsops.ledger.policy import may_claim
from smsops.providers.registry import adapter_for
from smsops.render.renderer import (
    CompiledTemplate,
    Rendered,
    compile_templates,
    render,
    review_hash,
)
from smsops.schedule.occurrences import (
    ONCE,
    due_occurrences,
    is_recipient_local,
    next_fires,
    occurrence_label,
    trigger_zone,
    window_closes,
    window_fits_all,
)
from smsops.schedule.zones import quiet_zone, recipient_zones

# Sends already made are not rendered again, except this many per schedule to
# tell whether the text would read differently today (a full check would
# render every message ever sent: the cost of a re-plan).
CHANGE_CHECKS = 1000
NO_FUTURE_FIRE = "none (no fire time after --at)"
# The key of a desired send that needs none (see `_read_known`): read only for kept sends.
NO_KEY = ""
NEXT_FIRES = 3
# Audience members given to a planner at a time (`read_together`). Small: a member kept
# alive in a batch outlives the collector's youngest generation, and batches of 10,000 made
# a million-row re-plan ~0.5 s slower, where 64-128 make it ~0.3 s faster than one at a time.
BATCH = 128
_ASK = ()  # not a `ProviderCheck.by_region` answer: the region is asked through `_member`
PRUNED = "its occurrence was pruned from the ledger (`ledger prune`): it is never sent again"
# A template that reads the number can print it transformed (`|reverse`,
# `|join('-')`, `|int + 1`), which masking by spelling cannot find: its
# sample texts are withheld in every view; counts, segments and encodings stay.
WITHHELD = "(not shown: the template uses the recipient's number)"


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


def withholds(template: CompiledTemplate, audience: Audience) -> bool:
    """Whether the template reads the recipient's number (its samples are withheld)."""
    return bool(template.variables & {"recipient", "phone", audience.phone_column})


def sample_text(withhold: bool, text: str, phone: str) -> str:
    """A sample as plans show it: never a full number, nor one a template transformed."""
    return WITHHELD if withhold else hide_number(text, phone)


class _Desired(NamedTuple):
    key: str
    recipient: Recipient
    occurrence: str
    zones: tuple[ZoneInfo, ...]
    part: int  # where its skips count (`SchedulePlan.skip`)


class SchedulePlanner:
    def __init__(
        self,
        config: Config,
        compiled: dict[str, CompiledTemplate],
        name: str,
        at: datetime,
        ledger: LedgerView,
        is_stale: Callable[[SendRecord], bool],
        options: PlanOptions,
        suppressed: frozenset[str],
    ) -> None:
        self.config, self.name, self.at = config, name, at
        self.suppressed = suppressed
        self.schedule = config.schedules[name]
        self.template = compiled[self.schedule.template]
        self.ledger, self.is_stale, self.options = ledger, is_stale, options
        self.providers = ProviderCheck(
            [adapter_for(p, config.providers[p], NO_SECRETS) for p in self.schedule.providers]
        )
        self.price = config.providers[self.schedule.providers[0]].price()
        self.local = is_recipient_local(self.schedule) and not options.preview
        self.zone = trigger_zone(self.schedule)
        quiet = self.schedule.quiet_hours_for(self.template.config)
        self.quiet = None if options.preview else quiet
        self.needs_zones = self.local or self.quiet is not None
        audience = config.audiences[self.schedule.audience]
        self.column = audience.timezone_column
        self.withhold = withholds(self.template, audience)
        self.due_by_zones: dict[tuple[str, ...], tuple[list[str], list[str]]] = {}
        self.known: dict[str, tuple[Known, OccurrenceKeys | None]] = {}
        self.closes: dict[tuple[str, tuple[ZoneInfo, ...]], datetime | None] = {}
        self.sent = 0
        self.to_check: list[_Desired] = []  # already sent: would the text change today?
        # Planned in one read with another occurrence of its schedule (plan_with_next):
        # the planner that keeps its last render, and the one that takes it.
        self.lends = False
        self.last: tuple[Recipient, Rendered | Skip] | None = None
        self.lender: SchedulePlanner | None = None
        upcoming = next_fires(self.schedule, at, NEXT_FIRES)
        self.result = SchedulePlan(
            schedule=name,
            template=self.schedule.template,
            audience=self.schedule.audience,
            providers=self.schedule.providers,
            occurrences=self._due(upcoming),
            next_fires=[occurrence_label(fire) for fire in upcoming],
            recipient_local=self.local,
            cost=0.0 if self.price else None,
            currency=self.price.currency if self.price else None,
        )

    def _due(self, upcoming: list[datetime]) -> list[str]:
        if self.local:
            return []  # per recipient, see _occurrences
        if self.options.as_if_due is not None:
            return [self.options.as_if_due]
        if self.options.preview:
            if self.schedule.trigger is None:
                return [ONCE]
            return [occurrence_label(upcoming[0]) if upcoming else NO_FUTURE_FIRE]
        return due_occurrences(self.schedule, self.at)

    def reads(self) -> bool:
        """Whether the audience is read (nothing due: it is left unread)."""
        return self.local or bool(self.result.occurrences)

    def run(self) -> SchedulePlan:
        if self.reads():
            read_together([self])
        return self.finish()

    def start(self) -> None:
        excluded = self.config.audiences[self.schedule.audience].exclude
        self.result.exclusions = dict.fromkeys(excluded, 0)  # an idle one shows as 0

    def read(self) -> None:
        """After the last member: the sent ones counted, the first of them rendered again."""
        if self.sent:
            self.result.counts[Disposition.SENT] += self.sent
        self._check_changes()

    def finish(self) -> SchedulePlan:
        if self.local:
            self.result.occurrences = sorted(
                {o for due, _ in self.due_by_zones.values() for o in due}
            )
        if (cost := self.result.exact_cost) is not None:
            self.result.cost = float(cost)
        return self.result

    def _member(self, member: Recipient | Skip) -> None:
        part = self.options.part
        if isinstance(member, Skip):  # no number, no shard: shard 0's holder counts it
            if part is None or part.counts_skips:
                self.result.skip(member, part=WHOLE if part is None or part.whole else 0)
            return
        # `_shard` asked only when the plan keeps some shards: a call a row is ~0.05 s a million
        shard = WHOLE if part is None or part.whole else self._shard(member.phone)
        if shard is None:
            return  # another unit's member, skipped or not
        blocked = self.providers.skip(member)
        if blocked is not None:
            self.result.skip(blocked, part=shard)
            return
        zones: tuple[ZoneInfo, ...] = ()
        if self.needs_zones:
            found = recipient_zones(member, self.column, self.zone)
            if isinstance(found, str):
                skip = Skip(SkipReason.UNKNOWN_TIMEZONE, found, member.where)
                self.result.skip(skip, part=shard)
                return
            zones = found
        local = self.local
        occurrences = self._occurrences(member, zones, shard) if local else self.result.occurrences
        if part is not None:  # another due occurrence is another unit's
            occurrences = [o for o in occurrences if part.covers(o)]
        for occurrence in occurrences:  # rendered only once the ledger says it is needed
            known, keys = self.known.get(occurrence) or self._read_known(occurrence)
            if known.pruned:  # its rows were pruned: sent or settled long ago, never again
                skip = Skip(SkipReason.PRUNED, PRUNED, member.where)
                self.result.skip(skip, occurrence, shard)
                continue
            if keys is None:  # the ledger holds nothing of it and no send is kept: no key
                self._count(_Desired(NO_KEY, member, occurrence, zones, shard), None)
                continue
            number = keys.number(member.phone)
            if number in known.done:
                self.sent += 1  # into result.counts at the end: an enum hashes in Python
                if len(self.to_check) < CHANGE_CHECKS:
                    key = keys.text(number)
                    self.to_check.append(_Desired(key, member, occurrence, zones, shard))
                continue
            key = keys.text(number)
            self._count(_Desired(key, member, occurrence, zones, shard), known.open.get(key))

    def _members(self, batch: list[Recipient | Skip]) -> None:
        """`_member` of each, in order; the common case of a plan of one occurrence for
        every member (no shards, zones or quiet hours) tested in one loop with its
        lookups made once per batch: attribute reads and a call a row are ~0.2 s of a
        million-row re-plan (docs/benchmarks.md §12)."""
        plain = self._plain()
        if plain is None:
            for member in batch:
                self._member(member)
            return
        occurrence, known, keys = plain
        number, done, blocked = keys.number, known.done, self.providers.by_region
        to_check = self.to_check
        checks = CHANGE_CHECKS - len(to_check)  # `_member`'s test, counted down here
        sent = 0
        for member in batch:
            # A Recipient of a region known to be open (`ProviderCheck.skip` is None); any
            # other member (a Skip, a region not asked yet or blocked) takes `_member`.
            if type(member) is not Recipient or blocked.get(member.region, _ASK) is not None:
                self._member(member)
                checks = CHANGE_CHECKS - len(to_check)
                continue
            found = number(member.phone)
            if found in done:
                sent += 1
                if checks > 0:  # kept for the text check (`_member`'s): the first few
                    checks -= 1
                    to_check.append(_Desired(keys.text(found), member, occurrence, (), WHOLE))
                continue
            key = keys.text(found)
            self._count(_Desired(key, member, occurrence, (), WHOLE), known.open.get(key))
        self.sent += sent

    def _plain(self) -> tuple[str, Known, OccurrenceKeys] | None:
        """(occurrence, what the ledger holds of it, its keys) when every member is planned
        for that one occurrence as `_member` would (whole, no zones, not pruned, keyed)."""
        occurrences = self.result.occurrences
        if self.options.part is not None or self.needs_zones or len(occurrences) != 1:
            return None
        known, keys = self.known.get(occurrences[0]) or self._read_known(occurrences[0])
        if known.pruned or keys is None:
            return None
        return occurrences[0], known, keys

    def _shard(self, number: str) -> int | None:
        """The part the member's skips count in: its shard when the plan keeps some
        shards, else WHOLE; None when it is another unit's."""
        part = self.options.part
        if part is None or part.whole:
            return WHOLE
        shard = shard_of(number, part.count)
        return shard if shard in part.shards else None

    def _read_known(self, occurrence: str) -> tuple[Known, OccurrenceKeys | None]:
        """What the ledger holds for an occurrence, read once per plan; and its keys,
        None when nothing needs one (an occurrence the ledger has no row of, in a plan
        that keeps no sends: a first plan, the forecast's next occurrence)."""
        known = self.ledger.known(self.name, occurrence)
        needed = known.done or known.open or self.options.keep_sends
        keys = OccurrenceKeys(self.name, occurrence) if needed else None
        found = self.known[occurrence] = (known, keys)
        return found

    def _occurrences(self, member: Recipient, zones: tuple[ZoneInfo, ...], shard: int) -> list[str]:
        """Due occurrences in the recipient's own zone (recipient-local schedules).

        A number that may be in several zones gets an occurrence only while it
        is due in all of them; if its window can never be open in all of them
        at once, that is said instead of waiting forever.
        """
        names = tuple(zone.key for zone in zones)
        if names not in self.due_by_zones:
            self.due_by_zones[names] = self._due_everywhere(zones)
        due, never = self.due_by_zones[names]
        for occurrence in never:
            detail = (
                f"the number may be in {', '.join(names)}; its window for {occurrence} "
                "is never open in all of them at once; give the audience a timezone_column"
            )
            skip = Skip(SkipReason.UNKNOWN_TIMEZONE, detail, member.where)
            self.result.skip(skip, occurrence, shard)
        return due

    def _due_everywhere(self, zones: tuple[ZoneInfo, ...]) -> tuple[list[str], list[str]]:
        """(due in every zone, due in some but never in all at once)."""
        label = self.options.as_if_due
        if label is not None:  # the forecast: that occurrence, if it can be open in all
            fits = len(zones) == 1 or window_fits_all(self.schedule, label, zones)
            return ([label], []) if fits else ([], [label])
        each = [set(due_occurrences(self.schedule, self.at, zone)) for zone in zones]
        everywhere = set.intersection(*each)
        somewhere = set.union(*each) - everywhere
        never = [label for label in somewhere if not window_fits_all(self.schedule, label, zones)]
        return sorted(everywhere), sorted(never)

    def _count(self, desired: _Desired, record: SendRecord | None) -> None:
        disposition = self._disposition(record)
        if disposition.sends and self.suppressed and desired.recipient.phone in self.suppressed:
            # Before anything is rendered or claimed; what was sent before stays counted.
            detail = "on the ledger's suppression list (STOP); `smsops suppressions list` shows it"
            skip = Skip(SkipReason.OPTED_OUT, detail, desired.recipient.where)
            self.result.skip(skip, desired.occurrence, desired.part)
            return
        quiet = self.quiet
        held = None
        if disposition.sends and quiet is not None:
            zone = quiet_zone(quiet, desired.zones, self._instant(desired))
            if self.options.after_quiet:
                if zone is None:
                    return  # the due plan sends it now
                held = zone
            elif zone is not None:
                detail = (
                    f"quiet hours {quiet.start:%H:%M}-{quiet.end:%H:%M} in {zone.key}; "
                    "a later run inside the window sends it"
                )
                skip = Skip(SkipReason.QUIET_HOURS, detail, desired.recipient.where)
                self.result.skip(skip, desired.occurrence, desired.part)
                return
        if not disposition.sends:
            self.result.counts[disposition] += 1
            return
        rendered = self._render(desired)
        if isinstance(rendered, Skip):
            self.result.skip(rendered, desired.occurrence, desired.part)
            return
        self.result.counts[disposition] += 1
        self._will_send(desired, rendered, held)

    def _instant(self, desired: _Desired) -> datetime:
        """When the send would go: `at`, or for a forecast of a recipient-local
        occurrence, its wall time in the recipient's (first) zone."""
        if self.local and self.options.as_if_due is not None and desired.zones:
            return datetime.fromisoformat(desired.occurrence).replace(tzinfo=desired.zones[0])
        return self.at

    def _check_changes(self) -> None:
        """Render the first sent messages again: would any read differently today?"""
        records = self.ledger.get(desired.key for desired in self.to_check)
        for desired in self.to_check:
            record, rendered = records.get(desired.key), self._render(desired)
            if record is not None and not isinstance(rendered, Skip):
                self.result.checked += 1
                self.result.changed += record.text_hash != rendered.text_hash

    def _render(self, desired: _Desired) -> Rendered | Skip:
        member, occurrence = desired.recipient, desired.occurrence
        lender = self.lender
        if lender is not None and (last := lender.last) is not None and last[0] is member:
            return last[1]  # the same text: see plan_with_next
        rendered = render(self.template, self.name, self.schedule.vars, member, occurrence, self.at)
        if self.lends:
            self.last = (member, rendered)
        return rendered

    def _disposition(self, record: SendRecord | None) -> Disposition:
        return disposition(record, self.is_stale, self.options.resend_uncertain)

    def _will_send(self, desired: _Desired, rendered: Rendered, held: ZoneInfo | None) -> None:
        member, result = desired.recipient, self.result
        result.segments += rendered.segments
        result.encodings[rendered.encoding] += 1
        if held is not None:
            result.local_zones[held.key] += 1
        elif self.local and desired.zones:
            result.local_zones[desired.zones[0].key] += 1
        if self.price is not None:  # into result.cost at the end, summed exactly
            result.priced[self.price.for_region(member.region)] += rendered.segments
        if len(result.samples) < self.options.samples:
            result.samples.append(
                Sample(
                    mask(member.phone),
                    desired.occurrence,
                    rendered.encoding,
                    rendered.segments,
                    # plans never show a full number, nor one a template transformed
                    sample_text(self.withhold, rendered.text, member.phone),
                )
            )
        if self.options.keep_sends:
            result.sends.append(
                Send(
                    key=desired.key,
                    schedule=self.name,
                    occurrence=desired.occurrence,
                    template=self.schedule.template,
                    providers=tuple(self.schedule.providers),
                    message=message_for(rendered, member, self.template.config),
                    text_hash=rendered.text_hash,
                    segments=rendered.segments,
                    closes=self._closes(desired),
                    review_hash=review_hash(
                        self.template,
                        self.name,
                        self.schedule.vars,
                        member,
                        desired.occurrence,
                        rendered,
                    ),
                )
            )

    def _closes(self, desired: _Desired) -> datetime | None:
        """When the send's window closes (per occurrence, and zones for recipient-local)."""
        zones = desired.zones if self.local else ()
        found = (desired.occurrence, zones)
        if found not in self.closes:
            self.closes[found] = window_closes(self.schedule, desired.occurrence, zones)
        return self.closes[found]


def disposition(
    record: SendRecord | None, is_stale: Callable[[SendRecord], bool], resend_uncertain: bool
) -> Disposition:
    """What the claim will do with this row, asked of the policy table (`may_claim`)."""
    if record is not None and record.status in DONE:
        return Disposition.SENT
    if record is not None and record.status is Status.EXPIRED:
        return Disposition.EXPIRED
    if record is not None and record.status is Status.PENDING:
        if not is_stale(record):
            return Disposition.IN_FLIGHT
        # a run that died: apply marks it uncertain first, then the claim sees that
        record = replace(record, status=Status.UNCERTAIN)
    if may_claim(record, resend_uncertain=resend_uncertain):
        if record is None:
            return Disposition.NEW
        return Disposition.RETRY if record.status is Status.FAILED else Disposition.RESEND
    assert record is not None  # a missing row is always claimable
    return Disposition.FAILED if record.status is Status.FAILED else Disposition.UNCERTAIN


def read_together(planners: list[SchedulePlanner]) -> None:
    """One read of the first planner's audience, each member given to every planner."""
    first = planners[0]
    for planner in planners:
        planner.start()
    audience = recipients(first.config, first.schedule.audience, first.options.cache_dir)
    # Given in batches (`_members`); several planners each member in turn, as a twin takes
    # its lender's last render (`_render`).
    members_ = planners[0]._members if len(planners) == 1 else _each(planners)
    tell, every = first.options.progress, first.options.progress_every
    read = 0  # since the last told: told every `every` rows, the rest at the end
    while batch := list(islice(audience, BATCH if tell is None else min(BATCH, every - read))):
        members_(batch)
        if tell is not None and (read := read + len(batch)) == every:
            tell(read)
            read = 0
    if tell is not None and read:
        tell(read)
    for planner in planners:
        planner.read()


def _each(planners: list[SchedulePlanner]) -> Callable[[list[Recipient | Skip]], None]:
    members = [planner._member for planner in planners]

    def each(batch: list[Recipient | Skip]) -> None:
        for member in batch:
            for member_ in members:
                member_(member)

    return each


def plan_against(
    config: Config, ledger: Ledger | LedgerView, at: datetime, options: PlanOptions
) -> Plan:
    """The plan at `at`; whether a pending row is stale is judged by the real clock.

    Here, not in engine.round: `smsops plan` needs it and nothing of a round's
    sending (httpx, aiohttp and what they load, ~0.3 s of its start).
    """
    return make_plan(config, ledger, at, stale_rule(ledger, datetime.now(UTC)), options)

"""One schedule's planning (`SchedulePlanner`): each audience member checked (shard,
provider region, zones), its desired sends looked up in what the ledger knows of each
due occurrence, counted, and the ones still to make rendered and kept.

Over 300 lines on purpose: the tuned loop over a million recipients (`_members`) and
the bookkeeping it feeds read best beside the per-member path they must match
(`_member`; docs/benchmarks.md). The plan of every schedule: planner.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from smsops.audience.shards import shard_of
from smsops.config.loader import Config
from smsops.core.phone import mask
from smsops.core.recipient import Recipient
from smsops.core.skips import Skip, SkipReason
from smsops.engine.audience_read import read_together
from smsops.engine.messages import message_for
from smsops.engine.plan import Disposition, Sample, SchedulePlan, Send
from smsops.engine.planned_send import disposition, sample_text, withholds
from smsops.engine.sendable import NO_SECRETS, ProviderCheck
from smsops.ledger.base import Known, SendRecord
from smsops.ledger.held import WHOLE
from smsops.ledger.records import OccurrenceKeys
from smsops.providers.registry import adapter_for
from smsops.render.renderer import CompiledTemplate, Rendered, render, review_hash
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

if TYPE_CHECKING:
    from smsops.engine.planner import LedgerView, PlanOptions

# Sends already made are not rendered again, except this many per schedule to
# tell whether the text would read differently today (a full check would
# render every message ever sent: the cost of a re-plan).
CHANGE_CHECKS = 1000
NO_FUTURE_FIRE = "none (no fire time after --at)"
# The key of a desired send that needs none (see `_read_known`): read only for kept sends.
NO_KEY = ""
NEXT_FIRES = 3
_ASK = ()  # not a `ProviderCheck.by_region` answer: the region is asked through `_member`
PRUNED = "its occurrence was pruned from the ledger (`ledger prune`): it is never sent again"


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

"""The plan: a typed value saying what each schedule would send now, and why not the rest.

The planner builds it; `plan` prints it (text, markdown, JSON) and `apply`
sends its `sends`. Counts are always complete; lists (samples, skips) are
kept short so a plan for a million recipients stays small.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from smsops.core.skips import Skip, SkipReason
from smsops.ledger.held import WHOLE
from smsops.ledger.receipts import NEVER_SENT, LastDelivery
from smsops.providers.base import Message

KEPT_SKIPS = 50


class Disposition(StrEnum):
    """Where one desired send stands against the ledger."""

    NEW = "new"  # never claimed: send
    RETRY = "retry"  # failed before, certainly not accepted: send again
    RESEND = "resend"  # uncertain, resent because --resend-uncertain was given
    SENT = "sent"  # the provider took it (sent, delivered or undelivered)
    UNCERTAIN = "uncertain"  # may have gone out; not resent unless asked
    FAILED = "failed"  # rejected; not resent
    IN_FLIGHT = "in_flight"  # another live run holds the claim
    EXPIRED = "expired"  # its window closed before it went out; never sent

    @property
    def sends(self) -> bool:
        return self in SENDING

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


SENDING = frozenset({Disposition.NEW, Disposition.RETRY, Disposition.RESEND})


@dataclass(frozen=True, slots=True)
class Send:
    """One message to send now: its ledger identity and what goes to the provider."""

    key: str
    schedule: str
    occurrence: str
    template: str
    providers: tuple[str, ...]  # the failover list, first choice first
    message: Message
    text_hash: str
    segments: int
    # When the occurrence's window closes (for `timezone: recipient`, the
    # earliest close among the recipient's zones); None: `once`, no window.
    # After it the send is never claimed: it is recorded `expired` instead.
    closes: datetime | None = None
    # What a saved plan compares (`renderer.review_hash`): `text_hash`, or for a
    # template that reads `now`, the hash of its text with `now` pinned.
    review_hash: str = ""
    # Parts of the text no answer may carry on (a one-time code): a provider that echoes
    # the request in its error would put them in the ledger's error and every view of it.
    private: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sample:
    masked_phone: str
    occurrence: str
    encoding: str
    segments: int
    text: str


@dataclass(frozen=True)
class OverLimit:
    """A guardrail a schedule's plan is over: the limit, what it allows, the plan's figure."""

    limit: str  # max_recipients, max_segments, max_cost, max_per_day
    allowed: float
    figure: float
    detail: str  # how the figure is made, e.g. "this plan sends 250 messages"

    def __str__(self) -> str:
        return f"{self.limit} {_number(self.allowed)}: {self.detail}"


def exact(value: float) -> Decimal:
    """A number read from the config as the decimal it was written as (`0.1`, not 0.1000...0055)."""
    return Decimal(repr(float(value)))


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


@dataclass
class SchedulePlan:
    schedule: str
    template: str
    audience: str
    providers: list[str]
    occurrences: list[str]  # due now
    next_fires: list[str]  # after `at`
    recipient_local: bool = False
    counts: Counter[Disposition] = field(default_factory=Counter)
    changed: int = 0  # already sent, but the text would differ today (among `checked`)
    checked: int = 0  # already-sent messages rendered again to tell (at most CHANGE_CHECKS)
    segments: int = 0  # of the sends
    cost: float | None = None  # of the sends; None when no price is configured
    currency: str | None = None
    encodings: Counter[str] = field(default_factory=Counter)
    samples: list[Sample] = field(default_factory=list)
    skip_counts: Counter[SkipReason] = field(default_factory=Counter)
    skips: list[Skip] = field(default_factory=list)
    # The same skips per due occurrence and part (`skips_by_occurrence`): those of one
    # occurrence (opted out, quiet hours, a render), and those of the member
    # itself (an invalid number, a duplicate...), which count in every one. The
    # part: the member's shard in a plan of some shards (`PlanOptions.part`), else WHOLE.
    skips_at: dict[tuple[str, int], Counter[SkipReason]] = field(default_factory=dict)
    skips_every: dict[int, Counter[SkipReason]] = field(default_factory=dict)
    sends: list[Send] = field(default_factory=list)  # kept only when asked (apply)
    # Each audience the schedule's audience excludes -> the recipients it removed;
    # filled when the audience is read (empty when nothing was due).
    exclusions: dict[str, int] = field(default_factory=dict)
    # Sends of this schedule the ledger holds as expired, all occurrences (the
    # planner leaves it 0; `plan` fills it from the ledger, read-only).
    expired_so_far: int = 0
    # What receipts said of its newest occurrence the provider took sends of (NEVER_SENT:
    # none); None where no one read it (the planner leaves it; `plan` fills it, read-only).
    last_delivery: LastDelivery | None = None
    # Recipient-local schedules: the sends per recipient zone (the forecast's spread).
    local_zones: Counter[str] = field(default_factory=Counter)
    # The guardrails (`limits`) this plan is over: it needs `apply --approve`.
    over_limits: list[OverLimit] = field(default_factory=list)
    # The sends' segments per price of one segment: `cost` summed exactly (`exact_cost`).
    priced: Counter[float] = field(default_factory=Counter)

    @property
    def exact_cost(self) -> Decimal | None:
        """The sends' cost as the config's prices add up in decimal (None: no price).

        Binary floats make 3 x 0.1 cost 0.30000000000000004, over a `max_cost`
        of 0.3; each price is read back as the shortest text that is it (what
        the config wrote), so these sums are exact.
        """
        if self.cost is None:
            return None
        return sum((exact(price) * n for price, n in self.priced.items()), Decimal(0))

    @property
    def to_send(self) -> int:
        return sum(n for d, n in self.counts.items() if d.sends)

    def skips_by_occurrence(
        self, parts: Collection[int] = (WHOLE,)
    ) -> dict[tuple[str, int], dict[str, int]]:
        """Recipients skipped per (due occurrence, part), by reason (what the ledger
        records): every part the plan kept, one without skips too."""
        none: Counter[SkipReason] = Counter()
        return {
            (occurrence, part): {
                reason.value: n
                for reason, n in (
                    self.skips_every.get(part, none) + self.skips_at.get((occurrence, part), none)
                ).items()
            }
            for occurrence in self.occurrences
            for part in parts
        }

    @property
    def skipped(self) -> int:
        return sum(self.skip_counts.values())

    def skip(self, skip: Skip, occurrence: str | None = None, part: int = WHOLE) -> None:
        """Count `skip`, in `occurrence` only, or (None) in every due occurrence; in
        `part` (the member's shard, when the plan keeps some shards)."""
        self.skip_counts[skip.reason] += 1
        if occurrence is None:
            self.skips_every.setdefault(part, Counter())[skip.reason] += 1
        else:
            self.skips_at.setdefault((occurrence, part), Counter())[skip.reason] += 1
        if skip.excluded_by is not None:
            self.exclusions[skip.excluded_by] = self.exclusions.get(skip.excluded_by, 0) + 1
        if len(self.skips) < KEPT_SKIPS:
            self.skips.append(skip)


@dataclass(frozen=True)
class LedgerSeen:
    name: str
    rows: int


@dataclass(frozen=True)
class ProviderSeen:
    """A provider some planned schedule sends through: where to, and what it reads."""

    name: str
    type: str
    destination: str  # scheme://host:port, or the ${env:NAME} its base_url is
    env: tuple[str, ...]  # the environment variables it reads: names, never values


@dataclass
class Plan:
    at: datetime
    schedules: list[SchedulePlan]
    # What it was planned against (`plan` shows it, the PR comment too): the
    # ledger as output may name it (a PostgreSQL URL without its password) and
    # how many rows it holds. None when no one asked (the daemon, apply).
    ledger: LedgerSeen | None = None
    # Every provider the schedules name, first use first (each view lists them: a
    # PR that points one elsewhere, or has it read another variable, shows).
    providers: list[ProviderSeen] = field(default_factory=list)
    # Schedules left out by `--schedule` (Terraform's -target): counted, not planned.
    not_considered: int = 0

    @property
    def to_send(self) -> int:
        return sum(s.to_send for s in self.schedules)

    @property
    def sends(self) -> list[Send]:
        return [send for s in self.schedules for send in s.sends]

    def total(self, disposition: Disposition) -> int:
        return sum(s.counts[disposition] for s in self.schedules)

    def note_expired(self, counts: dict[str, int]) -> None:
        """Each schedule's expired sends so far (`Ledger.status_counts(EXPIRED)`)."""
        for s in self.schedules:
            s.expired_so_far = counts.get(s.schedule, 0)

    def note_deliveries(self, found: dict[str, LastDelivery]) -> None:
        """Each schedule's last delivery (`Ledger.last_deliveries`); NEVER_SENT where none."""
        for s in self.schedules:
            s.last_delivery = found.get(s.schedule, NEVER_SENT)

"""`smsops ledger prune`: which occurrences may leave the ledger, and their (archived) removal.

A plan reads the ledger for (see engine/planner.py, engine/limits.py,
daemon/catch_up.py):

- the rows of each occurrence whose window is open (done keys are never sent
  again, open rows are retried or left to a person);
- `max_per_day`: rows claimed in the 24 hours before its time;
- run mode's catch-up: the newest occurrence of each schedule is where its
  look-back starts;
- `apply --plan FILE`: plans again at its own time and sends only what the
  file names, so it needs the rows of the occurrences due then.

So an occurrence may go only when all of these hold (the storage checks
the first two again at the delete, `ledger/pruning.py`):

1. no row of it is `pending` or `uncertain`;
2. every row of it was last written more than a day ago and before `--before`;
3. its time is before `--before`, and its window closed more than a day
   before now: a fire time (a recipient's wall-clock label counts 14 hours
   later, the widest UTC offset), an opt-out confirmation's time plus
   `CONFIRM_WITHIN`; the window is the config's for a schedule it has, else
   the longest a config may set (31 days): a ledger pruned without its config
   keeps a month more;
4. a transactional send (`api:messages`) or one-time code (`otp:*`) has no
   window: its time is when its row was last written. Pruning one forgets
   its idempotency key: the same key later is a new message. So an API send
   stays API_RETENTION (30 days) after its row was last written, longer than
   any client's retry horizon we know of, whatever `--before` says;
5. `once` never goes: an untriggered schedule's sends stay due for as long
   as it exists (removing them would send them all again); a label that
   names no time never goes either (its window cannot be known);
6. it is not the newest occurrence of its schedule;
7. no saved plan shown with `--plan` names it, and for each one shown,
   "now" in rule 3 is the plan's time if earlier: what was due when it was
   planned stays. A saved plan cannot be known to the ledger (a file
   anywhere); one not shown is covered by rule 3 as long as it is applied at
   its own time, which `apply --plan` does (it plans again at now).

What goes is gone for good: the storage raises each schedule's prune
watermark with the delete (ledger/pruning.py), and the planner never makes
an occurrence with no row at or before it due again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from smsops.config.types import WINDOW_RANGE
from smsops.core.occurrence import ONCE
from smsops.core.reserved import API_MESSAGES, OPT_OUT_CONFIRM
from smsops.engine.confirmations import CONFIRM_WITHIN
from smsops.engine.limits import DAY
from smsops.engine.saved_plan import SavedPlan
from smsops.ledger.base import Ledger
from smsops.ledger.copy import CopyTarget, Outcome, copy_rows
from smsops.ledger.pruning import Pair, Pruned, Pruning, Settled, undated

WALL_CLOCK_SLACK = timedelta(hours=14)  # a wall-clock label's latest instant: UTC-12 and more
UNKNOWN_WINDOW = WINDOW_RANGE[1]  # a schedule the config given does not have (or none given)
# An API send's idempotency key is remembered as long as its row: a repeat of the
# request after that sends again. Kept past any client's retry horizon.
API_RETENTION = timedelta(days=30)
STEP_ROWS = 50_000  # rows archived, verified and removed per step (with --archive)


class Kept(StrEnum):
    """Why a settled occurrence older than --before stays (the counts prune prints)."""

    LATER = "its time is not before --before"
    OPEN = "window open or closed under a day ago"
    NEWEST = "newest of its schedule (run mode's catch-up starts there)"
    SAVED_PLAN = "named by a saved plan given"
    ONCE = "`once` (an untriggered schedule's sends stay due)"
    NO_TIME = "label names no time"
    API_RECENT = "an API send under 30 days old (its idempotency key is remembered while kept)"


@dataclass
class Selection:
    chosen: list[Settled] = field(default_factory=list)
    kept: dict[Kept, int] = field(default_factory=dict)

    def per_schedule(self) -> dict[str, tuple[int, int]]:
        """Occurrences and rows chosen, per schedule."""
        counts: dict[str, tuple[int, int]] = {}
        for item in self.chosen:
            occurrences, rows = counts.get(item.schedule, (0, 0))
            counts[item.schedule] = (occurrences + 1, rows + item.rows)
        return counts


def occurrence_time(item: Settled) -> datetime | None:
    """The latest instant an occurrence's label can mean; None: it names none (or is `once`)."""
    if undated(item.schedule):
        return item.written
    if item.occurrence == ONCE:
        return None
    try:
        when = datetime.fromisoformat(item.occurrence)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC) + WALL_CLOCK_SLACK


def window_of(schedule: str, windows: Mapping[str, timedelta | None]) -> timedelta:
    if undated(schedule):
        return timedelta(0)
    if schedule == OPT_OUT_CONFIRM:
        return CONFIRM_WITHIN
    return windows.get(schedule) or UNKNOWN_WINDOW


def reference_time(now: datetime, plans: Sequence[SavedPlan]) -> datetime:
    """ "Now" for the window rule: the earliest of now and the saved plans' times."""
    return min([now, *(plan.at for plan in plans)])


def cutoff(before: datetime, now: datetime, plans: Sequence[SavedPlan]) -> datetime:
    """Rows written at or after this keep their occurrence (rule 2)."""
    return min(before, reference_time(now, plans) - DAY)


def select(
    found: Iterable[Settled],
    *,
    before: datetime,
    now: datetime,
    windows: Mapping[str, timedelta | None],
    plans: Sequence[SavedPlan],
    newest: Mapping[str, str | None],
) -> Selection:
    """The occurrences of `found` (settled, written before `cutoff`) that may go, and why not."""
    reference = reference_time(now, plans)
    named = {(send.schedule, send.occurrence) for plan in plans for send in plan.sends}
    selection = Selection()
    for item in found:
        reason = _kept(item, before, reference, windows, named, newest)
        if reason is None:
            selection.chosen.append(item)
        else:
            selection.kept[reason] = selection.kept.get(reason, 0) + 1
    return selection


def _kept(
    item: Settled,
    before: datetime,
    reference: datetime,
    windows: Mapping[str, timedelta | None],
    named: set[Pair],
    newest: Mapping[str, str | None],
) -> Kept | None:
    if (item.schedule, item.occurrence) in named:
        return Kept.SAVED_PLAN
    if item.occurrence == ONCE and not undated(item.schedule):
        return Kept.ONCE
    when = occurrence_time(item)
    if when is None:
        return Kept.NO_TIME
    if when >= before:
        return Kept.LATER
    if item.schedule == API_MESSAGES and when + API_RETENTION > reference:
        return Kept.API_RECENT
    if when + window_of(item.schedule, windows) + DAY > reference:
        return Kept.OPEN
    if not undated(item.schedule) and newest.get(item.schedule) == item.occurrence:
        return Kept.NEWEST
    return None


def newest_occurrences(ledger: Ledger, schedules: Iterable[str]) -> dict[str, str | None]:
    """Each schedule's newest fire-time occurrence (catch-up's `newest_occurrence`)."""
    return {name: ledger.newest_occurrence(name, ONCE) for name in set(schedules)}


@dataclass
class Done:
    pruned: Pruned
    archive: Outcome | None


class ArchiveFailed(Exception):
    """The archive did not verify (or holds other versions of rows): nothing more was removed."""

    def __init__(self, outcome: Outcome, removed: int) -> None:
        self.outcome, self.removed = outcome, removed
        super().__init__("the archive did not verify")


def prune(
    ledger: Pruning, chosen: Sequence[Settled], cutoff: datetime, archive: CopyTarget | None
) -> Done:
    """Remove the chosen occurrences; with `archive`, each step archived and verified first.

    `cutoff` (see `cutoff`): the storage keeps an occurrence any row of which
    was written at or after it, checked again at the delete.
    """
    pairs = [(item.schedule, item.occurrence) for item in chosen]
    if archive is None:
        return Done(ledger.prune(pairs, cutoff, None), None)
    total = Outcome()
    removed = months = 0
    for step in _steps(chosen):
        rows = ledger.occurrence_rows(step)
        outcome = copy_rows(rows, archive)
        _add(total, outcome)
        if not outcome.verified_ok or outcome.total_conflicts:
            raise ArchiveFailed(total, removed)
        done = ledger.prune(step, cutoff, {row.key for row in rows})
        removed, months = removed + done.rows, months + done.months
    return Done(Pruned(removed, months), total)


def _steps(chosen: Sequence[Settled]) -> Iterator[list[Pair]]:
    """The occurrences in steps of about STEP_ROWS rows (an occurrence is never split)."""
    items = iter(chosen)
    while True:
        step: list[Pair] = []
        rows = 0
        for item in items:
            step.append((item.schedule, item.occurrence))
            rows += item.rows
            if rows >= STEP_ROWS:
                break
        if not step:
            return
        yield step


def _add(total: Outcome, outcome: Outcome) -> None:
    for mine, theirs in (
        (total.copied, outcome.copied),
        (total.already, outcome.already),
        (total.conflicts, outcome.conflicts),
    ):
        for status, count in theirs.items():
            mine[status] = mine.get(status, 0) + count
    total.conflict_keys.extend(outcome.conflict_keys[: 50 - len(total.conflict_keys)])
    total.verified += outcome.verified
    total.missing.extend(outcome.missing[: 50 - len(total.missing)])
    total.missing_count += outcome.missing_count
    total.differing += outcome.differing

"""The send ledger: what was claimed, sent, failed, expired or is uncertain, by send key.

A send is `(schedule, occurrence, recipient)`; its key is a stable hash of
those. Inserting the key is the claim: whoever inserts it owns the send, so
two runs (or replicas) can never both send it. Rows are written ahead
(`pending`) before a request goes out and settled after.

Durability: a claim that has returned survives a crash of the host (power
loss, kernel panic), not only of the process. A claim is what makes a send
safe to make: a claim forgotten after its request went out would let the
next run send it again. So every connection that writes claims commits
durably before the call returns: SQLite syncs its WAL at each commit
(`synchronous=FULL`), PostgreSQL waits for its WAL flush
(`synchronous_commit = on`, whatever the server's default). `durability()`
reads that back from the live connection. The memory ledger keeps nothing
past its process, so nothing outlives it to be resent against. A settlement
may be less durable than its claim (SQLite: `SETTLEMENT_SYNCHRONOUS` in
sqlite_file.py): lost, the row is its claim again, `pending`, which
`mark_stale` turns `uncertain`: never a resend.


Here: the `Ledger` interface every backend implements, with its documented
semantics and the defaults a backend may keep. Its rows and values are in
`records.py`, the rules on rows (which moves a stored row holds, a decision's
reason, what a resolve refuses) in `rules.py`, the folding of row counts into
stats in `counts.py`; the lifecycle table in `policy.py`, the storage in the
backends.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime

from smsops.core.errors import GuardLost
from smsops.core.hooks import Receipt, ReceiptResult
from smsops.core.occurrence import ONCE
from smsops.ledger import receipts, recent
from smsops.ledger.counts import StatsAndDeliveries as StatsAndDeliveries
from smsops.ledger.counts import per_schedule
from smsops.ledger.counts import stats_and_deliveries as stats_and_deliveries
from smsops.ledger.held import Hold, HoldReason, Skips, SkipsNoted
from smsops.ledger.pace import SharedPace
from smsops.ledger.policy import DONE as DONE
from smsops.ledger.policy import RESOLVABLE as RESOLVABLE
from smsops.ledger.policy import Operation
from smsops.ledger.policy import Status as Status
from smsops.ledger.receipts import LastDelivery
from smsops.ledger.records import Decision as Decision
from smsops.ledger.records import Known as Known
from smsops.ledger.records import SendRecord as SendRecord
from smsops.ledger.records import Taken
from smsops.ledger.rules import MAY_HAVE_GONE as MAY_HAVE_GONE
from smsops.ledger.rules import REOPENING as REOPENING
from smsops.ledger.rules import decided as decided
from smsops.ledger.rules import holds
from smsops.ledger.rules import reopens as reopens
from smsops.ledger.runs import Run
from smsops.ledger.suppressions import OptEvent

STOPPED_MID_SEND = "the run that claimed it stopped mid-send"


class Ledger(ABC):
    """Storage of send records; implementations: memory, SQLite, PostgreSQL."""

    # Whether apply writes to it from a thread of its own (engine/ledger_writes):
    # worth it where a write waits on a server; a local write costs less than
    # the hand-off between threads.
    writes_in_thread = False
    # Whether a claim's commit waits on a disk sync (SQLite: synchronous=FULL,
    # so a claim survives a power loss): apply writes a batch holding claims
    # from that thread too, so the loop goes on sending while the disk syncs
    # (on the loop, every request in flight waited out each claim's commit:
    # docs/benchmarks.md §12 "After speed7: apply's rate"); a batch of
    # settlements alone, committed without a sync, stays on the loop.
    claims_wait_on_sync = False

    @abstractmethod
    def claim(
        self, records: Iterable[SendRecord], *, resend_uncertain: bool = False
    ) -> list[SendRecord]:
        """Make these sends `pending` for this run; return the ones this call won.

        A new key is inserted; an existing row is taken over only when
        `policy.may_claim` says so, keeping its attempts and first-claim time.
        Anything else is left alone: another run owns it or it is done.
        """

    @abstractmethod
    def move(self, operation: Operation, records: Iterable[SendRecord]) -> list[str]:
        """Write each record whose stored row the policy table lets `operation` move.

        The guard is checked row by row against what is stored at the moment
        of the write (status, and `claimed_by` where the table says HOLDER: the
        record's own `claimed_by` names the run). Rows that pass are written,
        the others left untouched; returns the keys refused.
        """

    def settle(self, records: Iterable[SendRecord]) -> None:
        """Write the outcome of sends this run claimed (status, id, error, attempts).

        An `expired` outcome (its retry would have started after its window
        closed) is the table's EXPIRE move; every other one a SETTLE. Raises
        `GuardLost` naming the rows not written (no longer pending, held by
        another run, never claimed), after writing all the others. A row that
        already holds its outcome (`holds`) is written, not refused: a network
        ledger's commit can reach the server while its answer is lost, and
        the caller then retries a settle that was done.
        """
        outcomes = list(records)
        expired = [r for r in outcomes if r.status is Status.EXPIRED]
        refused = self.move(
            Operation.SETTLE, [r for r in outcomes if r.status is not Status.EXPIRED]
        )
        if expired:
            refused += self.move(Operation.EXPIRE, expired)
        if refused:  # a retry of a settle whose commit's answer was lost: its rows are done
            stored, wanted = self.get(refused), {r.key: r for r in outcomes}
            refused = [k for k in refused if k not in stored or not holds(stored[k], wanted[k])]
        gone = set(refused)
        receipts.settled(self, (r for r in outcomes if r.key not in gone))  # early receipts
        if refused:
            raise GuardLost(Operation.SETTLE.value, refused)

    def receipt(self, records: Iterable[SendRecord]) -> None:
        """Record a delivery report on a sent (or uncertain) row; `GuardLost` as settle."""
        self._guarded(Operation.RECEIPT, records)

    def receipts(self, items: Sequence[Receipt], now: datetime) -> list[ReceiptResult]:
        """Record delivery receipts, each once (receipts.py); one result per item, in order."""
        return receipts.record(self, items, now)

    @abstractmethod
    def by_message_id(self, provider: str, message_ids: Collection[str]) -> list[SendRecord]:
        """The rows whose provider and provider_message_id are `provider` and one of the ids."""

    @abstractmethod
    def park(
        self, items: Sequence[Receipt], now: datetime, *, since: datetime, keep: int
    ) -> set[tuple[str, str]]:
        """Keep receipts whose id no row holds yet; the (provider, id) pairs newly parked.

        A pair already parked keeps its first receipt. First drops the parked
        receipts from before `since`, and after inserting keeps only the
        newest `keep`, in parking order (receipts.py: the bound; a pair this
        call parked may be among those dropped when one body exceeds it).
        """

    @abstractmethod
    def unpark(self, pairs: Collection[tuple[str, str]]) -> list[Receipt]:
        """Take (return and delete) the parked receipts of these (provider, id) pairs."""

    @abstractmethod
    def parked(self) -> list[Receipt]:
        """Every parked receipt, oldest first."""

    @abstractmethod
    def opt(self, events: Sequence[OptEvent]) -> list[bool]:
        """Apply opt-outs and opt-ins to the suppression list, in order, in one transaction;
        whether each changed it (only those are kept in the history; suppressions.py)."""

    @abstractmethod
    def suppressed(self, among: Sequence[str] | None = None) -> frozenset[str]:
        """The numbers on the suppression list: all of them (the planner reads it once per
        plan), or those of `among` (an on-demand send asks of one number, by its key: a
        list of millions is not read per request)."""

    @abstractmethod
    def suppressions(self, since: datetime | None = None) -> list[OptEvent]:
        """The list: for each number, the opt-out that put it there; newest first.

        With `since`, only the entries whose opt-out is at or after it (the
        recent ones a confirmation round looks for, engine/confirmations.py).
        """

    @abstractmethod
    def opt_history(self, number: str | None = None) -> list[OptEvent]:
        """Every change of the list (of one number, if given), oldest first."""

    @abstractmethod
    def note_holds(self, held: Mapping[str, tuple[HoldReason, str] | None], at: datetime) -> None:
        """What a round decided of each schedule, in one transaction (held.py): held for
        (reason, detail), kept with its first `at` while they stay the same; or None, it
        went ahead: its hold, if any, is gone."""

    @abstractmethod
    def holds(self) -> dict[str, Hold]:
        """The schedules a round held and has not seen go ahead since, by name."""

    @abstractmethod
    def note_skips(self, skips: SkipsNoted) -> None:
        """The recipients a plan skipped per (schedule, occurrence, part), by reason, in
        one transaction: each part's counts replace what an earlier plan of it left, a
        plan of the whole (`WHOLE`) every part's, a shard's the whole's (held.py)."""

    @abstractmethod
    def recent_skips(self, last: int) -> Skips:
        """The skips of each schedule's `last` newest occurrences that have any."""

    def _guarded(self, operation: Operation, records: Iterable[SendRecord]) -> None:
        if refused := self.move(operation, records):
            raise GuardLost(operation.value, refused)

    @abstractmethod
    def get(self, keys: Iterable[str]) -> dict[str, SendRecord]:
        """The rows that exist among `keys`."""

    def known(self, schedule: str, occurrence: str) -> Known:
        """Every key of one occurrence: the done ones as a set, the others as records."""
        done, rest = [], {}
        for record in self.records(schedule):
            if record.occurrence == occurrence:
                if record.status in DONE:
                    done.append(record.key)
                else:
                    rest[record.key] = record
        return Known.of(done, rest)

    @abstractmethod
    def records(
        self, schedule: str | None = None, status: Status | None = None
    ) -> Iterator[SendRecord]:
        """Rows in key order, optionally filtered."""

    def claimed_since(self, schedule: str, since: datetime) -> int:
        """Rows of `schedule` first claimed after `since` that may have gone out (pending,
        uncertain, or taken by the provider): `max_per_day`'s ledger figure (engine/limits.py).
        The SQL ledgers count them in the database; this reads every row (memory)."""
        return sum(
            1
            for record in self.records(schedule)
            if record.created_at > since and record.status in MAY_HAVE_GONE
        )

    def reopening(self, schedule: str, occurrence: str) -> list[str]:
        """The recipients of the occurrence's rows that are pending or failed retryably:
        what can make an occurrence a plan found settled owe a send again (run mode's
        settled memo asks it each resync, daemon/settled.py). The SQL ledgers seek their
        index on (schedule, occurrence, status); this reads the schedule's rows (memory)."""
        return [
            r.recipient
            for r in self.records(schedule)
            if r.occurrence == occurrence and reopens(r.status.value, r.retryable)
        ]

    def mark_stale(self, is_stale: Callable[[SendRecord], bool], now: datetime) -> list[SendRecord]:
        """Turn the `pending` rows `is_stale` picks into `uncertain`.

        A stale pending row belongs to a run that died mid-send: the request
        may or may not have gone out, so it must not be resent unless the
        user asks. A row settled or marked by someone else meanwhile is left as they
        made it (the guard: still pending, still held by the run found dead).
        """
        stale = [
            r.settled(Status.UNCERTAIN, now, error=STOPPED_MID_SEND)
            for r in self.records(status=Status.PENDING)
            if is_stale(r)
        ]
        refused = set(self.move(Operation.STALE, stale))
        return [r for r in stale if r.key not in refused]

    def newest_occurrence(self, schedule: str, below: str) -> str | None:
        """The newest occurrence label sorting before `below` the schedule has rows for.

        Fire-time labels are ISO 8601 and sort by time; every one sorts before
        `once` (a digit before a letter), which is never returned. With
        `below` a time's label, rows of later occurrences (`apply --at` a
        future time) are not looked at. One index seek on SQL backends.
        """
        bound = min(below, ONCE)
        return max(
            (r.occurrence for r in self.records(schedule) if r.occurrence < bound), default=None
        )

    def last_deliveries(self, schedules: Collection[str]) -> dict[str, LastDelivery]:
        """For each of `schedules` the provider took sends of: its newest such occurrence and
        what receipts said of them (receipts.LastDelivery). One grouped query on SQL backends,
        whatever the number of schedules or rows; read-only."""
        wanted = set(schedules)
        counts: dict[tuple[str, str, str], int] = {}
        for r in self.records():
            if r.schedule in wanted and r.status in DONE:
                at = (r.schedule, r.occurrence, r.status.value)
                counts[at] = counts.get(at, 0) + 1
        return receipts.last_deliveries((*at, n) for at, n in counts.items())

    def stats_and_deliveries(self, schedules: Collection[str]) -> StatsAndDeliveries:
        """`stats()` and `last_deliveries(schedules)` from one read of the rows.

        A plan shows both (its ledger line, expired and uncertain counts, and
        delivery line); read apart, each was a scan of every row's index entry
        (~0.1 s a million rows on SQLite). One grouped query on SQL backends.
        """
        counts: dict[tuple[str, str, str], int] = {}
        for r in self.records():
            at = (r.schedule, r.occurrence, r.status.value)
            counts[at] = counts.get(at, 0) + 1
        return stats_and_deliveries(((*at, n) for at, n in counts.items()), schedules)

    def stats(self) -> dict[str, dict[str, int]]:
        """Counts per schedule and status."""
        counts: dict[str, dict[str, int]] = {}
        for record in self.records():
            per = counts.setdefault(record.schedule, {})
            per[record.status.value] = per.get(record.status.value, 0) + 1
        return counts

    def uncertain_counts(self) -> dict[str, int]:
        """Open `uncertain` rows per schedule: sends that wait for a person's decision."""
        return self.status_counts(Status.UNCERTAIN)

    def status_counts(self, status: Status) -> dict[str, int]:
        """Rows in `status` per schedule (e.g. how many sends of each expired so far).

        From `stats()`, which the SQL backends answer with one grouped count.
        """
        return per_schedule(self.stats(), status)

    def resolve(
        self,
        decision: Decision,
        *,
        keys: Iterable[str] = (),
        schedule: str | None = None,
        occurrence: str | None = None,
    ) -> list[SendRecord]:
        """Record `decision` on the selected uncertain rows, all or none; return them changed.

        Rows are selected by `keys`, or by `schedule` (and `occurrence`), in
        which case only its uncertain rows are selected. A key that is missing
        or not uncertain refuses the whole call (`ResolveRefused`), as does a
        selection with no row at all.
        """
        wanted = list(keys)
        if wanted:
            rows = list(self.get(wanted).values())
        else:
            rows = [
                r
                for r in self.records(schedule, Status.UNCERTAIN)
                if occurrence is None or r.occurrence == occurrence
            ]
        changed = decided(rows, wanted, decision)
        self._guarded(Operation.RESOLVE, changed)
        return changed

    def leases(self) -> dict[str, datetime]:
        """Each registered run's lease end (see runs.py); none in memory: one process."""
        return {}

    def runs(self) -> list[Run]:
        """Each registered run, with when it last renewed its lease (runs.py); none in memory."""
        return []

    def recent_counts(self, last: int) -> recent.Counts:
        """Rows per status of each schedule's `last` newest occurrences (recent.py); the SQL
        ledgers answer with one grouped query that seeks the occurrences on an index."""
        rows = ((r.schedule, r.occurrence, r.status) for r in self.records())
        return recent.recent_of(rows, last)

    def open_uncertain(self, limit: int) -> recent.Uncertain:
        """Uncertain rows per (schedule, occurrence), sorted, at most `limit` groups."""
        rows = self.records(status=Status.UNCERTAIN)
        return recent.uncertain_of(((r.schedule, r.occurrence, r.status) for r in rows), limit)

    # Several processes take units of work of one occurrence (postgres_units.py): only a
    # written PostgreSQL ledger. A memory or SQLite ledger has one writer: every unit is its.
    shares_units = False

    def take_units(
        self,
        schedule: str,
        occurrence: str,
        shards: int,
        *,
        now: datetime,
        since: datetime,
        gone: Collection[str],
        busy: Collection[int] = (),
    ) -> Taken:
        """This run's share of the occurrence's free units; one writer takes it whole."""
        return Taken(1, [0])

    def release_units(  # noqa: B027 - one writer holds no unit
        self, schedule: str, occurrence: str, shards: Collection[int], *, passed: datetime | None
    ) -> None:
        """Let go of this run's `shards` (`passed`: planned and sent whole at that time)."""

    def forget_units(self, schedule: str, keep: Collection[str]) -> None:  # noqa: B027 - as above
        """Drop the schedule's units of occurrences not in `keep`."""

    def round_lock(self, schedule: str) -> AbstractContextManager[bool]:
        """Whether this process may plan `schedule`'s round now, held while the round runs.

        Only several processes on one shared ledger contend (PostgreSQL); a
        memory or SQLite ledger has one writer at a time and always may.
        """
        return nullcontext(True)

    def shared_pace(self) -> SharedPace | None:
        """Where the providers' limits are shared with other processes (ledger/pace.py).

        Only a shared ledger (PostgreSQL) has one: a memory or SQLite ledger
        has one writer process, which paces itself.
        """
        return None

    def durability(self) -> str | None:
        """The setting that makes a returned commit survive a crash of the host, as the live
        connection that writes claims reports it (see the module docstring); None where
        nothing outlives the process (memory) or nothing is written (read-only).
        """
        return None

    def close(self) -> None:  # noqa: B027 - an optional hook; memory holds nothing
        """Release what the ledger holds (files, connections)."""

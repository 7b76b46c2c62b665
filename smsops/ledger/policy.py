"""The send lifecycle as one table: the statuses and which transitions each operation may make.

Every backend (memory, SQLite, PostgreSQL) and the planner derive their
rules from `TRANSITIONS`; none spells a rule of its own. The SQL backends'
claim `WHERE` and every guarded `UPDATE` are generated from it
(sql_policy.py; statuses passed as parameters), the memory ledger asks
`allows`/`may_claim`, the planner's disposition asks `may_claim`.

Invariants (each with the test that proves it):

- Never twice: a key is inserted once; an existing row is claimed again only
  when it failed retryably, or is uncertain and the user asked to resend those
  (`may_claim`). Proved for every status on every backend by
  tests/ledger/test_policy.py::test_backends_agree_with_the_table.
- Settle only what you hold: a settle moves `pending` to sent, failed or
  uncertain, and only on a row this run's claim still holds (and `uncertain`
  to sent, for the run that claimed it: another run marked it stale while it
  was alive, test_policy.py::test_the_claiming_run_settles_sent_after_a_stale_mark);
  a lost guard
  (never claimed, no longer pending, held by another run) raises `GuardLost`
  in every backend and leaves that row as it was, while the other rows of the
  same call are written. Proved by test_policy.py::test_a_guarded_settle_fails
  and ::test_backends_agree_with_the_table; how apply takes it:
  tests/apply/test_ledger_writes.py::test_a_refused_settlement_is_reported_not_fatal
  and tests/apply/test_sender.py::test_a_result_for_a_row_another_run_took_is_reported_not_written.
- A dead run's claim is never resent silently: a stale mark moves `pending` to
  `uncertain`, only while the row is still held by the run found dead
  (test_policy.py::test_stale_mark_loses_to_a_settle_that_came_first).
- Expired is final: an expiry inserts a row only where none exists, or moves
  a `pending` row only for the run holding it; no operation moves an
  `expired` row and no claim takes it
  (test_policy.py::test_backends_agree_with_the_table).
- Done is done: sent, delivered and undelivered rows are never claimed again;
  a sent row changes only by a receipt (to delivered or undelivered)
  (test_policy.py::test_backends_agree_with_the_table).
- A person decides uncertain rows: resolve moves only `uncertain`, only to
  sent or failed (test_policy.py::test_backends_agree_with_the_table; refusals
  in tests/ledger/test_ledger.py::test_resolve_refuses_rows_that_are_not_uncertain...).
- The planner counts what the claim will do: a plan counts a send exactly
  when apply's claim (after its stale mark) wins it, for every status
  (tests/engine/test_planner.py::test_disposition_follows_the_policy_table).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Protocol


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    EXPIRED = "expired"  # its window closed before it went out: never sent, never claimed
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"


class Operation(StrEnum):
    """What moves a row: each is one method of the ledger."""

    CLAIM = "claim"  # Ledger.claim: the write ahead of a request
    SETTLE = "settle"  # Ledger.settle: the outcome of this run's request
    STALE = "stale"  # Ledger.mark_stale: the claim of a run that died mid-send
    RECEIPT = "receipt"  # Ledger.receipt: a provider's delivery report
    RESOLVE = "resolve"  # Ledger.resolve: a person's decision on an uncertain send
    EXPIRE = "expire"  # Ledger.move(EXPIRE): its window closed before the request went out
    # Ledger.move(CLOSE): a failure waiting for its retry when its window closed: failed for
    # good (no longer retryable); what smsops_sends_total{status="failed"} counts then.
    CLOSE = "close"


class When(StrEnum):
    """What a transition needs besides the row's status."""

    ALWAYS = "always"
    RETRYABLE = "retryable"  # the failure certainly did not reach the provider
    RESEND_ASKED = "resend_asked"  # --resend-uncertain was given
    HOLDER = "holder"  # the row is still claimed by the run (claimed_by) the caller names


@dataclass(frozen=True)
class Transition:
    operation: Operation
    source: Status | None  # None: no row yet (a claim or an expiry inserts it)
    target: Status
    when: When = When.ALWAYS


def _each(
    operation: Operation,
    sources: tuple[Status | None, ...],
    targets: tuple[Status, ...],
    when: When,
) -> tuple[Transition, ...]:
    return tuple(Transition(operation, s, t, when) for s in sources for t in targets)


_S = Status
# THE table. Anything not in it is refused by every backend.
TRANSITIONS: tuple[Transition, ...] = (
    Transition(Operation.CLAIM, None, _S.PENDING),
    Transition(Operation.CLAIM, _S.FAILED, _S.PENDING, When.RETRYABLE),
    Transition(Operation.CLAIM, _S.UNCERTAIN, _S.PENDING, When.RESEND_ASKED),
    *_each(Operation.SETTLE, (_S.PENDING,), (_S.SENT, _S.FAILED, _S.UNCERTAIN), When.HOLDER),
    # Another run marked the row stale while its claimer was alive (the ledger was
    # out of reach past the lease): the claimer may still record the provider's id.
    # More knowledge, never a resend; a failure after the mark is not believed.
    Transition(Operation.SETTLE, _S.UNCERTAIN, _S.SENT, When.HOLDER),
    Transition(Operation.STALE, _S.PENDING, _S.UNCERTAIN, When.HOLDER),
    *_each(Operation.RECEIPT, (_S.SENT, _S.UNCERTAIN), (_S.DELIVERED, _S.UNDELIVERED), When.ALWAYS),
    *_each(Operation.RESOLVE, (_S.UNCERTAIN,), (_S.SENT, _S.FAILED), When.ALWAYS),
    # An expiry records a send that will never go out: one no run claimed (an
    # insert, only where no row exists), or one this run claimed whose retry
    # would start after its window closed.
    Transition(Operation.EXPIRE, None, _S.EXPIRED),
    Transition(Operation.EXPIRE, _S.PENDING, _S.EXPIRED, When.HOLDER),
    # A retryable failure whose window closed before a run claimed it again: it stays
    # `failed`, no longer retryable (moved once: whoever finds it first).
    Transition(Operation.CLOSE, _S.FAILED, _S.FAILED, When.RETRYABLE),
)

SETTLED = frozenset(Status) - {Status.PENDING}
# Statuses that mean the provider took the message: never send it again.
DONE = frozenset({Status.SENT, Status.DELIVERED, Status.UNDELIVERED})


def transitions(operation: Operation) -> tuple[Transition, ...]:
    return tuple(t for t in TRANSITIONS if t.operation is operation)


def sources(operation: Operation) -> frozenset[Status]:
    """The statuses a row may have for `operation` to move it (a claim may also insert)."""
    return frozenset(t.source for t in transitions(operation) if t.source is not None)


def targets(operation: Operation) -> frozenset[Status]:
    return frozenset(t.target for t in transitions(operation))


@cache  # the table is constant; a plan asks may_claim once per recipient (3.5 µs unmemoised)
def conditions(operation: Operation, source: Status | None, target: Status) -> frozenset[When]:
    """What each matching row of the table needs; empty when the table has no such move."""
    return frozenset(
        t.when for t in transitions(operation) if t.source == source and t.target == target
    )


def guarded(operation: Operation) -> bool:
    """Whether the operation checks that the row is still held by the caller's run."""
    return any(t.when is When.HOLDER for t in transitions(operation))


# The resolve rule: only rows in RESOLVABLE may be decided, and only into
# RESOLVE_TO. `sent` makes the row done (never sent again); `failed` means it
# certainly did not go out, so it is left retryable: the next apply sends it
# while its window is still open.
RESOLVABLE = sources(Operation.RESOLVE)
RESOLVE_TO = tuple(s for s in Status if s in targets(Operation.RESOLVE))


class Row(Protocol):
    """What a rule reads of a stored row (a SendRecord)."""

    @property
    def status(self) -> Status: ...
    @property
    def retryable(self) -> bool: ...
    @property
    def claimed_by(self) -> str | None: ...


def may_claim(existing: Row | None, *, resend_uncertain: bool) -> bool:
    """Whether a claim may take this row (None: no row yet) for a new request."""
    source = None if existing is None else existing.status
    for when in conditions(Operation.CLAIM, source, Status.PENDING):
        if (
            when is When.ALWAYS
            or (when is When.RETRYABLE and existing is not None and existing.retryable)
            or (when is When.RESEND_ASKED and resend_uncertain)
        ):
            return True
    return False


def allows(operation: Operation, existing: Row | None, target: Status, by: str | None) -> bool:
    """Whether `operation` may move `existing` (None: insert) to `target` for the run `by`.

    Not for claims (`may_claim`): their conditions read the caller's flags.
    """
    if existing is None:
        return When.ALWAYS in conditions(operation, None, target)
    found = conditions(operation, existing.status, target)
    return (
        When.ALWAYS in found
        or (When.HOLDER in found and existing.claimed_by == by)
        or (When.RETRYABLE in found and existing.retryable)
    )

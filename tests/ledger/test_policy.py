"""The policy table is the lifecycle, and every backend does exactly what it says.

The expected answer is written out here by hand (`lifecycle`), independently
of the table, so a wrong row in the table fails as surely as a backend that
strays from it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from smsops.core.errors import GuardLost
from smsops.ledger.base import Ledger, SendRecord
from smsops.ledger.policy import (
    RESOLVABLE,
    RESOLVE_TO,
    Operation,
    Status,
    allows,
    may_claim,
)

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
HOLDER, OTHER = "host:1:aaaa", "host:2:bbbb"
S = Status


def record(recipient: str, claimed_by: str | None = HOLDER) -> SendRecord:
    return SendRecord.claim(
        "s",
        "once",
        recipient,
        provider="ot",
        template="t",
        text_hash="h",
        segments=1,
        now=T0,
        claimed_by=claimed_by,
    )


@pytest.fixture
def opened(open_ledger_handle: Callable[[], Ledger]) -> tuple[Ledger, Ledger]:
    """A ledger, and a second handle on the same rows (another process, for SQLite/PostgreSQL)."""
    return open_ledger_handle(), open_ledger_handle()


def lifecycle(
    operation: Operation,
    source: Status | None,
    target: Status,
    *,
    same_run: bool,
    retryable: bool,
    resend: bool,
) -> bool:
    """The send lifecycle as docs/concepts.md states it, written without the table."""
    if operation is Operation.CLAIM:
        return (
            source is None
            or (source is S.FAILED and retryable)
            or (source is S.UNCERTAIN and resend)
        )
    if operation is Operation.EXPIRE:  # never sent: a new row, or this run's pending one
        return target is S.EXPIRED and (source is None or (source is S.PENDING and same_run))
    if source is None:  # nothing but a claim or an expiry creates a row
        return False
    if operation is Operation.SETTLE:  # its outcome; or the provider's id after a stale mark
        settles = source is S.PENDING and target in {S.SENT, S.FAILED, S.UNCERTAIN}
        return same_run and (settles or (source is S.UNCERTAIN and target is S.SENT))
    if operation is Operation.STALE:
        return source is S.PENDING and target is S.UNCERTAIN and same_run
    if operation is Operation.CLOSE:  # a retry still owed when its window closed: final
        return source is S.FAILED and target is S.FAILED and retryable
    if operation is Operation.RECEIPT:
        return source in {S.SENT, S.UNCERTAIN} and target in {S.DELIVERED, S.UNDELIVERED}
    return source is S.UNCERTAIN and target in {S.SENT, S.FAILED}  # resolve


CASES = list(
    itertools.product(
        [None, *Status],  # the stored row's status (None: no row)
        list(Status),  # the status the operation writes
        [True, False],  # the caller names the run holding the row
        [True, False],  # the stored row is retryable
        [True, False],  # --resend-uncertain
    )
)


def test_resolve_rule_comes_from_the_table() -> None:
    assert {S.UNCERTAIN} == RESOLVABLE
    assert RESOLVE_TO == (S.SENT, S.FAILED)


@pytest.mark.parametrize("operation", list(Operation))
def test_backends_agree_with_the_table(operation: Operation, opened: tuple[Ledger, Ledger]) -> None:
    """Every status pair, every operation: the backend moves a row exactly when the table says."""
    ledger, _ = opened
    disagree = []
    for number, (source, target, same_run, retryable, resend) in enumerate(CASES):
        planted = replace(record(f"+4474001{number:05d}"), retryable=retryable)
        if source is not None:  # a claim inserts the row as given: how a state is planted
            planted = replace(planted, status=source)
            assert ledger.claim([planted]) == [planted]
        expected = lifecycle(
            operation, source, target, same_run=same_run, retryable=retryable, resend=resend
        )
        existing = None if source is None else planted
        by = HOLDER if same_run else OTHER
        if operation is Operation.CLAIM:
            table = may_claim(existing, resend_uncertain=resend)
            wanted = replace(record(planted.recipient, by), created_at=T0 + timedelta(hours=1))
            done = bool(ledger.claim([wanted], resend_uncertain=resend))
            after = S.PENDING
        else:
            table = allows(operation, existing, target, by)
            moved = replace(planted.settled(target, T0 + timedelta(seconds=1)), claimed_by=by)
            done = not ledger.move(operation, [moved])
            after = target
        stored = ledger.get([planted.key]).get(planted.key)
        if done:
            assert stored is not None
            assert stored.status is after
        else:
            assert stored == (None if source is None else planted)  # refused: untouched
        if not expected == table == done:
            disagree.append((source, target, same_run, retryable, resend, expected, table, done))
    assert disagree == []


def test_a_guarded_settle_fails(opened: tuple[Ledger, Ledger]) -> None:
    """Held by another run, no longer pending, never claimed: refused; the rest is written."""
    ledger, _ = opened
    finished, ok = record("+447400123450"), record("+447400123451")
    theirs = record("+447400123452", OTHER)
    ledger.claim([ok, finished, theirs])
    ledger.settle([finished.settled(S.SENT, T0, message_id="m")])
    never = record("+447400123459")
    held_elsewhere = replace(theirs.settled(S.SENT, T0), claimed_by=HOLDER)
    with pytest.raises(GuardLost) as lost:
        ledger.settle(
            [
                held_elsewhere,
                finished.settled(S.FAILED, T0, error="late"),
                never.settled(S.SENT, T0),
                ok.settled(S.SENT, T0, message_id="m2"),
            ]
        )
    assert sorted(lost.value.keys) == sorted([theirs.key, finished.key, never.key])
    assert "held by another run" in str(lost.value)
    rows = ledger.get([theirs.key, finished.key, never.key, ok.key])
    assert rows[theirs.key] == theirs  # still pending, still the other run's
    assert rows[finished.key].status is S.SENT
    assert never.key not in rows
    assert rows[ok.key].status is S.SENT  # the guard of the others did not stop it


def test_a_settle_by_another_run_on_a_row_this_run_holds_fails(
    opened: tuple[Ledger, Ledger],
) -> None:
    ledger, _ = opened
    (claimed,) = ledger.claim([record("+447400123456", HOLDER)])
    intruder = replace(claimed.settled(S.SENT, T0), claimed_by=OTHER)
    with pytest.raises(GuardLost):
        ledger.settle([intruder])
    assert ledger.get([claimed.key])[claimed.key] == claimed


def test_stale_mark_loses_to_a_settle_that_came_first(opened: tuple[Ledger, Ledger]) -> None:
    """A run thought dead settles between another run's read and its mark: the settle stands."""
    ledger, other = opened
    slow, dead = record("+447400123456"), record("+447400123457")
    ledger.claim([slow, dead])

    def is_stale(row: SendRecord) -> bool:
        if row.key == slow.key:  # alive after all: it settles while the mark is deciding
            other.settle([slow.settled(S.SENT, T0, message_id="m")])
        return True

    marked = ledger.mark_stale(is_stale, T0 + timedelta(hours=1))
    assert [r.key for r in marked] == [dead.key]
    rows = ledger.get([slow.key, dead.key])
    assert (rows[slow.key].status, rows[dead.key].status) == (S.SENT, S.UNCERTAIN)


def test_a_receipt_moves_only_a_sent_or_uncertain_row(opened: tuple[Ledger, Ledger]) -> None:
    ledger, _ = opened
    sent, pending = record("+447400123456"), record("+447400123457")
    ledger.claim([sent, pending])
    ledger.settle([sent.settled(S.SENT, T0, message_id="m")])
    ledger.receipt([sent.settled(S.DELIVERED, T0, message_id="m")])
    with pytest.raises(GuardLost):
        ledger.receipt([pending.settled(S.DELIVERED, T0)])
    rows = ledger.get([sent.key, pending.key])
    assert (rows[sent.key].status, rows[pending.key].status) == (S.DELIVERED, S.PENDING)


def test_the_claiming_run_settles_sent_after_a_stale_mark(opened: tuple[Ledger, Ledger]) -> None:
    """Marked uncertain while its run was alive (an outage past the lease): the provider's id
    still reaches the row from the run that claimed it, never from another; nothing else moves."""
    ledger, other = opened
    alive, late_failure = record("+447400123456"), record("+447400123457")
    ledger.claim([alive, late_failure])
    other.mark_stale(lambda _: True, T0 + timedelta(minutes=1))
    ledger.settle([alive.settled(S.SENT, T0 + timedelta(minutes=2), message_id="SM1")])
    with pytest.raises(GuardLost):  # a failure after a stale mark: never "certainly not sent"
        ledger.settle([late_failure.settled(S.FAILED, T0, error="late")])
    with pytest.raises(GuardLost):  # another run cannot claim its id
        other.settle([replace(late_failure.settled(S.SENT, T0, message_id="X"), claimed_by=OTHER)])
    rows = ledger.get([alive.key, late_failure.key])
    assert (rows[alive.key].status, rows[alive.key].provider_message_id) == (S.SENT, "SM1")
    assert rows[alive.key].error is None
    assert rows[late_failure.key].status is S.UNCERTAIN

"""Rules on ledger rows, one home each for every backend: the rows `max_per_day` counts
and those that can reopen an occurrence (`reopens`), whether a stored row is the one a
settle wrote (`holds`), a decision's reason (`reason_problem`) and what a resolve
refuses or writes (`refusals`, `resolved`, `decided`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from smsops.core.errors import ResolveRefused
from smsops.ledger import receipts
from smsops.ledger.policy import DONE, RESOLVABLE, RESOLVE_TO, Status
from smsops.ledger.records import Decision, SendRecord

# The rows a send may have gone out by: what `max_per_day` counts (`claimed_since`).
MAY_HAVE_GONE = DONE | {Status.PENDING, Status.UNCERTAIN}
# The statuses of rows that can make a plan owe (or wait for) a send again: a
# claim (in flight, or left by a run that died), and a failure the provider
# did not take (when `retryable`). Every other row stays as a plan found it.
REOPENING = (Status.PENDING, Status.FAILED)


# A decision's reason is shown in `ledger list` on the row's line: a few sentences, not a
# file. One typed at a terminal has no control characters: a tab or a newline pasted in
# would break the row's line, a bidi control reverse what follows it.
MAX_REASON = 1_000


def reason_problem(reason: str) -> str | None:
    """Why `reason` cannot be a decision's reason (None: it can)."""
    from smsops.core.terminal import controls

    if len(reason) > MAX_REASON:
        return f"is {len(reason):,} characters, over the {MAX_REASON:,} kept; say it shorter"
    if found := controls(reason):
        return (
            f"holds control characters ({', '.join(found)}); write it on one line with "
            "ordinary spaces"
        )
    return None


def holds(stored: SendRecord, outcome: SendRecord) -> bool:
    """Whether `stored` is the row `outcome`'s settle wrote (perhaps moved on by a receipt since).

    The same run's attempt with the same answer (provider, id, error) and the same settle
    time, or, a receipt having moved it since (its status and time are the receipt's), the
    same attempt and answer: only that settle writes the provider's id for this attempt.
    """
    same = (stored.claimed_by, stored.attempts, stored.provider) == (
        outcome.claimed_by, outcome.attempts, outcome.provider,
    ) and (stored.provider_message_id, stored.error, stored.retryable) == (
        outcome.provider_message_id, outcome.error, outcome.retryable,
    )  # fmt: skip
    if stored.status == outcome.status:
        return same and stored.updated_at == outcome.updated_at
    received = stored.receipt_at is not None and outcome.status in receipts.RECEIVING
    return same and received and outcome.provider_message_id is not None


def reopens(status: str, retryable: bool) -> bool:
    """Whether a row in `status` can make its settled occurrence owe a send (`REOPENING`)."""
    return status == Status.PENDING.value or (status == Status.FAILED.value and retryable)


def resolved(record: SendRecord, decision: Decision) -> SendRecord:
    """`record` as the decision leaves it (the caller has checked RESOLVABLE)."""
    if decision.status not in RESOLVE_TO:
        raise ValueError(f"a decision is one of {', '.join(RESOLVE_TO)}, not {decision.status}")
    return replace(
        record,
        status=decision.status,
        updated_at=decision.at,
        retryable=decision.status is Status.FAILED,
        resolved_by=decision.by,
        resolved_at=decision.at,
        resolution=decision.reason,
    )


def refusals(rows: Iterable[SendRecord], keys: Iterable[str] = ()) -> list[str]:
    """Why a resolve of `rows` (selected by `keys`, if given) may not go ahead: one line each."""
    found = {}
    problems = []
    for row in rows:
        found[row.key] = row
        if row.status not in RESOLVABLE:
            problems.append(
                f"{row.key} ({row.schedule} {row.occurrence}) is {row.status.value}, not "
                "uncertain: resolve decides only uncertain rows"
            )
    problems.extend(f"{key}: no such row in the ledger" for key in keys if key not in found)
    return problems


def decided(rows: list[SendRecord], keys: list[str], decision: Decision) -> list[SendRecord]:
    """The rows as the decision leaves them, or ResolveRefused naming every obstacle."""
    if problems := refusals(rows, keys):
        raise ResolveRefused("nothing was changed:\n  " + "\n  ".join(problems))
    if not rows:
        raise ResolveRefused("no uncertain rows match; nothing was changed")
    return [resolved(row, decision) for row in sorted(rows, key=lambda r: r.key)]

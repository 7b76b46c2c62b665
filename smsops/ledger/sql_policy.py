"""The policy table as an SQL condition, for every SQL backend (SQLite, PostgreSQL).

The rules are not written here: `policy_where` turns the table's rows into one
condition on the stored row (`sends`), the statuses passed as parameters. What
differs between the engines (how a parameter is spelled, a boolean, "the same
run") is a `Dialect`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from smsops.ledger.policy import Operation, Status, When, transitions


@dataclass(frozen=True)
class Dialect:
    """How one engine spells each condition of the table on the stored row `sends`."""

    mark: str  # a parameter: "?" or "%s"
    false: str  # a condition that never holds
    always: str
    retryable: str
    resend_asked: str  # takes the call's --resend-uncertain flag as a parameter
    # The row is still held by the caller's run: with `holder_param`, the
    # condition takes the run as a parameter; else it names the run itself (a
    # column of the rows being written, when one statement writes many).
    holder: str
    holder_param: bool = True

    def condition(self, when: When) -> str:
        return {
            When.ALWAYS: self.always,
            When.RETRYABLE: self.retryable,
            When.RESEND_ASKED: self.resend_asked,
            When.HOLDER: self.holder,
        }[when]


@functools.lru_cache(maxsize=128)  # a settle asks once per row: the same few answers
def policy_where(
    dialect: Dialect,
    operation: Operation,
    target: Status,
    *,
    resend_uncertain: bool = False,
    holder: str | None = None,
) -> tuple[str, tuple[object, ...]]:
    """The table's moves of `operation` into `target` as one SQL condition, and its parameters.

    An existing row passes when its status is the source of one such move and
    that move's condition holds; with no such move the condition is false.
    """
    parts: list[str] = []
    params: list[object] = []
    for move in transitions(operation):
        if move.source is None or move.target is not target:
            continue  # an insert is no condition on a stored row
        parts.append(f"(sends.status = {dialect.mark} AND {dialect.condition(move.when)})")
        params.append(move.source.value)
        if move.when is When.RESEND_ASKED:
            params.append(resend_uncertain)
        elif move.when is When.HOLDER and dialect.holder_param:
            params.append(holder)
    return " OR ".join(parts) or dialect.false, tuple(params)

"""`smsops ledger migrate`: every durable table of one ledger into another, by the ledger's rules.

The sends go through copy.py (as they are, a differing row a conflict never
overwritten). Every other durable table (tables.py) goes after them, in
batches of `BATCH` source rows, each one transaction of the target that
reads the target's rows of the batch and writes what its rule decides:

- `opt_events`, `otp_events` (histories): an event the target lacks is
  added; one it holds (every field equal) is not added again. Events are
  compared as a multiset, so two equal events in the source are two in the
  target, and a re-run adds none.
- `suppressions` (the list) follows the newest word of each number, over
  both ledgers' histories and lists: a number is on the list if its latest
  opt-out is at or after its latest opt-in (a tie keeps the STOP). So a
  source's STOP is listed unless the target heard START later; a target's
  listing is lifted only by a later START (from the source's history).
- `parked_receipts` (one per provider and message id) and `holds` (one per
  schedule): the target's row, if any, stays (a pair already parked keeps
  its first receipt; a hold is the target's own latest round).
- `skips`: per (schedule, occurrence), as a plan writes them: an occurrence
  the target has skips of keeps them whole (its own plan), one it has none
  of takes the source's. A batch never splits an occurrence.
- `pruned` (the watermark): the higher of the two, as a prune raises it.
- `otp_codes`: the more spent of the two rows: the most attempts, and
  approved if either is (a code verifies once); else a pending one takes
  the other's answer.

Each batch is decided again after its commit, without writing: nothing may
be left to do (`verified`), or the table is reported unverified (another
writer in the target). Counts per table: `copied` (source rows inserted),
`already` (the target held the row, or what the rule gives), `merged` (a
target row changed by the rule), `kept` (the rows differ and the target's
stays, by the rule).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Protocol, runtime_checkable

from smsops.ledger.base import Ledger
from smsops.ledger.copy import BATCH, CopyTarget, Outcome, copy_ledger
from smsops.ledger.tables import (
    HOLDS,
    OPT_EVENTS,
    OTP_CODES,
    OTP_EVENTS,
    PARKED,
    PRUNED,
    SKIPS,
    SUPPRESSIONS,
    TABLES,
    Fetch,
    Row,
    Table,
    TableStore,
    Writes,
)

COPIED, ALREADY, MERGED, KEPT = "copied", "already", "merged", "kept"
_OUT, _IN = "opt_out", "opt_in"  # suppressions.OptAction's values, as stored


@dataclass
class TableOutcome:
    """What the copy of one table did (see the module docstring for each count)."""

    copied: int = 0
    already: int = 0
    merged: int = 0
    kept: int = 0
    verified: int = 0  # source rows whose batch had nothing left to do once committed
    unverified: int = 0

    @property
    def ok(self) -> bool:
        return self.unverified == 0


@dataclass
class Migration:
    sends: Outcome
    tables: dict[str, TableOutcome] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every row is there and verified, and no send conflicts."""
        sends = self.sends.verified_ok and not self.sends.total_conflicts
        return sends and all(t.ok for t in self.tables.values())


@runtime_checkable
class Target(CopyTarget, TableStore, Protocol):
    """A ledger `ledger migrate` can write (SQLite and PostgreSQL)."""


def migrate_ledger(source: Ledger, target: Target, *, batch: int = BATCH) -> Migration:
    """The sends (copy.py), then every other durable table by its rule, each batch verified."""
    if not isinstance(source, TableStore):  # the CLI refuses memory:// before
        raise TypeError("ledger migrate reads a stored ledger (SQLite or PostgreSQL)")
    migration = Migration(copy_ledger(source, target, batch=batch))
    for table in TABLES:
        migration.tables[table.name] = TableOutcome()
    for table in TABLES:
        rule = RULES[table.name]
        for chunk in batches(source.table_rows(table), table, batch):
            done = target.table_merge(table, _deciding(rule, chunk), dry=False)
            for (name, outcome), n in done.counts.items():
                counts = migration.tables[name]
                setattr(counts, outcome, getattr(counts, outcome) + n)
            left = target.table_merge(table, _deciding(rule, chunk), dry=True)
            counts = migration.tables[table.name]
            if left.inserts or left.deletes:
                counts.unverified += len(chunk)
            else:
                counts.verified += len(chunk)
    return migration


Rule = Callable[[list[Row], Fetch], Writes]


def _deciding(rule: Rule, chunk: list[Row]) -> Callable[[Fetch], Writes]:
    return lambda fetch: rule(chunk, fetch)


def batches(rows: Iterable[Row], table: Table, size: int) -> Iterator[list[Row]]:
    """`size` rows at a time, never splitting a group (`table.group`) between two."""
    chunk: list[Row] = []
    for row in rows:
        if len(chunk) >= size and (
            not table.group or table.of(row, table.group) != table.of(chunk[-1], table.group)
        ):
            yield chunk
            chunk = []
        chunk.append(row)
    if chunk:
        yield chunk


def _history(table: Table) -> Rule:
    """Events the target lacks are added (a multiset: equal events count each)."""

    def rule(chunk: list[Row], fetch: Fetch) -> Writes:
        writes = Writes()
        have = Counter(fetch(table, [str(r[table.at(table.lookup)]) for r in chunk]))
        for row in chunk:
            if have[row] > 0:
                have[row] -= 1
                writes.count(table, ALREADY)
            else:
                writes.inserts.append((table, row))
                writes.count(table, COPIED)
        return writes

    return rule


def _opt_events(chunk: list[Row], fetch: Fetch) -> Writes:
    """The history; then a number the target lists whose newest word is now START is lifted."""
    writes = _history(OPT_EVENTS)(chunk, fetch)
    numbers = sorted({str(r[0]) for r in chunk})
    events = _by_number(fetch(OPT_EVENTS, numbers) + [row for _, row in writes.inserts])
    for entry in fetch(SUPPRESSIONS, numbers):
        if not _listed(events.get(entry[0], []), [entry]):
            writes.deletes.append((SUPPRESSIONS, entry))
            writes.count(SUPPRESSIONS, MERGED)
    return writes


def _suppressions(chunk: list[Row], fetch: Fetch) -> Writes:
    """A source's listing goes in unless the target lists the number or heard START later."""
    writes = Writes()
    numbers = [str(r[0]) for r in chunk]
    listed = {entry[0]: entry for entry in fetch(SUPPRESSIONS, numbers)}
    events = _by_number(fetch(OPT_EVENTS, numbers))
    for row in chunk:
        there = listed.get(row[0])
        if there is not None:
            writes.count(SUPPRESSIONS, ALREADY if there == row else KEPT)
        elif _listed(events.get(row[0], []), [row]):
            writes.inserts.append((SUPPRESSIONS, row))
            writes.count(SUPPRESSIONS, COPIED)
        else:
            writes.count(SUPPRESSIONS, KEPT)
    return writes


def _by_number(events: Iterable[Row]) -> dict[object, list[Row]]:
    found: dict[object, list[Row]] = {}
    for event in events:
        found.setdefault(event[0], []).append(event)
    return found


def _listed(events: Sequence[Row], entries: Sequence[Row]) -> bool:
    """The newest word of one number: its latest opt-out (its events, list entries) at or
    after its latest opt-in. A tie keeps it listed: a STOP is never lost to a clock's tie."""
    mine = [(e[2], e[1]) for e in events] + [(e[1], _OUT) for e in entries]
    outs = [at for at, action in mine if action == _OUT and isinstance(at, datetime)]
    ins = [at for at, action in mine if action == _IN and isinstance(at, datetime)]
    return bool(outs) and (not ins or max(outs) >= max(ins))


def _keyed(table: Table, merge: Callable[[Row, Row], Row] | None = None) -> Rule:
    """One row per key: absent, the source's goes in; present, `merge` (default: the
    target's stays) decides, and a changed result replaces the target's."""

    def rule(chunk: list[Row], fetch: Fetch) -> Writes:
        writes = Writes()
        there = {
            table.of(row, table.key): row
            for row in fetch(table, [str(r[table.at(table.lookup)]) for r in chunk])
        }
        for row in chunk:
            theirs = there.get(table.of(row, table.key))
            if theirs is None:
                writes.inserts.append((table, row))
                writes.count(table, COPIED)
                continue
            merged = theirs if merge is None else merge(row, theirs)
            if theirs == row:
                writes.count(table, ALREADY)
            elif merged == theirs:
                writes.count(table, KEPT)
            else:
                writes.deletes.append((table, theirs))
                writes.inserts.append((table, merged))
                writes.count(table, MERGED)
        return writes

    return rule


def _higher_watermark(mine: Row, theirs: Row) -> Row:
    through, other = mine[1], theirs[1]
    if not isinstance(through, datetime) or not isinstance(other, datetime):  # tables.read_row
        raise TypeError("a watermark is a time")
    return mine if through > other else theirs


def _more_spent(mine: Row, theirs: Row) -> Row:
    """The code as both ledgers saw it: attempts only rise, approved stays approved, a
    pending code takes the other's answer (otp.py's moves)."""
    at = OTP_CODES.at
    status, approved = theirs[at("status")], theirs[at("approved_at")]
    if status != "approved" and mine[at("status")] == "approved":
        status, approved = "approved", mine[at("approved_at")]
    elif status == "pending":
        status = mine[at("status")]
    attempts = max(int(str(mine[at("attempts")])), int(str(theirs[at("attempts")])))
    merged = list(theirs)
    merged[at("status")], merged[at("approved_at")], merged[at("attempts")] = (
        status,
        approved,
        attempts,
    )
    return tuple(merged)


def _skips(chunk: list[Row], fetch: Fetch) -> Writes:
    """Per occurrence: the target's skips whole if it has any, else the source's."""
    writes = Writes()
    theirs: dict[Row, list[Row]] = {}
    for row in fetch(SKIPS, [str(r[0]) for r in chunk]):
        theirs.setdefault(SKIPS.of(row, SKIPS.group), []).append(row)
    for pair, rows in groupby(chunk, key=lambda r: SKIPS.of(r, SKIPS.group)):
        mine = list(rows)
        there = theirs.get(pair)
        if not there:
            writes.inserts.extend((SKIPS, row) for row in mine)
            writes.count(SKIPS, COPIED, len(mine))
        else:
            same = sorted(there, key=repr) == sorted(mine, key=repr)
            writes.count(SKIPS, ALREADY if same else KEPT, len(mine))
    return writes


RULES: dict[str, Rule] = {
    OPT_EVENTS.name: _opt_events,
    SUPPRESSIONS.name: _suppressions,
    PARKED.name: _keyed(PARKED),
    HOLDS.name: _keyed(HOLDS),
    SKIPS.name: _skips,
    PRUNED.name: _keyed(PRUNED, _higher_watermark),
    OTP_CODES.name: _keyed(OTP_CODES, _more_spent),
    OTP_EVENTS.name: _history(OTP_EVENTS),
}

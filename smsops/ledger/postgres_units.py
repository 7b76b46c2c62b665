"""Units of work on the PostgreSQL ledger: which replica plans and sends which shard.

A unit is one shard of one due occurrence of one schedule, a row of the
`units` table (docs/scale-out.md). A replica takes units in one short
transaction: it opens the occurrence's rows (the first opener's shard count
wins), then `SELECT ... FOR UPDATE SKIP LOCKED` the free ones, at most its
fair share, and writes itself (its run id) as their holder. Two replicas
taking at once lock disjoint rows and never wait for each other; the row
locks end with the transaction, the holder column is the lease.

The lease of a unit is its holder's run lease (ledger/runs.py: renewed by the
run's heartbeat, lapsing when the process dies), the same one that decides
when the dead run's `pending` claims are stale: a survivor that takes a dead
replica's unit also finds its claims stale, and marks them `uncertain`
before it sends the rest of that shard. So the take needs no renewal of its
own, and the judge of "gone" is one rule (engine/owner.py `gone_runs`,
passed in as `gone`).

Measured against session advisory locks (bench/scale_out.py `--takes`):
both take a unit in about one round trip; the table keeps what the lock
cannot (the shard count, when a shard was last passed) and survives a
transaction-mode pooler, so the table is what smsops uses (docs/scale-out.md).
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import psycopg

from smsops.ledger.records import Taken
from smsops.ledger.runs import run_id

Connection = psycopg.Connection[tuple[Any, ...]]
RUN_COMMAND = "smsops run"  # the replicas a fair share is counted among

_OPEN = (
    "INSERT INTO units (schedule, occurrence, shard, shards) "
    "SELECT %s, %s, g, %s FROM generate_series(0, %s - 1) AS g ON CONFLICT DO NOTHING"
)
_COUNT = "SELECT shards FROM units WHERE schedule = %s AND occurrence = %s AND shard = 0"
# Replicas alive now (their lease runs, not ended by a clean stop): at least this one.
_LIVE = (
    "SELECT count(*) FROM runs WHERE command = %s AND expires_at > %s AND expires_at > heartbeat_at"
)
_FREE = """
    SELECT shard FROM units
    WHERE schedule = %(schedule)s AND occurrence = %(occurrence)s AND shard < %(count)s
      AND (passed_at IS NULL OR passed_at < %(since)s)
      AND (holder IS NULL OR (holder = %(me)s AND NOT shard = ANY(%(busy)s))
           OR holder = ANY(%(gone)s)
           OR NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = units.holder))
    ORDER BY shard LIMIT %(share)s
    FOR UPDATE SKIP LOCKED
"""
_HOLD = (
    "UPDATE units SET holder = %s, taken_at = %s "
    "WHERE schedule = %s AND occurrence = %s AND shard = ANY(%s)"
)
_RELEASE = (
    "UPDATE units SET holder = NULL, passed_at = coalesce(%s, passed_at) "
    "WHERE schedule = %s AND occurrence = %s AND shard = ANY(%s) AND holder = %s"
)
_FORGET = "DELETE FROM units WHERE schedule = %s AND NOT occurrence = ANY(%s)"


class PostgresUnits:
    shares_units = True

    def _transaction(
        self, doing: str, *, atomic: bool = True
    ) -> AbstractContextManager[Connection]:
        raise NotImplementedError  # PostgresLedger's

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
        """This run's fair share of the occurrence's free units: ceil(count / live replicas),
        less the `busy` ones it works on now.

        Free: not passed since `since` (this round's start), and held by
        nobody, by this run but not `busy` (a batch that ended without
        releasing), by a run of `gone`, or by a run the ledger no longer knows.
        """
        me = run_id()
        with self._transaction("cannot take units in") as conn:
            conn.execute(_OPEN, (schedule, occurrence, shards, shards))
            row = conn.execute(_COUNT, (schedule, occurrence)).fetchone()
            count = int(row[0]) if row else shards
            live = conn.execute(_LIVE, (RUN_COMMAND, now)).fetchone()
            replicas = max(1, int(live[0]) if live else 1)
            share = -(-count // replicas) - len(busy)
            if share <= 0:
                return Taken(count, [])
            found = conn.execute(
                _FREE,
                {
                    "schedule": schedule,
                    "occurrence": occurrence,
                    "count": count,
                    "since": since,
                    "me": me,
                    "busy": list(busy),
                    "gone": list(gone),
                    "share": share,
                },
            ).fetchall()
            taken = [int(r[0]) for r in found]
            if taken:
                conn.execute(_HOLD, (me, now, schedule, occurrence, taken))
        return Taken(count, taken)

    def release_units(
        self, schedule: str, occurrence: str, shards: Collection[int], *, passed: datetime | None
    ) -> None:
        """Let go of this run's `shards`; `passed`: when they were planned and sent whole."""
        with self._transaction("cannot release units in", atomic=False) as conn:
            conn.execute(_RELEASE, (passed, schedule, occurrence, list(shards), run_id()))

    def forget_units(self, schedule: str, keep: Collection[str]) -> None:
        """Drop the schedule's units of occurrences no longer due (closed windows are planned
        whole, see engine/round.py): the table holds the due ones only."""
        with self._transaction("cannot forget units in", atomic=False) as conn:
            conn.execute(_FORGET, (schedule, list(keep)))

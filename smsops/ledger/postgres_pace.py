"""Shared provider limits in PostgreSQL (ledger/pace.py): a slot schedule and a sliding window.

Two tables, one transaction per take, serialised per provider by the row
lock on its `pace` row (taken by the upsert that reads it):

- `pace.next_at`: the provider's next free send slot. A taker books its slot
  (max(next_at, now)) and moves `next_at` on by one interval per message, so
  requests from every replica are spaced 1/rate apart, as one process's were.
- `pace_holds`: one row per request granted, counting against the limit from
  its grant until one second after its answer (`answered`), or, unanswered
  (a replica that died, a lost connection), until its timeout and one second
  more (`lapse`). A request is granted only while the held messages and its
  own fit the limit. This is what makes the limit hold at the provider: the
  provider stamps a request between its grant and its answer, so of any
  messages it stamps within one second, the last granted found all the
  others still held. Spacing alone would not: a replica that wakes late, a
  slow answer or a stalled loop bunches slots together.

"now" is the database's `clock_timestamp()`; the taker is told seconds from
it. Holds that no longer count are deleted by the next take of the provider,
so the table holds about one second of requests.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import psycopg

from smsops.ledger.pace import Pace, Taken
from smsops.ledger.runs import run_id

Connection = psycopg.Connection[tuple[Any, ...]]
POLL = 0.02  # seconds before asking again while the window is full of unanswered requests

_LOCK = (
    "INSERT INTO pace (provider, next_at) VALUES (%s, 'epoch') "
    "ON CONFLICT (provider) DO UPDATE SET provider = excluded.provider "
    "RETURNING next_at, clock_timestamp()"
)
_BOOK = "UPDATE pace SET next_at = %s WHERE provider = %s"
_FORGET = "DELETE FROM pace_holds WHERE provider = %s AND counts_until <= %s"
_HELD = (
    "SELECT coalesce(sum(messages), 0), min(counts_until) FILTER (WHERE answered) "
    "FROM pace_holds WHERE provider = %s"
)
_HOLD = (
    "INSERT INTO pace_holds (provider, run, messages, granted_at, counts_until) "
    "VALUES (%s, %s, %s, %s, %s) RETURNING id"
)
_ANSWERED = (
    "UPDATE pace_holds SET answered = true, "
    "counts_until = least(counts_until, clock_timestamp() + interval '1 second') WHERE id = %s"
)


class PostgresPace:
    def _transaction(
        self, doing: str, *, atomic: bool = True
    ) -> AbstractContextManager[Connection]:
        raise NotImplementedError  # PostgresLedger's

    def take(self, pace: Pace, messages: int, reserved: bool) -> Taken:
        with self._transaction("cannot take a send slot in") as conn:
            row = conn.execute(_LOCK, (pace.provider,)).fetchone()
            assert row is not None
            next_at, now = row
            if not reserved:
                slot = max(next_at, now)
                next_at = slot + timedelta(seconds=pace.interval * messages)
                conn.execute(_BOOK, (next_at, pace.provider))
                if slot > now:
                    return Taken(None, _seconds(slot - now), _seconds(next_at - now))
            next_in = max(0.0, _seconds(next_at - now))
            conn.execute(_FORGET, (pace.provider, now))
            held = conn.execute(_HELD, (pace.provider,)).fetchone()
            assert held is not None
            count, first_free = int(held[0]), held[1]
            if count and count + messages > pace.limit:  # (a bulk over the limit goes alone)
                wait = _seconds(first_free - now) if first_free is not None else POLL
                return Taken(None, max(wait, 0.001), next_in)
            until = now + timedelta(seconds=pace.lapse)
            hold = conn.execute(_HOLD, (pace.provider, run_id(), messages, now, until)).fetchone()
            assert hold is not None
            return Taken(int(hold[0]), 0.0, next_in)

    def answered(self, hold: int) -> None:
        with self._transaction("cannot record an answer in", atomic=False) as conn:
            conn.execute(_ANSWERED, (hold,))


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()

"""The SQLite ledger's holds and skips (held.py): what a round decided besides its sends."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from smsops.ledger.held import (
    FORGET_SKIPS,
    HOLD,
    HOLDS,
    RECENT_SKIPS,
    SKIP,
    UNHOLD,
    Hold,
    HoldReason,
    Skips,
    SkipsNoted,
    hold_of,
    noted_rows,
    skips_of,
)
from smsops.ledger.sqlite_file import SqliteFile
from smsops.ledger.sqlite_schema import utc


class SqliteHeld(SqliteFile):
    def note_holds(self, held: Mapping[str, tuple[HoldReason, str] | None], at: datetime) -> None:
        if not held:
            return
        with self._writing("cannot record held schedules in"):
            for schedule, hold in held.items():
                if hold is None:
                    self._db.execute(UNHOLD, (schedule,))
                else:
                    self._db.execute(HOLD, (schedule, *hold, utc(at)))

    def holds(self) -> dict[str, Hold]:
        with self._reading():
            return {hold.schedule: hold for hold in map(hold_of, self._db.execute(HOLDS))}

    def note_skips(self, skips: SkipsNoted) -> None:
        if not skips:
            return
        with self._writing("cannot record skipped recipients in"):
            for forget, rows in noted_rows(skips):
                self._db.execute(FORGET_SKIPS, forget)
                self._db.executemany(SKIP, rows)

    def recent_skips(self, last: int) -> Skips:
        with self._reading():
            return skips_of(self._db.execute(RECENT_SKIPS, (last,)))

"""Which schedules are settled for what is due now, so a resync need not re-read them.

Re-reading a big audience every minute to find nothing to send is waste: a
schedule whose last plan found nothing to do that time alone could change is
left alone while its due occurrences stay the same. A config reload (new
audience files included) starts afresh: memos of an older config are void.

Rounds plan in worker threads, several at once, so the memo is guarded.
"""

from __future__ import annotations

import threading
from datetime import datetime

from smsops.config.loader import Config
from smsops.core.skips import SkipReason
from smsops.engine.plan import Disposition, Plan
from smsops.schedule.occurrences import due_occurrences


class Settled:
    def __init__(self) -> None:
        self._memo: dict[str, tuple[Config, list[str]]] = {}  # schedule -> (config, occurrences)
        self._lock = threading.Lock()

    def unsettled(self, config: Config, now: datetime, names: list[str]) -> list[str]:
        """The schedules among `names` worth planning now: not known settled for what is due."""
        with self._lock:  # memos of an older config are void (and would keep it alive)
            self._memo = {n: memo for n, memo in self._memo.items() if memo[0] is config}
            memos = dict(self._memo)
        unsettled = []
        for name in names:
            schedule = config.schedules.get(name)
            if schedule is None:
                continue
            memo = memos.get(name)
            if memo is None or memo[1] != due_occurrences(schedule, now):
                unsettled.append(name)
        return unsettled

    def remember(self, config: Config, plan: Plan) -> None:
        """Keep what `plan` found: settled is nothing left that time alone could change."""
        for s in plan.schedules:
            settled = (
                not s.recipient_local  # each recipient's own clock: due sets move per zone
                and s.to_send == 0
                and s.counts[Disposition.IN_FLIGHT] == 0  # another run may fail them
                and s.skip_counts[SkipReason.QUIET_HOURS] == 0  # held until the morning
            )
            with self._lock:
                if settled:
                    self._memo[s.schedule] = (config, s.occurrences)
                else:
                    self._memo.pop(s.schedule, None)

    def forget(self, name: str) -> None:
        with self._lock:
            self._memo.pop(name, None)

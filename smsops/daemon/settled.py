"""What is settled for what is due now, so a resync need not re-read it.

Re-reading a big audience every minute to find nothing to send is waste: a
schedule whose last plan found nothing to do that time alone could change is
left alone while its due occurrences stay the same. So is a shard of an
occurrence (a unit, daemon/units.py) whose part plan found the same: on a
shared ledger every replica would otherwise re-plan every shard of a done
occurrence at each resync.

A memo holds only while nothing can have reopened what it covers:

- a config reload (new audience files included) starts afresh: memos of an
  older config are void (`config` is compared by identity);
- a new due set (a fire, a window that closes) plans the schedule again;
- before a memo is trusted, the ledger is asked for the occurrence's rows
  that can make it owe a send again (`Ledger.reopening`: pending claims of
  any run, and retryable failures: a failure the provider did not take, or
  an uncertain row `ledger resolve` decided `failed`); a memo covering one of
  them is void. A receipt, or a resolve `--as sent`, reopens nothing and
  leaves the memo alone;
- the runner forgets a schedule's memos when its round fails, a closed
  window waits for its catch-up, or another run's lease lapses (`forget`).

Rounds plan in worker threads, several at once, so the memo is guarded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from smsops.audience.shards import Part, shard_of
from smsops.config.loader import Config
from smsops.core.skips import SkipReason
from smsops.engine.plan import Disposition, Plan, SchedulePlan
from smsops.ledger.base import Ledger
from smsops.schedule.occurrences import due_occurrences


@dataclass(frozen=True)
class _Shards:
    """The shards of one occurrence found settled, under one config and shard count."""

    config: Config
    count: int
    shards: frozenset[int]


class Settled:
    def __init__(self) -> None:
        self._memo: dict[str, tuple[Config, list[str]]] = {}  # schedule -> (config, occurrences)
        self._shards: dict[tuple[str, str], _Shards] = {}  # (schedule, occurrence) -> its memo
        self._lock = threading.Lock()

    def unsettled(
        self, config: Config, now: datetime, names: list[str], ledger: Ledger
    ) -> list[str]:
        """The schedules among `names` worth planning now: not known settled for what is due.

        Reads the ledger (`reopening`) for each schedule it would leave alone:
        call it off the event loop.
        """
        with self._lock:  # memos of an older config are void (and would keep it alive)
            self._memo = {n: memo for n, memo in self._memo.items() if memo[0] is config}
            self._shards = {k: memo for k, memo in self._shards.items() if memo.config is config}
            memos = dict(self._memo)
        unsettled = []
        for name in names:
            schedule = config.schedules.get(name)
            if schedule is None:
                continue
            due = due_occurrences(schedule, now)
            self._keep_shards(name, due)
            memo = memos.get(name)
            if memo is None or memo[1] != due:
                unsettled.append(name)
            elif any(ledger.reopening(name, occurrence) for occurrence in due):
                self._forget_whole(name)
                unsettled.append(name)
        return unsettled

    def unsettled_part(self, config: Config, name: str, part: Part, ledger: Ledger) -> Part | None:
        """The shards of `part` worth planning now (None: every one is known settled).

        Reads the ledger (`reopening`) when a memo would leave shards out:
        call it off the event loop.
        """
        key = (name, part.occurrence)
        with self._lock:
            memo = self._shards.get(key)
        if memo is None or memo.config is not config or memo.count != part.count:
            return part
        settled = memo.shards & part.shards
        if not settled:
            return part
        reopened = frozenset(
            shard_of(n, part.count) for n in ledger.reopening(name, part.occurrence)
        )
        if reopened & settled:
            self._remember_shards(config, key, part.count, reopened & settled, settled=False)
            settled -= reopened
        left = part.shards - settled
        return Part(part.occurrence, part.count, frozenset(left)) if left else None

    def remember(self, config: Config, plan: Plan, part: Part | None = None) -> None:
        """Keep what `plan` found: settled is nothing left that time alone could change.

        `part`: the shards `plan` kept (None or whole: the plan of every shard).
        A part plan's counts are those of its shards together: they are
        remembered settled together, or not at all.
        """
        for s in plan.schedules:
            settled = is_settled(s)
            if part is None or part.whole:
                with self._lock:
                    if settled:
                        self._memo[s.schedule] = (config, s.occurrences)
                    else:
                        self._memo.pop(s.schedule, None)
            else:
                key = (s.schedule, part.occurrence)
                self._remember_shards(config, key, part.count, part.shards, settled=settled)

    def forget(self, name: str) -> None:
        """Every memo of `name`: it is planned afresh, whole and by shards."""
        self._forget_whole(name)
        with self._lock:
            for key in [key for key in self._shards if key[0] == name]:
                del self._shards[key]

    def _keep_shards(self, name: str, due: list[str]) -> None:
        """Drop `name`'s shard memos of occurrences no longer due (their units are gone)."""
        with self._lock:
            for key in [k for k in self._shards if k[0] == name and k[1] not in due]:
                del self._shards[key]

    def _forget_whole(self, name: str) -> None:
        with self._lock:
            self._memo.pop(name, None)

    def _remember_shards(
        self,
        config: Config,
        key: tuple[str, str],
        count: int,
        shards: frozenset[int],
        *,
        settled: bool,
    ) -> None:
        with self._lock:
            memo = self._shards.get(key)
            if memo is None or memo.config is not config or memo.count != count:
                memo = _Shards(config, count, frozenset())
            found = memo.shards | shards if settled else memo.shards - shards
            if found:
                self._shards[key] = _Shards(config, count, found)
            else:
                self._shards.pop(key, None)


def is_settled(s: SchedulePlan) -> bool:
    """Whether the plan found nothing left that time alone could change."""
    return (
        not s.recipient_local  # each recipient's own clock: due sets move per zone
        and s.to_send == 0
        and s.counts[Disposition.IN_FLIGHT] == 0  # another run may fail them
        and s.skip_counts[SkipReason.QUIET_HOURS] == 0  # held until the morning
    )

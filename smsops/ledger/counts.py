"""Row counts folded into what the ledger reports: `Ledger.stats()` and
`Ledger.last_deliveries()` from one grouped read, and one status's rows per schedule."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from smsops.ledger import receipts
from smsops.ledger.policy import DONE, Status
from smsops.ledger.receipts import LastDelivery

StatsAndDeliveries = tuple[dict[str, dict[str, int]], dict[str, LastDelivery]]
_DONE_VALUES = frozenset(status.value for status in DONE)


def stats_and_deliveries(
    counts: Iterable[tuple[str, str, str, int]], schedules: Collection[str]
) -> StatsAndDeliveries:
    """From (schedule, occurrence, status, rows) counts of every row: `Ledger.stats()` and
    `Ledger.last_deliveries(schedules)`, as the two reads give them."""
    stats: dict[str, dict[str, int]] = {}
    wanted = set(schedules)
    asked = []
    for row in counts:
        schedule, _, status, n = row
        per = stats.setdefault(schedule, {})
        per[status] = per.get(status, 0) + n
        # Only rows the provider took, as `last_deliveries` reads them: a row in a state
        # this version does not know is counted in `stats`, never taken for a status.
        if schedule in wanted and status in _DONE_VALUES:
            asked.append(row)
    return stats, receipts.last_deliveries(asked)


def per_schedule(stats: dict[str, dict[str, int]], status: Status) -> dict[str, int]:
    """From `Ledger.stats()`: the rows in `status` per schedule that has any."""
    return {name: n[status.value] for name, n in stats.items() if n.get(status.value)}

"""Holds and skips a round records (ledger/held.py), on every backend, against the Python
reference; and the migration that adds their tables to a ledger of the version before."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from smsops.core.errors import LedgerError
from smsops.core.skips import SkipReason
from smsops.ledger.base import Ledger
from smsops.ledger.held import newest
from smsops.ledger.sqlite import SqliteLedger
from smsops.ledger.sqlite_schema import MIGRATIONS
from tests.ledger.seeding import NOW


def test_a_hold_keeps_its_first_time_until_its_reason_changes_and_goes_when_cleared(
    open_ledger_handle: Callable[[], Ledger],
) -> None:
    ledger = open_ledger_handle()
    later = NOW + timedelta(hours=1)
    down = "provider 'p' unreachable: 2 requests, none answered (DNS)"
    ledger.note_holds(
        {
            "a": ("guardrail", "max_recipients: 3 > 2"),
            "b": ("secret", "K"),
            "d": ("provider", down),
        },
        NOW,
    )
    ledger.note_holds({"a": ("guardrail", "max_recipients: 3 > 2"), "c": None}, later)
    seen = open_ledger_handle().holds()  # another handle: it is in the ledger
    assert {n: (h.reason, h.detail, h.since) for n, h in seen.items()} == {
        "a": ("guardrail", "max_recipients: 3 > 2", NOW),
        "b": ("secret", "K", NOW),
        "d": ("provider", down, NOW),
    }
    ledger.note_holds({"a": ("guardrail", "max_recipients: 4 > 2"), "b": None, "d": None}, later)
    seen = open_ledger_handle().holds()
    assert {n: (h.detail, h.since) for n, h in seen.items()} == {
        "a": ("max_recipients: 4 > 2", later)
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_skips_per_occurrence_are_replaced_by_each_plan_and_read_newest_first(
    open_ledger_handle: Callable[[], Ledger], seed: int
) -> None:
    """Random plans of random occurrences, of the whole or of some shards: what the ledger
    returns equals the reference (each occurrence's parts as their latest plan left them:
    the whole's plan replaces every part, a shard's its own and the whole's; the parts
    summed, zeros dropped, `last` newest)."""
    ledger = open_ledger_handle()
    rng = random.Random(seed)
    parts: dict[tuple[str, str], dict[int, dict[str, int]]] = {}
    reasons = [reason.value for reason in SkipReason]
    for _ in range(40):
        plan = {}
        for _ in range(rng.randrange(1, 4)):
            at = (rng.choice(["s", "t", "u"]), f"2027-03-{rng.randrange(1, 12):02d}T09:00:00Z")
            for part in rng.choice([[-1], [0], [1, 2], [0, 1, 2]]):
                if (*at, part) in plan:
                    continue  # a plan counts each part once
                counts = {r: rng.choice([0, 0, 1, 7]) for r in rng.sample(reasons, 3)}
                plan[(*at, part)] = counts
                kept = parts.setdefault(at, {})
                for old in list(kept):
                    if part == -1 or old in (part, -1):
                        del kept[old]
                kept[part] = counts
        ledger.note_skips(plan)
    reference: dict[str, dict[str, dict[str, int]]] = {}
    for (schedule, occurrence), kept in parts.items():
        total = Counter[str]()
        for counts in kept.values():
            total.update(counts)
        if summed := {r: n for r, n in sorted(total.items()) if n}:
            reference.setdefault(schedule, {})[occurrence] = summed
    reader = open_ledger_handle()
    for last in (1, 3, 50):
        assert reader.recent_skips(last) == newest(reference, last)


def test_a_hold_reason_no_smsops_writes_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    SqliteLedger(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO holds VALUES ('a', 'moon phase', 'x', '2027-03-01T09:00:00Z')")
    ledger = SqliteLedger(path, readonly=True)
    with pytest.raises(LedgerError, match=r"moon phase.*none of guardrail, secret, provider"):
        ledger.holds()
    ledger.close()


def test_a_ledger_of_the_version_before_gets_the_tables_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    before = len(MIGRATIONS) - 1
    db.executescript(";".join(MIGRATIONS[:before]) + f"; PRAGMA user_version = {before};")
    db.execute("INSERT INTO suppressions VALUES ('+15550000001', '2027-01-01', 'cli', '')")
    db.commit()
    db.close()
    with pytest.raises(LedgerError, match="apply` upgrades it"):
        SqliteLedger(path, readonly=True)
    ledger = SqliteLedger(path)
    ledger.note_skips({("s", "once", -1): {"opted_out": 2}})
    ledger.note_holds({"s": ("secret", "K of p is not set")}, NOW)
    assert ledger.recent_skips(5) == {"s": {"once": {"opted_out": 2}}}
    assert ledger.suppressed() == {"+15550000001"}
    ledger.close()


def test_the_recent_skips_seek_the_primary_key_and_never_read_the_table() -> None:
    """The status page reads them per request: a year of a 5-minute schedule's skips must
    cost the occurrences shown, not the table (every step a SEARCH, as for the sends)."""
    from smsops.ledger.held import RECENT_SKIPS, SKIP_PARTS, TABLES

    db = sqlite3.connect(":memory:")
    db.executescript(TABLES.format(time="TEXT") + SKIP_PARTS)
    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + RECENT_SKIPS, (5,))]
    db.close()
    touching = [step for step in plan if " skips" in step or " s " in step]
    assert touching
    assert all(step.startswith("SEARCH") for step in touching), plan

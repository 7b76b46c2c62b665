"""Skips per shard (ledger/held.py's parts): replicas that each plan some shards of an
occurrence (daemon/units.py) record skips that add up to the plan of the whole, on every
backend; a shard's re-plan replaces only its rows; a whole plan and shard plans of one
occurrence never count a recipient twice; a ledger of the version before keeps its rows."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from smsops.audience.shards import Part, shard_of
from smsops.config.loader import Config
from smsops.engine.holds import skips_of
from smsops.engine.planner import PlanOptions, make_plan
from smsops.ledger import postgres_schema, sqlite_schema
from smsops.ledger.base import Ledger
from smsops.ledger.held import WHOLE, nonzero
from smsops.ledger.postgres import PostgresLedger
from smsops.ledger.sqlite import SqliteLedger
from smsops.ledger.suppressions import OptAction, OptEvent
from tests.engine.test_shards import AT, project
from tests.ledger.seeding import NOW

SCHEDULE = "s: {template: t, audience: a, provider: ot, respect_opt_out: true}\n"
COUNT = 4


def audience(seed: int) -> tuple[list[str], list[str]]:
    """CSV rows with invalid numbers and duplicates; and some of its numbers to opt out."""
    pick = random.Random(seed)
    numbers = [f"+4474{pick.randrange(10**8):08d}" for _ in range(60)]
    rows = [f"{n},P{i},UTC" for i, n in enumerate(numbers)]
    rows += [f"{pick.choice(numbers)},again,UTC" for _ in range(6)]  # duplicates
    rows += [f"not a number {i},X,UTC" for i in range(5)]
    pick.shuffle(rows)
    return rows, pick.sample(numbers, 9)


def opt_out(ledger: Ledger, numbers: list[str]) -> None:
    ledger.opt([OptEvent(n, OptAction.OUT, NOW, "cli", "STOP") for n in numbers])


def noted(config: Config, ledger: Ledger, shards: set[int] | None) -> dict[str, int]:
    """Plan (the whole occurrence, or `shards` of it), record its skips, read them back."""
    part = None if shards is None else Part("once", COUNT, frozenset(shards))
    options = PlanOptions(keep_sends=True, part=part)
    plan = make_plan(config, ledger, AT, lambda record: False, options)
    ledger.note_skips(skips_of(plan, part))
    return ledger.recent_skips(5).get("s", {}).get("once", {})


def whole_skips(config: Config, ledger: Ledger) -> dict[str, int]:
    """The unsharded plan's skips, from the plan itself (not the ledger)."""
    plan = make_plan(config, ledger, AT, lambda record: False, PlanOptions())
    return nonzero(plan.schedules[0].skips_by_occurrence()[("once", WHOLE)])


@pytest.mark.parametrize("seed", [3])
def test_shard_plans_add_up_to_the_whole_and_replace_only_their_rows(
    open_ledger_handle: Callable[[], Ledger], tmp_path: Path, seed: int
) -> None:
    rows, stopped = audience(seed)
    config = project(tmp_path, rows, SCHEDULE)
    ledger = open_ledger_handle()
    opt_out(ledger, stopped)
    whole = whole_skips(config, ledger)
    assert set(whole) >= {"duplicate", "invalid_number", "opted_out"}
    # two replicas' rounds, each holding some shards of the occurrence
    first = noted(config, ledger, {0, 2})
    assert 0 < sum(first.values()) < sum(whole.values())
    assert noted(config, ledger, {1, 3}) == whole
    assert open_ledger_handle().recent_skips(5)["s"]["once"] == whole  # another handle
    # shard 1 planned again after a STOP of one of its numbers: its rows only
    later = next(
        n
        for n in (r.split(",")[0] for r in rows)
        if n.startswith("+") and shard_of(n, COUNT) == 1 and n not in stopped
    )
    opt_out(ledger, [later])
    assert noted(config, ledger, {1}) == whole | {"opted_out": whole["opted_out"] + 1}
    assert noted(config, ledger, {1}) == whole | {"opted_out": whole["opted_out"] + 1}
    whole = whole_skips(config, ledger)
    # a plan of the whole replaces every shard's rows; shards after it replace its row
    assert noted(config, ledger, None) == whole
    assert noted(config, ledger, {0, 2}) == first
    assert noted(config, ledger, {1, 3}) == whole
    assert noted(config, ledger, None) == whole


def test_a_ledger_of_the_version_before_keeps_its_skips_as_the_whole_s(
    tmp_path: Path, postgres_db: str
) -> None:
    """SQLite and PostgreSQL: the migration moves each row to the whole's part; a shard's
    plan after it replaces that row (the whole's) with its own."""
    path = tmp_path / "old.sqlite"
    before = len(sqlite_schema.MIGRATIONS) - 1
    db = sqlite3.connect(path)
    db.executescript(
        ";".join(sqlite_schema.MIGRATIONS[:before]) + f"; PRAGMA user_version = {before};"
    )
    db.execute("INSERT INTO skips VALUES ('s', 'once', 'opted_out', 2)")
    db.commit()
    db.close()
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute(postgres_schema.VERSION_TABLE)
        for number, script in enumerate(postgres_schema.MIGRATIONS[:-1], start=1):
            conn.execute(script.encode())
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        conn.execute("INSERT INTO skips VALUES ('s', 'once', 'opted_out', 2)")
    for ledger in (SqliteLedger(path), PostgresLedger(postgres_db)):
        try:
            assert ledger.recent_skips(5) == {"s": {"once": {"opted_out": 2}}}
            ledger.note_skips({("s", "once", 3): {"duplicate": 1}, ("s", "once", 1): {}})
            assert ledger.recent_skips(5) == {"s": {"once": {"duplicate": 1}}}
            ledger.note_skips({("s", "once", 1): {"duplicate": 4}})
            assert ledger.recent_skips(5) == {"s": {"once": {"duplicate": 5}}}
        finally:
            ledger.close()

"""`ledger migrate` copies every durable table, not only the sends (ledger/migrate.py).

The ledgers compared here are read with plain SQL (sqlite3, psycopg), not
through the code under test: every table a schema has is either durable
(compared row for row) or named runtime-only here, so a table added later
fails `test_every_table_is_durable_or_named_runtime` until someone decides.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from smsops.core.hooks import Delivery, Receipt
from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.ledger.held import WHOLE
from smsops.ledger.migrate import migrate_ledger
from smsops.ledger.otp import OtpCode, SendOutcome, SendRule
from smsops.ledger.postgres import PostgresLedger
from smsops.ledger.sqlite import SqliteLedger
from smsops.ledger.suppressions import OptAction, OptEvent
from tests.ledger import seeding

NOW = seeding.NOW
DURABLE = (
    "sends", "opt_events", "suppressions", "parked_receipts", "holds", "skips", "pruned",
    "otp_codes", "otp_events",
)  # fmt: skip
# Live coordination of the processes writing a ledger: meaningless in another one.
RUNTIME = {"writers", "runs", "units", "pace", "pace_holds", "schema_version", "sqlite_sequence"}
# Serial ids the target numbers itself, and the partition key PostgreSQL derives.
IGNORED = {("opt_events", "id"), ("parked_receipts", "seq"), ("otp_events", "seq")}
IGNORED |= {("sends", "month")}
STOPPED, RESTARTED, AGAIN = "+447400100001", "+447400100002", "+447400100003"
RULE = SendRule(max_sends=3, window=timedelta(hours=1), min_gap=timedelta(seconds=30))


def opt(number: str, action: OptAction, minutes: int, source: str = "ot") -> OptEvent:
    return OptEvent(number, action, NOW + timedelta(minutes=minutes), source, "STOP")


def code(n: int, recipient: str, minutes: int) -> OtpCode:
    made = NOW + timedelta(minutes=minutes)
    return OtpCode(
        f"code-{n}", recipient, "ot", "otp", f"{n:064x}", made, made + timedelta(minutes=10), 3
    )


def fill(ledger: Ledger, seed: int = 7) -> None:
    """A ledger with rows in every durable table, written through the ledger's own methods."""
    seeding.write(ledger, seeding.generated(seed, ["greet", "promo"], 30))
    old = [
        seeding.row("old", "2027-01-05T09:00:00Z", f"+1555000{i:04d}", Status.SENT) for i in (1, 2)
    ]
    seeding.write(ledger, old)
    assert ledger.prune([("old", "2027-01-05T09:00:00Z")], NOW + timedelta(days=1), None).rows == 2
    ledger.opt(
        [
            opt(STOPPED, OptAction.OUT, 1),
            opt(STOPPED, OptAction.OUT, 2),  # a second STOP changes nothing: no event
            opt(RESTARTED, OptAction.OUT, 3, "cli"),
            opt(RESTARTED, OptAction.IN, 4, "cli"),
            opt(AGAIN, OptAction.OUT, 5, "import"),
            opt(AGAIN, OptAction.IN, 6),
            opt(AGAIN, OptAction.OUT, 7),
        ]
    )
    receipts = [
        Receipt("ot", f"early-{i}", Delivery.DELIVERED, "N202", None, NOW) for i in range(3)
    ]
    receipts.append(Receipt("ot", "early-x", Delivery.UNDELIVERED, "N500", "E12", None))
    ledger.park(receipts, NOW, since=NOW - timedelta(days=1), keep=100)
    ledger.note_holds({"promo": ("guardrail", "max_recipients 1: 3 to send")}, NOW)
    occurrence = "2027-03-02T09:00:00+00:00"
    ledger.note_skips(
        {
            ("greet", occurrence, WHOLE): {"opted_out": 2, "invalid_number": 1},
            ("promo", occurrence, 0): {"opted_out": 1},
            ("promo", occurrence, 3): {"invalid_number": 4},
            ("promo", "2027-02-01T09:00:00Z", WHOLE): {"opted_out": 5},  # no sends at all
        }
    )
    otp = ledger  # the SQL ledgers are OtpStores
    assert otp.open_code(code(1, STOPPED, 0), RULE) is None  # type: ignore[attr-defined]
    otp.code_sent(code(1, STOPPED, 0), SendOutcome.SENT, NOW)  # type: ignore[attr-defined]
    otp.take_attempt(STOPPED, "ot", NOW + timedelta(seconds=5))  # type: ignore[attr-defined]
    assert otp.open_code(code(2, STOPPED, 0), RULE) is not None  # type: ignore[attr-defined]
    assert otp.open_code(code(3, AGAIN, 2), RULE) is None  # type: ignore[attr-defined]
    otp.code_sent(code(3, AGAIN, 2), SendOutcome.UNCERTAIN, NOW)  # type: ignore[attr-defined]
    otp.approve(code(3, AGAIN, 2), NOW + timedelta(minutes=3))  # type: ignore[attr-defined]


def _normal(value: object) -> object:
    """A value as both engines mean it: times as UTC instants, booleans as 0/1."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, str) and value[:1].isdigit() and "T" in value:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return value
        return when.astimezone(UTC).isoformat() if when.tzinfo else value
    return value


def _tables_sqlite(path: Path) -> Iterator[tuple[str, list[str], list[tuple[object, ...]]]]:
    with sqlite3.connect(path) as db:
        for table in DURABLE:
            cursor = db.execute(f"SELECT * FROM {table}")
            yield table, [d[0] for d in cursor.description], cursor.fetchall()


def _tables_postgres(url: str) -> Iterator[tuple[str, list[str], list[tuple[object, ...]]]]:
    with psycopg.connect(url) as conn:
        for table in DURABLE:
            query = "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
            names = [n for (n,) in conn.execute(query, (table,)) if (table, n) not in IGNORED]
            rows = conn.execute(f"SELECT {', '.join(names)} FROM {table}").fetchall()
            yield table, names, rows


def dump(location: str | Path) -> dict[str, list[tuple[object, ...]]]:
    """Every durable table's rows, normalized and sorted (serial ids left out)."""
    found = (
        _tables_postgres(location)
        if isinstance(location, str) and location.startswith("postgresql")
        else _tables_sqlite(Path(location))
    )
    tables = {}
    for table, names, rows in found:
        kept = [i for i, name in enumerate(names) if (table, name) not in IGNORED]
        normal = [tuple(sorted((names[i], _normal(row[i])) for i in kept)) for row in rows]
        tables[table] = sorted(normal, key=repr)
    return tables


@contextmanager
def opened(location: str | Path, *, readonly: bool = False) -> Iterator[Ledger]:
    """A ledger at `location` (a PostgreSQL URL or a file), closed after the block."""
    ledger: SqliteLedger | PostgresLedger
    if isinstance(location, str) and location.startswith("postgresql"):
        ledger = PostgresLedger(location, readonly=readonly)
    else:
        ledger = SqliteLedger(Path(location), readonly=readonly)
    try:
        yield ledger
    finally:
        ledger.close()


def test_every_table_is_durable_or_named_runtime(tmp_path: Path, postgres_db: str) -> None:
    SqliteLedger(tmp_path / "l.sqlite").close()
    PostgresLedger(postgres_db).close()
    with sqlite3.connect(tmp_path / "l.sqlite") as db:
        lite = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    with psycopg.connect(postgres_db) as conn:
        query = "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND NOT relispartition "
        query += "AND relnamespace = 'public'::regnamespace"
        pg = {name for (name,) in conn.execute(query)}
    assert lite - RUNTIME == set(DURABLE)
    assert pg - RUNTIME == set(DURABLE)


def test_sqlite_to_postgres_to_sqlite_keeps_every_table_row_for_row(
    tmp_path: Path, postgres_db: str
) -> None:
    first, back = tmp_path / "first.sqlite", tmp_path / "back.sqlite"
    ledger = SqliteLedger(first)
    fill(ledger)
    history = ledger.opt_history()
    ledger.close()
    original = dump(first)
    assert all(original[table] for table in DURABLE), original  # every table has rows
    for source, target in ((first, postgres_db), (postgres_db, back)):
        with opened(source) as src, opened(target) as dst:
            outcome = migrate_ledger(src, dst, batch=4)
        assert outcome.ok, outcome
        assert dump(target) == original
    with opened(back) as again:
        assert again.opt_history() == history  # the history keeps its order
        assert again.suppressed() == {STOPPED, AGAIN}


def test_a_rerun_adds_nothing_and_counts_every_row_already_there(
    tmp_path: Path, postgres_db: str
) -> None:
    source = tmp_path / "s.sqlite"
    with opened(source) as ledger:
        fill(ledger)
    for _ in range(2):
        with opened(source, readonly=True) as src, opened(postgres_db) as dst:
            outcome = migrate_ledger(src, dst, batch=5)
        assert outcome.ok
    assert dump(postgres_db) == dump(source)
    for table, counts in outcome.tables.items():
        assert counts.copied == 0, table
        assert counts.merged == 0, table
        assert counts.already == len(dump(source)[table]), table
    assert sum(outcome.sends.already.values()) == len(dump(source)["sends"])


def test_an_interrupted_migrate_completes_when_run_again_without_duplicates(
    tmp_path: Path,
) -> None:
    source, target = tmp_path / "s.sqlite", tmp_path / "t.sqlite"
    with opened(source) as ledger:
        fill(ledger)
    SqliteLedger(target).close()
    stops = {
        "sends": "sends",
        "opt_events": "opt_events",
        "otp_events": "otp_events",
    }
    for table in stops:  # each run dies part way into one table (a full disk, a kill)
        with sqlite3.connect(target) as db:
            db.execute(
                f"CREATE TRIGGER stop_{table} BEFORE INSERT ON {table} "
                f"WHEN (SELECT count(*) FROM {table}) >= 3 "
                "BEGIN SELECT RAISE(ABORT, 'interrupted'); END"
            )
    for table in stops:
        with (
            opened(source, readonly=True) as src,
            opened(target) as dst,
            pytest.raises(Exception, match="interrupted"),
        ):
            migrate_ledger(src, dst, batch=2)
        with sqlite3.connect(target) as db:
            db.execute(f"DROP TRIGGER stop_{table}")
    with opened(source, readonly=True) as src, opened(target) as dst:
        outcome = migrate_ledger(src, dst, batch=2)
    assert outcome.ok
    assert dump(target) == dump(source)
    assert outcome.tables["otp_events"].already == 2  # what the interrupted run committed


def _ledger_with(path: Path, events: list[OptEvent]) -> Path:
    with opened(path) as ledger:
        ledger.opt(events)
    return path


def test_the_list_merges_by_the_newest_word_and_a_tie_keeps_the_stop(tmp_path: Path) -> None:
    """Source and target each heard something of a number: the later word stands."""
    late_start, late_stop, tie, only_source = (
        "+447400200001", "+447400200002", "+447400200003", "+447400200004",
    )  # fmt: skip
    source = _ledger_with(
        tmp_path / "s.sqlite",
        [
            opt(late_start, OptAction.OUT, 1),  # the target heard START after this STOP
            opt(late_stop, OptAction.OUT, 1),
            opt(late_stop, OptAction.IN, 2),  # START, then the target heard STOP again
            opt(tie, OptAction.OUT, 5),
            opt(only_source, OptAction.OUT, 1),
        ],
    )
    target = _ledger_with(
        tmp_path / "t.sqlite",
        [
            opt(late_start, OptAction.OUT, 0),
            opt(late_start, OptAction.IN, 3),
            opt(late_stop, OptAction.OUT, 4),
            opt(tie, OptAction.OUT, 0),
            opt(tie, OptAction.IN, 5, "cli"),  # the same instant as the source's STOP
        ],
    )
    for _ in range(2):  # the second run finds nothing to do
        with opened(source, readonly=True) as src, opened(target) as dst:
            outcome = migrate_ledger(src, dst)
        assert outcome.ok
    with opened(target) as merged:
        assert merged.suppressed() == {late_stop, tie, only_source}
        assert len(merged.opt_history()) == 10  # every event of both, none twice
    assert outcome.tables["suppressions"].copied == 0  # the second run: nothing new
    assert outcome.tables["suppressions"].already == 2  # tie and only_source, as listed
    assert outcome.tables["suppressions"].kept == 1  # late_start: the target's START stands


def test_a_later_start_in_the_source_lifts_the_targets_stop(
    tmp_path: Path,
) -> None:
    number = "+447400300001"
    source = _ledger_with(
        tmp_path / "s.sqlite", [opt(number, OptAction.OUT, 1), opt(number, OptAction.IN, 9)]
    )
    target = _ledger_with(tmp_path / "t.sqlite", [opt(number, OptAction.OUT, 5)])
    with opened(source, readonly=True) as src, opened(target) as dst:
        outcome = migrate_ledger(src, dst)
    assert outcome.ok
    assert outcome.tables["suppressions"].merged == 1  # the target's STOP lifted by a later START
    with opened(target) as merged:
        assert merged.suppressed() == frozenset()


def test_other_tables_merge_by_the_ledgers_own_rules(tmp_path: Path) -> None:
    """Skips: an occurrence the target planned keeps its counts whole. Watermark: the higher.
    A one-time code: the more spent of the two (attempts only rise; approved stays approved).
    Holds and parked receipts: the target's own row stays."""
    occurrence = "2027-03-02T09:00:00Z"
    source, target = SqliteLedger(tmp_path / "s.sqlite"), SqliteLedger(tmp_path / "t.sqlite")
    try:
        source.note_skips({("s", occurrence, 0): {"opted_out": 1}, ("s", "o2", WHOLE): {"x": 2}})
        target.note_skips({("s", occurrence, WHOLE): {"opted_out": 7}})
        for ledger, day in ((source, 10), (target, 5)):
            rows = [seeding.row("w", f"2027-01-{day:02d}T09:00:00Z", "+15550001111", Status.SENT)]
            seeding.write(ledger, rows)
            ledger.prune([("w", rows[0].occurrence)], NOW + timedelta(days=1), None)
        for ledger in (source, target):
            assert ledger.open_code(code(1, STOPPED, 0), RULE) is None
            ledger.code_sent(code(1, STOPPED, 0), SendOutcome.SENT, NOW)
        source.take_attempt(STOPPED, "ot", NOW)
        source.take_attempt(STOPPED, "ot", NOW)
        target.approve(code(1, STOPPED, 0), NOW + timedelta(minutes=1))
        source.note_holds({"a": ("secret", "source's"), "b": ("provider", "b down")}, NOW)
        target.note_holds({"a": ("guardrail", "target's")}, NOW)
        outcome = migrate_ledger(source, target)
        assert outcome.ok
        assert target.recent_skips(10) == {"s": {occurrence: {"opted_out": 7}, "o2": {"x": 2}}}
        assert target.pruned_through("w") == datetime(2027, 1, 10, 9, tzinfo=UTC)
        (merged,) = target.otp_codes(STOPPED)
        assert (merged.attempts, merged.status.value) == (2, "approved")
        assert {name: h.detail for name, h in target.holds().items()} == {
            "a": "target's",
            "b": "b down",
        }
        assert outcome.tables["skips"].kept == 1
        assert outcome.tables["pruned"].merged == 1
        assert outcome.tables["otp_codes"].merged == 1
        assert (outcome.tables["holds"].kept, outcome.tables["holds"].copied) == (1, 1)
        again = migrate_ledger(source, target).tables["otp_codes"]
        assert (again.merged, again.kept) == (0, 1)  # the target's is the merge now
    finally:
        source.close()
        target.close()


def test_sends_rows_are_unchanged_by_the_tables(tmp_path: Path) -> None:
    """The sends still go through copy.py: a conflict is still reported and exits not ok."""
    source, target = SqliteLedger(tmp_path / "s.sqlite"), SqliteLedger(tmp_path / "t.sqlite")
    try:
        row = seeding.row("s", "o", "+15550002222", Status.SENT)
        source.insert_copies([row])
        other: SendRecord = seeding.row("s", "o", "+15550002222", Status.FAILED)
        target.insert_copies([other])
        source.opt([opt(STOPPED, OptAction.OUT, 1)])
        outcome = migrate_ledger(source, target)
        assert not outcome.ok
        assert outcome.sends.total_conflicts == 1
        assert target.suppressed() == {STOPPED}  # the other tables still went
    finally:
        source.close()
        target.close()

"""Stale claims by lease (issue 15): a run whose lease lapsed is gone on any host, a live one is not.

Other hosts are fake host names in the `runs` table: pids are never looked
at, so a run on "elsewhere" is judged exactly as one on this machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.core.errors import LedgerError
from smsops.engine.owner import STALE_AFTER, stale_rule, this_run
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.postgres import PostgresLedger
from smsops.ledger.runs import Heartbeat, Run, judging_grace, lease_length, reachable_since
from smsops.ledger.sqlite import SqliteLedger

Shared = SqliteLedger | PostgresLedger
Opener = Callable[..., Shared]
NOW = datetime.now(UTC).replace(microsecond=0)
GRACE = judging_grace(lease_length())  # the judge's: this process's lease (default 30 s: 5 s)


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens a handle on one ledger per call; every handle is closed after the test."""
    url = request.getfixturevalue("postgres_db") if request.param == "postgres" else None
    opened: list[Shared] = []

    def handle(readonly: bool = False) -> Shared:
        ledger = (
            SqliteLedger(tmp_path / "l.sqlite", readonly=readonly)
            if url is None
            else PostgresLedger(url, readonly=readonly)
        )
        opened.append(ledger)
        return ledger

    yield handle
    for ledger in reversed(opened):
        ledger.close()


@pytest.fixture
def ledger(opener: Opener) -> Shared:
    return opener()


def other_run(ledger: Shared, host: str, expires: datetime) -> str:
    """Register a run of another host whose lease ends at `expires`; its id."""
    run = Run(
        f"{host}:4242:feedbeef",
        host,
        4242,
        "smsops run",
        NOW - timedelta(hours=1),
        expires - timedelta(seconds=30),
        expires,
    )
    ledger.register_run(run)
    return run.id


def held(ledger: Shared, run: str, n: int, at: datetime) -> SendRecord:
    record = SendRecord.claim(
        "s",
        "o",
        f"+1555000{n:04d}",
        provider="p",
        template="t",
        text_hash="h",
        segments=1,
        now=at,
        claimed_by=run,
    )
    assert ledger.claim([record])
    return record


def test_a_run_whose_lease_lapsed_is_stale_on_another_host(ledger: Shared) -> None:
    gone = other_run(ledger, "elsewhere-a", NOW - GRACE - timedelta(seconds=1))
    live = other_run(ledger, "elsewhere-b", NOW + timedelta(seconds=30))
    lapsed_row = held(ledger, gone, 1, NOW - timedelta(seconds=5))  # young, but its run is gone
    live_row = held(ledger, live, 2, NOW - 2 * STALE_AFTER)  # old, but its run heartbeats

    rule = stale_rule(ledger, NOW)
    assert rule(lapsed_row)
    assert not rule(live_row)
    marked = ledger.mark_stale(rule, NOW)
    assert [r.key for r in marked] == [lapsed_row.key]
    rows = ledger.get([lapsed_row.key, live_row.key])
    assert rows[lapsed_row.key].status is Status.UNCERTAIN
    assert rows[live_row.key].status is Status.PENDING


def test_an_unknown_run_is_stale_only_after_the_age_limit(ledger: Shared) -> None:
    young = held(ledger, "vanished:1:00000000", 1, NOW - STALE_AFTER + timedelta(minutes=1))
    old = held(ledger, "vanished:1:00000000", 2, NOW - STALE_AFTER - timedelta(minutes=1))
    rule = stale_rule(ledger, NOW)
    assert not rule(young)
    assert rule(old)


def test_this_runs_rows_are_never_stale_and_its_lease_is_registered(ledger: Shared) -> None:
    mine = held(ledger, this_run(), 1, NOW - 2 * STALE_AFTER)
    assert not stale_rule(ledger, NOW)(mine)
    assert ledger.leases()[this_run()] > datetime.now(UTC)


def test_closing_one_ledger_ends_its_lease_while_another_ledger_stays_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Handles are counted per ledger: one process with two ledgers open (`ledger migrate`,
    or a test worker that left one open) still ends the lease of the one it closes."""
    monkeypatch.setenv("SMSOPS_LEASE", "30")
    other = SqliteLedger(tmp_path / "other.db")
    try:
        closed = SqliteLedger(tmp_path / "closed.db")
        closed.close()
        reader = SqliteLedger(tmp_path / "closed.db", readonly=True)
        try:
            assert reader.leases()[this_run()] <= datetime.now(UTC)
        finally:
            reader.close()
        assert other.leases()[this_run()] > datetime.now(UTC)
    finally:
        other.close()


def test_a_live_run_heartbeats_and_its_last_close_ends_its_lease(
    opener: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSOPS_LEASE", "0.6")  # renewed every 0.2 s
    first, second = opener(), opener()  # two handles of one process: one run
    registered = first.leases()[this_run()]
    time.sleep(1.0)  # past the registered lease: only renewals keep it
    renewed = first.leases()[this_run()]
    assert renewed > registered
    assert renewed > datetime.now(UTC)
    second.close()  # the other handle still writes this run's claims: the lease holds
    assert first.leases()[this_run()] > datetime.now(UTC)
    first.close()  # the last: ended at once (a read-only handle registers no run)
    assert opener(readonly=True).leases()[this_run()] <= datetime.now(UTC)


@pytest.mark.parametrize("given", ["soon", "0", "-5", "100000"])
def test_a_bad_lease_setting_is_a_clear_error(given: str) -> None:
    with pytest.raises(LedgerError, match=r"SMSOPS_LEASE=.* between 0.5 and 3600"):
        lease_length({"SMSOPS_LEASE": given})
    assert lease_length({}) == timedelta(seconds=30)


def test_a_ledger_from_before_leases_upgrades_and_its_pending_rows_go_by_age(
    tmp_path: Path, postgres_db: str
) -> None:
    """SQLite at schema 3 and PostgreSQL at schema 1 gain `runs`; an old claim is an unknown run."""
    import sqlite3

    import psycopg

    from smsops.ledger import postgres_schema, sqlite_schema

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(";".join(sqlite_schema.MIGRATIONS[:3]) + "; PRAGMA user_version = 3;")
    db.close()
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute(postgres_schema.VERSION_TABLE)
        conn.execute(postgres_schema.MIGRATIONS[0].encode())
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    for ledger in (SqliteLedger(path), PostgresLedger(postgres_db)):
        try:
            old = held(ledger, "oldhost:77:cafe0000", 1, NOW - STALE_AFTER - timedelta(minutes=1))
            assert ledger.leases()[this_run()] > datetime.now(UTC)  # registered on upgrade
            assert stale_rule(ledger, NOW)(old)
        finally:
            ledger.close()


def test_a_lease_is_given_the_grace_to_be_renewed_before_it_is_judged(ledger: Shared) -> None:
    """Its run may have been cut off with everyone else: it renews within a retry of the return."""
    ended = NOW - timedelta(seconds=1)
    just = held(ledger, other_run(ledger, "elsewhere-a", ended), 1, NOW)
    assert timedelta(seconds=1) < GRACE
    assert not stale_rule(ledger, NOW)(just)
    assert stale_rule(ledger, ended + GRACE)(just)


def test_while_this_process_cannot_renew_it_judges_nobody_then_waits_the_grace(
    ledger: Shared,
) -> None:
    """An outage stops every run's renewals, the judge's too: its own return starts the grace."""
    gone = held(ledger, other_run(ledger, "elsewhere-a", NOW - timedelta(hours=1)), 1, NOW)
    unknown = held(ledger, "vanished:1:00000000", 2, NOW - 2 * STALE_AFTER)
    reachable = [False]

    def renew(now: datetime, expires: datetime) -> None:
        if not reachable[0]:
            raise LedgerError("cannot renew this run's lease in the ledger: connection refused")

    beat = Heartbeat(renew, timedelta(seconds=0.6))  # beats every 0.2 s, retries every 0.06 s
    try:
        until(lambda: reachable_since() is None)
        assert not stale_rule(ledger, datetime.now(UTC))(gone)
        assert not stale_rule(ledger, datetime.now(UTC))(unknown)
        reachable[0] = True
        until(lambda: reachable_since() is not None)
        back = reachable_since()
        assert back is not None
        assert not stale_rule(ledger, back + GRACE / 2)(gone)
        assert stale_rule(ledger, back + GRACE)(gone)
        assert stale_rule(ledger, back + GRACE)(unknown)
    finally:
        beat.stop()


def until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)

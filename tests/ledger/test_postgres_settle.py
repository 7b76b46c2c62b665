"""A PostgreSQL settle is one transaction: an outage cannot split its moves from its receipts.

A settle moves its rows (settled and expired) and then takes the parked
receipts of the message ids it wrote and applies them. The connection is cut
here exactly between those steps (the error psycopg raises when the server
goes away, inside the ledger's own transaction helper): nothing of the settle
may stay half done, and its retry (apply's, after the outage) writes it whole.
A receipt that parks while the settle's transaction is open is still applied.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from smsops.core.errors import GuardLost, LedgerError
from smsops.core.hooks import Delivery, Receipt, ReceiptResult
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.policy import Operation
from smsops.ledger.postgres import PostgresLedger

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=2)
RUN = "host:1:aaaa"


@pytest.fixture
def ledger(postgres_db: str) -> Iterator[PostgresLedger]:
    opened = PostgresLedger(postgres_db)
    yield opened
    opened.close()


def claimed(ledger: PostgresLedger, *recipients: str) -> list[SendRecord]:
    return ledger.claim(
        SendRecord.claim(
            "s", "once", n, provider="sky", template="t", text_hash="h", segments=1,
            now=T0, claimed_by=RUN,
        )
        for n in recipients
    )  # fmt: skip


def early(message_id: str) -> Receipt:
    return Receipt("sky", message_id, Delivery.DELIVERED, "N202", None, T0)


def cut_once(ledger: PostgresLedger, monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """The next `name` call on `ledger` finds the server gone (its session cut); once."""
    real = getattr(ledger, name)
    cuts: list[str] = []

    def cut(*args: object, **kwargs: object) -> object:
        if not cuts:
            cuts.append(name)
            with ledger._transaction(f"cannot {name} in", atomic=False):
                raise psycopg.OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(ledger, name, cut)
    return cuts


def test_an_outage_between_the_moves_and_the_receipt_look_writes_nothing_then_all_on_retry(
    ledger: PostgresLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    done, late = claimed(ledger, "+447700900001", "+447700900002")
    outcomes = [
        done.settled(Status.SENT, T0, message_id="m1"),
        late.settled(Status.EXPIRED, T0, error="window closed"),
    ]
    cuts = cut_once(ledger, monkeypatch, "unpark")
    with pytest.raises(LedgerError, match="server closed the connection"):
        ledger.settle(outcomes)
    assert cuts == ["unpark"]
    rows = ledger.get([done.key, late.key])
    assert {r.status for r in rows.values()} == {Status.PENDING}  # all or nothing
    ledger.settle(outcomes)  # apply's retry after the outage: not "refused"
    rows = ledger.get([done.key, late.key])
    assert [rows[done.key].status, rows[late.key].status] == [Status.SENT, Status.EXPIRED]


def test_a_parked_receipt_taken_by_a_settle_cut_short_stays_parked_then_is_applied(
    ledger: PostgresLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    (record,) = claimed(ledger, "+447700900001")
    assert ledger.receipts([early("trk-1")], NOW) == [ReceiptResult.PARKED]
    outcome = record.settled(Status.SENT, T0, message_id="trk-1")
    real_move = ledger.move

    def move(operation: Operation, records: object) -> list[str]:
        if operation is Operation.RECEIPT:  # after the receipt was taken: the server goes
            with ledger._transaction("cannot write in", atomic=False):
                raise psycopg.OperationalError("server closed the connection unexpectedly")
        return real_move(operation, records)  # type: ignore[arg-type]

    monkeypatch.setattr(ledger, "move", move)
    with pytest.raises(LedgerError):
        ledger.settle([outcome])
    assert [p.message_id for p in ledger.parked()] == ["trk-1"]  # not lost with the cut
    monkeypatch.setattr(ledger, "move", real_move)
    ledger.settle([outcome])
    assert ledger.get([record.key])[record.key].status is Status.DELIVERED
    assert ledger.parked() == []


def test_a_settle_whose_commit_answer_was_lost_is_done_on_retry_and_a_taken_row_still_refused(
    ledger: PostgresLedger,
) -> None:
    """The commit reached the server but its answer did not (the session cut right after):
    the retry finds its own outcome already written (moved on by a receipt since), which is
    done, not refused. A row another run took is still refused, never overwritten; so is
    another outcome for a row this settle wrote."""
    mine, taken = claimed(ledger, "+447700900001", "+447700900002")
    ledger.mark_stale(lambda r: r.key == taken.key, NOW)  # another run judged this one dead
    outcomes = [
        mine.settled(Status.SENT, T0, message_id="m1"),
        taken.settled(Status.FAILED, T0, error="E1"),
    ]
    with pytest.raises(GuardLost) as first:
        ledger.settle(outcomes)  # committed; its answer lost: the caller retries
    assert first.value.keys == [taken.key]
    assert ledger.receipts([early("m1")], NOW) == [ReceiptResult.APPLIED]
    with pytest.raises(GuardLost) as again:
        ledger.settle(outcomes)
    assert again.value.keys == [taken.key]
    with pytest.raises(GuardLost) as other:
        ledger.settle([mine.settled(Status.FAILED, NOW, error="E2")])
    assert other.value.keys == [mine.key]
    rows = ledger.get([mine.key, taken.key])
    assert [rows[mine.key].status, rows[taken.key].status] == [Status.DELIVERED, Status.UNCERTAIN]


def test_a_receipt_parked_while_the_settle_is_open_is_applied(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race inside one transaction: the settle has looked for parked receipts (none yet)
    and not committed; a receipt on another replica finds no row (not committed), parks, and
    looks again. It must wait for the settle's commit (or the settle must see it parked):
    otherwise neither side applies it."""
    sender, hook_side = PostgresLedger(postgres_db), PostgresLedger(postgres_db)
    try:
        (record,) = claimed(sender, "+447700900001")
        real_unpark = sender.unpark
        results: list[list[ReceiptResult]] = []
        hook = threading.Thread(
            target=lambda: results.append(hook_side.receipts([early("x")], NOW))
        )

        def unpark_then_race(pairs: object) -> object:
            taken = real_unpark(pairs)  # type: ignore[arg-type]
            hook.start()
            blocked(postgres_db, hook)
            return taken

        monkeypatch.setattr(sender, "unpark", unpark_then_race)
        sender.settle([record.settled(Status.SENT, T0, message_id="x")])
        hook.join()
        assert results == [[ReceiptResult.APPLIED]]  # it waited for the commit, then found the row
        assert sender.get([record.key])[record.key].status is Status.DELIVERED
        assert sender.parked() == []
    finally:
        sender.close()
        hook_side.close()


def blocked(url: str, thread: threading.Thread) -> None:
    """Return once `thread` has finished, or waits on a lock of this database's sessions."""
    deadline = time.monotonic() + 10
    with psycopg.connect(url, autocommit=True) as conn:
        while thread.is_alive() and time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE NOT l.granted AND d.datname = current_database()"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.01)

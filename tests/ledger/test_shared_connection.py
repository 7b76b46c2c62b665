"""One ledger object used by several threads at once, as run mode's parallel rounds use it.

Rounds plan (reading, marking stale rows) in worker threads while the event
loop claims and settles on the same connection. A transaction belongs to the
connection, so without the ledger's lock one thread's BEGIN lands inside
another's transaction ("cannot start a transaction within a transaction")
or its statement commits with the other's. PostgreSQL: each operation takes
a connection of its own from the pool, for one transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from smsops.ledger.base import Ledger, Status
from smsops.ledger.postgres import PostgresLedger
from smsops.ledger.sqlite import SqliteLedger
from tests.ledger.test_ledger import T0, record

THREADS = 6
ROWS = 40


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    opened: Ledger
    if request.param == "sqlite":
        opened = SqliteLedger(tmp_path / "l.sqlite")
    else:
        opened = PostgresLedger(request.getfixturevalue("postgres_db"))
    yield opened
    opened.close()


def test_threads_sharing_one_ledger_claim_settle_and_read_without_interleaving(
    ledger: Ledger,
) -> None:
    failures: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def round_of(schedule: str) -> None:
        try:
            start.wait()
            for i in range(ROWS):
                [won] = ledger.claim([record(f"+4474001{i:05d}", schedule=schedule)])
                ledger.settle([won.settled(Status.SENT, T0, message_id="m")])
                assert ledger.known(schedule, "once").done  # a read between others' writes
                assert sum(1 for _ in ledger.records(schedule)) == i + 1
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=round_of, args=(f"s{n}",)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert ledger.stats() == {f"s{n}": {"sent": ROWS} for n in range(THREADS)}

"""One SqliteLedger used by several threads at once, as run mode's parallel rounds use it.

Rounds plan (reading, marking stale rows) in worker threads while the event
loop claims and settles on the same connection. A transaction belongs to the
connection, so without the ledger's lock one thread's BEGIN lands inside
another's transaction ("cannot start a transaction within a transaction")
or its statement commits with the other's.
"""

from __future__ import annotations

import threading
from pathlib import Path

from smsops.ledger.base import Status
from smsops.ledger.sqlite import SqliteLedger
from tests.ledger.test_ledger import T0, record

THREADS = 6
ROWS = 40


def test_threads_sharing_one_connection_claim_settle_and_read_without_interleaving(
    tmp_path: Path,
) -> None:
    ledger = SqliteLedger(tmp_path / "l.sqlite")
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
    ledger.close()

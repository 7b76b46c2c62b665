"""Concurrent senders' claims and settlements go to the ledger together, nothing lost."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsops.core.errors import GuardLost, LedgerError, LedgerFull
from smsops.engine.ledger_writes import LedgerWrites
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.deferred import CreatedOnFirstWrite
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.open import open_ledger
from smsops.ledger.sqlite import SqliteLedger

NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)


def record(i: int) -> SendRecord:
    return SendRecord.claim(
        "s",
        "once",
        f"+4474000000{i:02d}",
        provider="ot",
        template="t",
        text_hash="h",
        segments=1,
        now=NOW,
        claimed_by="me",
    )


class Counting(MemoryLedger):
    def __init__(self, in_thread: bool = False) -> None:
        super().__init__()
        self.writes_in_thread = in_thread  # as PostgreSQL: written from a worker thread
        self.claims: list[list[str]] = []
        self.settles: list[list[str]] = []
        self.broken = False
        self.full = False

    def claim(
        self, records: Iterable[SendRecord], *, resend_uncertain: bool = False
    ) -> list[SendRecord]:
        records = list(records)
        self.claims.append([r.key for r in records])
        return super().claim(records, resend_uncertain=resend_uncertain)

    def settle(self, records: Iterable[SendRecord]) -> None:
        if self.full:
            raise LedgerFull("the disk is full")
        if self.broken:
            raise LedgerError("disk full")
        records = list(records)
        self.settles.append([r.key for r in records])
        super().settle(records)


@pytest.mark.parametrize("in_thread", [False, True])
def test_claims_of_one_loop_turn_are_one_sorted_transaction(in_thread: bool) -> None:
    ledger = Counting(in_thread)
    taken = record(3)
    ledger.claim([taken])  # another run holds this one
    ledger.claims.clear()
    writes = LedgerWrites(ledger, resend_uncertain=False)

    async def run() -> list[list[SendRecord]]:
        return await asyncio.gather(*(writes.claim([record(i)]) for i in range(8)))

    won = asyncio.run(run())
    assert len(ledger.claims) == 1
    assert ledger.claims[0] == sorted(ledger.claims[0])
    assert [len(w) for w in won] == [1, 1, 1, 0, 1, 1, 1, 1]  # each sender gets its own


@pytest.mark.parametrize("in_thread", [False, True])
@pytest.mark.parametrize("repaired", [False, True])
def test_settlements_are_written_together_and_a_failure_is_not_lost(
    repaired: bool, in_thread: bool
) -> None:
    ledger = Counting(in_thread)
    paused: list[float] = []

    async def pause(seconds: float) -> None:  # a fake clock: the pauses are recorded
        paused.append(seconds)

    writes = LedgerWrites(ledger, resend_uncertain=False, pauses=(1.0, 2.0), sleep=pause)

    async def run() -> SendRecord:
        won = await asyncio.gather(*(writes.claim([record(i)]) for i in range(4)))
        for (claimed,) in won[1:]:  # the first stays pending: its outcome is lost below
            writes.settle(claimed.settled(Status.SENT, NOW, message_id="m"))
        await writes.drained()  # written together, after this loop turn
        assert len(ledger.settles) == 1
        ledger.broken = True
        lost = won[0][0].settled(Status.FAILED, NOW, error="rejected")
        writes.settle(lost)
        await writes.drained()
        with pytest.raises(LedgerError, match="disk full"):
            await writes.claim([record(9)])  # no new send after a lost write
        return lost

    lost = asyncio.run(run())
    assert record(9).key not in {r.key for r in ledger.records()}  # never claimed
    ledger.broken = not repaired
    asyncio.run(writes.close())  # tries the lost settlement again, with pauses; never raises
    assert writes.error is not None
    stored = ledger.get([lost.key])[lost.key]
    if repaired:
        assert paused == []  # written at the first new try
        assert writes.unwritten == []
        assert stored.status is Status.FAILED
    else:
        assert paused == [1.0, 2.0]  # bounded: tried three times in all, then given up
        assert writes.unwritten == [lost]
        assert stored.status is Status.PENDING  # the claim stands; nothing invented


def test_a_full_disk_is_tried_once_more_not_waited_out() -> None:
    """Waiting frees no disk: apply used to retry for twice the lease (~60 s, a hang on a
    full disk in tests/attacks/test_failures.py) before reporting what it could not write."""
    ledger = Counting()
    paused: list[float] = []

    async def pause(seconds: float) -> None:
        paused.append(seconds)

    writes = LedgerWrites(ledger, resend_uncertain=False, pauses=(1.0, 2.0), sleep=pause)

    async def run() -> SendRecord:
        ((claimed,),) = await asyncio.gather(writes.claim([record(1)]))
        ledger.full = True
        lost = claimed.settled(Status.SENT, NOW, message_id="m")
        writes.settle(lost)
        await writes.close()
        return lost

    lost = asyncio.run(run())
    assert paused == []  # one new try at once, no pauses
    assert writes.unwritten == [lost]  # reported; the row stays pending (the next run: uncertain)
    assert isinstance(writes.error, LedgerFull)
    assert ledger.get([lost.key])[lost.key].status is Status.PENDING


def test_a_bug_in_a_settlement_is_not_mistaken_for_a_full_disk() -> None:
    class Buggy(MemoryLedger):
        def settle(self, records: Iterable[SendRecord]) -> None:
            raise TypeError("a bug")

    writes = LedgerWrites(Buggy(), resend_uncertain=False)

    async def run() -> None:
        (claimed,) = await writes.claim([record(1)])
        writes.settle(claimed.settled(Status.SENT, NOW, message_id="m"))
        await writes.drained()
        with pytest.raises(TypeError, match="a bug"):
            await writes.claim([record(2)])

    asyncio.run(run())
    assert writes.error is None
    with pytest.raises(TypeError, match="a bug"):
        asyncio.run(writes.close())


def test_a_refused_settlement_is_reported_not_fatal() -> None:
    """A row another run took over is left to it; the rest is written, sending goes on."""
    ledger = MemoryLedger()
    writes = LedgerWrites(ledger, resend_uncertain=False)

    async def run() -> list[SendRecord]:
        won = [r for (r,) in await asyncio.gather(*(writes.claim([record(i)]) for i in range(3)))]
        # Meanwhile another apply found this run dead and marked its first row uncertain;
        # its failure is refused then (a sent would be taken: the claimer's new knowledge).
        ledger.mark_stale(lambda r: r.key == won[0].key, NOW)
        for claimed in won:
            status = Status.FAILED if claimed is won[0] else Status.SENT
            writes.settle(claimed.settled(status, NOW, message_id="m"))
        await writes.drained()
        assert await writes.claim([record(7)])  # the ledger is still trusted
        return won

    won = asyncio.run(run())
    asyncio.run(writes.close())
    assert writes.error is None
    assert writes.unwritten == []
    (refused,) = writes.refused
    assert isinstance(refused, GuardLost)
    assert refused.keys == [won[0].key]
    stored = ledger.get([r.key for r in won])
    assert stored[won[0].key].status is Status.UNCERTAIN  # what the other run made it
    assert [stored[r.key].status for r in won[1:]] == [Status.SENT, Status.SENT]


def test_the_loop_keeps_going_while_a_write_is_in_flight_and_the_next_batch_gathers() -> None:
    """A slow ledger (a PostgreSQL round trip) holds the writer thread, not the event loop."""
    ledger = Counting(in_thread=True)
    release = threading.Event()
    slow = ledger.claim

    def claim(records: Iterable[SendRecord], *, resend_uncertain: bool = False) -> list[SendRecord]:
        assert release.wait(5)
        return slow(records, resend_uncertain=resend_uncertain)

    ledger.claim = claim  # type: ignore[method-assign]
    writes = LedgerWrites(ledger, resend_uncertain=False)

    async def run() -> list[list[SendRecord]]:
        first = asyncio.ensure_future(writes.claim([record(0)]))
        await asyncio.sleep(0.01)  # the first write is in the thread, waiting on `release`
        later = [asyncio.ensure_future(writes.claim([record(i)])) for i in range(1, 6)]
        for _ in range(3):
            await asyncio.sleep(0)  # the loop turns while the first write waits
        assert not first.done()  # write-ahead: nobody is answered before the commit
        release.set()
        return await asyncio.gather(first, *later)

    won = asyncio.run(run())
    assert [len(w) for w in won] == [1] * 6
    assert ledger.claims == [[record(0).key], sorted(record(i).key for i in range(1, 6))]
    asyncio.run(writes.close())


def test_a_claim_that_waits_on_a_disk_sync_is_written_off_the_loop_and_a_settlement_on_it(
    tmp_path: Path,
) -> None:
    """SQLite syncs each claim (synchronous=FULL): the loop keeps sending meanwhile.

    The batch holding claims goes to the writer thread, and its senders are
    answered only once it is committed (write-ahead, as on PostgreSQL); a
    batch of settlements alone (committed without a sync) stays on the loop.
    """
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    assert ledger.claims_wait_on_sync
    assert not ledger.writes_in_thread
    threads: dict[str, list[int]] = {"claim": [], "settle": []}
    claim, settle = ledger.claim, ledger.settle

    def claimed(
        records: Iterable[SendRecord], *, resend_uncertain: bool = False
    ) -> list[SendRecord]:
        threads["claim"].append(threading.get_ident())
        return claim(records, resend_uncertain=resend_uncertain)

    def settled(records: Iterable[SendRecord]) -> None:
        threads["settle"].append(threading.get_ident())
        settle(records)

    ledger.claim = claimed  # type: ignore[method-assign]
    ledger.settle = settled  # type: ignore[method-assign]
    writes = LedgerWrites(ledger, resend_uncertain=False)

    async def run() -> tuple[int, list[list[SendRecord]]]:
        won = await asyncio.gather(*(writes.claim([record(i)]) for i in range(3)))
        stored = SqliteLedger(tmp_path / "ledger.sqlite", readonly=True)
        try:  # committed before any sender was answered: another connection reads them
            assert {r.status for r in stored.get([w[0].key for w in won]).values()} == {
                Status.PENDING
            }
        finally:
            stored.close()
        for (r,) in won:
            writes.settle(r.settled(Status.SENT, NOW, message_id=f"m-{r.key}"))
        await writes.close()
        return threading.get_ident(), won

    try:
        loop_thread, won = asyncio.run(run())
        assert threads["claim"]
        assert loop_thread not in threads["claim"]
        assert threads["settle"] == [loop_thread]
        stored = ledger.get([w[0].key for w in won])
        assert {r.status for r in stored.values()} == {Status.SENT}
    finally:
        ledger.close()


def test_a_new_sqlite_file_created_by_its_first_claim_says_its_claims_wait_on_a_sync(
    tmp_path: Path,
) -> None:
    """apply into a new file gets a ledger created by its first write (deferred.py): it says
    what the SQLite ledger it opens will, before that exists (before, it said no, and every
    claim of an apply into a new ledger was synced on the loop)."""
    ledger = open_ledger(str(tmp_path / "new.sqlite"), create_on_write=True)
    assert isinstance(ledger, CreatedOnFirstWrite)
    assert ledger.claims_wait_on_sync
    assert not ledger.writes_in_thread
    assert not (tmp_path / "new.sqlite").exists()

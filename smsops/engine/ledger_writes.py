"""The ledger writes of concurrent senders, made together.

Every send is still claimed right before its own request and settled right
after its answer (or recorded `expired` instead of claimed, when its window
has closed). What changes is the cost: the claims (and the settlements)
that many workers make go to the ledger as one transaction, keys sorted,
instead of one transaction each. A claim waits for its transaction to
commit before the request leaves (write-ahead); a settlement is written
with the next batch, nobody waits for it.

A ledger behind a network (PostgreSQL: `Ledger.writes_in_thread`) is
written from one worker thread, so the event loop keeps sending while a
write waits on its round trip, and the next batch gathers meanwhile: the
slower the server, the larger its batches. Before, apply wrote batches of
~4 rows there, each a round trip the loop waited for (docs/benchmarks.md
has the figures). A local ledger (SQLite, memory) is written on the loop at
the end of the turn: its writes are shorter than the hand-off between
threads (measured in issue 7: a thread made SQLite apply 1,400/s instead of
2,250/s) — except a batch holding claims where a claim waits on a disk sync
(`Ledger.claims_wait_on_sync`: SQLite at synchronous=FULL), which goes to
the thread like a round trip: on the loop, every request in flight waited
out each claim's commit, ~80 of them (6-9 ms each, ~2 ms of it the sync) in
a 2.5-4 s apply of 5,000 (docs/benchmarks.md §12, "After speed7: apply's
rate"). Its senders still wait for it: the claim is durable before their
request leaves. A thread rather than psycopg's async API: the `Ledger` interface
is synchronous (the daemon plans in threads), and one interface serves all.

When the ledger cannot be written (disk full, locked past the wait, the
PostgreSQL connection lost), nothing is accepted without a row: a claim that
fails raises `LedgerError` to its senders, who then send nothing; a
settlement that fails is kept and tried again at `close()`, a few times with
a growing pause (a restarted server is back within seconds), for twice the
lease in all (an outage as long as the lease included); what still
cannot be written stays `pending` in the ledger (the next run marks it
`uncertain`), listed in `unwritten` and reported. A full disk (`LedgerFull`)
is tried once more at once, not waited out: no pause frees space, and
apply sat silent for twice the lease (a minute) before saying the disk was
full, whenever the first write to find it full was a settlement rather than a
claim (which one is a matter of batch timing: a flaky hang in tests/attacks).
After any failed write, every later claim fails too: the ledger is not
trusted again within this run.

A settlement the ledger refuses because its row is no longer this run's
(`GuardLost`: another run marked it uncertain, a person resolved it) is not a
broken ledger: the other rows of that write stand, sending goes on, and the
refusal is kept in `refused` for the report; the row stays as the other party
left it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TypeVar

from smsops.core.errors import GuardLost, LedgerError, LedgerFull
from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.ledger.policy import Operation
from smsops.ledger.runs import lease_length

# Pauses (seconds) before each new try of the settlements a failed write kept:
# ~15 s in all, time for a PostgreSQL restart or failover, bounded for the run;
# then every 8 s until twice the lease has passed (`retry_pauses`): an outage
# as long as the lease must not leave an accepted message without its row.
RETRY_PAUSES = (0.5, 1.0, 2.0, 4.0, 8.0)


def retry_pauses() -> tuple[float, ...]:
    """RETRY_PAUSES, then 8 s pauses until they add up to twice this run's lease."""
    longest, step = 2 * lease_length().total_seconds(), RETRY_PAUSES[-1]
    more = max(0, math.ceil((longest - sum(RETRY_PAUSES)) / step)) if step > 0 else 0
    return RETRY_PAUSES + (step,) * more


_R = TypeVar("_R")

# Records a sender waits on, and the future that answers it with those written.
_Waiting = tuple[list[SendRecord], "asyncio.Future[list[SendRecord]]"]


@dataclass
class _Batch:
    """What gathered while the previous write was in flight, and what became of it."""

    claims: list[_Waiting] = field(default_factory=list)
    expiries: list[_Waiting] = field(default_factory=list)
    settles: list[SendRecord] = field(default_factory=list)
    # Filled in the writer thread: per queue, the rows written or the exception.
    claimed: list[SendRecord] | BaseException = field(default_factory=list)
    expired: list[SendRecord] | BaseException = field(default_factory=list)
    settled: BaseException | None = None

    def __bool__(self) -> bool:
        return bool(self.claims or self.expiries or self.settles)


class LedgerWrites:
    def __init__(
        self,
        ledger: Ledger,
        *,
        resend_uncertain: bool,
        pauses: tuple[float, ...] | None = None,  # None: retry_pauses()
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,  # tests: a fake clock
    ) -> None:
        self.ledger = ledger
        self.resend_uncertain = resend_uncertain
        self.pauses = retry_pauses() if pauses is None else pauses
        self._sleep = sleep
        self._next = _Batch()
        self._writer: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None
        self.error: LedgerError | None = None  # the first failed write
        self.unwritten: list[SendRecord] = []  # settlements the ledger did not take (yet)
        self.refused: list[GuardLost] = []  # settlements of rows no longer held by this run
        self._unexpected: Exception | None = None
        self.full = False  # a write found the disk full: close() does not wait it out

    @property
    def broken(self) -> bool:
        """A write failed: every later claim fails (`close` retries what was not written)."""
        return self.error is not None or self._unexpected is not None or bool(self.unwritten)

    async def claim(self, records: list[SendRecord]) -> list[SendRecord]:
        """Make `records` pending for this run; the ones won, once committed."""
        return await self._queued(self._next.claims, records)

    async def expire(self, records: list[SendRecord]) -> list[SendRecord]:
        """Record `records` (status `expired`, no row yet) as never sent; the ones written.

        A send whose window closed before its claim: like a claim, it is
        written only where no row exists (another run may have taken it).
        """
        return await self._queued(self._next.expiries, records)

    async def _queued(self, queue: list[_Waiting], records: list[SendRecord]) -> list[SendRecord]:
        self._raise_if_failed()
        future: asyncio.Future[list[SendRecord]] = asyncio.get_running_loop().create_future()
        queue.append((records, future))
        self._start()
        return await future

    def settle(self, record: SendRecord) -> None:
        """Queue an outcome; written with the next batch."""
        self._next.settles.append(record)
        self._start()

    def _start(self) -> None:
        """The writer task, unless it runs: it starts after this loop turn's senders queued."""
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_all())

    async def _write_all(self) -> None:
        """Write batch after batch in the thread until nothing is queued."""
        loop = asyncio.get_running_loop()
        while self._next:
            batch, self._next = self._next, _Batch()
            if not self._in_thread(batch):  # a local write: on the loop, as quick
                self._write(batch)
            else:
                if self._thread is None:
                    self._thread = ThreadPoolExecutor(1, thread_name_prefix="smsops-ledger")
                await loop.run_in_executor(self._thread, self._write, batch)
            self._answer(batch.claims, batch.claimed)
            self._answer(batch.expiries, batch.expired)
            self._settled(batch.settles, batch.settled)

    def _in_thread(self, batch: _Batch) -> bool:
        """A write that waits (a server's round trip, a claim's disk sync) leaves the loop."""
        return self.ledger.writes_in_thread or (
            self.ledger.claims_wait_on_sync and bool(batch.claims)
        )

    def _write(self, batch: _Batch) -> None:
        """In the writer thread: claims first (senders wait on them), then expiries, settles."""
        if batch.claims:
            batch.claimed = _attempt(lambda: self.ledger.claim(
                _sorted(batch.claims), resend_uncertain=self.resend_uncertain
            ))  # fmt: skip
        if batch.expiries:
            batch.expired = _attempt(lambda: self._expire(_sorted(batch.expiries)))
        if batch.settles:
            batch.settled = _attempt(lambda: self.ledger.settle(sorted(batch.settles, key=_key)))

    def _expire(self, wanted: list[SendRecord]) -> list[SendRecord]:
        """The rows recorded `expired`, and the retryable failures among the others, which
        the closed window makes failed for good (`Operation.CLOSE`: moved once, by whoever
        comes first, so smsops_sends_total counts each once), as they are now stored."""
        refused = set(self.ledger.move(Operation.EXPIRE, wanted))
        found = self.ledger.get(refused).values() if refused else []
        now = datetime.now(UTC)
        closing = [
            replace(r, retryable=False, updated_at=now)
            for r in found
            if r.status is Status.FAILED and r.retryable
        ]
        lost = set(self.ledger.move(Operation.CLOSE, closing)) if closing else set()
        expired = [r for r in wanted if r.key not in refused]
        return expired + [r for r in closing if r.key not in lost]

    def _answer(self, batch: list[_Waiting], written: list[SendRecord] | BaseException) -> None:
        """Each waiting sender gets its rows written, or every one the error."""
        if isinstance(written, BaseException):
            if isinstance(written, LedgerError):
                self.error = self.error or written
            for _, future in batch:
                if not future.done():
                    future.set_exception(written)
            return
        won = {r.key: r for r in written}
        for records, future in batch:
            if not future.done():
                future.set_result([won[r.key] for r in records if r.key in won])

    def _settled(self, batch: list[SendRecord], failure: BaseException | None) -> None:
        if isinstance(failure, GuardLost):  # the others were written; those rows are another's
            self.refused.append(failure)
        elif isinstance(failure, LedgerError):  # kept for close(); the next claim fails with it
            self.error = self.error or failure
            self.unwritten.extend(batch)
            self.full = self.full or isinstance(failure, LedgerFull)
        elif isinstance(failure, Exception):  # not the ledger's state but a bug: raised by close()
            self._unexpected = self._unexpected or failure
            self.unwritten.extend(batch)

    async def drained(self) -> None:
        """Return once everything queued so far has been written (or has failed)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def close(self) -> None:
        """Write what is queued, then what failed, with pauses; `unwritten` keeps the rest.

        Raises only what is not a `LedgerError` (a bug must not pass as a full disk).
        """
        try:
            await self.drained()
            if self._unexpected is not None:
                raise self._unexpected
            for pause in (0.0, *self.pauses):
                if not self.unwritten or (pause and self.full):
                    break
                if pause:
                    await self._sleep(pause)
                retry, self.unwritten = self.unwritten, []
                self._next.settles = retry
                self._start()
                await self.drained()
                if self._unexpected is not None:
                    raise self._unexpected
        finally:
            if self._thread is not None:
                self._thread.shutdown(wait=False)  # idle: its last write was awaited above
                self._thread = None

    def _raise_if_failed(self) -> None:
        failure = self._unexpected or self.error
        if failure is not None:
            raise failure


def _attempt(write: Callable[[], _R]) -> _R | BaseException:
    """`write`'s result, or what it raised (handed back to the loop thread)."""
    try:
        return write()
    except Exception as exc:
        return exc


def _sorted(batch: list[_Waiting]) -> list[SendRecord]:
    return sorted((r for records, _ in batch for r in records), key=_key)


def _key(record: SendRecord) -> str:
    return record.key

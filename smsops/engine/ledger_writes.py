"""The ledger writes of concurrent senders, made together.

Every send is still claimed right before its own request and settled right
after its answer (or recorded `expired` instead of claimed, when its window
has closed). What changes is the cost: the claims (and the settlements)
that many workers make in the same turn of the event loop go to the ledger
as one transaction, keys sorted, instead of one transaction each. A claim
waits for its transaction to commit before the request leaves (write-ahead);
a settlement is written at the end of the loop turn it was made in.

When the ledger cannot be written (disk full, locked past the wait), nothing
is accepted without a row: a claim that fails raises `LedgerError` to its
senders, who then send nothing; a settlement that fails is kept and tried
again at `close()`; what still cannot be written stays `pending` in the
ledger (the next run marks it `uncertain`), listed in `unwritten`. After any
failed write, every later claim fails too: the ledger is not trusted again
within this run.

A settlement the ledger refuses because its row is no longer this run's
(`GuardLost`: another run marked it uncertain, a person resolved it) is not a
broken ledger: the other rows of that write stand, sending goes on, and the
refusal is kept in `refused` for the report; the row stays as the other party
left it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from smsops.core.errors import GuardLost, LedgerError
from smsops.ledger.base import Ledger, SendRecord
from smsops.ledger.policy import Operation

# Records a sender waits on, and the future that answers it with those written.
_Waiting = tuple[list[SendRecord], "asyncio.Future[list[SendRecord]]"]


class LedgerWrites:
    def __init__(self, ledger: Ledger, *, resend_uncertain: bool) -> None:
        self.ledger = ledger
        self.resend_uncertain = resend_uncertain
        self._claims: list[_Waiting] = []
        self._expiries: list[_Waiting] = []
        self._settles: list[SendRecord] = []
        self.error: LedgerError | None = None  # the first failed write
        self.unwritten: list[SendRecord] = []  # settlements the ledger did not take (yet)
        self.refused: list[GuardLost] = []  # settlements of rows no longer held by this run
        self._unexpected: Exception | None = None

    async def claim(self, records: list[SendRecord]) -> list[SendRecord]:
        """Make `records` pending for this run; the ones won, once committed."""
        return await self._queued(self._claims, records, self._write_claims)

    async def expire(self, records: list[SendRecord]) -> list[SendRecord]:
        """Record `records` (status `expired`, no row yet) as never sent; the ones written.

        A send whose window closed before its claim: like a claim, it is
        written only where no row exists (another run may have taken it).
        """
        return await self._queued(self._expiries, records, self._write_expiries)

    async def _queued(
        self, queue: list[_Waiting], records: list[SendRecord], write: Callable[[], None]
    ) -> list[SendRecord]:
        """`records` written with the others of this loop turn by `write`; the ones it took."""
        self._raise_if_failed()
        future: asyncio.Future[list[SendRecord]] = asyncio.get_running_loop().create_future()
        queue.append((records, future))
        if len(queue) == 1:
            asyncio.get_running_loop().call_soon(write)
        return await future

    def settle(self, record: SendRecord) -> None:
        """Queue an outcome; written with the others of this loop turn."""
        self._settles.append(record)
        if len(self._settles) == 1:
            asyncio.get_running_loop().call_soon(self._write_settles)

    def close(self) -> None:
        """Write what is queued, and once more what failed; `unwritten` keeps the rest.

        Raises only what is not a `LedgerError` (a bug must not pass as a full disk).
        """
        self._write_settles()
        if self._unexpected is not None:
            raise self._unexpected
        retry, self.unwritten = self.unwritten, []
        if retry:
            try:
                self.ledger.settle(retry)
            except GuardLost as exc:  # the others were written
                self.refused.append(exc)
            except LedgerError:
                self.unwritten = retry

    def _write_claims(self) -> None:
        batch, self._claims = self._claims, []
        self._answer(
            batch, lambda wanted: self.ledger.claim(wanted, resend_uncertain=self.resend_uncertain)
        )

    def _write_expiries(self) -> None:
        batch, self._expiries = self._expiries, []

        def expire(wanted: list[SendRecord]) -> list[SendRecord]:
            refused = set(self.ledger.move(Operation.EXPIRE, wanted))
            return [r for r in wanted if r.key not in refused]

        self._answer(batch, expire)

    def _answer(
        self, batch: list[_Waiting], write: Callable[[list[SendRecord]], list[SendRecord]]
    ) -> None:
        """Write a batch in one call, keys sorted; each waiting sender gets its rows written."""
        wanted = sorted((r for records, _ in batch for r in records), key=_key)
        try:
            won = {r.key: r for r in write(wanted)}
        except Exception as exc:  # every waiting sender sees the error
            if isinstance(exc, LedgerError):
                self.error = self.error or exc
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for records, future in batch:
            if not future.done():
                future.set_result([won[r.key] for r in records if r.key in won])

    def _write_settles(self) -> None:
        batch, self._settles = self._settles, []
        if not batch:
            return
        try:
            self.ledger.settle(sorted(batch, key=_key))
        except GuardLost as exc:  # the others were written; those rows are another's now
            self.refused.append(exc)
        except LedgerError as exc:  # kept for close(); the next claim fails with it
            self.error = self.error or exc
            self.unwritten.extend(batch)
        except Exception as exc:  # not the ledger's state but a bug: raised by close()
            self._unexpected = self._unexpected or exc
            self.unwritten.extend(batch)

    def _raise_if_failed(self) -> None:
        failure = self._unexpected or self.error
        if failure is not None:
            raise failure


def _key(record: SendRecord) -> str:
    return record.key

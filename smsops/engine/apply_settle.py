"""The sender's claiming and settling: rows claimed once a request may go out,
each result settled at once, sends of closed windows recorded `expired`.

A mixin of `engine.apply.Sender`, which holds the state below and does the
sending; this half only reads and writes rows (through `ledger_writes`) and
counts them in the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from smsops.core import secrets
from smsops.core.errors import LedgerError
from smsops.core.expiry import ExpiryReason
from smsops.engine.apply_options import ApplyOptions, Claim
from smsops.engine.apply_report import RETRYABLE, ApplyReport
from smsops.engine.lanes import Lane
from smsops.engine.ledger_writes import LedgerWrites
from smsops.engine.plan import Send, exact
from smsops.engine.windows import Windows
from smsops.ledger.base import SendRecord, Status
from smsops.providers.base import Accepted, Result, Retryable, Uncertain

EXPIRE_BATCH = 5000  # sends of closed windows recorded `expired` per ledger write


class Settling:
    """Set by `Sender.__init__`; `lane` and `stop` are `Sender`'s."""

    options: ApplyOptions
    report: ApplyReport
    writes: LedgerWrites
    shared_writes: bool
    windows: Windows
    stopping: bool
    on_settled: Callable[[int], None]
    lane: Callable[[str], Lane]
    stop: Callable[[], None]

    async def _expire_closed(self, closed: list[Send]) -> None:
        """Record sends whose window had closed before the run began: no worker, no pace.

        A catch-up hands over whole closed windows (tens of thousands of
        sends): one write per `EXPIRE_BATCH` instead of one turn of a worker
        each, so the open window's sends start seconds sooner.
        """
        by_provider: dict[str, list[Send]] = {}
        for send in closed:
            by_provider.setdefault(send.providers[0], []).append(send)
        for provider, group in by_provider.items():
            for start in range(0, len(group), EXPIRE_BATCH):
                if self.stopping:  # a stop or a ledger error: the rest waits for a later run
                    self.report.not_started += len(group) - start
                    break
                await self._expire(group[start : start + EXPIRE_BATCH], provider)

    async def _close_writes(self) -> None:
        """Write what is queued (and what failed, with pauses); what could not be, reported.

        Shared writes are only drained: this run's settlements are written with a batch
        (or failed); their owner retries what failed and closes them.
        """
        if self.shared_writes:
            await self.writes.drained()
            if self.writes.error is not None:
                self.report.ledger_error = str(self.writes.error)
            return
        await self.writes.close()
        self.report.unsettled = len(self.writes.unwritten)
        for lost in self.writes.refused:  # keys only: no number, no secret
            self.report.refused += len(lost.keys)
            self.report.problems.append(f"not recorded: {lost}")
        if self.writes.error is not None:
            self.report.ledger_error = str(self.writes.error)

    def _claimer(self, provider: str, records: dict[str, SendRecord]) -> Claim:
        """A claim of sends for `provider`, its won rows kept in `records`: the sends won."""

        async def claim(sends: list[Send]) -> list[Send]:
            if self.stopping:  # stopped while waiting for the pace: claim nothing more
                self.report.not_started += len(sends)
                return []
            sends = await self._unless_closed(sends, provider)  # closed during the pace
            if sends:
                records.update(await self._claim(sends, provider))
            won = [send for send in sends if send.key in records]
            return self._still_open(won, records, provider)

        async def expire(sends: list[Send]) -> None:  # the pace has no room before the close
            await self._expire(sends, provider, ExpiryReason.PACE)

        return Claim(claim, expire)

    def _still_open(
        self, won: list[Send], records: dict[str, SendRecord], provider: str
    ) -> list[Send]:
        """The claimed sends whose window is still open now that the claim is written.

        A claim waits for its transaction (a busy ledger: seconds); a window
        that closed meanwhile makes the claimed row `expired`, never a late request.
        """
        still_open, late = self.windows.split(won)
        for send in late:
            reason = ExpiryReason.SENDING
            expired = records.pop(send.key).settled(
                Status.EXPIRED, datetime.now(UTC), error=reason.value
            )
            self.writes.settle(expired)
            self.report.expire(send, provider, reason)
            self.on_settled(1)
        return still_open

    def _record(self, send: Send, provider: str, now: datetime) -> SendRecord:
        """The new row of `send`, `pending` for this run, stamped `now` (the real time)."""
        return SendRecord.claim(
            send.schedule,
            send.occurrence,
            send.message.recipient,
            provider=provider,
            template=send.template,
            text_hash=send.text_hash,
            segments=send.segments,
            now=now,
            claimed_by=self.options.claimed_by,
            key=send.key,  # the planner's (the same derivation) or a transactional send's
        )

    async def _expire(
        self, sends: list[Send], provider: str, reason: ExpiryReason | None = None
    ) -> None:
        """Record sends whose window closed before their claim `expired`, never sending them.

        Only where no row exists: a row another run claimed, or a failed or
        uncertain one, is left as it is (counted as `taken`). The reason: as
        given, else the catch-up's for an overdue occurrence, else SENDING.
        """
        overdue = self.options.overdue
        why = {
            s.key: reason or overdue.get((s.schedule, s.occurrence), ExpiryReason.SENDING)
            for s in sends
        }
        now = datetime.now(UTC)
        wanted = [
            replace(self._record(s, provider, now), status=Status.EXPIRED, error=why[s.key].value)
            for s in sends
        ]
        try:
            written = {record.key: record for record in await self.writes.expire(wanted)}
        except LedgerError:  # nothing written: a later round finds them closed again
            self.stop()
            self.report.not_started += len(sends)
            self.on_settled(len(sends))
            return
        for send in sends:
            found = written.get(send.key)
            if found is None:
                self.report.taken += 1
            elif found.status is Status.FAILED:  # its retry's window closed: failed for good
                self.report.close_failed(found.provider)
            else:
                self.report.expire(send, provider, why[send.key])
        self.on_settled(len(sends))

    async def _unless_closed(self, sends: list[Send], provider: str) -> list[Send]:
        """`sends` whose window is still open; the others are recorded `expired` at once.

        Before the pace, not only at the claim: a closed send must not spend
        a slot of a rate-limited provider (2,000 of them at 10/s would take
        minutes just to be found closed).
        """
        still_open, closed = self.windows.split(sends)
        if closed:
            await self._expire(closed, provider)
        return still_open

    async def _claim(self, sends: list[Send], provider: str) -> dict[str, SendRecord]:
        now = datetime.now(UTC)
        wanted = [self._record(s, provider, now) for s in sends]
        try:
            won = await self.writes.claim(wanted)
        except LedgerError:  # no row, no request: these go out with a later run
            self.stop()
            self.report.not_started += len(sends)
            self.on_settled(len(sends))
            return {}
        lost = len(sends) - len(won)
        if lost:
            self.report.taken += lost
            self.on_settled(lost)
        return {record.key: record for record in won}

    def _expire_unsent(
        self, asked: list[Send], went: list[Send], records: dict[str, SendRecord], provider: str
    ) -> None:
        """Claimed sends of `asked` that never went (their window closed): `expired`."""
        sent = {send.key for send in went}
        for send in asked:
            if send.key not in sent and send.key in self.windows.closed_in_retry:
                self._settle_expired(send, records.pop(send.key), provider)

    def _settle(
        self,
        send: Send,
        record: SendRecord,
        provider: str,
        result: Result,
        closed: bool = False,
        attempts: int | None = None,
    ) -> None:
        """Write `result` (`closed`: the window closed before it could be retried).

        `attempts`: the row's attempts now (None: as claimed), set with the
        outcome in one copy of the record.
        """
        now = datetime.now(UTC)
        report = self.report
        if closed and isinstance(result, Retryable):  # never went out: not a failure to retry
            self._settle_expired(send, record, provider, attempts)
            return
        self.windows.settled(send.key)
        if isinstance(result, Accepted):
            settled = record.settled(
                Status.SENT, now, provider=provider, message_id=result.message_id, attempts=attempts
            )
            report.sent += 1
            report.segments += send.segments
            price = self.lane(provider).price
            if price is not None:
                # summed exactly, as the plan's cost is (`SchedulePlan.exact_cost`)
                cost = exact(price.for_region(send.message.region)) * send.segments
                report.cost[price.currency] = report.cost.get(price.currency, Decimal(0)) + cost
        elif isinstance(result, Uncertain):
            settled = record.settled(
                Status.UNCERTAIN, now, provider=provider, error=result.reason, attempts=attempts
            )
            report.uncertain += 1
            report.note(send, Status.UNCERTAIN, result.reason)
        else:
            retryable = isinstance(result, Retryable)
            settled = record.settled(
                Status.FAILED,
                now,
                provider=provider,
                error=result.reason,
                attempts=attempts,
                retryable=retryable,
            )
            report.failed += 1
            report.note(send, Status.FAILED, result.reason)
        if settled.error is not None:  # the ledger never stores a secret, whatever the path
            error = secrets.redact(settled.error, send.private)
            settled = replace(settled, error=secrets.scrub(error))
        self.writes.settle(settled)
        outcome = (provider, RETRYABLE if settled.retryable else settled.status.value)
        report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
        self.on_settled(1)

    def _settle_expired(
        self, send: Send, record: SendRecord, provider: str, attempts: int | None = None
    ) -> None:
        """A claimed send whose retry or failover could not start before its window closed."""
        self.windows.settled(send.key)
        reason = ExpiryReason.FAULTS
        settled = record.settled(
            Status.EXPIRED,
            datetime.now(UTC),
            provider=provider,
            error=reason.value,
            attempts=attempts,
        )
        self.report.expire(send, provider, reason)
        self.writes.settle(settled)
        self.on_settled(1)

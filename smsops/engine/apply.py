"""Send a plan's messages: write-ahead, at each provider's pace, at most once each.

For each request: wait for the provider's pace (`rate_limit`), take a slot
of its `max_in_flight` (held for the request only, never while a retry
waits), then claim the rows in the ledger (`pending`) — only the rows this
run wins are sent — send, then settle each row at once. Pacing
comes before claiming so a claim is at most one request old when it goes
out: with a slow `rate_limit`, rows claimed first and paced after would sit
`pending` for minutes (and turn `uncertain` if the run died meanwhile). Retryable
results (429, 503, no connection) are retried with backoff; results that
certainly were not accepted fail over to the next provider in the list;
anything that may have been accepted is `uncertain` and never resent here.
A send whose window has closed is never claimed: it is recorded `expired`
(the window closed while sending, or, for a claimed send whose retry would
start after the close, while a retry waited out provider faults).

Over 250 lines on purpose: claim, pace, send, retry, fail over and settle
are one argument about never sending twice, best read in one place. What
stands alone is apart: whether a window is still open (`windows`), the
counts of what happened (`apply_report`), the batched ledger writes
(`ledger_writes`), the providers' caps and paces (`lanes`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from smsops.config.loader import Config
from smsops.core import secrets
from smsops.core.errors import LedgerError
from smsops.core.expiry import ExpiryReason
from smsops.engine.apply_report import (
    RETRYABLE,
)  # where callers find it
from smsops.engine.apply_report import (
    ApplyReport as ApplyReport,
)
from smsops.engine.clock import SYSTEM_CLOCK, Clock
from smsops.engine.collector import paced_for_sending
from smsops.engine.lanes import Lane, Lanes
from smsops.engine.ledger_writes import LedgerWrites
from smsops.engine.pacing import backoff
from smsops.engine.plan import Send
from smsops.engine.reach import ANSWERED, Heard, unreachable
from smsops.engine.shared_pacing import PaceUnavailable
from smsops.engine.transport import Transport
from smsops.engine.windows import Windows
from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.providers.base import (
    Accepted,
    Adapter,
    Message,
    Rejected,
    Result,
    Retryable,
    Uncertain,
    from_outside,
    transport_error,
)
from smsops.providers.redaction import masked, redacted
from smsops.providers.registry import adapter_for

# Workers per in-flight slot: with every 7th request told to retry after 1 s
# at 50 ms latency a worker waits ~3/4 of its time, so 4 keep the slots busy.
WAITING_ROOM = 4
EXPIRE_BATCH = 5000  # sends of closed windows recorded `expired` per ledger write


@dataclass(frozen=True)
class Claim:
    """Claims sends once their request may go out (returns the ones this run won);
    or records them `expired` when their paced slot would come after their window."""

    claim: Callable[[list[Send]], Awaitable[list[Send]]]
    expire: Callable[[list[Send]], Awaitable[None]]

    async def __call__(self, sends: list[Send]) -> list[Send]:
        return await self.claim(sends)


@dataclass(frozen=True)
class ApplyOptions:
    resend_uncertain: bool = False
    max_attempts: int = 5  # per provider, for retryable results
    backoff_base: float = 0.5  # seconds
    backoff_cap: float = 30.0  # also the longest Retry-After honoured in-run
    claimed_by: str | None = None
    # Whether a window has closed, and the waits between retries. Rows are
    # stamped with the real time whatever it says: another run judges a
    # pending row's age by it (`apply --at` in the past runs its clock from then).
    clock: Clock = SYSTEM_CLOCK
    # Occurrences a catch-up round hands over as already closed, (schedule,
    # occurrence) -> why; any other closed send expired "while sending".
    overdue: Mapping[tuple[str, str], ExpiryReason] = field(default_factory=dict)


class Sender:
    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        env: Mapping[str, str],
        options: ApplyOptions,
        on_settled: Callable[[int], None] = lambda _: None,
        transport: httpx.AsyncBaseTransport | None = None,  # tests: httpx.MockTransport
        shared: Lanes | None = None,  # run mode: lanes shared by all its rounds (see lanes)
        writes: LedgerWrites | None = None,  # shared by concurrent senders (transactional)
    ) -> None:
        self.transport = transport
        self.shared = shared
        self.config, self.ledger, self.options = config, ledger, options
        self.env = env
        self.on_settled = on_settled
        self.report = ApplyReport()
        self.lanes: dict[str, Lane] = {}
        self.stopping = False
        self._stop = asyncio.Event()
        self.in_flight = 0  # requests on the wire now (for metrics)
        self.http: httpx.AsyncBaseTransport | None = None  # while run() runs
        # Given: another's, whose batches this sender's claims join (one commit for many
        # senders' claims); it is drained, not closed, when this run ends.
        self.shared_writes = writes is not None
        self.writes = writes or LedgerWrites(ledger, resend_uncertain=options.resend_uncertain)
        self.failure: Exception | None = None  # raised once the workers are done (`_deliver`)
        self.windows = Windows(options.clock)
        # While `_send_all` runs: the units left, its workers, how many it may start.
        self._queue: Iterator[list[Send]] | None = None
        self._workers: list[asyncio.Future[None]] = []
        self._room = 0

    def lane(self, name: str) -> Lane:
        if name not in self.lanes:
            config = self.config.providers[name]
            if self.shared is not None:
                self.lanes[name] = self.shared.get(name, config, self.env)
            else:
                shared = self.ledger.shared_pace()
                self.lanes[name] = Lane(adapter_for(name, config, self.env), shared=shared)
        return self.lanes[name]

    def check_secrets(self, sends: Sequence[Send]) -> None:
        """Every secret the sends need is set, before anything goes out.

        Building one request per provider and message category resolves the
        same `${env:...}` references every request of that kind will need.
        """
        probes: dict[tuple[str, str], Message] = {}
        for send in sends:
            for provider in send.providers:
                probes.setdefault((provider, send.message.category), send.message)
        for (provider, _), message in sorted(probes.items()):
            try:  # SecretMissing propagates: nothing has been sent yet
                self.lane(provider).adapter.build([message])
            except (ValueError, KeyError, TypeError):
                continue  # a problem of this message; reported per send

    async def run(self, sends: Sequence[Send]) -> ApplyReport:
        if self.shared is not None:  # taken on this loop (secrets were checked in a thread)
            self.lanes = {}
        sends, closed = self.windows.split(sends)
        try:
            if closed:  # already closed (a catch-up's windows): recorded first, in big batches
                await self._expire_closed(closed)
            if sends:
                await self._send_all(sends)
        finally:
            await self._close_writes()
        return self.report

    async def _send_all(self, sends: list[Send]) -> None:
        units = list(self._units(sends))
        first = {send.providers[0] for send in sends}
        slots = sum(self.lane(p).max_in_flight for p in first)
        # A worker a slot. A worker waiting out a retry holds no slot (see `_request`):
        # it starts another in its place (`_spare`), up to WAITING_ROOM a slot, so the
        # slots stay busy meanwhile. Started all at once, the spare workers queued on
        # the slots at every send (~6 us of CPU a send at 0 ms) with no retry to wait.
        self._room = min(len(units), WAITING_ROOM * slots)
        used = {provider for send in sends for provider in send.providers}
        connections = sum(self.lane(p).max_in_flight for p in used)
        self._queue = iter(units)
        self._workers = []
        # The transport is used without an httpx.AsyncClient around it: requests
        # come whole from the adapters, so the client would only add a cookie
        # jar nobody reads, redirect and auth steps that never apply, and ~25%
        # of apply's CPU (5,000 sends at 20 ms: ~2,100/s through the client,
        # ~2,330/s without).
        try:
            with paced_for_sending():
                async with self.transport or Transport(max_connections=connections) as self.http:
                    # Every worker ends before the error of one goes on (it stops the
                    # others): the round then settles what is left claimed (`Round.send`).
                    queue = self._queue
                    starting = min(len(units), slots)
                    self._workers = [
                        asyncio.ensure_future(self._worker(queue)) for _ in range(starting)
                    ]
                    done: list[BaseException | None] = []
                    try:
                        while len(done) < len(self._workers):  # spares may start meanwhile
                            waiting = self._workers[len(done) :]
                            done += await asyncio.gather(*waiting, return_exceptions=True)
                    except asyncio.CancelledError:  # as gather does: each one ended first
                        rest = [w for w in self._workers if not w.done()]
                        for worker in rest:
                            worker.cancel()
                        await asyncio.gather(*rest, return_exceptions=True)
                        raise
            if self.failure is not None:  # the round failed: loudly, its rows settled
                raise self.failure
            if errors := [e for e in done if isinstance(e, BaseException)]:
                raise errors[0]
        finally:
            self.http = None
            self._queue = None

    def _spare(self) -> None:
        """Start another worker on this run's units, if the room allows (`_send_all`)."""
        if self._queue is not None and len(self._workers) < self._room and not self.stopping:
            self._workers.append(asyncio.ensure_future(self._worker(self._queue)))

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

    def requests(self, sends: Sequence[Send], *, unmask: bool = False) -> Iterator[dict[str, Any]]:
        """Every request this apply would make, as data: secret headers hidden, numbers masked.

        With `unmask` (a person asked to see them) the numbers are shown whole.
        """
        for unit in self._units(sends):
            adapter = self.lane(unit[0].providers[0]).adapter
            recipients = [] if unmask else [send.message.recipient for send in unit]
            try:
                request = adapter.build([send.message for send in unit])
            except Exception as exc:  # shown, as `_send` would record it
                reason = secrets.scrub(f"cannot build the request: {_described(exc)}")
                yield masked({"error": reason, "sends": len(unit)}, recipients)
                continue
            yield redacted(request, adapter, recipients)

    def stop(self) -> None:
        """Claim nothing more; what is in flight is finished and settled."""
        self.stopping = True
        self._stop.set()  # wakes the sends waiting for their pace to claim

    def _units(self, sends: Sequence[Send]) -> Iterator[list[Send]]:
        """Requests' worth of sends: identical messages share a bulk request."""
        open_batches: dict[tuple[object, ...], list[Send]] = {}
        for send in sends:
            size = self.lane(send.providers[0]).batch
            if size == 1:
                yield [send]
                continue
            same = (send.providers, replace(send.message, recipient="", region=None))
            batch = open_batches.setdefault(same, [])
            batch.append(send)
            if len(batch) >= size:
                yield open_batches.pop(same)
        yield from open_batches.values()

    async def _worker(self, queue: Iterator[list[Send]]) -> None:
        for unit in queue:
            if self.stopping:
                self.report.not_started += len(unit) + sum(len(u) for u in queue)
                return
            try:
                await self._deliver(unit)
            except Exception:
                self.stop()  # a bug: nothing more is claimed, what is in flight finishes
                raise

    async def _deliver(self, unit: list[Send]) -> None:
        """Pace, claim, send and settle one unit, failing over down the provider list.

        `records` holds the unit's claimed rows until each is settled. `_send`
        turns whatever happens to a request into its result, so no answer gets
        here. Anything else that raises (a ledger driver's error, a bug) settles
        the rows still held `uncertain` (a request may have left), never leaving
        them `pending`; then the run claims nothing more, lets what is in flight
        settle, and raises it (`_send_all`): a failure of smsops stays loud.
        """
        records: dict[str, SendRecord] = {}
        tries: dict[str, int] = {}
        remaining = unit
        providers = unit[0].providers
        provider = providers[0]
        try:
            for index, provider in enumerate(providers):
                lane = self.lane(provider)
                failover: list[Send] = []
                for chunk in _chunks(remaining, lane.batch):
                    if index == 0 and self.stopping:
                        self.report.not_started += len(chunk)
                        continue
                    claim: Claim | None = None
                    if index == 0:  # write-ahead: claimed once paced, right before the request
                        chunk = await self._unless_closed(chunk, provider)
                        if not chunk:
                            continue
                        claim = self._claimer(provider, records)
                    asked = chunk
                    chunk, results = await self._attempt(lane, chunk, claim)
                    if index > 0:  # a failover whose window closed before its request went
                        self._expire_unsent(asked, chunk, records, provider)
                    for send, (result, attempts) in zip(chunk, results, strict=True):
                        tries[send.key] = tries.get(send.key, 0) + attempts
                        certainly_not_taken = isinstance(result, Rejected | Retryable)
                        closed = certainly_not_taken and self.windows.closed(send)
                        # Stopping: no new requests; a retryable failure is retried next run.
                        # A closed window: no request at all, not even to the next provider.
                        more = index + 1 < len(providers) and not self.stopping and not closed
                        if certainly_not_taken and more:
                            failover.append(send)
                            continue
                        record = records.pop(send.key)
                        attempts = record.attempts + tries[send.key]
                        self._settle(send, record, provider, result, closed, attempts)
                remaining = failover
                if not remaining:
                    return
        except Exception as exc:
            why = f"the send stopped after its claim: {_described(exc)}"
            by_key = {send.key: send for send in unit}
            for key, record in list(records.items()):
                self._settle(by_key[key], record, provider, from_outside(Uncertain(why)))
            records.clear()
            if self.failure is None:
                self.failure = exc
            self.stop()

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

    async def _attempt(
        self, lane: Lane, sends: list[Send], claim: Claim | None = None
    ) -> tuple[list[Send], list[tuple[Result, int]]]:
        """Send `sends` in one request, retrying the retryable; (result, attempts) each.

        With `claim`, the first request sends only the sends it wins, claimed
        once the pace allows the request: those sends are returned with their
        results.
        """
        sends, outcome = await self._request(lane, sends, claim)
        results = [(result, 1) for result in outcome]
        for attempt in range(2, self.options.max_attempts + 1):
            retry = [(i, r) for i, (r, _) in enumerate(results) if isinstance(r, Retryable)]
            if not retry or self.stopping:
                break
            wait = max(r.retry_after or 0.0 for _, r in retry)
            cap = self.options.backoff_cap
            delay = backoff(attempt - 1, wait, self.options.backoff_base, cap)
            retry = self.windows.open_at(sends, retry, wait if wait > cap else delay)
            if not retry or wait > cap:
                break  # the provider asks for longer than a run waits: a later apply retries
            self._spare()  # this worker holds no slot while it waits: another takes its turn
            await self.options.clock.sleep(delay)
            todo = [i for i, _ in retry]
            self.report.retries += len(todo)
            went, outcome = await self._request(lane, [sends[i] for i in todo])
            answered = {send.key: result for send, result in zip(went, outcome, strict=True)}
            for i in todo:  # one whose window closed while it waited keeps its last result
                if sends[i].key in answered:
                    results[i] = (answered[sends[i].key], attempt)
        return sends, results

    async def _request(
        self, lane: Lane, sends: list[Send], claim: Claim | None = None
    ) -> tuple[list[Send], list[Result]]:
        """Wait for the pace and a slot, claim (if asked), send: the sends sent, with results.

        The in-flight slot is taken after the pace and given back with the
        answer: a request waiting for its pace or its retry holds none, so
        the others keep the provider's `max_in_flight` busy meanwhile.
        """
        # Only a claim's wait ends early on stop: claimed rows (retries, failover)
        # still keep the pace.
        stop = self._stop if claim is not None else None
        if lane.pacer is not None and self.windows.closes_within(sends, lane.pacer.delay()):
            # its paced slot would come after its window closed: never booked
            if claim is not None:
                await claim.expire(sends)
            else:
                self.windows.closed_in_retry.update(send.key for send in sends)
            return [], []
        paced = lane.pacer.slot(len(sends), stop) if lane.pacer else nullcontext(True)
        try:
            async with paced as go:
                if not go:  # the run is stopping: the claim claims none (and counts them)
                    if claim is not None:
                        await claim(sends)
                    return [], []
                async with lane.slots:
                    if claim is not None:
                        sends = await claim(sends)
                    else:  # a retry or a failover: claimed already; its window may have closed
                        sends = self.windows.not_closed(sends)
                    if not sends:
                        return [], []
                    results, how = await self._send(lane, [send.message for send in sends])
                    self.report.heard({send.schedule for send in sends}, lane.adapter.name, how)
                    return sends, results
        except PaceUnavailable as exc:  # raised before any request: fail closed, as a claim does
            self.stop()
            self.report.ledger_error = self.report.ledger_error or str(exc)
            if claim is not None:  # no slot, no claim: these go out with a later run
                await claim(sends)
                return [], []
            return sends, [Retryable(str(exc)) for _ in sends]  # claimed: retried next run

    def _expire_unsent(
        self, asked: list[Send], went: list[Send], records: dict[str, SendRecord], provider: str
    ) -> None:
        """Claimed sends of `asked` that never went (their window closed): `expired`."""
        sent = {send.key for send in went}
        for send in asked:
            if send.key not in sent and send.key in self.windows.closed_in_retry:
                self._settle_expired(send, records.pop(send.key), provider)

    async def _send(self, lane: Lane, messages: list[Message]) -> tuple[list[Result], Heard]:
        """Build, send and read one unit: whatever happens is its result (`exchange`);
        with whether the provider answered it (`engine.reach`)."""
        assert self.http is not None
        self.in_flight += 1
        observe = lane.observe  # run mode's recorder; `apply` keeps none
        started = time.perf_counter() if observe is not None else 0.0  # real time, not `clock`
        results: list[Result] = []  # none if cancelled: still a request made
        try:
            results, how = await exchange_heard(
                self.http,
                lane.adapter,
                lambda: lane.adapter.build(messages),
                messages,
                lane.timeout,
            )
            return results, how
        finally:
            self.in_flight -= 1
            if observe is not None:  # smsops_provider_request_seconds, the page's hour
                observe(time.perf_counter() - started, results)

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
                cost = price.for_region(send.message.region) * send.segments
                report.cost[price.currency] = report.cost.get(price.currency, 0.0) + cost
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


async def exchange(
    http: httpx.AsyncBaseTransport,
    adapter: Adapter,
    build: Callable[[], httpx.Request],
    messages: Sequence[Message],
    timeout: Mapping[str, float | None],
) -> list[Result]:
    """`exchange_heard`'s results."""
    return (await exchange_heard(http, adapter, build, messages, timeout))[0]


async def exchange_heard(
    http: httpx.AsyncBaseTransport,
    adapter: Adapter,
    build: Callable[[], httpx.Request],
    messages: Sequence[Message],
    timeout: Mapping[str, float | None],
) -> tuple[list[Result], Heard]:
    """Build one request, send it and read its answer: whatever happens is its result;
    with whether the provider answered it, or why it could not be reached (`reach`).

    The one guard of the send path (sends, and the requests that check a
    one-time code). An exception while building means nothing left:
    rejected (`failed`; it may fail over). From the exchange or the reading
    of its answer, the request may have left: uncertain. Either way the
    other units and providers go on (issue 19: a hostile answer used to end
    the whole round, its claimed rows left `pending`).
    """
    count = len(messages)
    try:
        request = build()
    except Exception as exc:  # e.g. a secret whose value holds a line break (Adapter.post)
        why = f"cannot build the request: {_described(exc)}"
        return [from_outside(Rejected(why))] * count, None
    request.extensions = {**request.extensions, "timeout": timeout}
    try:
        response = await http.handle_async_request(request)
        response.request = request
        await response.aread()
    except httpx.TransportError as exc:
        return [transport_error(exc)] * count, unreachable(exc)
    except Exception as exc:
        why = f"the request may have been received: sending it raised {_described(exc)}"
        return [from_outside(Uncertain(why))] * count, None
    try:  # an answer, whatever it says: the provider is reachable
        return adapter.parse(response, messages), ANSWERED  # scrubbed of secrets (from_outside)
    except Exception as exc:  # the contract says parse never raises; a bug must not stop a round
        why = f"HTTP {response.status_code}, the answer could not be read: {_described(exc)}"
        return [from_outside(Uncertain(why))] * count, ANSWERED


def _described(exc: BaseException) -> str:
    """An exception as a reason: its text (the type's name when it has none) and its type."""
    text = str(exc)
    return f"{text} ({type(exc).__name__})" if text else type(exc).__name__


def _chunks(items: list[Send], size: int) -> Iterator[list[Send]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

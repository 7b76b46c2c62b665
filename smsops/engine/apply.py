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

Over 250 lines on purpose: pace, send, retry and fail over are one
argument about never sending twice, best read in one place. What stands
alone is apart: the claims and settlements of rows (`apply_settle`, a mixin
of `Sender`), one request and its answer (`exchange`), the options and the
claim's type (`apply_options`), whether a window is still open (`windows`),
the counts of what happened (`apply_report`), the batched ledger writes
(`ledger_writes`), the providers' caps and paces (`lanes`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

import httpx

from smsops.config.loader import Config
from smsops.core import secrets
from smsops.engine.apply_options import ApplyOptions as ApplyOptions  # where callers find it
from smsops.engine.apply_options import Claim
from smsops.engine.apply_report import (
    ApplyReport as ApplyReport,
)
from smsops.engine.apply_settle import Settling
from smsops.engine.collector import paced_for_sending
from smsops.engine.exchange import _described, exchange_heard
from smsops.engine.lanes import Lane, Lanes
from smsops.engine.ledger_writes import LedgerWrites
from smsops.engine.pacing import backoff
from smsops.engine.plan import Send
from smsops.engine.reach import Heard
from smsops.engine.shared_pacing import PaceUnavailable
from smsops.engine.transport import Transport
from smsops.engine.windows import Windows
from smsops.ledger.base import Ledger, SendRecord
from smsops.providers.base import (
    Message,
    Rejected,
    Result,
    Retryable,
    Uncertain,
    from_outside,
)
from smsops.providers.redaction import masked, redacted
from smsops.providers.registry import adapter_for

# Workers per in-flight slot: with every 7th request told to retry after 1 s
# at 50 ms latency a worker waits ~3/4 of its time, so 4 keep the slots busy.
WAITING_ROOM = 4


class Sender(Settling):
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


def _chunks(items: list[Send], size: int) -> Iterator[list[Send]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

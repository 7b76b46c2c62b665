"""One sender process of bench/shared_limits.py: sends to the sandbox under one pacing design.

    shared_limits_worker.py DESIGN LEDGER_URL CONFIG_DIR SECONDS FIRST_NUMBER

Registers a run on the PostgreSQL ledger (as every `smsops run` does), says
`ready` on stdout, reads a wall-clock start time from stdin and waits for it
(so a loaded machine's slow starts do not skew the scenario), then sends
single messages through provider `ot` of CONFIG_DIR for SECONDS, at most
`max_in_flight` at once, each request paced by DESIGN:

- window: the kept design, `SharedPacer` (the slot schedule and the shared
  sliding second, engine/shared_pacing.py);
- slots: the same slot schedule without the sliding second (the limit the
  ledger checks lifted out of reach): spacing alone;
- shares: each live run takes an equal part of the rate, a local `Pacer` at
  rate / (runs whose lease is live), counted again every third of the lease
  (when runs renew): the design the issue names beside the bucket;
- alone: the local `Pacer` of one process (the baseline).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from smsops.engine.pacing import Pacer
from smsops.engine.project import load_project
from smsops.engine.shared_pacing import SharedPacer
from smsops.engine.transport import Transport
from smsops.ledger.postgres import PostgresLedger
from smsops.ledger.runs import lease_length
from smsops.providers.base import Message
from smsops.providers.registry import adapter_for


def live_runs(ledger: PostgresLedger) -> int:
    now = datetime.now(UTC)
    return max(1, sum(1 for run in ledger.runs() if run.expires_at > now and not run.stopped))


async def shares(ledger: PostgresLedger, pacer: Pacer, rate: float, stop: asyncio.Event) -> None:
    """Keep `pacer` at this run's equal part of `rate`, counted every third of the lease."""
    every = lease_length().total_seconds() / 3
    while not stop.is_set():
        part = rate / await asyncio.to_thread(live_runs, ledger)
        pacer.interval = 1.0 / (part * 0.98)
        pacer.limit = max(1, int(part))
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            continue


async def main(design: str, url: str, root: Path, seconds: float, first: int) -> None:
    config = load_project(root)
    provider = config.providers["ot"]
    adapter = adapter_for("ot", provider, dict(os.environ))
    assert provider.rate_limit is not None
    rate = provider.rate_limit.per_second
    ledger = PostgresLedger(url)
    stop = asyncio.Event()
    pacer: Pacer | SharedPacer
    keeper = None
    if design == "alone":  # one process, nobody to share with: the local pacer
        pacer = Pacer(rate)
    elif design == "shares":
        pacer = Pacer(rate)
        keeper = asyncio.create_task(shares(ledger, pacer, rate, stop))
    else:
        pacer = SharedPacer(ledger, "ot", rate, provider.timeout.total_seconds())
        if design == "slots":
            pacer.pace = replace(pacer.pace, limit=10**9)
    print("ready", flush=True)
    start_at = float(await asyncio.to_thread(sys.stdin.readline))
    await asyncio.sleep(max(0.0, start_at - time.time()))
    deadline = time.monotonic() + seconds
    slots = asyncio.Semaphore(provider.max_in_flight)
    numbers = iter(range(first, first + 10**6))
    transport = Transport(provider.max_in_flight)

    async with httpx.AsyncClient(transport=transport) as http:

        async def worker() -> None:
            while time.monotonic() < deadline:
                async with pacer.slot(1) as go:
                    if not go:
                        return
                    async with slots:
                        message = Message(f"+4474{next(numbers):08d}", "Hi")
                        await http.send(adapter.build([message]))

        await asyncio.gather(*(worker() for _ in range(provider.max_in_flight)))
    stop.set()
    if keeper is not None:
        await keeper
    ledger.close()


if __name__ == "__main__":
    design, url, root, seconds, first = sys.argv[1:6]
    asyncio.run(main(design, url, Path(root), float(seconds), int(first)))

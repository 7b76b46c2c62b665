"""API send latency and throughput against the provider's own, over loopback (issue 22).

The sandbox runs in its own process (OpenTact's emulator, 0 or 20 ms a
request) and `smsops run` in another, with an `api` map. From this process a
plain aiohttp client measures two ways of getting one message to the
sandbox, interleaved, in one run:

- **floor**: the provider's request itself (what smsops's OpenTact adapter
  builds), posted straight to the sandbox: no smsops at all;
- **API**: `POST /v1/messages` with a new idempotency key each, to `smsops
  run`, which checks, renders, claims in its ledger, sends that same request
  to the sandbox, settles, and answers.

Latency: one request at a time (p50, p99 in ms), the paths taking turns every
CHUNK requests. Throughput: CONCURRENCY
requests in flight for a few seconds (answered per second; the provider's
`max_in_flight` is CONCURRENCY too, so only smsops's own work differs).
Ledgers: memory (smsops's work alone); SQLite, the default (the claim a
synced commit, the settlement committed without a sync of its own:
`SETTLEMENT_SYNCHRONOUS` in smsops/ledger/sqlite_file.py); SQLite with the
settlement synced too, as before (set inside that daemon's process only:
smsops has no setting for it); PostgreSQL on a throwaway server
(tests/postgres.py) with fsync on, unlike the tests' (skipped where no
server can be made; `--quick` leaves it out). Goals: p99 at 0 ms within
3 ms of the floor's; throughput at 20 ms at least half the floor's.

    .venv/bin/python bench/api_latency.py           # 500 sequential, 5 s of throughput
    .venv/bin/python bench/api_latency.py --quick   # 100 sequential, 1 s
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.daemon

from common import SandboxProcess, Series, arguments, remove_ledger, section, table

from smsops.core.reserved import API_MESSAGES
from smsops.engine.project import load_project
from smsops.engine.transactional import key_of
from smsops.ledger import sqlite_file
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.sqlite import SqliteLedger
from smsops.providers.base import Message
from smsops.providers.registry import adapter_for
from tests.daemon.daemon import Daemon, running
from tests.postgres import Cluster, NoPostgres

TOKEN = "bench-api-token-of-the-length-tokens-need"  # 32+ characters (config/tokens.py)
CONCURRENCY = 32
CHUNK = 50  # requests a path sends before the next one's turn (latency)
NUMBER = "+447400123456"
TEXT = "Hi Sam, order 42 has shipped."
LATENCIES = (0, 20)
SQLITE, SYNCED, POSTGRES = "sqlite", "synced", "postgresql"
LEDGERS = {  # each ledger's row
    "memory": "API, memory ledger",
    SQLITE: "API, sqlite ledger",
    SYNCED: "API, sqlite ledger, settlement synced (before)",
    POSTGRES: "API, postgresql ledger (fsync on)",
}
QUICK = ("memory", SQLITE)  # the smoke run of scripts/test.sh: two daemons, no server
# The settlement synced as the claim is, in that daemon's process only (the former default).
SETTLEMENT_SYNCED = "import smsops.ledger.sqlite_file as f\nf.SETTLEMENT_SYNCHRONOUS = 'FULL'"


class DurableCluster(Cluster):
    """The tests' throwaway server, with its commits flushed to disk as a real one's are
    (the tests' runs with fsync off: a flush there costs nothing)."""

    def _serve(self) -> None:
        options = f"-k {self.root} -c listen_addresses=127.0.0.1 -p {self.port}"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
            "-o", options, "-w", "-t", "30", "start",
        )  # fmt: skip


def postgres(stack: ExitStack) -> str | None:
    """A new database on a durable throwaway server (stopped with `stack`), or None."""
    try:
        cluster = DurableCluster()
    except NoPostgres as exc:
        print(f"(no PostgreSQL row: {exc})", file=sys.stderr)
        return None
    stack.callback(cluster.stop)
    cluster.start()
    return cluster.url(cluster.database())


def write(root: Path, base_url: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "smsops.yaml").write_text(
        "api:\n  token: ${env:SMSOPS_API_TOKEN}\n"
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{base_url}', token: '${{env:OT}}', "
        f"from: '+12017771234', max_in_flight: {CONCURRENCY}}}\n"
        "templates:\n"
        "  t: {category: transactional, body: 'Hi {{ name }}, order {{ order }} has shipped.'}\n"
    )
    return root


Call = Callable[[aiohttp.ClientSession], Awaitable[bool]]


def floor_call(root: Path) -> Call:
    """The provider's own request, as smsops's adapter builds it, posted by aiohttp."""
    config = load_project(root)
    adapter = adapter_for("ot", config.providers["ot"], {"OT": "jwt"})
    built = adapter.build([Message(recipient=NUMBER, text=TEXT, category="transactional")])
    url, headers, body = str(built.url), dict(built.headers), built.content

    async def call(http: aiohttp.ClientSession) -> bool:
        async with http.post(url, data=body, headers=headers) as answer:
            await answer.read()
            return answer.status < 300

    return call


def api_call(daemon: Daemon) -> Call:
    url = daemon.base + "/v1/messages"
    headers = {"authorization": f"Bearer {TOKEN}"}
    run = uuid.uuid4().hex[:8]
    keys = itertools.count()

    async def call(http: aiohttp.ClientSession) -> bool:
        body = {
            "template": "t",
            "to": NUMBER,
            "vars": {"name": "Sam", "order": 42},
            "idempotency_key": f"b-{run}-{next(keys)}",
        }
        async with http.post(url, json=body, headers=headers) as answer:
            found = await answer.json()
            return answer.status == 200 and found.get("status") == "sent"

    return call


async def latencies(calls: dict[str, Call], count: int) -> dict[str, tuple[list[float], int]]:
    """`count` requests one after another per path: each one's seconds, and the failures.

    The paths take turns every CHUNK requests (floor, API, API, ..., floor, ...),
    so a burst of the machine's other work lands on each alike, not on one path.
    """
    taken: dict[str, list[float]] = {name: [] for name in calls}
    failed = dict.fromkeys(calls, 0)
    async with AsyncExitStack() as stack:
        https = {name: await stack.enter_async_context(aiohttp.ClientSession()) for name in calls}
        for name, call in calls.items():
            for _ in range(5):  # warm: the connection, the lanes, the first import of anything
                await call(https[name])
        for _ in range(0, count, CHUNK):
            for name, call in calls.items():
                for _ in range(CHUNK):
                    started = time.perf_counter()
                    failed[name] += not await call(https[name])
                    taken[name].append(time.perf_counter() - started)
    return {name: (taken[name], failed[name]) for name in calls}


async def throughput(call: Call, seconds: float) -> tuple[float, int]:
    """CONCURRENCY requests in flight for `seconds`: answered per second, and the failures."""
    done = failed = 0
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as http:
        ends = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done, failed
            while time.perf_counter() < ends:
                ok = await call(http)
                done += ok
                failed += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return done / (time.perf_counter() - started), failed


def ledger_writes(path: Path, settlement: str, count: int, first: int) -> list[float]:
    """The SQLite ledger's part of `count` API sends, one after another, in this process:
    a claim and its settlement each (the settlement committed at `settlement`); seconds."""
    remove_ledger(path)
    sqlite_file.SETTLEMENT_SYNCHRONOUS = settlement
    ledger, now, taken = SqliteLedger(path), datetime.now(UTC), []
    try:
        for i in range(first, first + count):
            started = time.perf_counter()
            new = SendRecord.claim(
                API_MESSAGES, f"k{i}", NUMBER, provider="ot", template="t", text_hash="h",
                segments=1, now=now, key=key_of(f"k{i}"),
            )  # fmt: skip
            (won,) = ledger.claim([new])
            ledger.settle([won.settled(Status.SENT, now, message_id=f"m{i}")])
            taken.append(time.perf_counter() - started)
    finally:
        sqlite_file.SETTLEMENT_SYNCHRONOUS = "NORMAL"
        ledger.close()
        remove_ledger(path)
    return taken


def ledger_rows(work: Path, count: int, runs: int) -> list[list[str]]:
    """ledger_writes with the settlement NORMAL (now) and FULL (before), interleaved."""
    levels = {"claim synced, settlement not (now)": "NORMAL", "both synced (before)": "FULL"}
    p50 = {name: Series() for name in levels}
    p99 = {name: Series() for name in levels}
    for run in range(runs):
        for name, level in levels.items():
            taken = ledger_writes(work / "writes.sqlite", level, count, run * count)
            p50[name].add(1000 * quantile(taken, 0.50))
            p99[name].add(1000 * quantile(taken, 0.99))
    return [[name, p50[name].show(3), p99[name].show(3)] for name in levels]


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def main() -> int:
    args = arguments(__doc__ or "")
    count = 100 if args.quick else 500
    seconds = 1.0 if args.quick else 5.0
    work = args.work / "api"
    root = write(work / "config", "http://127.0.0.1:1/opentact")  # pointed below
    env = {**os.environ, "OT": "jwt", "SMSOPS_API_TOKEN": TOKEN, "SMSOPS_LOG_LEVEL": "warning"}
    ledgers = QUICK if args.quick else tuple(LEDGERS)
    failures = 0
    with SandboxProcess() as sandbox, ExitStack() as stack:
        write(root, sandbox.url + "/opentact")
        calls: dict[str, Call] = {"floor": floor_call(root)}
        for ledger in ledgers:
            where: str | Path | None = "memory://"
            if ledger in (SQLITE, SYNCED):
                where = file = work / f"ledger-{len(calls)}.sqlite"
                remove_ledger(file)
            elif ledger == POSTGRES:
                where = postgres(stack)
            if where is None:
                continue
            prelude = SETTLEMENT_SYNCED if ledger == SYNCED else None
            daemon = stack.enter_context(
                running(root, where, env, workdir=work, grace=60, prelude=prelude)
            )
            calls[LEDGERS[ledger]] = api_call(daemon)
        names = list(calls)
        p50 = {(n, lat): Series() for n in names for lat in LATENCIES}
        p99 = {(n, lat): Series() for n in names for lat in LATENCIES}
        rate = {(n, lat): Series() for n in names for lat in LATENCIES}
        for latency in LATENCIES:
            for _ in range(args.runs):
                # Emptying the sandbox's list (kept small) resets its faults: set again.
                sandbox.reset(latency_ms=latency)
                for name, (taken, failed) in asyncio.run(latencies(calls, count)).items():
                    p50[name, latency].add(1000 * quantile(taken, 0.50))
                    p99[name, latency].add(1000 * quantile(taken, 0.99))
                    failures += failed
                for name in names:  # interleaved: floor, API, API, floor, ...
                    per_second, more = asyncio.run(throughput(calls[name], seconds))
                    rate[name, latency].add(per_second)
                    failures += more
        writes = ledger_rows(work, 200 if args.quick else 2_000, args.runs)
    for used in work.glob("ledger-*.sqlite"):
        remove_ledger(used)
    title = "API send latency and throughput against the provider's own — `bench/api_latency.py`"
    with section(title, args):
        print(
            f"OpenTact's emulator at 0 and 20 ms a request; latency over {count:,} requests one "
            f"at a time per path (the paths taking turns every {CHUNK}), throughput with "
            f"{CONCURRENCY} in flight for {seconds:.0f} s "
            f"(`max_in_flight: {CONCURRENCY}`); a plain aiohttp client for both.\n"
        )
        rows = [
            [f"{latency} ms", name, p50[name, latency].show(2), p99[name, latency].show(2),
             rate[name, latency].show(0)]
            for latency in LATENCIES
            for name in names
        ]  # fmt: skip
        print(table(["provider", "path", "p50 ms", "p99 ms", "answered per second"], rows))
        print("\nGoals (each API row against the floor of the same run):")
        met = True
        for name in names[1:]:
            gap = p99[name, 0].median - p99["floor", 0].median
            share = rate[name, 20].median / rate["floor", 20].median
            ok = gap <= 3.0 and share >= 0.5
            met = met and ok
            print(
                f"- {name}: p99 at 0 ms {gap:+.2f} ms from the floor's (goal ≤ +3 ms); "
                f"throughput at 20 ms {share:.2f}× the floor's (goal ≥ 0.5×): "
                f"{'met' if ok else 'NOT met'}"
            )
        print(f"\nFailed or unexpected answers: {failures}.")
        print(
            "\nThe SQLite ledger's part of one send, in the benchmark's process, the same run: "
            "a claim and its settlement, one send after another (ms):\n"
        )
        print(table(["commits", "p50 ms", "p99 ms"], writes))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

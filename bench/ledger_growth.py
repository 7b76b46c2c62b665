"""Claims and re-plans on a PostgreSQL ledger of 10^7 rows beside one of 10^5 (same run).

The ledger is partitioned by month (smsops/ledger/partitions.py): a claim
and a plan's reads touch the partition of their occurrence's month, and its
indexes, not every row the ledger ever held. This measures that on one
throwaway server (tests/postgres.py; fsync off, as for the tests):

- two databases, each migrated by smsops, filled server-side (INSERT ...
  SELECT generate_series) with a year of daily occurrences of 20 schedules:
  SMALL and BIG rows, spread over their months' partitions, then VACUUM
  ANALYZE;
- in both, the same schedule `target` (a 2 h window open at AT) whose
  occurrence holds 90% of a 100,000-recipient audience as sent;
- claim latency: a batch claim of 500 new sends of that occurrence, p50 and
  p99 over many batches, the two ledgers interleaved (small, big, small...);
- re-plan: `make_plan` of the config at AT (the audience read, the done keys
  of the occurrence, max_per_day's count of the last 24 hours), interleaved;
  and the plan's ledger reads alone (`known`, `claimed_since`,
  `newest_occurrence`), which is where the ledger's size could show.

The goal: the big ledger's figures within 1.5x of the small one's.

    .venv/bin/python bench/ledger_growth.py           # 10^5 beside 10^7 rows
    .venv/bin/python bench/ledger_growth.py --quick   # 10^3 beside 2x10^4 rows, few batches (smoke)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.postgres

import psycopg
from common import Series, arguments, phone, section, table, write_audience

from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.postgres import PostgresLedger
from smsops.schedule.occurrences import occurrence_label
from tests.postgres import Cluster

AUDIENCE = 100_000
BATCH = 500
# The plan's time: today 10:00 UTC, the target's 09:00 window (2 h) open.
AT = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
OCCURRENCE = occurrence_label(AT - timedelta(hours=1))
DAYS = 360  # the background's occurrences: one a day per schedule, this many days back
_FILL = """
INSERT INTO sends (key, schedule, occurrence, recipient, provider, template, text_hash,
    segments, status, provider_message_id, attempts, created_at, updated_at, month)
SELECT md5('bg' || i), s, o, '+1555' || lpad((i %% 10000000)::text, 7, '0'), 'ot', 't', 'h',
    1, 'sent', 'm' || i, 1, f + interval '1 minute', f + interval '2 minutes',
    smsops_month(s, o)
FROM generate_series(%s::bigint, %s::bigint) AS i,
    LATERAL (SELECT 'background-' || (i %% 20) AS s,
        date_trunc('day', %s::timestamptz) - make_interval(days => 1 + (i %% {days})::int)
            + interval '9 hours' AS f) AS g,
    LATERAL (SELECT to_char(g.f AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS o) AS h
"""


def config_dir(work: Path, audience: int) -> Path:
    root = work / f"growth-config-{audience}"
    root.mkdir(parents=True, exist_ok=True)
    write_audience(root / "audience.csv", audience)
    (root / "smsops.yaml").write_text(
        "providers:\n"
        "  ot: {type: opentact, base_url: 'http://127.0.0.1:9/opentact', token: '${env:OT}', "
        "from: '+12017771234'}\n"
        "templates:\n"
        "  t: {category: transactional, body: 'Hi {{ name }}, order {{ order }} has shipped.'}\n"
        "audiences:\n  a: {source: audience.csv}\n"
        "schedules:\n"
        "  target: {template: t, audience: a, provider: ot, window: 2h,\n"
        "    trigger: {cron: '0 9 * * *', timezone: UTC}, limits: {max_per_day: 10000000}}\n",
        encoding="utf-8",
    )
    return root


def fill(url: str, rows: int, audience: int) -> None:
    """`rows` background rows, made server-side, in the partitions of their months."""
    PostgresLedger(url).close()  # migrated as smsops does
    step = 1_000_000
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for back in range(DAYS // 28 + 2):  # the partitions a year of running made
            conn.execute(
                "SELECT smsops_add_month((%s::date - make_interval(months => %s))::date)",
                (AT, back),
            )
        for start in range(1, rows + 1, step):
            query = _FILL.format(days=DAYS).encode()
            conn.execute(query, (start, min(rows, start + step - 1), AT))
    ledger = PostgresLedger(url)
    try:  # the target occurrence: 90% of the audience sent
        done = [
            record(i).settled(Status.SENT, AT - timedelta(minutes=50))
            for i in range(audience * 9 // 10)
        ]
        ledger.insert_copies(done)
    finally:
        ledger.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE sends")  # as autovacuum would, in time


def record(i: int) -> SendRecord:
    return SendRecord.claim(
        "target", OCCURRENCE, phone(i), provider="ot", template="t", text_hash="h", segments=1,
        now=AT - timedelta(minutes=55), claimed_by="bench:1:a",
    )  # fmt: skip


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    args = arguments(__doc__ or "")
    small, big = (1_000, 20_000) if args.quick else (100_000, 10_000_000)
    audience = 500 if args.quick else AUDIENCE
    os.environ.setdefault("OT", "x")
    config = load_project(config_dir(args.work, audience), args.work / "cache")
    cluster = Cluster()
    try:
        cluster.start()
        urls = {}
        for name, rows in (("small", small), ("big", big)):
            started = time.perf_counter()
            urls[name] = cluster.url(cluster.database())
            fill(urls[name], rows, audience)
            print(
                f"filled {name}: {rows:,} rows in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
        ledgers = {name: PostgresLedger(url) for name, url in urls.items()}
        try:
            with section(f"A growing PostgreSQL ledger: {big:,} rows beside {small:,}", args):
                print(table(*measure(ledgers, config, args, (small, big), audience)))
                print()
                print(
                    "The plans of an occurrence's done keys and max_per_day's count, big ledger:\n"
                )
                print("```text\n" + explain(urls["big"]) + "\n```")
        finally:
            for ledger in ledgers.values():
                ledger.close()
    finally:
        cluster.stop()


def measure(
    ledgers: dict[str, PostgresLedger],
    config: object,
    args: argparse.Namespace,
    sizes: tuple[int, int],
    audience: int,
) -> tuple[list[str], list[list[str]]]:
    batches, runs, cache = (10 if args.quick else 200), args.runs, args.work / "cache"
    claims: dict[str, list[float]] = {name: [] for name in ledgers}
    plans = {name: Series() for name in ledgers}
    reads = {name: Series() for name in ledgers}
    counter = iter(range(10**9))

    def claim(name: str) -> None:
        batch = [SendRecord.claim("target", OCCURRENCE, f"+4475{next(counter):08d}", provider="ot",
                                  template="t", text_hash="h", segments=1, now=AT,
                                  claimed_by="bench:1:a") for _ in range(BATCH)]  # fmt: skip
        started = time.perf_counter()
        won = ledgers[name].claim(batch)
        claims[name].append((time.perf_counter() - started) * 1000)
        assert len(won) == BATCH

    def plan(name: str) -> None:
        started = time.perf_counter()
        options = PlanOptions(cache_dir=cache)  # numbers normalised once, as on any re-plan
        made = make_plan(config, ledgers[name], AT, lambda r: False, options)  # type: ignore[arg-type]
        plans[name].add(time.perf_counter() - started)
        assert made.schedules[0].occurrences == [OCCURRENCE]

    def read(name: str) -> None:
        ledger = ledgers[name]
        started = time.perf_counter()
        known = ledger.known("target", OCCURRENCE)
        ledger.claimed_since("target", AT - timedelta(days=1))
        ledger.newest_occurrence("target", "once")
        reads[name].add(time.perf_counter() - started)
        assert len(known.done) >= audience * 9 // 10

    for name in ledgers:  # warm each once, untimed
        plan(name)
        plans[name].values.clear()
    for _ in range(runs):
        for name in ledgers:
            plan(name)
            read(name)
    for _ in range(batches):
        for name in ledgers:
            claim(name)
    headers = ["figure", f"{sizes[0]:,} rows", f"{sizes[1]:,} rows", "big / small"]
    rows: list[list[str]] = []
    for label, share in (("claim of 500, p50 (ms)", 0.5), ("claim of 500, p99 (ms)", 0.99)):
        small, big = (percentile(claims[n], share) for n in ledgers)
        rows.append([label, f"{small:.1f}", f"{big:.1f}", f"{big / small:.2f}×"])
    for label, series in (
        ("re-plan, make_plan (s)", plans),
        ("its ledger reads (s)", reads),
    ):
        small_s, big_s = series.values()
        rows.append(
            [label, small_s.show(3), big_s.show(3), f"{big_s.median / small_s.median:.2f}×"]
        )
    return headers, rows


def explain(url: str) -> str:
    """The plans of a re-plan's two ledger queries that could grow: the smsops queries as sent."""
    from smsops.ledger import postgres_reads

    since = AT - timedelta(days=1)
    queries = [
        (postgres_reads._KNOWN_DONE, {"s": "target", "o": OCCURRENCE, "st": ["sent"]}),
        (postgres_reads._CLAIMED_SINCE, ("target", since, ["sent", "pending"])),
    ]
    shown = []
    with psycopg.connect(url) as conn:
        for query, values in queries:
            rows = conn.execute(("EXPLAIN (COSTS OFF) " + query).encode(), values)
            shown.append("\n".join(line for (line,) in rows))
    return "\n\n".join(shown)


if __name__ == "__main__":
    main()

"""Units of work on the PostgreSQL ledger (ledger/postgres_units.py): taken once under
contention, a fair share each, free again when the holder's lease lapses, passed ones
left alone; a single-writer ledger takes every occurrence whole."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from smsops.engine.owner import gone_runs
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.postgres import PostgresLedger
from tests.leases import short_lease_env, wait_for_lapsed_leases

SHARDS = 64
TAKERS = 6
# Each taker: a replica's run ("smsops run"), taking until nothing is free, never letting go.
TAKER = """
import json, sys
from datetime import UTC, datetime, timedelta
from smsops.ledger.postgres import PostgresLedger
ledger = PostgresLedger(sys.argv[1], command="smsops run")
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()  # every taker starts at once
since = datetime.now(UTC) + timedelta(seconds=1)
mine = []
while True:
    taken = ledger.take_units("s", "o", int(sys.argv[2]), now=datetime.now(UTC), since=since, gone=())
    if set(taken.shards) <= set(mine):  # (a holder may take its own again: nothing new)
        break
    mine += [shard for shard in taken.shards if shard not in mine]
print(json.dumps(mine), flush=True)
if len(sys.argv) > 3:
    sys.stdin.readline()  # hold the units (and the lease) until told
"""


def takers(url: str, count: int, *extra: str) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [sys.executable, "-c", TAKER, url, str(SHARDS), *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=short_lease_env(),
        )
        for _ in range(count)
    ]


def started(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()


def shards_of(process: subprocess.Popen[str]) -> list[int]:
    assert process.stdout is not None
    return list(json.loads(process.stdout.readline()))


def ended(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


def test_units_are_taken_exactly_once_under_contention(postgres_db: str) -> None:
    processes = takers(postgres_db, TAKERS)
    try:
        started(processes)
        taken = [shards_of(process) for process in processes]
    finally:
        ended(processes)
    every = [shard for shards in taken for shard in shards]
    assert sorted(every) == list(range(SHARDS))  # all of them, none twice
    # a fair share each at a time (ceil(64 / live replicas)): nobody took them all at once
    assert max(len(shards) for shards in taken) < SHARDS


def test_a_dead_holders_units_are_taken_when_its_lease_lapses(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSOPS_LEASE", "1")  # this process judges with a short grace too
    (holder,) = takers(postgres_db, 1, "hold")
    survivor = PostgresLedger(postgres_db)
    try:
        started([holder])
        assert sorted(shards_of(holder)) == list(range(SHARDS))
        since = datetime.now(UTC)

        def take() -> list[int]:
            now = datetime.now(UTC)
            gone = gone_runs(survivor.leases(), now)
            return survivor.take_units("s", "o", SHARDS, now=now, since=since, gone=gone).shards

        assert take() == []  # held by a live run
        holder.kill()  # kill -9: no release
        holder.wait()
        wait_for_lapsed_leases(postgres_db, pid=holder.pid)
        assert sorted(take()) == list(range(SHARDS))  # alone now: every unit at once
    finally:
        ended([holder])
        survivor.close()


def test_a_passed_unit_is_left_alone_until_a_later_round(postgres_db: str) -> None:
    ledger = PostgresLedger(postgres_db)
    try:
        start = datetime.now(UTC)
        taken = ledger.take_units("s", "o", 4, now=start, since=start, gone=())
        assert taken.count == 4
        assert sorted(taken.shards) == [0, 1, 2, 3]
        ledger.release_units("s", "o", [0, 1], passed=start + timedelta(seconds=1))
        ledger.release_units("s", "o", [2, 3], passed=None)  # failed: free to try again
        again = ledger.take_units("s", "o", 4, now=start, since=start, gone=())
        assert sorted(again.shards) == [2, 3]
        later = start + timedelta(seconds=2)
        ledger.release_units("s", "o", [2, 3], passed=later)
        assert ledger.take_units("s", "o", 4, now=later, since=start, gone=()).shards == []
        # a round that starts after the passes takes them all again; the count stays the first
        after = ledger.take_units(
            "s", "o", 9, now=later, since=later + timedelta(seconds=1), gone=()
        )
        assert after.count == 4
        assert sorted(after.shards) == [0, 1, 2, 3]
        # a holder's own units are free to it (a batch that could not let go), but not the
        # ones it works on now (`busy`); its fair share counts those
        round_ = later + timedelta(seconds=1)
        mine = ledger.take_units("s", "o", 4, now=later, since=round_, gone=(), busy=[0, 1])
        assert sorted(mine.shards) == [2, 3]
        assert (
            ledger.take_units(
                "s", "o", 4, now=later, since=round_, gone=(), busy=[0, 1, 2, 3]
            ).shards
            == []
        )
        ledger.forget_units("s", ["another"])  # no longer due: gone from the table
        fresh = ledger.take_units("s", "o", 2, now=later, since=later, gone=())
        assert fresh.count == 2
    finally:
        ledger.close()


def test_a_single_writer_takes_every_occurrence_whole() -> None:
    ledger = MemoryLedger()
    now = datetime.now(UTC)
    assert not ledger.shares_units
    taken = ledger.take_units("s", "o", 8, now=now, since=now, gone=())
    assert (taken.count, taken.shards) == (1, [0])

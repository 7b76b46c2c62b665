"""Scale out: K `smsops run` replicas on one PostgreSQL ledger, each capped at a quarter core.

Issue 24. Each replica runs in a cgroup v1 CPU group of its own
(`cpu.cfs_quota_us` 25,000 of `cpu.cfs_period_us` 100,000: a quarter of a
core), so the machine keeps headroom for PostgreSQL and the sandbox, which
run uncapped in processes of their own (the sandbox at 20 ms latency). Where
no cgroup v1 CPU controller is writable the throughput part says so and is
skipped.

- throughput: two workloads, six schedules of 2,000 recipients and one of
  12,000; K = 1, 2, 3 interleaved, each run on a fresh database. The
  schedules are enabled by a config change once every replica is up (they
  poll every 0.2 s), as replicas meet a fire time together; the figure is
  from that change until the sandbox holds every message, as messages a
  second, and its ratio to K = 1 of the same run. Every message exactly once
  (the sandbox's messages by recipient and text), and each replica's share
  (the ledger's rows by the run that claimed them). Beside it, each run's CPU
  (bench/cpu_sample.py): the cores the sandbox, PostgreSQL, this harness and
  each replica used, their time waiting for a CPU, and the replicas' cgroup
  throttling; the harness polls the sandbox's count alone
  (`/_sandbox/messages/count`), not its whole record.
- kill: three replicas (a 5 s lease) on the 12,000 schedule at 100 ms; once
  20% is sent, a replica that holds units is killed with SIGKILL. Figures:
  from the end of its lease until a survivor holds its units, until the last
  row of its units (the shards it held, by the rows' update times) is
  settled, apart from the survivors' own shards, and until every row is seen
  settled; duplicates.
- plan: one occurrence of 1,000,000 recipients (warm number cache, an empty
  ledger), planned whole by one process and as 3 replicas' shares (64 shards,
  each process planning every third) at once, uncapped: the wall time until
  the last is done.
- takes: the time to take 1,000 units one at a time from 3 connections at
  once, `FOR UPDATE SKIP LOCKED` (what smsops does) against
  `pg_try_advisory_lock` on the same rows.

    .venv/bin/python bench/scale_out.py           # full: 2 runs of each
    .venv/bin/python bench/scale_out.py --quick   # the kill (600) and the takes only
    .venv/bin/python bench/scale_out.py --parts plan,takes   # some parts only
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.postgres

import psycopg
from common import (
    PYTHON,
    SandboxProcess,
    Series,
    arguments,
    free_port,
    interleaved,
    schedules_config,
    section,
    stop_processes,
    table,
    wait,
    write_audience,
)
from cpu_sample import CpuSampler, children, group_pids, throttling

from tests.leases import lease_end
from tests.postgres import Cluster

CGROUP = Path("/sys/fs/cgroup/cpu")
QUOTA, PERIOD = 25_000, 100_000  # a quarter of a core
IN_FLIGHT = 16
GOAL_RATIO = 2.4
GOAL_TAKEOVER = 10.0
KILL_SHARDS = 6
PARTS = ("throughput", "kill", "plan", "takes")


# --- replicas in CPU groups ----------------------------------------------------------


def cgroups_writable() -> str | None:
    """None when cgroup v1 CPU groups can be made here; else why not."""
    if not (CGROUP / "cpu.cfs_quota_us").exists():
        return f"{CGROUP} is no cgroup v1 CPU controller"
    probe = CGROUP / f"smsops-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        return f"{CGROUP} is not writable here ({exc.strerror})"
    return None


class Replica:
    def __init__(self, config: Path, url: str, env: dict[str, str], capped: bool) -> None:
        self.port = free_port()
        self.group: Path | None = None
        self.process = subprocess.Popen(
            [PYTHON, "-m", "smsops", "run", str(config), "--ledger", url,
             "--listen", f"127.0.0.1:{self.port}", "--reload-interval", "0.2"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if capped:  # before it has imported much: its workers are forked inside the group
            self.group = cap(self.process.pid)

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                return True
        except OSError:
            return False

    def stop(self, kill: bool = False) -> None:
        stop_processes([self.process], timeout=60, kill=kill)
        if self.group is not None:
            uncap(self.group)
            self.group = None


def cap(pid: int) -> Path:
    """A CPU group of its own for process `pid`, at a quarter of a core."""
    group = CGROUP / f"smsops-bench-{pid}"
    group.mkdir()
    (group / "cpu.cfs_period_us").write_text(str(PERIOD))
    (group / "cpu.cfs_quota_us").write_text(str(QUOTA))
    (group / "cgroup.procs").write_text(str(pid))
    return group


def uncap(group: Path) -> None:
    """Remove the group (empty once its processes are reaped)."""
    for _ in range(50):
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(0.1)


@contextmanager
def replicas(
    count: int, config: Path, url: str, env: dict[str, str], capped: bool
) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    try:
        for _ in range(count):
            started.append(Replica(config, url, env, capped))
        wait(lambda: all(r.answers() for r in started), 180, "every replica to answer")
        yield started
    finally:
        for replica in started:
            replica.stop()


# --- workloads -----------------------------------------------------------------------


def write_config(
    root: Path, base_url: str, audience: Path, schedules: int, on: bool, shards: int = 0
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    inside = root / "audience.csv"
    if not inside.exists():
        inside.write_bytes(audience.read_bytes())
    enabled = "true" if on else "false"
    given = f", shards: {shards}" if shards else ""  # default: one per 2,000 rows
    return schedules_config(
        root,
        base_url,
        schedules,
        provider=f", max_in_flight: {IN_FLIGHT}",
        schedule=f", enabled: {enabled}{given}",
    )


def claimed_by(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT claimed_by, count(*) FROM sends GROUP BY claimed_by")
        return {str(run): int(n) for run, n in found}


class Workload:
    def __init__(self, name: str, schedules: int, people: int, work: Path) -> None:
        self.name, self.schedules, self.people = name, schedules, people
        self.total = schedules * people
        self.audience = write_audience(work / f"audience-{people}.csv", people)
        self.root = work / f"scale-out-{schedules}x{people}"
        self.rates: dict[int, Series] = {}
        self.duplicates = Counter[int]()
        self.shares: dict[int, list[str]] = {}
        self.cpu: list[list[str]] = []  # --cpu: one row per run


def postgres_pids(cluster: Cluster) -> list[int]:
    """The postmaster and its children (the backends, the writers)."""
    try:
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    return [postmaster, *children(postmaster)]


def sampler(running: list[Replica], cluster: Cluster, sandbox: SandboxProcess) -> CpuSampler:
    """CPU of each part of a run: the sandbox, PostgreSQL, each replica, this harness."""
    sandbox_pid, bench = sandbox.process.pid, os.getpid()
    groups: dict[str, Callable[[], list[int]]] = {
        "sandbox": lambda: [sandbox_pid, *children(sandbox_pid)],
        "postgres": lambda: postgres_pids(cluster),
        "harness": lambda: [bench],
    }
    for i, replica in enumerate(running):
        group = replica.group
        groups[f"replica {i}"] = (
            (lambda group=group: group_pids(group)) if group is not None
            else (lambda pid=replica.process.pid: [pid, *children(pid)])
        )  # fmt: skip
    return CpuSampler(groups)


def cpu_row(load: Workload, count: int, rate: float, cpu: CpuSampler,
            throttled: list[tuple[int, int, int]]) -> list[str]:  # fmt: skip
    """One run's CPU: cores used by each part, each replica's throttled periods."""
    shares, waits = cpu.shares(), cpu.waits()
    replicas_used = [shares[f"replica {i}"] for i in range(count)]
    per_message = sum(cpu.used()[f"replica {i}"] for i in range(count)) / load.total * 1e3
    return [
        f"{load.name}", str(count), f"{rate:.0f}", f"{cpu.seconds:.1f}",
        f"{shares['sandbox']:.2f}", f"{shares['postgres']:.2f}", f"{shares['harness']:.2f}",
        " / ".join(f"{u:.2f}" for u in replicas_used), f"{per_message:.2f}",
        " / ".join(f"{waits[k]:.2f}" for k in waits),
        " / ".join(f"{t}/{p} ({ns / 1e9:.1f} s)" for p, t, ns in throttled),
    ]  # fmt: skip


def throttle_counts(running: list[Replica]) -> list[tuple[int, int, int]]:
    found = []
    for replica in running:
        stat = throttling(replica.group) if replica.group is not None else {}
        found.append((stat.get("nr_periods", 0), stat.get("nr_throttled", 0),
                      stat.get("throttled_time", 0)))  # fmt: skip
    return found


def throughput(
    load: Workload, count: int, cluster: Cluster, sandbox: SandboxProcess, env: dict[str, str]
) -> None:
    sandbox.reset(latency_ms=20)
    database = cluster.database()
    url = cluster.url(database)
    base = sandbox.url + "/opentact"
    config = write_config(load.root, base, load.audience, load.schedules, on=False)
    try:
        with replicas(count, config, url, env, capped=True) as running:
            cpu = sampler(running, cluster, sandbox)
            before = throttle_counts(running)
            with cpu:
                started, wall = time.monotonic(), time.time()
                write_config(load.root, base, load.audience, load.schedules, on=True)
                while sandbox.count() < load.total:
                    if time.monotonic() - started > 900:
                        raise SystemExit("the replicas stalled")
                    if any(r.process.poll() is not None for r in running):
                        raise SystemExit("a replica died")
                    time.sleep(0.05)
                seconds = time.monotonic() - started
            after = throttle_counts(running)
            throttled = [
                (a[0] - b[0], a[1] - b[1], a[2] - b[2]) for a, b in zip(after, before, strict=True)
            ]
            load.cpu.append(cpu_row(load, count, load.total / seconds, cpu, throttled))
            times = sorted(
                datetime.fromisoformat(str(m["received_at"])).timestamp()
                for m in sandbox.messages()
            )
            load.cpu[-1][4:4] = [f"{times[0] - wall:.2f}", f"{wall + seconds - times[-1]:.2f}"]
            wait(lambda: sum(claimed_by(url).values()) == load.total, 60, "every row")
            pids = {str(r.process.pid): i for i, r in enumerate(running)}
            per = Counter[int]()
            for run, n in claimed_by(url).items():
                per[pids.get(run.split(":")[1], -1)] += n
            load.shares[count] = [f"{per[i] / load.total:.0%}" for i in range(count)]
    finally:
        cluster.drop(database)
    texts = Counter((m["recipient"], m["text"]) for m in sandbox.messages())
    load.duplicates[count] += sum(n - 1 for n in texts.values() if n > 1)
    if len(texts) != load.total:
        raise SystemExit(f"{load.total - len(texts)} messages never arrived")
    load.rates.setdefault(count, Series()).add(load.total / seconds)


# --- kill -9 of a replica holding units ----------------------------------------------


def holders(url: str) -> dict[str, list[int]]:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT holder, shard FROM units WHERE holder IS NOT NULL")
        held: dict[str, list[int]] = {}
        for holder, shard in found:
            held.setdefault(str(holder), []).append(int(shard))
        return held


def kill_scenario(
    load: Workload, cluster: Cluster, sandbox: SandboxProcess, env: dict[str, str], capped: bool
) -> list[str]:
    sandbox.reset(latency_ms=100)
    database = cluster.database()
    url = cluster.url(database)
    base = sandbox.url + "/opentact"
    config = write_config(load.root, base, load.audience, 1, on=False, shards=KILL_SHARDS)
    killed_env = {**env, "SMSOPS_LEASE": "5"}
    try:
        with replicas(3, config, url, killed_env, capped) as running:
            write_config(load.root, base, load.audience, 1, on=True, shards=KILL_SHARDS)
            wait(lambda: sandbox.count() >= load.total // 5, 300, "20% sent")
            by_pid = {str(r.process.pid): r for r in running}
            held = {
                run: shards for run, shards in holders(url).items() if run.split(":")[1] in by_pid
            }
            if not held:
                raise SystemExit("no replica holds a unit at 20%")
            run, shards = next(iter(held.items()))
            victim = by_pid[run.split(":")[1]]
            victim.stop(kill=True)
            end = lease_end(url, victim.process.pid)
            wait(
                lambda: (
                    not any(s in holders(url).get(run, []) for s in shards)
                    and any(set(shards) & set(v) for k, v in holders(url).items() if k != run)
                ),
                120,
                "a survivor to take the dead replica's units",
            )
            taken = (datetime.now(UTC) - end).total_seconds()
            sandbox.call("PUT", "/_sandbox/faults", {"latency_ms": 20})
            # Every row settled: sent, or `uncertain` (the victim's requests on the wire,
            # never sent again without a person's word).
            wait(lambda: settled(url) == load.total, 300, "every row settled")
            finished = (datetime.now(UTC) - end).total_seconds()
            statuses = status_counts(url)
            theirs, ours, left = last_settled(url, set(shards), KILL_SHARDS, end)
    finally:
        cluster.drop(database)
    texts = Counter((m["recipient"], m["text"]) for m in sandbox.messages())
    duplicates = sum(n - 1 for n in texts.values() if n > 1)
    return [
        f"{len(shards)} of {KILL_SHARDS}",
        f"{left:,}",
        f"{taken:.1f}",
        f"{(theirs - end).total_seconds():.1f}"
        + (
            ""
            if (theirs - end).total_seconds() <= GOAL_TAKEOVER and not duplicates
            else " (NOT met)"
        ),
        f"{(ours - end).total_seconds():.1f}",
        f"{finished:.1f}",
        f"{statuses.get('sent', 0):,} / {statuses.get('uncertain', 0)}",
        str(duplicates),
    ]


def last_settled(
    url: str, shards: set[int], count: int, end: datetime
) -> tuple[datetime, datetime, int]:
    """When the last row of `shards` was settled (its last update), and the last of the
    other shards': the dead replica's units apart from the survivors' own work; and how
    many rows of `shards` were settled after `end` (what the survivors did of them)."""
    from smsops.audience.shards import shard_of

    theirs = ours = datetime.min.replace(tzinfo=UTC)
    after = 0
    with psycopg.connect(url) as conn:
        for recipient, updated in conn.execute("SELECT recipient, updated_at FROM sends"):
            if shard_of(str(recipient), count) in shards:
                theirs = max(theirs, updated)
                after += updated > end
            else:
                ours = max(ours, updated)
    return theirs, ours, after


def status_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT status, count(*) FROM sends GROUP BY status")
        return {str(status): int(n) for status, n in found}


def settled(url: str) -> int:
    """Rows that are no longer pending."""
    counts = status_counts(url)
    return sum(counts.values()) - counts.get("pending", 0)


# --- plan time of a big occurrence ---------------------------------------------------

PLANNER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from smsops.audience.shards import Part
from smsops.engine.planner import PlanOptions, plan_against
from smsops.engine.project import load_project
from smsops.ledger.memory import MemoryLedger
started = time.perf_counter()
config = load_project(Path(sys.argv[1]), cache_dir=Path(sys.argv[4]))
replicas, mine = int(sys.argv[2]), int(sys.argv[3])
part = None if replicas == 1 else Part("once", 64, frozenset(range(mine, 64, replicas)))
options = PlanOptions(keep_sends=True, part=part, cache_dir=Path(sys.argv[4]))
plan = plan_against(config, MemoryLedger(), datetime.now(UTC), options)
print(len(plan.sends), time.perf_counter() - started, flush=True)
"""


def plan_time(root: Path, count: int, cache: Path, capped: bool) -> tuple[float, int]:
    """The slowest of `count` planners' time from loading the config to its plan done."""
    processes = [
        subprocess.Popen(
            [PYTHON, "-c", PLANNER, str(root), str(count), str(i), str(cache)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    groups = [cap(p.pid) for p in processes] if capped else []
    sends, slowest = 0, 0.0
    try:
        for process in processes:
            out, _ = process.communicate(timeout=3600)
            if process.returncode:
                raise SystemExit("a planner failed")
            planned, seconds = out.split()
            sends += int(planned)
            slowest = max(slowest, float(seconds))
    finally:
        for process in processes:
            process.kill()
            process.wait()
        for group in groups:
            uncap(group)
    return slowest, sends


# --- takes: SKIP LOCKED against advisory locks ---------------------------------------

SKIP_LOCKED = (
    "WITH t AS (SELECT shard FROM units WHERE schedule = 'b' AND holder IS NULL "
    "ORDER BY shard LIMIT 1 FOR UPDATE SKIP LOCKED) "
    "UPDATE units SET holder = %s FROM t WHERE units.schedule = 'b' AND units.occurrence = 'o' "
    "AND units.shard = t.shard RETURNING units.shard"
)
ADVISORY = (
    "SELECT shard FROM units WHERE schedule = 'b' AND holder IS NULL "
    "AND pg_try_advisory_lock(hashtext('b o ' || shard)) LIMIT 1"
)
ADVISORY_HOLD = (
    "UPDATE units SET holder = %s WHERE schedule = 'b' AND occurrence = 'o' AND shard = %s"
)


def takes(url: str, units: int, how: str) -> tuple[float, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM units WHERE schedule = 'b'")
        conn.execute(
            "INSERT INTO units (schedule, occurrence, shard, shards) "
            "SELECT 'b', 'o', g, %s FROM generate_series(0, %s - 1) g",
            (units, units),
        )
    got: list[int] = []
    lock = threading.Lock()

    def taker(name: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                if how == "skip locked":
                    row = conn.execute(SKIP_LOCKED, (name,)).fetchone()
                else:
                    row = conn.execute(ADVISORY).fetchone()
                    if row is not None:  # the lock taken: mark it held, as a lease would
                        conn.execute(ADVISORY_HOLD, (name, row[0]))
                if row is None:
                    break
                with lock:
                    got.append(int(row[0]))
            conn.execute("SELECT pg_advisory_unlock_all()")

    threads = [threading.Thread(target=taker, args=(f"r{i}",)) for i in range(3)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    twice = len(got) - len(set(got))
    return seconds / max(1, len(got)) * 1e6, twice


# --- main ----------------------------------------------------------------------------


def throughput_part(
    loads: list[Workload], counts: list[int], runs: int, cluster: Cluster, sandbox: SandboxProcess,
    env: dict[str, str],
) -> None:  # fmt: skip
    for load in loads:
        interleaved(
            {
                str(k): (lambda k=k, load=load: throughput(load, k, cluster, sandbox, env))
                for k in counts
            },
            runs,
        )
    rows = []
    for load in loads:
        base = load.rates[1].median
        for k in counts:
            rows.append([
                f"{load.name} ({load.schedules} x {load.people:,})", str(k),
                load.rates[k].show(0), f"{load.rates[k].median / base:.2f}×",
                " / ".join(load.shares[k]), str(load.duplicates[k]),
            ])  # fmt: skip
    print(
        f"Each replica capped at a quarter core (cgroup v1 cpu.cfs_quota_us {QUOTA}/"
        f"{PERIOD}); sandbox at 20 ms; max_in_flight {IN_FLIGHT}.\n"
    )
    headers = ["workload", "replicas", "messages/s", "vs one", "shares (last run)", "duplicates"]
    print(table(headers, rows) + "\n")
    for load in loads:
        top = max(counts)
        ratio = load.rates[top].median / load.rates[1].median
        met = ratio >= GOAL_RATIO and not any(load.duplicates.values())
        print(f"Goal, {load.name}: {top} replicas ≥ {GOAL_RATIO}× one, every message once: "
              f"{'met' if met else 'NOT met'} ({ratio:.2f}×).")  # fmt: skip
    print()
    print("CPU of each part over each run (cores: CPU seconds / wall seconds; a replica's "
          "cap is 0.25; throttled: periods throttled / periods, and the time):\n")  # fmt: skip
    headers = ["workload", "replicas", "messages/s", "seconds", "first message at (s)",
               "last message to seen (s)", "sandbox", "postgres",
               "harness", "replicas (cores)", "replica CPU ms / message",
               "waiting for a CPU (same order; a replica's throttled time counts)",
               "throttled"]  # fmt: skip
    print(table(headers, [row for load in loads for row in load.cpu]) + "\n")


def kill_part(
    load: Workload, cluster: Cluster, sandbox: SandboxProcess, env: dict[str, str]
) -> None:
    killed = kill_scenario(load, cluster, sandbox, env, capped=True)
    print(f"kill -9 of a replica holding units (3 replicas, {load.people:,} recipients in "
          f"{KILL_SHARDS} shards, 5 s lease, 100 ms):\n")  # fmt: skip
    headers = ["its units", "its rows settled after its lease end",
               "lease end → a survivor holds them (s)",
               f"lease end → its units' last row settled (s; goal {GOAL_TAKEOVER:g})",
               "lease end → the other units' last row settled (s)",
               "lease end → every row settled, seen (s)", "sent / uncertain",
               "duplicates"]  # fmt: skip
    print(table(headers, [killed]) + "\n")


def plan_part(work: Path, big: int, runs: int, capped: bool) -> None:
    root = work / f"scale-out-plan-{big}"
    audience = write_audience(work / f"audience-{big}.csv", big)
    write_config(root, "http://127.0.0.1:9", audience, 1, on=True)
    cache = work / "cache"
    plan_time(root, 1, cache, capped=False)  # warms the number cache: both measured warm
    planned = {1: Series(), 3: Series()}
    sends: dict[int, int] = {}

    def once(k: int) -> None:
        seconds, sends[k] = plan_time(root, k, cache, capped)
        planned[k].add(seconds)

    interleaved({str(k): (lambda k=k: once(k)) for k in (1, 3)}, runs)
    assert sends[1] == sends[3] == big, sends  # the shards cover the occurrence once
    how = "each a quarter core" if capped else "uncapped (no writable cgroup)"
    print(f"Plan of one {big:,}-recipient occurrence (warm number cache, {how}; 3 replicas: "
          "64 shards, each planning every third at once):\n")  # fmt: skip
    rows = [
        [str(k), planned[k].show(2), f"{planned[1].median / planned[k].median:.2f}×"]
        for k in (1, 3)
    ]
    print(table(["replicas", "seconds (the slowest replica)", "speed-up"], rows) + "\n")


def takes_part(cluster: Cluster, units: int) -> None:
    from smsops.ledger.postgres import PostgresLedger

    database = cluster.database()
    url = cluster.url(database)
    try:
        PostgresLedger(url).close()  # the schema
        measured = {how: takes(url, units, how) for how in ("skip locked", "advisory")}
    finally:
        cluster.drop(database)
    print(f"Taking {units:,} units one at a time from 3 connections:\n")
    rows = [[how, f"{us:.0f}", str(twice)] for how, (us, twice) in measured.items()]
    print(table(["how", "µs per unit taken", "taken twice"], rows))


def main() -> None:
    args = arguments(
        __doc__ or "",
        runs=2,
        more=lambda parser: parser.add_argument(
            "--parts",
            default=",".join(PARTS),
            help=f"which parts, comma-separated (default: {','.join(PARTS)})",
        ),
    )
    parts, quick, work = set(args.parts.split(",")), args.quick, args.work
    env = {**os.environ, "OT": "bench-token", "SMSOPS_CACHE_DIR": str(work / "cache")}
    loads = [
        Workload("six schedules", 6, 100 if quick else 2_000, work),
        Workload("one schedule", 1, 600 if quick else 12_000, work),
    ]
    if quick and args.parts == ",".join(PARTS):  # the smoke run (scripts/test.sh): a kill, takes
        parts = {"kill", "takes"}
    why_not = cgroups_writable()
    cluster = Cluster()
    try:
        cluster.start()
        with SandboxProcess() as sandbox, section("Scale out: units of work", args):
            print(f"Load before: `{os.popen('uptime').read().strip()}`\n")
            if why_not is not None and parts & {"throughput", "kill"}:
                print(f"Throughput and kill skipped: {why_not}.\n")
            elif why_not is None:
                if "throughput" in parts:
                    counts = [1, 3] if quick else [1, 2, 3]
                    measured = loads[:1] if quick else loads
                    throughput_part(measured, counts, args.runs, cluster, sandbox, env)
                if "kill" in parts:
                    kill_part(loads[1], cluster, sandbox, env)
            if "plan" in parts:
                plan_part(work, 10_000 if quick else 1_000_000, args.runs, why_not is None)
            if "takes" in parts:
                takes_part(cluster, 200 if quick else 1_000)
            print(f"\nLoad after: `{os.popen('uptime').read().strip()}`")
    finally:
        cluster.stop()
    failed = [
        f"{load.name}: {k} replicas sent {load.duplicates[k]} duplicates"
        for load in loads for k in load.duplicates if load.duplicates[k]
    ]  # fmt: skip
    if failed:
        raise SystemExit("; ".join(failed))


if __name__ == "__main__":
    main()

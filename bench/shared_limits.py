"""A provider's rate_limit shared by replicas on one PostgreSQL ledger (issue 24).

Two parts, each against the sandbox in its own process, which stamps every
request as it arrives (the provider's sliding second is judged from those
stamps), and a throwaway PostgreSQL server (tests/postgres.py).

Designs: three sender processes (bench/shared_limits_worker.py) send to one
provider limited to 50/s for SECONDS under one pacing design each run,
interleaved: `window` (kept: the ledger's slot schedule and shared sliding
second), `slots` (the slot schedule alone), `shares` (each live run paces
itself at an equal part of the rate, recounted as leases renew; SMSOPS_LEASE
3 s here). Scenarios: all three start together (`steady`); the third starts
a third of the way in and sends at once (`join`); the first is killed (SIGKILL) a third of the
way in (`kill`: seconds from the kill until a one-second window at the
provider holds 90% of the limit again). The baseline is one process alone
with the local pacer, same run.

Fast: one process at 500/s, the shared window against the local pacer (what
asking the ledger costs at a high rate).

Replicas: `smsops run` on one PostgreSQL ledger, three schedules of N
recipients on the provider at 50/s, one replica (baseline) then three.

    .venv/bin/python bench/shared_limits.py           # 8 s per design run, N = 150, 3 runs
    .venv/bin/python bench/shared_limits.py --quick   # 4 s, N = 40, one run
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.postgres

from common import (
    PYTHON,
    SandboxProcess,
    Series,
    arguments,
    free_port,
    interleaved,
    schedules_config,
    section,
    table,
)

from smsops.sandbox.state import busiest_second
from tests.postgres import Cluster

LIMIT = 50
FAST = 500  # one process alone: the cost of asking the ledger at a high rate
WORKER = Path(__file__).resolve().parent / "shared_limits_worker.py"
DESIGNS = ("window", "slots", "shares")
SCENARIOS = ("steady", "join", "kill")


def provider_config(
    root: Path, base_url: str, schedules: int = 0, people: int = 0, rate: int = LIMIT
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if schedules:
        rows = "\n".join(f"+4474{i:08d},P{i}" for i in range(people))
        (root / "audience.csv").write_text("phone,name\n" + rows + "\n")
    return schedules_config(
        root, base_url, schedules, provider=f", rate_limit: {rate}/s, max_in_flight: 16"
    )


def stamps(sandbox: SandboxProcess) -> list[float]:
    return sorted(
        datetime.fromisoformat(str(m["received_at"])).timestamp() for m in sandbox.messages()
    )


def rate_of(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


def recovery(times: list[float], killed: float) -> float:
    """Seconds from `killed` until a window [t - 1 s, t] at the provider holds 90% of LIMIT."""
    start = 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        if at - 1.0 >= killed and end - start + 1 >= 0.9 * LIMIT:
            return at - killed
    return float("inf")


def worker(design: str, url: str, root: Path, seconds: float, first: int) -> subprocess.Popen[str]:
    env = {**os.environ, "OT": "bench-token", "SMSOPS_LEASE": "3"}
    command = [PYTHON, str(WORKER), design, url, str(root), str(seconds), str(first)]
    return subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def ready(process: subprocess.Popen[str]) -> None:
    """Until `process` has registered its run and waits to be told when to begin."""
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise SystemExit(f"a sender failed:\n{process.communicate()[1][-2000:]}")


def begin(process: subprocess.Popen[str], at: float) -> None:
    assert process.stdin is not None
    process.stdin.write(f"{at}\n")
    process.stdin.flush()


def finish(process: subprocess.Popen[str]) -> None:
    _, errors = process.communicate(timeout=120)
    if process.returncode not in (0, -signal.SIGKILL):
        raise SystemExit(f"a sender failed ({process.returncode}):\n{errors[-2000:]}")


def designs(args: object, cluster: Cluster, sandbox: SandboxProcess, work: Path) -> None:
    seconds = 4.0 if args.quick else 8.0  # type: ignore[attr-defined]
    root = provider_config(work / "designs", sandbox.url + "/opentact")
    busiest: dict[tuple[str, str], Series] = {}
    rates: dict[tuple[str, str], Series] = {}
    back: dict[str, Series] = {design: Series() for design in DESIGNS}
    alone = Series()

    def run(design: str, scenario: str) -> None:
        sandbox.reset()
        database = cluster.database()
        url = cluster.url(database)
        try:
            count = 1 if design == "alone" else 2 if scenario == "join" else 3
            processes = [worker(design, url, root, seconds, i * 10**6) for i in range(count)]
            for process in processes:
                ready(process)
            start_at = time.time() + 1.0  # a lease's renewal: every run counts the others
            late = start_at + seconds / 3
            for process in processes:
                begin(process, start_at)
            if scenario == "join":  # a replica that starts now registers and sends at once
                time.sleep(max(0.0, late - time.time()))
                processes.append(worker(design, url, root, seconds, 2 * 10**6))
                ready(processes[-1])
                begin(processes[-1], time.time())
            killed = 0.0
            if scenario == "kill":
                time.sleep(max(0.0, late - time.time()))
                processes[0].send_signal(signal.SIGKILL)
                killed = time.time()
            for process in processes:
                finish(process)
        finally:
            cluster.drop(database)
        times = stamps(sandbox)
        if design == "alone":
            alone.add(rate_of(times))
            return
        busiest.setdefault((design, scenario), Series()).add(busiest_second(times))
        rates.setdefault((design, scenario), Series()).add(rate_of(times))
        if scenario == "kill":
            back[design].add(recovery(times, killed))

    variants = {"alone": lambda: run("alone", "steady")}
    for scenario in SCENARIOS:
        for design in DESIGNS:
            variants[f"{design} {scenario}"] = lambda d=design, s=scenario: run(d, s)
    interleaved(variants, args.runs)  # type: ignore[attr-defined]
    print(f"Three senders, provider limit {LIMIT}/s, {seconds:g} s each run; one sender alone "
          f"with the local pacer: {alone.show(1)} messages/s (the baseline)\n")  # fmt: skip
    rows = []
    for scenario in SCENARIOS:
        for design in DESIGNS:
            worst = max(busiest[(design, scenario)].values)
            rows.append([
                design, scenario, rates[(design, scenario)].show(1),
                f"{rates[(design, scenario)].median / alone.median:.2f}×",
                busiest[(design, scenario)].show(0),
                "yes" if worst <= LIMIT else f"NO ({worst:g})",
                back[design].show(1) if scenario == "kill" else "",
            ])  # fmt: skip
    headers = ["design", "scenario", "messages/s", "vs one alone", "busiest 1 s", "held",
               "kill: s to 90% again"]  # fmt: skip
    print(table(headers, rows))


def fast(args: object, cluster: Cluster, sandbox: SandboxProcess, work: Path) -> None:
    """One process at 500/s: what asking the ledger costs against the local pacer."""
    seconds = 4.0 if args.quick else 8.0  # type: ignore[attr-defined]
    root = provider_config(work / "fast", sandbox.url + "/opentact", rate=FAST)
    rates = {"alone": Series(), "window": Series()}
    busiest = {"alone": Series(), "window": Series()}

    def run(design: str) -> None:
        sandbox.reset()
        database = cluster.database()
        try:
            process = worker(design, cluster.url(database), root, seconds, 0)
            ready(process)
            begin(process, time.time() + 0.5)
            finish(process)
        finally:
            cluster.drop(database)
        times = stamps(sandbox)
        rates[design].add(rate_of(times))
        busiest[design].add(busiest_second(times))

    interleaved({design: lambda d=design: run(d) for design in rates}, args.runs)  # type: ignore[attr-defined]
    print(f"\nOne process, limit {FAST}/s, {seconds:g} s each run\n")
    rows = [
        [label, rates[d].show(1), f"{rates[d].median / rates['alone'].median:.2f}×",
         busiest[d].show(0)]
        for d, label in (("alone", "local pacer (baseline)"), ("window", "shared window"))
    ]  # fmt: skip
    print(table(["pace", "messages/s", "vs local", "busiest 1 s"], rows))


def replicas(args: object, cluster: Cluster, sandbox: SandboxProcess, work: Path) -> None:
    people = 40 if args.quick else 150  # type: ignore[attr-defined]
    root = provider_config(work / "replicas", sandbox.url + "/opentact", 3, people)
    env = {**os.environ, "OT": "bench-token", "SMSOPS_CACHE_DIR": str(work / "cache")}
    busiest = {1: Series(), 3: Series()}
    rates = {1: Series(), 3: Series()}
    duplicates = Counter[int]()

    def run(count: int) -> None:
        sandbox.reset()
        database = cluster.database()
        command = [PYTHON, "-m", "smsops", "run", str(root), "--ledger", cluster.url(database)]
        processes = [
            subprocess.Popen([*command, "--listen", f"127.0.0.1:{free_port()}"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(count)
        ]  # fmt: skip
        try:
            started = time.monotonic()
            while sandbox.count() < 3 * people:
                assert time.monotonic() - started < 300, "the replicas stalled"
                time.sleep(0.1)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=60)
            cluster.drop(database)
        texts = Counter((m["recipient"], m["text"]) for m in sandbox.messages())
        duplicates[count] += sum(n - 1 for n in texts.values() if n > 1)
        times = stamps(sandbox)
        busiest[count].add(busiest_second(times))
        rates[count].add(rate_of(times))

    interleaved({"one": lambda: run(1), "three": lambda: run(3)}, args.runs)  # type: ignore[attr-defined]
    print(f"\n`smsops run` replicas, 3 schedules x {people} recipients, limit {LIMIT}/s\n")
    rows = [
        [f"{k}", rates[k].show(1), f"{rates[k].median / rates[1].median:.2f}×",
         busiest[k].show(0), "yes" if max(busiest[k].values) <= LIMIT else "NO",
         f"{duplicates[k]}"]
        for k in (1, 3)
    ]  # fmt: skip
    headers = ["replicas", "messages/s", "vs one", "busiest 1 s", "held", "duplicates"]
    print(table(headers, rows))


def main() -> None:
    args = arguments(__doc__ or "")
    cluster = Cluster()
    try:
        cluster.start()
        with SandboxProcess() as sandbox, section("Shared provider limits", args):
            designs(args, cluster, sandbox, args.work)
            fast(args, cluster, sandbox, args.work)
            replicas(args, cluster, sandbox, args.work)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()

"""Soak: `smsops run` for minutes under load, config edits and provider faults (issue 14).

N schedules (`every: 60s`, `window: 60s`) of R recipients each (CSV audiences)
on the sandbox (its own process); `smsops run` a subprocess on a SQLite
ledger with JSON logs. While it runs: a valid config edit every 10 s (a
template text, a contact added to a CSV), an invalid one every 2 minutes
(a schedule naming a missing template, a CSV without its phone column),
reverted once the daemon reports it (or after 60 s); from 20% to 90% of
the run the sandbox answers slowly and badly (50 ms latency, every 7th
request 503 with Retry-After: 1, every 11th connection dropped after the
message was recorded). `/metrics` is read every 0.25 s, the daemon's RSS,
FDs and threads every second. At the end: SIGTERM, then the ledger and the
sandbox's recorded messages are read. The figures and the issue's goals
(PASS/FAIL) are printed as a table and written as JSON; `--quick` (a smoke
run of ~17 s, two small schedules every 10 s) fails only on duplicates, a
daemon that died or nothing sent; the full run fails on any missed goal.

    .venv/bin/python bench/soak.py                    # 6 x 2,000 every minute, 5 minutes
    .venv/bin/python bench/soak.py --minutes 20       # the issue's length
    .venv/bin/python bench/soak.py --quick            # the suite's smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, SandboxProcess, arguments, free_port, machine, remove_ledger
from soak_figures import Edit, Run, Sample, Usage, figures, print_report
from soak_scenario import Plan, Scenario

FAULTS = {"latency_ms": 50, "status_every": 7, "status": 503, "retry_after": 1, "drop_every": 11}
NO_FAULTS = {"latency_ms": 0, "status_every": 0, "drop_every": 0}
QUIET_TAIL = 8.0  # no edit in the last seconds: each has time to be applied before SIGTERM


def plan_for(args: argparse.Namespace) -> Plan:
    duration = args.minutes * 60
    faults = {"fault_start": 0.2 * duration, "fault_end": 0.9 * duration}
    if args.quick:
        return Plan(
            duration, every=10, edit_every=3, invalid_every=8, report_timeout=4, warmup=5, **faults
        )
    return Plan(
        duration,
        every=60,
        edit_every=10,
        invalid_every=120,
        report_timeout=60,
        warmup=min(60, 0.2 * duration),
        **faults,
    )


def more_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=None, help="length (default 5)")
    parser.add_argument("--schedules", type=int, default=None, help="N schedules (default 6)")
    parser.add_argument("--recipients", type=int, default=None, help="R each (default 2000)")
    parser.add_argument("--max-in-flight", type=int, default=16, help="the provider's cap")


class Daemon:
    """`smsops run` in its own process, JSON logs to a file, /metrics on a free port."""

    def __init__(self, config: Path, ledger: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "OT": "jwt", "SMSOPS_LOG_FORMAT": "json"}
        command = [PYTHON, "-m", "smsops", "run", str(config), "--ledger", str(ledger)]
        command += ["--listen", f"127.0.0.1:{self.port}", "--reload-interval", "2"]
        with log.open("wb") as stderr:
            self.process = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.get("/healthz")
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.kill()
                    raise RuntimeError(f"smsops run did not start; see {log}") from None
                time.sleep(0.1)

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return str(response.read().decode())

    def terminate(self) -> tuple[int | None, float]:
        """SIGTERM; its exit code and seconds to exit (None: still running after 60 s)."""
        started = time.perf_counter()
        self.process.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.process.wait(timeout=60)
        except psutil.TimeoutExpired:
            code = None
        return code, time.perf_counter() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class Probe:
    """Reads /metrics every 0.25 s and the process every second, in a thread."""

    daemon: Daemon
    samples: list[Sample] = field(default_factory=list)
    usage: list[Usage] = field(default_factory=list)
    errors: int = 0  # /metrics reads that failed or timed out
    load: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Probe:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()

    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def _run(self) -> None:
        next_usage = next_load = 0.0
        while not self._stop.wait(0.25):
            now = time.time()
            if now >= next_load:  # the machine is shared: its load goes with the figures
                next_load = now + 60
                self.load.append(round(os.getloadavg()[0], 2))
            try:
                self.samples.append(parse_metrics(now, self.daemon.get("/metrics")))
            except OSError:
                self.errors += 1
            if now >= next_usage:
                next_usage = now + 1
                try:
                    p = self.daemon.process
                    self.usage.append(Usage(now, p.memory_info().rss, p.num_fds(), p.num_threads()))
                except psutil.Error:
                    pass


def parse_metrics(when: float, text: str) -> Sample:
    values: dict[str, float] = {}
    skipped: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "smsops_plan_skipped":
                schedule = s.labels["schedule"]
                skipped[schedule] = skipped.get(schedule, 0) + s.value
            elif not s.labels:
                values[s.name] = s.value
    return Sample(
        when,
        int(values.get("smsops_config_generation", 0)),
        int(values.get("smsops_config_reload_failures_total", 0)),
        values.get("smsops_in_flight", 0),
        skipped,
    )


def soak(args: argparse.Namespace, plan: Plan, sandbox: SandboxProcess) -> Run:
    work = args.work / "soak"
    ledger = work / "ledger.sqlite"
    work.mkdir(parents=True, exist_ok=True)
    remove_ledger(ledger)
    scenario = Scenario(
        work / "config",
        sandbox.url + "/opentact",
        schedules=args.schedules,
        recipients=args.recipients,
        every=plan.every,
        max_in_flight=args.max_in_flight,
    )
    daemon = Daemon(scenario.root, ledger, work / "run.log")
    probe = None
    try:
        probe = Probe(daemon).start()
        run = Run(scenario, plan, args.max_in_flight, started=time.time())
        timeline(run, sandbox, probe, daemon)
        run.stopped = time.time()
        run.exit_code, run.exit_seconds = daemon.terminate()
        probe.stop()
        run.samples, run.usage, run.probe_errors = probe.samples, probe.usage, probe.errors
        run.load = [*probe.load, round(os.getloadavg()[0], 2)]
    finally:
        if probe is not None:
            probe.stop()
        daemon.kill()
    run.ledger, run.log = ledger, daemon.log
    return run


def timeline(run: Run, sandbox: SandboxProcess, probe: Probe, daemon: Daemon) -> None:
    """Edits and fault phases until the end; returns at the moment to send SIGTERM.

    A valid edit every `edit_every` s; an invalid one every `invalid_every` s,
    left on disk until the daemon counts a refusal (or `report_timeout`), then
    reverted (the revert is a valid edit too); no valid edit meanwhile, as it
    would be refused with the invalid one.
    """
    plan, scenario, t0 = run.plan, run.scenario, run.started
    last_edit = t0 + plan.duration - QUIET_TAIL
    next_valid, next_invalid = t0 + plan.edit_every, t0 + plan.invalid_every / 2
    valid_made = invalid_made = 0
    faults_on = faults_off = False
    invalid: Edit | None = None  # on disk, waiting to be reported
    while (now := time.time()) < t0 + plan.duration:
        if daemon.process.poll() is not None:
            raise RuntimeError(f"smsops run exited {daemon.process.returncode}; see {daemon.log}")
        if not faults_on and now >= t0 + plan.fault_start:
            sandbox.call("PUT", "/_sandbox/faults", FAULTS)
            faults_on = True
        if not faults_off and now >= t0 + plan.fault_end:
            sandbox.call("PUT", "/_sandbox/faults", NO_FAULTS)
            faults_off = True
        seen = probe.latest()
        if invalid is not None:
            if seen is not None and seen.failures > invalid.failures_before:
                invalid.detected = seen.time
            if invalid.detected or now >= invalid.time + plan.report_timeout:
                scenario.revert(invalid_made - 1)
                run.edits.append(edit(probe, "revert: " + invalid.kind, valid=True))
                invalid = None
                next_valid = max(next_valid, time.time() + plan.edit_every)
        elif next_invalid <= now < last_edit:
            invalid = edit(probe, scenario.invalid_edit(invalid_made), valid=False)
            run.edits.append(invalid)
            invalid_made += 1
            next_invalid += plan.invalid_every
        elif next_valid <= now < last_edit:
            run.edits.append(edit(probe, scenario.valid_edit(valid_made), valid=True))
            valid_made += 1
            next_valid += plan.edit_every
        time.sleep(0.05)
    if invalid is not None:  # not reported before the end: leave a valid config behind
        scenario.revert(invalid_made - 1)


def edit(probe: Probe, kind: str, *, valid: bool) -> Edit:
    """An edit just written, with the generation and refusals the daemon showed before it."""
    seen = probe.latest()
    generation = seen.generation if seen else 1
    failures = seen.failures if seen else 0
    return Edit(time.time(), kind, valid, generation, failures)


def main() -> None:
    args = arguments(__doc__ or "", runs=1, more=more_options)
    defaults = (0.25, 2, 100) if args.quick else (5.0, 6, 2000)
    args.minutes = args.minutes or defaults[0]
    args.schedules = args.schedules or defaults[1]
    args.recipients = args.recipients or defaults[2]
    plan = plan_for(args)
    print("## Soak\n")
    print(f"Machine: {machine()}; quick: {args.quick}")
    print(
        f"{args.schedules} schedules every {plan.every} s (window {plan.every} s) x "
        f"{args.recipients} recipients, {args.minutes:g} min, max_in_flight "
        f"{args.max_in_flight}; faults {plan.fault_start:.0f}-{plan.fault_end:.0f} s: {FAULTS}\n",
        flush=True,
    )
    with SandboxProcess() as sandbox:
        run = soak(args, plan, sandbox)
        run.messages = sandbox.messages()
    result = figures(run)
    out = args.work / "soak" / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print_report(result)
    print(f"\nJSON: {out}")
    problems = failures(result, quick=args.quick)
    if problems:
        sys.exit("soak failed: " + "; ".join(problems))


def failures(result: dict[str, Any], *, quick: bool) -> list[str]:
    """What fails the run: in --quick only what no timing explains, else every goal."""
    return [
        f"{name}: {goal['value']}"
        for name, goal in result["goals"].items()
        if goal["met"] is False and (goal["always"] or not quick)
    ]


if __name__ == "__main__":
    main()

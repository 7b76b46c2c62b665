"""The probe port under flood while `smsops run` sends (issue 19 item 4, full size).

`smsops run` starts at RLIMIT_NOFILE 1,024 (soft and hard: the review's
machine, with no room to raise it) and sends one untriggered schedule to the
sandbox (its own process, 20 ms a request, 4 in flight). Once the first sends
are out, the port takes the review's floods at once, from this process:
1,100 idle connections (reopened as the door closes them), 200 slowloris
heads, 6 heads of 2,000,000 header fields and 6 heads with one 64 MB field.
Meanwhile /healthz is asked every 0.2 s. Reported: the daemon's peak RSS and
log size, the probes answered (and the slowest), the sends made during the
flood and whether any failed, and what the door turned away. Goals (the
issue's acceptance): RSS under 400 MB, log under 5 MB, every probe answered,
every message sent once, none failed.

Then pipelining, once the sends are done: 4 connections send requests back
to back for 10 s and never read an answer (the review's attack: 3 s of it
took 1 GB), and one connection sends 100,000 requests back to back and reads
every answer. Reported: the daemon's RSS growth over each (peak and after),
the requests sent, the unread connections the door closed, the answers read.
Goals: under 150 MB growth, /healthz ok, every read request answered.

    .venv/bin/python bench/frontdoor.py           # the sizes above, 20 s of flood
    .venv/bin/python bench/frontdoor.py --quick   # a tenth, 3 s; pipelining 3 s, 10,000 read
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.daemon

from common import SandboxProcess, arguments, remove_ledger, section, table, write_audience
from common import write_config as write_bench_config

from tests.daemon.daemon import Daemon, running, until
from tests.daemon.floods import (
    Flood,
    many_fields,
    one_huge_field,
    peak_rss_mb,
    pipelined_and_read,
    rss_mb,
)

RLIMIT = 1024


def review_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (RLIMIT, RLIMIT))


def probe(base: str) -> float | None:
    """Seconds /healthz took to answer `ok`, None when it did not within 2 s."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
            ok = json.loads(response.read())["status"] == "ok"
    except (OSError, ValueError):
        return None
    return time.monotonic() - started if ok else None


class Pipelining:
    """Pipelined requests against the running daemon: never read, then all read."""

    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.good = True

    def row(self, name: str, measured: str, goal: str, good: bool = True) -> None:
        self.rows.append([name, measured, goal])
        self.good = self.good and good


def pipelining(daemon: Daemon, quick: bool) -> Pipelining:
    pid = daemon.process.pid
    result = Pipelining()
    connections, seconds = (2, 3.0) if quick else (4, 10.0)
    before = rss_mb(pid)
    with Flood(int(daemon.base.rsplit(":", 1)[1])) as flood:
        flood.pipeline(connections)
        ends, peak = time.monotonic() + seconds, before
        while time.monotonic() < ends:
            peak = max(peak, rss_mb(pid))
            time.sleep(0.1)
        during = probe(daemon.base)
    grew, left = peak - before, rss_mb(pid) - before
    result.row(
        f"{connections} connections, {seconds:.0f} s, answers never read",
        f"{flood.pipelined:,} requests sent, {flood.unread_closed} connections closed",
        "",
    )
    result.row(
        "RSS growth (peak / after)", f"{grew:.0f} MB / {left:.0f} MB", "< 150 MB", grew < 150
    )
    result.row(
        "/healthz during", "ok" if during is not None else "NOT ok", "ok", during is not None
    )
    count = 10_000 if quick else 100_000
    before = rss_mb(pid)
    started = time.monotonic()
    answered = pipelined_and_read(int(daemon.base.rsplit(":", 1)[1]), count)
    took = time.monotonic() - started
    left = rss_mb(pid) - before
    result.row(
        f"{count:,} requests on one connection, answers read",
        f"{answered:,} answered in {took:.1f} s ({answered / took:,.0f}/s)",
        f"{count:,}",
        answered == count,
    )
    result.row("RSS growth after", f"{left:.0f} MB", "< 150 MB", left < 150)
    return result


def main() -> int:
    args = arguments(__doc__ or "")
    scale = 10 if args.quick else 1
    recipients = 2_000 // scale
    seconds = 3.0 if args.quick else 20.0
    work = args.work / "frontdoor"
    work.mkdir(parents=True, exist_ok=True)
    audience = write_audience(work / "audience.csv", recipients)
    ledger = work / "ledger.sqlite"
    remove_ledger(ledger)
    env = {**os.environ, "OT": "jwt", "SMSOPS_LOG_FORMAT": "json"}
    with SandboxProcess() as sandbox:
        sandbox.reset(latency_ms=20)
        root = write_bench_config(work / "config", sandbox.url + "/opentact", str(audience))
        yaml = root / "smsops.yaml"
        flight = "from: '+12017771234', max_in_flight: 4"
        yaml.write_text(yaml.read_text().replace("from: '+12017771234'", flight))
        with running(root, ledger, env, workdir=work, preexec_fn=review_limit, grace=60) as daemon:
            until(lambda: sandbox.count() > 0, seconds=60)
            before = sandbox.count()
            port = int(daemon.base.rsplit(":", 1)[1])
            probes: list[float | None] = []
            with Flood(port) as flood:
                flood.idle(1_100 // scale)
                flood.slowloris(200 // scale)
                flood.heads(6, lambda: many_fields(2_000_000 // scale), parallel=6)
                flood.heads(6, lambda: one_huge_field((64 << 20) // scale), parallel=6)
                ends = time.monotonic() + seconds
                while time.monotonic() < ends:
                    probes.append(probe(daemon.base))
                    time.sleep(0.2)
                during = sandbox.count() - before
                heavy = dict(flood.answers)
                reopened = flood.reopened
            until(lambda: sandbox.count() == recipients, seconds=300)
            after = probe(daemon.base)
            peak = peak_rss_mb(daemon.process.pid)
            piped = pipelining(daemon, args.quick)
        logs = daemon.stderr
        numbers = [m["recipient"] for m in sandbox.messages()]
    sent, once = len(numbers), len(set(numbers)) == len(numbers)
    statuses = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    failed = sum(int(entry.get("failed", 0)) for entry in statuses)
    turned_away = [e["message"] for e in statuses if e.get("logger") == "smsops.http"]
    answered = [p for p in probes if p is not None]
    with section("The probe port under flood — `bench/frontdoor.py`", args):
        rows = [
            ["daemon peak RSS", f"{peak:.0f} MB", "< 400 MB"],
            ["daemon log", f"{len(logs.encode()) / 1e6:.2f} MB ({len(statuses)} lines)", "< 5 MB"],
            [
                "/healthz during the flood",
                f"{len(answered)} of {len(probes)} ok, slowest {max(answered, default=0):.2f} s",
                "all",
            ],
            ["/healthz after", "ok" if after is not None else "NOT ok", "ok"],
            ["sends during the flood", f"{during} ({during / seconds:.0f}/s)", "> 0"],
            [
                "sends in all",
                f"{sent} sent{'' if once else ' (SOME TWICE)'}, {failed} failed",
                f"{recipients} once, 0 failed",
            ],
            ["idle/slowloris connections closed by the door", f"{reopened:,}", ""],
            ["oversized heads", ", ".join(f"{k}: {v}" for k, v in sorted(heavy.items())), "no 200"],
        ]
        print(table(["", "measured", "goal"], rows))
        print()
        print("The door's summaries: " + (" / ".join(turned_away) or "none"))
        print()
        print(table(["pipelining", "measured", "goal"], piped.rows))
    good = (
        peak < 400
        and len(logs.encode()) < 5_000_000
        and len(answered) == len(probes)
        and after is not None
        and during > 0
        and failed == 0
        and once
        and "200" not in heavy
        and piped.good
    )
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())

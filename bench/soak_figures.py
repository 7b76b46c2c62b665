"""The soak's figures, from what it recorded: /metrics samples, process usage, edits,
the ledger, the sandbox's accepted messages and the daemon's log; and the table.

Unaccounted sends: for every occurrence whose window closed while the daemon
ran, the numbers of the audience on disk at its fire (the last valid
version) that have no ledger row of any status, less what the planner
skipped (`smsops_plan_skipped`, 0 here: every number is valid and distinct).
Statuses are read as found, so `expired` counts once the ledger has it.
"""

from __future__ import annotations

import json
import re
import sqlite3
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import table
from soak_scenario import Plan, Scenario

EPOCH_2000 = 946_684_800  # `every` is anchored at midnight 2000-01-01 UTC
OCCURRENCE = re.compile(r"^\[(\S+) (\S+)\]")
GOAL_SECONDS = 5.0  # a reload reported within 5 s
GOAL_RSS_MB_PER_MIN = 1.0
GOAL_IN_FLIGHT = 0.75  # of the cap, while latency is the bottleneck


@dataclass
class Sample:
    """One read of /metrics."""

    time: float
    generation: int
    failures: int  # smsops_config_reload_failures_total
    in_flight: float
    skipped: dict[str, float]  # per schedule, summed over reasons


@dataclass
class Usage:
    time: float
    rss: int
    fds: int
    threads: int


@dataclass
class Edit:
    time: float
    kind: str
    valid: bool
    generation_before: int
    failures_before: int
    detected: float | None = None  # invalid edits: when the refusal was counted


@dataclass
class Run:
    scenario: Scenario
    plan: Plan
    cap: int
    started: float  # the daemon's first answer
    stopped: float = 0.0  # SIGTERM sent
    exit_code: int | None = None
    exit_seconds: float = 0.0
    edits: list[Edit] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    usage: list[Usage] = field(default_factory=list)
    probe_errors: int = 0
    ledger: Path = Path()
    log: Path = Path()
    messages: list[dict[str, Any]] = field(default_factory=list)
    load: list[float] = field(default_factory=list)  # 1-minute load average, sampled per minute


def figures(run: Run) -> dict[str, Any]:
    minutes = (run.stopped - run.started) / 60
    statuses, rows = read_ledger(run.ledger)
    occurrences = accounting(run, rows)
    due = sum(o["audience"] for o in occurrences)
    fires = len({o["occurrence"] for o in occurrences})
    closed_minutes = max(fires * run.plan.every / 60, 1e-9)
    sent_closed = sum(o["statuses"].get("sent", 0) for o in occurrences)
    unaccounted = sum(o["unaccounted"] for o in occurrences)
    expired = sum(o["statuses"].get("expired", 0) for o in occurrences)
    duplicates, unparsed = duplicate_sends(run.messages)
    valid, invalid = reload_latencies(run)
    growth = usage_growth(run)
    in_flight = in_flight_share(run)
    logs = log_lines(run.log)
    sent_per_minute = statuses.get("sent", 0) / minutes if minutes else 0.0

    def goal(value: str, target: str, met: bool | None, always: bool = False) -> dict[str, Any]:
        return {"value": value, "goal": target, "met": met, "always": always}

    goals = {
        "sends/minute vs due": goal(
            f"{sent_closed / closed_minutes:,.0f}/min sent of {due / closed_minutes:,.0f}/min "
            f"due ({sent_closed / max(due, 1):.0%}) over {fires} closed fires; "
            f"{sent_per_minute:,.0f}/min over the whole run",
            "—",
            None,
        ),
        "anything sent": goal(f"{statuses.get('sent', 0):,} sent", "> 0", sent_closed > 0, True),
        "expired": goal(f"{expired:,} in closed occurrences", "—", None),
        "unaccounted": goal(f"{unaccounted:,} of {due:,} due", "0", unaccounted == 0),
        "duplicates": goal(
            f"{duplicates} of {len(run.messages):,} accepted"
            + (f" ({unparsed} texts without an occurrence)" if unparsed else ""),
            "0",
            duplicates == 0 and unparsed == 0,
            True,
        ),
        "valid edit -> new generation": goal(
            latency_text(valid, "applied"), f"all ≤ {GOAL_SECONDS:g} s", within(valid)
        ),
        "invalid edit -> refusal": goal(
            latency_text(invalid, "reported"), f"all ≤ {GOAL_SECONDS:g} s", within(invalid)
        ),
        "RSS growth after warm-up": goal(
            f"{growth['rss_mb_per_min']:+.2f} MB/min ({growth['rss_mb_first']:.0f} → "
            f"{growth['rss_mb_last']:.0f} MB)",
            f"< {GOAL_RSS_MB_PER_MIN:g} MB/min",
            growth["rss_mb_per_min"] < GOAL_RSS_MB_PER_MIN,
        ),
        "FD growth after warm-up": goal(
            f"{growth['fds_per_min']:+.2f}/min ({growth['fds_first']} → {growth['fds_last']})",
            "—",
            None,
        ),
        "thread growth after warm-up": goal(
            f"{growth['threads_per_min']:+.2f}/min ({growth['threads_first']} → "
            f"{growth['threads_last']})",
            "—",
            None,
        ),
        "in flight while sending under faults": goal(
            f"average {in_flight['average']:.1f} of {run.cap}; "
            f"{in_flight['share_at_75']:.0%} of {in_flight['samples']} samples ≥ "
            f"{GOAL_IN_FLIGHT * run.cap:g}",
            f"average ≥ {GOAL_IN_FLIGHT:.0%} of the cap",
            in_flight["samples"] > 0 and in_flight["average"] >= GOAL_IN_FLIGHT * run.cap,
        ),
        "log lines not JSON": goal(
            f"{logs['not_json']} of {logs['lines']}", "0", logs["not_json"] == 0
        ),
        "SIGTERM": goal(
            f"exit {run.exit_code} in {run.exit_seconds:.1f} s", "exit 0", run.exit_code == 0
        ),
    }
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "minutes": round(minutes, 2),
        "schedules": len(run.scenario.names),
        "every_seconds": run.plan.every,
        "max_in_flight": run.cap,
        "goals": goals,
        "ledger_statuses": statuses,
        "occurrences": occurrences,
        "accepted_per_minute": accepted_per_minute(run),
        "edits": [
            {
                "at_s": round(e.time - run.started, 1),
                "kind": e.kind,
                "valid": e.valid,
                "latency_s": latency,
            }
            for e, latency in zip(run.edits, edit_latencies(run), strict=True)
        ],
        "usage": growth,
        "in_flight": in_flight,
        "logs": logs,
        "metrics_reads": len(run.samples),
        "metrics_reads_failed": run.probe_errors,
        "load_average": run.load,
    }


def print_report(result: dict[str, Any]) -> None:
    rows = []
    for name, g in result["goals"].items():
        met = "—" if g["met"] is None else ("PASS" if g["met"] else "**FAIL**")
        rows.append([name, g["value"], g["goal"], met])
    print(table(["figure", "result", "goal (issue 14)", "met"], rows))
    statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(result["ledger_statuses"].items()))
    print(f"\nLedger rows by status: {statuses or 'none'}")
    print(f"Accepted by the sandbox per minute: {result['accepted_per_minute']}")
    print(f"Machine load (1-minute average, each minute): {result['load_average']}")
    expired: Counter[str] = Counter()
    for o in result["occurrences"]:
        expired[o["schedule"]] += o["statuses"].get("expired", 0)
    if sum(expired.values()):
        print("Expired per schedule: " + ", ".join(f"{k} {v:,}" for k, v in expired.items()))
    late = [o for o in result["occurrences"] if o["unaccounted"]]
    for o in late:
        print(
            f"  {o['schedule']} {o['occurrence']}: {o['unaccounted']} of {o['audience']} "
            f"unaccounted (rows: {o['statuses']})"
        )


# --- the ledger and the accounting ------------------------------------------------------


def read_ledger(path: Path) -> tuple[dict[str, int], dict[tuple[str, str], dict[str, str]]]:
    """Rows by status, and (schedule, occurrence) -> recipient -> status."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = connection.execute("SELECT schedule, occurrence, recipient, status FROM sends")
        rows: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        statuses: Counter[str] = Counter()
        for schedule, occurrence, recipient, status in found:
            rows[schedule, occurrence][recipient] = status
            statuses[status] += 1
    finally:
        connection.close()
    return dict(statuses), rows


def accounting(run: Run, rows: dict[tuple[str, str], dict[str, str]]) -> list[dict[str, Any]]:
    """Every occurrence whose window closed while the daemon ran: owed, found, unaccounted."""
    every = run.plan.every
    first = (int(run.started) - EPOCH_2000) // every * every + EPOCH_2000  # open at start
    found = []
    for fire in range(first, int(run.stopped) + 1, every):
        if fire + every > run.stopped:
            break
        label = datetime.fromtimestamp(fire, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for i, name in enumerate(run.scenario.names):
            audience = run.scenario.audience_at(i, fire)
            recorded = rows.get((name, label), {})
            skipped = max(
                (s.skipped.get(name, 0) for s in run.samples if fire <= s.time < fire + every),
                default=0,
            )
            missing = len(audience - recorded.keys())
            found.append(
                {
                    "schedule": name,
                    "occurrence": label,
                    "audience": len(audience),
                    "statuses": dict(Counter(recorded.values())),
                    "skipped": int(skipped),
                    "unaccounted": max(0, missing - int(skipped)),
                }
            )
    return found


def duplicate_sends(messages: list[dict[str, Any]]) -> tuple[int, int]:
    """Accepted messages beyond the first per recipient + schedule + occurrence; and texts
    that name no occurrence (the template lost its prefix: duplicates could not be seen)."""
    seen: Counter[tuple[str, str, str]] = Counter()
    unparsed = 0
    for m in messages:
        match = OCCURRENCE.match(str(m["text"]))
        if match is None:
            unparsed += 1
            continue
        seen[str(m["recipient"]), match[1], match[2]] += 1
    return sum(n - 1 for n in seen.values() if n > 1), unparsed


def accepted_per_minute(run: Run) -> list[int]:
    """Messages the sandbox accepted in each minute of the run (the last one may be partial)."""
    per: Counter[int] = Counter()
    for m in run.messages:
        at = datetime.fromisoformat(str(m["received_at"])).timestamp()
        per[int((at - run.started) // 60)] += 1
    return [per[minute] for minute in range(max(per) + 1)] if per else []


# --- reloads --------------------------------------------------------------------------


def edit_latencies(run: Run) -> list[float | None]:
    """Seconds from each edit to its new generation (valid) or its refusal (invalid).

    A valid edit counts as applied at the first /metrics read after it that
    shows a higher generation than the last read before it.
    """
    found: list[float | None] = []
    for e in run.edits:
        if not e.valid:
            found.append(None if e.detected is None else round(e.detected - e.time, 2))
            continue
        later = (
            s.time for s in run.samples if s.time >= e.time and s.generation > e.generation_before
        )
        applied = next(later, None)
        found.append(None if applied is None else round(applied - e.time, 2))
    return found


def reload_latencies(run: Run) -> tuple[list[float | None], list[float | None]]:
    latencies = edit_latencies(run)
    valid = [s for e, s in zip(run.edits, latencies, strict=True) if e.valid]
    invalid = [s for e, s in zip(run.edits, latencies, strict=True) if not e.valid]
    return valid, invalid


def latency_text(latencies: list[float | None], verb: str) -> str:
    done = [s for s in latencies if s is not None]
    text = f"{len(done)} of {len(latencies)} {verb}"
    if done:
        text += f"; median {statistics.median(done):.1f} s, max {max(done):.1f} s"
    return text


def within(latencies: list[float | None]) -> bool | None:
    if not latencies:
        return None
    return all(s is not None and s <= GOAL_SECONDS for s in latencies)


# --- the process ------------------------------------------------------------------------


def usage_growth(run: Run) -> dict[str, float]:
    """Least-squares slopes per minute of RSS, FDs and threads after the warm-up."""
    after = [u for u in run.usage if run.started + run.plan.warmup <= u.time < run.stopped]
    result: dict[str, float] = {}
    for name, value in (
        ("rss_mb", lambda u: u.rss / 2**20),
        ("fds", lambda u: u.fds),
        ("threads", lambda u: u.threads),
    ):
        values = [value(u) for u in after]
        minutes = [(u.time - run.started) / 60 for u in after]
        slope = statistics.linear_regression(minutes, values).slope if len(after) > 2 else 0.0
        result[f"{name}_per_min"] = round(slope, 3)
        result[f"{name}_first"] = round(values[0], 1) if values else 0
        result[f"{name}_last"] = round(values[-1], 1) if values else 0
    return result


def in_flight_share(run: Run) -> dict[str, float]:
    """Requests in flight while a round sends under the faults (latency the bottleneck)."""
    start = run.started + run.plan.fault_start
    end = run.started + run.plan.fault_end
    values = [s.in_flight for s in run.samples if start <= s.time < end and s.in_flight > 0]
    if not values:
        return {"samples": 0, "average": 0.0, "share_at_75": 0.0}
    high = sum(1 for v in values if v >= GOAL_IN_FLIGHT * run.cap)
    return {
        "samples": len(values),
        "average": round(statistics.fmean(values), 2),
        "share_at_75": round(high / len(values), 3),
    }


def log_lines(path: Path) -> dict[str, Any]:
    """The daemon's stderr: lines, those that are not JSON objects, JSON lines by level."""
    lines = not_json = 0
    levels: Counter[str] = Counter()
    with path.open(encoding="utf-8", errors="replace") as log:
        for line in log:
            lines += 1
            try:
                entry = json.loads(line)
            except ValueError:
                not_json += 1
                continue
            if isinstance(entry, dict):
                levels[str(entry.get("level"))] += 1
            else:
                not_json += 1
    return {"lines": lines, "not_json": not_json, "levels": dict(levels)}

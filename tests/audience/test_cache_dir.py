"""The number cache lives where the caller says: the daemon passes its setting down."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from smsops.audience import numbers
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.sqlite import SqliteLedger
from smsops.sandbox.server import Sandbox


def test_a_run_mode_round_keeps_numbers_in_the_runners_cache_dir(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    (tmp_path / "people.csv").write_text("phone,name\n+447400123456,Sam\n")
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
        "token: '${env:OT}', from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        "audiences:\n  a: {source: people.csv, default_region: GB}\n"
        "schedules:\n  s: {template: t, audience: a, provider: ot}\n"
    )
    cache = tmp_path / "cache"
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    try:
        runner = Runner(load_project(tmp_path), ledger, {"OT": "jwt"}, Metrics(), cache_dir=cache)
        plan = asyncio.run(runner.reconcile())
    finally:
        ledger.close()
    assert plan is not None
    assert plan.to_send == 1
    (entry,) = cache.glob("numbers-*")
    assert entry.read_text() == "+447400123456\tGB\t+447400123456\n"


def test_cache_entries_are_pruned_by_use(tmp_path: Path) -> None:
    """A CSV edited every minute must not grow the cache (or keep old numbers) forever."""
    cache = tmp_path / "cache"
    cache.mkdir()
    now = time.time()
    old = cache / "numbers-old.txt"  # unused for over a week
    old.write_text("x")
    os.utime(old, (now - numbers.KEEP_UNUSED - 60,) * 2)
    crowd = []
    for i in range(numbers.KEEP_ENTRIES + 5):  # recent, but too many
        entry = cache / f"numbers-{i:03d}.txt"
        entry.write_text("x")
        os.utime(entry, (now - 3600 + i,) * 2)
        crowd.append(entry)

    (tmp_path / "people.csv").write_text("phone\n+447400123456\n")
    (tmp_path / "c.yaml").write_text(
        "providers:\n  ot: {type: opentact, token: '${env:OT}', from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi'}\n"
        "audiences:\n  a: {source: people.csv}\n"
        "schedules:\n  s: {template: t, audience: a, provider: ot}\n"
    )
    options = PlanOptions(cache_dir=cache)
    make_plan(load_project(tmp_path), MemoryLedger(), datetime.now(UTC), lambda _: False, options)
    left = {p.name for p in cache.glob("numbers-*.txt")}
    assert len(left) == numbers.KEEP_ENTRIES  # the new entry and the others most recently used
    assert "numbers-old.txt" not in left
    assert not {entry.name for entry in crowd[:6]} & left  # the least recently used went
    assert crowd[-1].name in left

"""The number cache lives where the caller says: the daemon passes its setting down."""

from __future__ import annotations

import asyncio
from pathlib import Path

from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.engine.project import load_project
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

"""The catch-up records only windows that were due: not a disabled schedule's, nor a
redefined one's; and what a reload refuses shows on /healthz with numbers masked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from smsops.config.loader import Config
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.daemon.service import Service
from smsops.engine.project import load_project
from smsops.ledger.base import Status
from smsops.ledger.memory import MemoryLedger
from smsops.sandbox.server import Sandbox

T = datetime(2026, 11, 22, 9, 0, 10, tzinfo=UTC)


def write(root: Path, sandbox: Sandbox, schedule: str) -> Path:
    (root / "c.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
        "token: '${env:OT}', from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi'}\n"
        "audiences:\n  a: {contacts: [{phone: '+447400123450'}, {phone: '+447400123451'}]}\n"
        f"schedules:\n  s: {{template: t, audience: a, provider: ot, {schedule}}}\n"
    )
    return root


def test_windows_of_a_disabled_or_redefined_schedule_are_not_recorded_expired(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    minutely = "trigger: {every: 1m}, window: 1m"
    now = [T]
    ledger = MemoryLedger()
    runner = Runner(
        load_project(write(tmp_path, sandbox, minutely)),
        ledger,
        {"OT": "jwt"},
        Metrics(),
        clock=lambda: now[0],
    )
    asyncio.run(runner.reconcile(["s"], "fire"))  # 09:00 sent

    now[0] = T + timedelta(minutes=1)
    runner.config = load_project(write(tmp_path, sandbox, minutely + ", enabled: false"))
    now[0] = T + timedelta(minutes=5)  # 09:01-09:04 pass while it is disabled
    runner.config = load_project(write(tmp_path, sandbox, minutely))
    asyncio.run(runner.reconcile(["s"], "fire"))  # 09:05

    now[0] = T + timedelta(minutes=9)  # redefined: every 2 minutes from now on
    runner.config = load_project(write(tmp_path, sandbox, "trigger: {every: 2m}, window: 2m"))
    asyncio.run(runner.reconcile(["s"], "fire"))

    rows = [(r.occurrence, r.status) for r in ledger.records()]
    assert Status.EXPIRED not in {status for _, status in rows}, rows
    sent = sorted({occurrence for occurrence, _ in rows})
    assert sent[:2] == ["2026-11-22T09:00:00Z", "2026-11-22T09:05:00Z"]
    # 09:06-09:08 (the old definition's, reached by no round here) are not recorded
    # either: a redefined schedule starts afresh; what it sent, it sent once each
    assert len(sandbox.state.snapshot()) == 2 * len(sent)


def test_a_refused_change_shows_on_healthz_with_numbers_masked(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    root = write(tmp_path, sandbox, "trigger: {every: 1m}, window: 1m")

    def load(path: Path) -> Config:
        return load_project(path)

    ledger, metrics = MemoryLedger(), Metrics()
    runner = Runner(load(root), ledger, {"OT": "jwt"}, metrics, clock=lambda: T)
    service = Service(root, load, ledger, runner, metrics)
    write(tmp_path, sandbox, "trigger: {every: 1m}, window: '+447400555001'")
    asyncio.run(service.reload_if_changed())
    error = service.health.reload_error or ""
    assert "c.yaml:" in error
    assert "+447400555001" not in error
    assert "447400555001" not in error

"""Run mode: a generation's rounds read the CSV it validated; a broken CSV edit is refused."""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from smsops.config.loader import Config
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.daemon.service import Service
from smsops.engine.project import load_project
from smsops.ledger.memory import MemoryLedger
from smsops.sandbox.server import Sandbox

OLD = "phone,name\n+447400123456,Sam\n+447400123457,Priya\n"
BROKEN = "telephone,name\n+447400123458,Mallory\n"  # no `phone` column any more
NEW = "phone,name\n+447400999999,Eve\n"
START = datetime(2026, 11, 23, 9, 0, 10, tzinfo=UTC)


def _yaml(sandbox: Sandbox) -> str:
    return (
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
        "token: '${env:OT}', from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        "audiences:\n  people: {source: people.csv}\n"
        "schedules:\n"
        "  s: {template: t, audience: people, provider: ot,\n"
        "      trigger: {cron: '* * * * *', timezone: UTC}, window: 1m}\n"
    )


def sent(sandbox: Sandbox) -> Counter[str]:
    return Counter(m["recipient"] for m in sandbox.state.snapshot())


def test_a_broken_csv_edit_is_refused_and_the_running_generation_keeps_its_snapshot(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    root, cache = tmp_path / "config", tmp_path / "cache"
    root.mkdir()
    (root / "smsops.yaml").write_text(_yaml(sandbox))
    csv = root / "people.csv"
    csv.write_text(OLD)

    def load(path: Path) -> Config:
        return load_project(path, cache)

    now = [START]
    ledger, metrics = MemoryLedger(), Metrics()
    runner = Runner(load(root), ledger, {"OT": "jwt"}, metrics, clock=lambda: now[0])
    service = Service(root, load, ledger, runner, metrics)
    asyncio.run(runner.reconcile(["s"], "fire"))
    assert sent(sandbox) == {"+447400123456": 1, "+447400123457": 1}

    csv.write_text(BROKEN)  # the header edited after validation
    asyncio.run(service.reload_if_changed())
    error = service.health.reload_error or ""
    assert f"{root / 'smsops.yaml'}:6:20: audience 'people'" in error, error
    assert "has no column 'phone'" in error
    assert service.health.generation == 1
    assert metrics.registry.get_sample_value("smsops_config_reload_error") == 1

    now[0] += timedelta(minutes=1)  # the next occurrence: the old generation, from its snapshot
    asyncio.run(runner.reconcile(["s"], "fire"))
    assert sent(sandbox) == {"+447400123456": 2, "+447400123457": 2}
    assert runner.failures.errors == {}

    old = runner.config  # as a round still running holds it
    old_copy = old.snapshots[csv].copy
    csv.write_text(NEW)
    now[0] += timedelta(minutes=1)

    async def reload_and_settle() -> None:
        await service.reload_if_changed()  # accepted: its reload round is requested at once
        await runner.idle()

    asyncio.run(reload_and_settle())
    assert service.health.generation == 2
    assert service.health.reload_error is None
    assert sent(sandbox)["+447400999999"] == 1
    assert old_copy.exists()  # still in use
    del old
    gc.collect()
    assert not old_copy.exists()  # no generation uses it any more
    assert runner.config.snapshots[csv].copy.exists()

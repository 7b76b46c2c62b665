"""The planner's batch loop (`SchedulePlanner._members`) plans as `_member` one at a time.

Generated audiences (CSV rows: valid, invalid, repeated, excluded and blocked numbers) over
ledgers holding every state, each planned twice: through the batch loop, and with it
turned off (`_plain` None: every member through `_member`). Plans, sends, samples, skips
and the re-rendered checks must match exactly.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.engine import audience_read, schedule_planner
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.engine.schedule_planner import SchedulePlanner
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.memory import MemoryLedger
from smsops.report.plan_format import as_json

AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
STATES = [None, Status.SENT, Status.FAILED, Status.UNCERTAIN, Status.PENDING]


def generated(tmp_path: Path, seed: int) -> tuple[Path, MemoryLedger]:
    """A config whose CSV audience mixes every kind of row, and a ledger of its sends."""
    rng = random.Random(seed)
    numbers = [f"+4474001{i:05d}" for i in range(40)] + [f"+1201555{i:04d}" for i in range(10)]
    rows, ledger, now = [], MemoryLedger(), AT - timedelta(hours=1)
    for i in range(rng.randint(0, 120)):
        kind = rng.random()
        phone = "not a number" if kind < 0.05 else "" if kind < 0.08 else rng.choice(numbers)
        rows.append(f"{phone},P{i}")
    for number in numbers:
        state = rng.choice(STATES)
        if state is None:
            continue
        record = SendRecord.claim(
            "s", "once", number, provider="ses", template="t",
            text_hash=rng.choice(["old", "new"]), segments=1, now=now, claimed_by="otherhost:1",
        )  # fmt: skip
        ledger.claim([record])
        if state is not Status.PENDING:
            ledger.settle([record.settled(state, now, error="e", message_id="m")])
    (tmp_path / "a.csv").write_text("phone,name\n" + "\n".join(rows) + "\n")
    (tmp_path / "optout.csv").write_text("phone\n" + "\n".join(rng.sample(numbers, 3)) + "\n")
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        "  ses: {type: sendwithses, template_keys: {transactional: '${env:SES_KEY}'}}\n"
        "templates:\n"
        "  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        "audiences:\n"
        "  optout: {source: optout.csv}\n"
        "  a: {source: a.csv, exclude: [optout]}\n"
        "schedules:\n"
        "  s: {template: t, audience: a, provider: ses}\n"
    )
    return tmp_path, ledger


def planned(root: Path, ledger: MemoryLedger, stale: bool) -> tuple[str, list[object]]:
    config = load_project(root)
    options = PlanOptions(keep_sends=True, samples=5)
    plan = make_plan(config, ledger, AT, lambda _: stale, options)
    sends = [(s.key, s.message, s.text_hash, s.review_hash) for s in plan.sends]
    return json.dumps(as_json(plan), sort_keys=True, default=str), sends


@pytest.mark.parametrize("seed", range(12))
def test_the_batch_loop_plans_as_one_member_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    root, ledger = generated(tmp_path, seed)
    monkeypatch.setattr(audience_read, "BATCH", 1 + seed % 7)  # batches end anywhere
    monkeypatch.setattr(
        schedule_planner, "CHANGE_CHECKS", seed % 4
    )  # the checks' cap reached or not
    monkeypatch.setenv("SES_KEY", "k")
    taken = []
    real = SchedulePlanner._plain
    monkeypatch.setattr(SchedulePlanner, "_plain", lambda self: taken.append(1) or real(self))
    batched = [planned(root, ledger, stale) for stale in (False, True)]
    monkeypatch.setattr(SchedulePlanner, "_plain", lambda self: None)
    assert batched == [planned(root, ledger, stale) for stale in (False, True)]
    assert taken or "P0" not in (root / "a.csv").read_text()  # the batch loop was taken

"""A claim waits for the provider's pace: it is at most one request old when it goes out."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from smsops.cli import main
from smsops.engine.apply import ApplyOptions, Sender
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.ledger.base import Status
from smsops.ledger.memory import MemoryLedger
from smsops.sandbox.server import Sandbox
from tests.apply.conftest import numbers, write_config

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def claimed_at(ledger: Path) -> dict[str, float]:
    db = sqlite3.connect(ledger)
    try:
        rows = db.execute("SELECT recipient, created_at FROM sends").fetchall()
    finally:
        db.close()
    return {recipient: datetime.fromisoformat(at).timestamp() for recipient, at in rows}


def test_rows_are_claimed_when_their_request_may_leave_not_when_the_run_starts(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2/s with room for all ten in flight: claimed before pacing, the tenth row
    # would wait ~4.5 s as `pending` (and turn `uncertain` if the run died).
    config = write_config(tmp_path / "cfg", sandbox, 10, rate="2/s", extra=", max_in_flight: 10")
    ledger = tmp_path / "ledger.sqlite"

    assert main(["apply", str(config), "--yes", "--ledger", str(ledger)]) == 0
    assert "Applied: 10 sent, 0 failed, 0 uncertain" in capsys.readouterr().out

    claims = claimed_at(ledger)
    arrivals = {
        m["recipient"]: datetime.fromisoformat(m["received_at"]).timestamp()
        for m in sandbox.state.snapshot()
    }
    assert sorted(arrivals) == sorted(claims) == sorted(numbers(10))
    ages = sorted(arrivals[n] - claims[n] for n in claims)
    assert ages[0] >= 0  # write-ahead: every row was claimed before its request arrived
    # A claim's age is its commit and one request, never the pace (0.5 s per
    # request): claimed before pacing, the tenth was ~4.5 s old. The bound
    # leaves room for a loaded machine's fsync.
    assert ages[-1] < 1.5, [round(age, 2) for age in ages]
    # The pace still holds: ten requests at 2/s take at least 4 intervals' worth.
    span = max(arrivals.values()) - min(arrivals.values())
    assert span >= 4.0, span


def test_a_stop_while_waiting_for_the_pace_claims_nothing_more(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        "  sky: {type: skycore, base_url: 'http://sky.test/api', api_key: '${env:SKY}', "
        "from: '12025550100', rate_limit: 4/s, max_in_flight: 3}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        "audiences:\n  a:\n    contacts:\n"
        "      - {phone: '+447400123450', name: A}\n"
        "      - {phone: '+447400123451', name: B}\n"
        "      - {phone: '+447400123452', name: C}\n"
        "schedules:\n  s: {template: t, audience: a, provider: sky}\n"
    )
    config = load_project(tmp_path)
    ledger = MemoryLedger()
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    sender: Sender

    def stop_at_first(request: httpx.Request) -> httpx.Response:
        sender.stop()  # the other two sends are waiting for their pace slots
        return httpx.Response(200, json={"status": "Success", "tracking-id": "trk"})

    options = ApplyOptions(claimed_by="h:1:r")
    sender = Sender(
        config, ledger, {"SKY": "k"}, options, transport=httpx.MockTransport(stop_at_first)
    )
    report = asyncio.run(sender.run(plan.sends))

    assert (report.sent, report.not_started) == (1, 2)
    # Claimed before pacing, both would sit `pending` now, then turn `uncertain`.
    assert [r.status for r in ledger.records()] == [Status.SENT]

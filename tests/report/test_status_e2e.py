"""End to end: a round against the sandbox (real loopback) leaves sent, failed, uncertain,
expired and skipped sends and a held schedule in a SQLite ledger; every figure of `smsops
status --format json` equals a query of the ledger file itself (plain SQL, not smsops)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from smsops.cli import main
from smsops.core.expiry import ExpiryReason
from smsops.engine.project import load_project
from smsops.engine.round import Round, RoundHooks
from smsops.engine.status import RECENT
from smsops.ledger.sqlite import SqliteLedger
from smsops.ledger.suppressions import OptAction, OptEvent
from smsops.sandbox.server import Sandbox

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
STOPPED = "+447400200099"
NUMBERS = [f"+4474002000{i:02d}" for i in range(8)]


def _config(root: Path, sandbox: Sandbox) -> Path:
    root.mkdir()
    contacts = "".join(f"      - {{phone: '{n}', name: P{i}}}\n" for i, n in enumerate(NUMBERS))
    contacts += f"      - {{phone: '{NUMBERS[0]}', name: again}}\n"  # a duplicate
    contacts += f"      - {{phone: '{STOPPED}', name: stopped}}\n      - {{phone: nope, name: x}}\n"
    daily = "trigger: {cron: '0 9 * * *', timezone: UTC}, window: 1h"
    (root / "c.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
        "token: '${env:OT}', from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        f"audiences:\n  a:\n    contacts:\n{contacts}"
        "schedules:\n"
        f"  s: {{template: t, audience: a, provider: ot, respect_opt_out: true, {daily}}}\n"
        f"  big: {{template: t, audience: a, provider: ot, limits: {{max_recipients: 1}}, {daily}}}\n"
    )
    return root


def _query(path: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


def test_every_figure_of_status_json_equals_a_query_of_the_ledger(
    tmp_path: Path,
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OT", "jwt")  # set here too: no hold the reader's environment adds
    root, path = _config(tmp_path / "config", sandbox), tmp_path / "l.sqlite"
    ledger = SqliteLedger(path)
    ledger.opt([OptEvent(STOPPED, OptAction.OUT, AT - timedelta(days=2), "cli", "STOP")])
    # Every 3rd request dropped after it was taken (uncertain), every 4th refused (failed).
    sandbox.state.faults.update(
        {"drop_every": 3, "raw_every": 4, "raw_status": 400, "raw_body": '{"success": false}'}
    )
    yesterday = [(AT - timedelta(days=1), ExpiryReason.NOT_REACHED)]  # a closed window
    round_ = Round(load_project(root), ledger, {"OT": "jwt"}, RoundHooks(), isolate_failures=True)
    asyncio.run(round_.run(AT, overdue={"s": yesterday}))
    ledger.close()

    assert main(["status", str(root), "--ledger", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)

    statuses = {s for (s,) in _query(path, "SELECT DISTINCT status FROM sends")}
    assert {"sent", "failed", "uncertain", "expired"} <= statuses  # the case it is about
    held = {s: (r, d) for s, r, d, _ in _query(path, "SELECT * FROM holds")}
    assert list(held) == ["big"]
    shown_held = {
        s["name"]: [(h["reason"], h["detail"]) for h in s["held"]] for s in data["schedules"]
    }
    assert shown_held == {"s": [], "big": [(held["big"][0], held["big"][1].replace("\n", "; "))]}
    skipped_any = 0
    for schedule in data["schedules"]:
        name = schedule["name"]
        occurrences = _query(
            path,
            "SELECT occurrence FROM sends WHERE schedule = ? UNION "
            "SELECT occurrence FROM skips WHERE schedule = ? ORDER BY 1 DESC LIMIT ?",
            name, name, RECENT,
        )  # fmt: skip
        assert [o["occurrence"] for o in schedule["recent"]] == [o for (o,) in occurrences]
        for shown in schedule["recent"]:
            at = (name, shown["occurrence"])
            rows = dict(
                _query(
                    path,
                    "SELECT status, count(*) FROM sends WHERE schedule = ? AND occurrence = ? "
                    "GROUP BY status",
                    *at,
                )
            )
            skips = dict(
                _query(
                    path,
                    "SELECT reason, count FROM skips WHERE schedule = ? AND occurrence = ?",
                    *at,
                )
            )
            counts = shown["counts"]
            for status in (
                "pending",
                "sent",
                "delivered",
                "undelivered",
                "failed",
                "uncertain",
                "expired",
            ):
                assert counts[status] == rows.get(status, 0), (at, status)
            assert shown["skips"] == skips
            assert counts["skipped"] == sum(skips.values())
            skipped_any += counts["skipped"]
    assert skipped_any > 0
    uncertain = _query(
        path,
        "SELECT schedule, occurrence, count(*) FROM sends WHERE status = 'uncertain' "
        "GROUP BY schedule, occurrence ORDER BY schedule, occurrence",
    )
    needs = data["needs_person"]
    assert [(u["schedule"], u["occurrence"], u["rows"]) for u in needs["uncertain"]] == uncertain
    assert [(o["schedule"], o["limits"]) for o in needs["over_limits"]] == [
        ("big", held["big"][1].splitlines())
    ]
    assert needs["suppressions_total"] == 0  # the opt-out is older than the week shown

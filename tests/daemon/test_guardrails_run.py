"""`smsops run` holds a schedule whose plan is over its limits: nothing of it is sent,
/readyz is not ready and names it, /healthz lists it, a metric and a log line name the
limit; an `apply --approve` of that plan releases it."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from smsops.cli import main
from smsops.sandbox.server import Sandbox
from tests.daemon.daemon import running, until
from tests.daemon.test_run_e2e import write

SCHEDULES = (
    "  big: {template: t, audience: a, provider: ot, limits: {max_recipients: 2}}\n"
    "  small: {template: t, audience: a, provider: ot}\n"
)


def test_run_holds_a_schedule_over_its_limits_and_sends_the_others(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "config"
    root.mkdir()
    write(root, sandbox, SCHEDULES)
    ledger = tmp_path / "l.sqlite"
    env = {**os.environ, "OT": "jwt", "SMSOPS_LOG_FORMAT": "json"}
    with running(root, ledger, env) as daemon:
        until(lambda: len(sandbox.state.snapshot()) == 3)  # `small` goes out
        until(
            lambda: (
                daemon.metric('smsops_schedule_held{limit="max_recipients",schedule="big"}') == 1
            )
        )
        status, _ = daemon.get("/readyz")
        assert status == 503
        ready = daemon.json("/readyz")
        assert ready["ready"] is False
        assert (
            "schedule 'big' held, over its limits: max_recipients 2: this plan sends 3 messages"
            in ready["detail"]
        )
        health = daemon.json("/healthz")
        assert health["status"] == "ok"
        assert health["held"] == {"big": ["max_recipients 2: this plan sends 3 messages"]}
        held = [
            e
            for e in daemon.log_entries()
            if e.get("schedule") == "big" and "held" in e.get("message", "")
        ]
        assert held
        assert "max_recipients 2: this plan sends 3 messages" in held[0]["message"]
        assert "smsops apply --approve big" in held[0]["message"]
        assert len(sandbox.state.snapshot()) == 3  # nothing of `big`
        monkeypatch.setenv("OT", "jwt")  # status, apply: no secret missing here either
        assert _held(root, ledger) == {"big": ["guardrail"], "small": []}  # the ledger says so
        # Approving the reviewed plan sends it; the next round (a reload) finds it within.
        approve = ["apply", str(root), "--yes", "--ledger", str(ledger), "--approve", "big"]
        assert main(approve) == 0
        assert len(sandbox.state.snapshot()) == 6
        write(root, sandbox, SCHEDULES)  # touched: the reload plans every schedule again
        until(lambda: daemon.get("/readyz")[0] == 200)
        assert daemon.json("/healthz").get("held") is None
        assert _held(root, ledger) == {"big": [], "small": []}  # a round of it went ahead
        assert daemon.metric('smsops_schedule_held{limit="max_recipients",schedule="big"}') is None


def _held(root: Path, ledger: Path) -> dict[str, list[str]]:
    """Each schedule's hold reasons as `smsops status` reads them from the ledger."""
    with redirect_stdout(io.StringIO()) as out:
        assert main(["status", str(root), "--ledger", str(ledger), "--format", "json"]) == 0
    view = json.loads(out.getvalue())
    return {s["name"]: [h["reason"] for h in s["held"]] for s in view["schedules"]}

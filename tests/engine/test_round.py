"""The one apply round: its steps in order, through the hooks `apply` and the daemon use."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsops.core.errors import UsageError
from smsops.engine.apply import ApplyReport, Sender
from smsops.engine.plan import Plan, Send
from smsops.engine.project import load_project
from smsops.engine.round import Round, RoundHooks
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.memory import MemoryLedger
from smsops.sandbox.server import Sandbox

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ENV = {"OT": "ot-jwt"}


class Recorded(RoundHooks):
    def __init__(self, *, refuse: bool = False) -> None:
        self.calls: list[str] = []
        self.refuse = refuse

    def stale(self, records: list[SendRecord]) -> None:
        self.calls.append(f"stale {len(records)}")

    def planned(self, plan: Plan) -> None:
        self.calls.append(f"planned {plan.to_send}")

    def dry_run(self, sender: Sender, sends: list[Send]) -> None:
        self.calls.append(f"dry_run {len(list(sender.requests(sends)))}")

    def confirm(self, count: int) -> None:
        self.calls.append(f"confirm {count}")
        if self.refuse:
            raise UsageError("cancelled; nothing was sent")

    @contextmanager
    def sending(self, sender: Sender, count: int) -> Iterator[None]:
        self.calls.append(f"sending {count}")
        yield

    def sent(self, plan: Plan, report: ApplyReport) -> None:
        self.calls.append(f"sent {report.sent}")


def provider_and_template(sandbox: Sandbox) -> str:
    """The config's provider `ot` (the sandbox's opentact) and template `t`."""
    return (
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
        "token: '${env:OT}', from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
    )


@pytest.fixture
def config_dir(tmp_path: Path, sandbox: Sandbox) -> Path:
    (tmp_path / "c.yaml").write_text(
        provider_and_template(sandbox) + "audiences:\n  a:\n    contacts:\n"
        "      - {phone: '+447400123450', name: A}\n"
        "      - {phone: '+447400123451', name: B}\n"
        "schedules:\n  s: {template: t, audience: a, provider: ot}\n"
    )
    return tmp_path


def test_a_round_marks_stale_plans_confirms_sends_and_reports_in_that_order(
    config_dir: Path, sandbox: Sandbox
) -> None:
    hooks, ledger = Recorded(), MemoryLedger()
    report = asyncio.run(Round(load_project(config_dir), ledger, ENV, hooks).run(AT))

    assert hooks.calls == ["stale 0", "planned 2", "confirm 2", "sending 2", "sent 2"]
    assert report is not None
    assert report.sent == 2
    assert len(sandbox.state.snapshot()) == 2
    assert [r.status for r in ledger.records()] == [Status.SENT] * 2

    again = Recorded()  # the ledger alone decides: a second round finds nothing due
    assert asyncio.run(Round(load_project(config_dir), ledger, ENV, again).run(AT)) is None
    assert again.calls == ["stale 0", "planned 0"]
    assert len(sandbox.state.snapshot()) == 2


def test_a_dry_run_writes_nothing_and_sends_nothing(config_dir: Path, sandbox: Sandbox) -> None:
    hooks, ledger = Recorded(), MemoryLedger()
    round_ = Round(load_project(config_dir), ledger, ENV, hooks, dry_run=True)

    assert asyncio.run(round_.run(AT)) is None
    assert hooks.calls == ["planned 2", "dry_run 2"]  # no stale marks: a dry run only reads
    assert list(ledger.records()) == []
    assert sandbox.state.snapshot() == []


def test_a_refused_confirmation_claims_and_sends_nothing(
    config_dir: Path, sandbox: Sandbox
) -> None:
    hooks, ledger = Recorded(refuse=True), MemoryLedger()
    round_ = Round(load_project(config_dir), ledger, ENV, hooks)

    with pytest.raises(UsageError, match="cancelled"):
        round_.prepare(AT)
    assert hooks.calls == ["stale 0", "planned 2", "confirm 2"]
    assert list(ledger.records()) == []
    assert sandbox.state.snapshot() == []


def test_a_round_stopped_before_sending_claims_nothing(config_dir: Path, sandbox: Sandbox) -> None:
    hooks, ledger = Recorded(), MemoryLedger()
    round_ = Round(load_project(config_dir), ledger, ENV, hooks)

    assert round_.prepare(AT)
    round_.stop()  # e.g. SIGTERM to the daemon while it planned
    assert asyncio.run(round_.send()) is None
    assert hooks.calls == ["stale 0", "planned 2", "confirm 2"]  # never "sending"
    assert list(ledger.records()) == []
    assert sandbox.state.snapshot() == []

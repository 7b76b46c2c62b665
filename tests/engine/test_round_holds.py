"""Whoever plans and holds records it in the ledger, where it decides (engine/round.py,
daemon/runner.py): a plan over its guardrails, a missing secret; the hold ends when a
round of the schedule goes ahead. Each plan records its skips per occurrence, by reason.
A dry run records nothing. (The storage itself: tests/ledger/test_held.py, every backend.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsops.audience.shards import Part, shard_of
from smsops.core.errors import NeedsApproval, SecretsMissing
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.engine.project import load_project
from smsops.engine.round import Round, RoundHooks
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.suppressions import OptAction, OptEvent
from smsops.sandbox.server import Sandbox
from tests.engine.test_round import provider_and_template

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ENV = {"OT": "ot-jwt"}
STOPPED = "+447400123452"


@pytest.fixture
def config_dir(tmp_path: Path, sandbox: Sandbox) -> Path:
    (tmp_path / "c.yaml").write_text(
        provider_and_template(sandbox) + "audiences:\n  a:\n    contacts:\n"
        "      - {phone: '+447400123450', name: A}\n"
        "      - {phone: '+447400123451', name: B}\n"
        "      - {phone: '+447400123451', name: B again}\n"
        f"      - {{phone: '{STOPPED}', name: C}}\n"
        "      - {phone: 'not a number', name: D}\n"
        "schedules:\n"
        "  s: {template: t, audience: a, provider: ot, respect_opt_out: true}\n"
        "  big: {template: t, audience: a, provider: ot, limits: {max_recipients: 1}}\n"
    )
    return tmp_path


def _ledger() -> MemoryLedger:
    ledger = MemoryLedger()
    ledger.opt([OptEvent(STOPPED, OptAction.OUT, AT, "cli", "STOP")])
    return ledger


def test_apply_records_a_guardrail_hold_and_a_round_that_goes_ahead_ends_it(
    config_dir: Path, sandbox: Sandbox
) -> None:
    config, ledger = load_project(config_dir), _ledger()
    with pytest.raises(NeedsApproval):
        asyncio.run(Round(config, ledger, ENV, RoundHooks()).run(AT))
    held = ledger.holds()
    assert list(held) == ["big"]  # `s` was not held; nothing went ahead either
    assert (held["big"].reason, held["big"].since) == ("guardrail", AT)
    assert held["big"].detail.startswith("max_recipients 1: ")
    assert sandbox.state.snapshot() == []
    approved = Round(config, ledger, ENV, RoundHooks(), approved=frozenset({"big"}))
    asyncio.run(approved.run(AT))
    assert ledger.holds() == {}
    assert len(sandbox.state.snapshot()) == 5  # s: A, B (C opted out); big: A, B, C


def test_the_daemons_round_holds_the_one_over_and_lets_the_other_go_ahead(
    config_dir: Path, sandbox: Sandbox
) -> None:
    config, ledger = load_project(config_dir), _ledger()
    ledger.note_holds({"s": ("secret", "OT of provider ot is not set")}, AT)  # an older round
    asyncio.run(Round(config, ledger, ENV, RoundHooks(), isolate_failures=True).run(AT))
    assert {name: h.reason for name, h in ledger.holds().items()} == {"big": "guardrail"}


def test_a_missing_secret_is_recorded_by_apply_and_by_the_daemon(config_dir: Path) -> None:
    config, ledger = load_project(config_dir), _ledger()
    with pytest.raises(SecretsMissing):
        asyncio.run(Round(config, ledger, {}, RoundHooks(), approved=frozenset({"big"})).run(AT))
    assert {n: (h.reason, h.detail) for n, h in ledger.holds().items()} == {
        "s": ("secret", "OT of provider ot is not set"),
        "big": ("secret", "OT of provider ot is not set"),
    }
    daemon = MemoryLedger()
    runner = Runner(config, daemon, {}, Metrics(), clock=lambda: AT)
    assert asyncio.run(runner._round_of("s", "fire")) is None
    assert {n: (h.reason, h.since) for n, h in daemon.holds().items()} == {"s": ("secret", AT)}


def test_each_plan_records_its_skips_per_occurrence_and_a_dry_run_records_nothing(
    config_dir: Path,
) -> None:
    config, ledger = load_project(config_dir), _ledger()
    dry = Round(config, ledger, ENV, RoundHooks(), dry_run=True, isolate_failures=True)
    asyncio.run(dry.run(AT))
    assert (ledger.holds(), ledger.recent_skips(5)) == ({}, {})
    asyncio.run(Round(config, ledger, ENV, RoundHooks(), isolate_failures=True).run(AT))
    assert ledger.recent_skips(5) == {
        "s": {"once": {"duplicate": 1, "invalid_number": 1, "opted_out": 1}},
        "big": {"once": {"duplicate": 1, "invalid_number": 1}},
    }
    ledger.opt([OptEvent(STOPPED, OptAction.IN, AT, "cli", "START")])
    asyncio.run(Round(config, ledger, ENV, RoundHooks(), isolate_failures=True).run(AT))
    assert ledger.recent_skips(5)["s"] == {"once": {"duplicate": 1, "invalid_number": 1}}


def test_rounds_of_some_shards_each_record_theirs_and_status_sums_them(
    config_dir: Path,
) -> None:
    """Two replicas' rounds, each holding some shards of the occurrence (daemon/units.py):
    together they record what a round of the whole does, no skip twice."""
    config, ledger = load_project(config_dir), _ledger()
    assert shard_of(STOPPED, 3) == 1  # not shard 0's, which counts the rows of no number
    firsts = []
    for shards in ({0}, {1, 2}):
        part = Part("once", 3, frozenset(shards))
        asyncio.run(
            Round(config, ledger, ENV, RoundHooks(), isolate_failures=True, part=part).run(
                AT, ["s"]
            )
        )
        firsts.append(ledger.recent_skips(5)["s"]["once"])
    assert firsts == [
        {"duplicate": 1, "invalid_number": 1},
        {"duplicate": 1, "invalid_number": 1, "opted_out": 1},
    ]


def test_a_round_that_decides_as_the_last_one_did_writes_no_hold(config_dir: Path) -> None:
    """Every resync plans again: an unchanged hold (or none) is read, not written again."""

    class Counting(MemoryLedger):
        def __init__(self) -> None:
            super().__init__()
            self.written: list[dict[str, object]] = []

        def note_holds(self, held, at):  # type: ignore[no-untyped-def]
            self.written.append(dict(held))
            super().note_holds(held, at)

    config, ledger = load_project(config_dir), Counting()
    for _ in range(3):
        asyncio.run(Round(config, ledger, ENV, RoundHooks(), isolate_failures=True).run(AT))
    assert [list(w) for w in ledger.written] == [["big"]]  # once, by the first round


def test_a_plan_of_no_config_schedule_records_nothing(config_dir: Path) -> None:
    """The opt-out confirmations plan through the same round (`planner`): their skips and
    their going ahead are nobody's status, so they are not written."""
    from smsops.core.errors import Location
    from smsops.core.skips import Skip, SkipReason
    from smsops.engine.plan import Plan, SchedulePlan

    def planned(at: datetime) -> Plan:
        plan = SchedulePlan("opt-out-confirm", "t", "a", ["ot"], ["once"], [])
        plan.skip(Skip(SkipReason.INVALID_NUMBER, "x", Location(config_dir)))
        return Plan(at, [plan])

    ledger = _ledger()
    round_ = Round(load_project(config_dir), ledger, ENV, RoundHooks(), planner=planned)
    assert asyncio.run(round_.run(AT)) is None
    assert (ledger.holds(), ledger.recent_skips(5)) == ({}, {})

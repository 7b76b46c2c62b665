"""The status view's figures equal the ledger's rows, on every backend (engine/status.py)."""

from __future__ import annotations

import random
import shlex
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from smsops.core.phone import is_masked
from smsops.core.skips import SkipReason
from smsops.engine.status import RECENT, UNCERTAIN_GROUPS, StatusView, status_of
from smsops.ledger.base import Ledger, Status
from smsops.ledger.receipts import delivery_rate
from smsops.ledger.suppressions import OptAction, OptEvent
from tests.ledger.seeding import NOW, generated, row, write
from tests.ledger.status_config import SCHEDULES, status_config

ENV = {"SKY_KEY": "k"}


def _view(ledger: Ledger, tmp_path: Path, env: dict[str, str] = ENV) -> StatusView:
    return status_of(status_config(tmp_path), ledger, NOW, env=env)


@pytest.mark.parametrize("seed", [4, 5])
def test_every_figure_equals_a_count_of_the_ledgers_rows(
    open_ledger_handle: Callable[[], Ledger], tmp_path: Path, seed: int
) -> None:
    ledger = open_ledger_handle()
    write(ledger, generated(seed, [*SCHEDULES, "gone"], 500))
    rng = random.Random(seed)
    skips = {  # some occurrences with rows, some (the 20th on) where every one was skipped
        # a plan of the whole or of one of its shards (units): status sums the parts
        (name, f"2027-03-{rng.randrange(1, 25):02d}T09:00:00+00:00", rng.choice([-1, 0, 1])): {
            rng.choice(list(SkipReason)).value: rng.randrange(4) for _ in range(3)
        }
        for name in SCHEDULES
        for _ in range(6)
    }
    ledger.note_skips(skips)
    view = _view(ledger, tmp_path)
    rows = Counter((r.schedule, r.occurrence, r.status.value) for r in ledger.records())
    skipped = ledger.recent_skips(10**6)
    for schedule in view.schedules:
        mine = skipped.get(schedule.name, {})
        occurrences = {o for s, o, _ in rows if s == schedule.name} | mine.keys()
        assert [o.occurrence for o in schedule.recent] == sorted(occurrences)[::-1][:RECENT]
        for shown in schedule.recent:
            counts = {st.value: rows[schedule.name, shown.occurrence, st.value] for st in Status}
            reasons = mine.get(shown.occurrence, {})
            figures = {**counts, "skipped": sum(reasons.values())}
            assert shown.counts.model_dump(exclude={"delivery_rate"}) == figures
            assert shown.counts.delivery_rate == delivery_rate(counts)
            assert shown.counts.total == sum(counts.values())
            assert shown.skips == reasons
    uncertain = Counter((r.schedule, r.occurrence) for r in ledger.records(status=Status.UNCERTAIN))
    shown_uncertain = {(u.schedule, u.occurrence): u.rows for u in view.needs_person.uncertain}
    assert shown_uncertain == dict(sorted(uncertain.items())[:UNCERTAIN_GROUPS])
    assert view.needs_person.uncertain_truncated is (len(uncertain) > UNCERTAIN_GROUPS)
    assert {r.run for r in view.replicas} == set(ledger.leases())
    StatusView.model_validate_json(view.to_json())  # the JSON reads back as the same model


def test_held_schedules_say_why_and_disabled_ones_are_neither_held_nor_due(
    open_ledger_handle: Callable[[], Ledger], tmp_path: Path
) -> None:
    """Holds are what rounds recorded in the ledger (a guardrail, a secret the daemon's
    environment lacked), plus a secret missing from the reader's environment."""
    ledger = open_ledger_handle()
    over = "max_recipients 2: 3 recipients\nmax_segments 2: 3 segments"
    ledger.note_holds(
        {"beta": ("guardrail", over), "gamma-2": ("secret", "K of provider sky is not set")}, NOW
    )
    config = status_config(tmp_path)
    view = status_of(config, ledger, NOW, env={})
    by_name = {s.name: s for s in view.schedules}
    assert [(h.reason, h.since) for h in by_name["alpha"].held] == [("secret", None)]
    assert "SKY_KEY" in by_name["alpha"].held[0].detail
    assert [(h.reason, h.since) for h in by_name["beta"].held] == [
        ("guardrail", NOW),
        ("secret", None),
    ]
    assert by_name["beta"].held[0].detail == over.replace("\n", "; ")
    assert view.needs_person.over_limits[0].limits == over.splitlines()
    again = status_of(config, ledger, NOW, env=ENV)
    assert again.schedules[0].held == []  # SKY_KEY set: alpha was never held by a round
    assert by_name["gamma-2"].enabled is False
    assert by_name["gamma-2"].held == []
    assert by_name["gamma-2"].next_fires == []
    alpha = by_name["alpha"].next_fires
    assert len(alpha) == 3
    assert alpha[0] == NOW + timedelta(days=1)
    assert by_name["beta"].next_fires[0] == NOW.replace(hour=12)


def test_the_resolve_command_resolves_exactly_that_occurrence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run the shown command itself, through the CLI, against a SQLite ledger."""
    from smsops.cli import main
    from smsops.ledger.sqlite import SqliteLedger

    path = tmp_path / "l.sqlite"
    ledger = SqliteLedger(path)
    odd = "2027-03-01T09:00:00+00:00"
    write(
        ledger,
        [
            row("alpha", odd, "+15550000001", Status.UNCERTAIN),
            row("alpha", odd, "+15550000002", Status.UNCERTAIN),
            row("alpha", "once", "+15550000003", Status.UNCERTAIN),
        ],
    )
    config = status_config(tmp_path)
    view = status_of(config, ledger, NOW, env=ENV, ledger_arg=str(path))
    ledger.close()
    first = view.needs_person.uncertain[0]
    assert (first.schedule, first.occurrence, first.rows) == ("alpha", odd, 2)
    words = shlex.split(first.resolve_failed)
    assert words[:3] == ["smsops", "ledger", "resolve"]
    assert main(words[1:]) == 0
    capsys.readouterr()
    after = SqliteLedger(path, readonly=True)
    left = [(r.occurrence, r.status) for r in after.records()]
    after.close()
    assert sorted(left) == [(odd, Status.FAILED), (odd, Status.FAILED), ("once", Status.UNCERTAIN)]


def test_recent_suppressions_are_masked_and_bounded_to_the_week(
    open_ledger_handle: Callable[[], Ledger], tmp_path: Path
) -> None:
    ledger = open_ledger_handle()
    events = [
        OptEvent("+15550001234", OptAction.OUT, NOW - timedelta(days=1), "sky", "STOP"),
        OptEvent("+15550005678", OptAction.OUT, NOW - timedelta(days=30), "cli", ""),
    ]
    ledger.opt(events)
    view = _view(ledger, tmp_path)
    shown = view.needs_person.suppressions
    assert [(s.source, s.at) for s in shown] == [("sky", NOW - timedelta(days=1))]
    assert view.needs_person.suppressions_total == 1
    assert all(is_masked(s.number) for s in shown)
    assert "5550001234" not in view.to_json()

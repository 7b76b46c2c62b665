"""Guardrails (`limits`): a plan over a limit needs approval in every view, `apply`
refuses it without `--approve SCHEDULE`, and sends it with."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from smsops.cli import main
from smsops.sandbox.server import Sandbox
from tests.apply.conftest import write_config


def config(
    tmp_path: Path,
    sandbox: Sandbox,
    count: int,
    limits: str = "",
    defaults: str = "",
    price: str = "",
) -> Path:
    """`greet` to `count` recipients through ot, with `limits` and `defaults.limits`."""
    root = write_config(tmp_path / "config", sandbox, count, extra=price)
    yaml = root / "smsops.yaml"
    text = yaml.read_text()
    if limits:
        text = text.replace("provider: ot}", f"provider: ot, limits: {{{limits}}}}}")
    if defaults:
        text += f"defaults:\n  limits: {{{defaults}}}\n"
    yaml.write_text(text)
    return root


def apply(root: Path, ledger: Path, *extra: str) -> int:
    return main(["apply", str(root), "--yes", "--ledger", str(ledger), *extra])


def rows(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    db = sqlite3.connect(ledger)
    try:
        return int(db.execute("SELECT count(*) FROM sends").fetchone()[0])
    finally:
        db.close()


def test_apply_refuses_a_schedule_over_max_recipients_and_sends_it_with_approve(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    root = config(tmp_path, sandbox, 5, limits="max_recipients: 3")
    ledger = tmp_path / "l.sqlite"
    assert apply(root, ledger) == 1
    out, err = capsys.readouterr()
    assert "needs approval: max_recipients 3: this plan sends 5 messages" in out
    assert "greet: max_recipients 3: this plan sends 5 messages" in err
    assert "nothing was sent" in err
    assert "--approve greet" in err
    assert sandbox.state.snapshot() == []
    assert rows(ledger) == 0
    assert apply(root, ledger, "--approve", "greet") == 0
    assert len(sandbox.state.snapshot()) == 5
    assert rows(ledger) == 5


def test_approve_names_a_schedule_that_exists(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    root = config(tmp_path, sandbox, 2, limits="max_recipients: 1")
    assert apply(root, tmp_path / "l.sqlite", "--approve", "gret") == 1
    assert (
        "no schedule named 'gret' (--approve); the config has: 'greet'" in capsys.readouterr().err
    )
    assert sandbox.state.snapshot() == []


@pytest.mark.parametrize(
    ("limits", "price", "said"),
    [
        ("max_segments: 4", "", "max_segments 4: this plan sends 5 segments"),
        (
            "max_cost: 0.04",
            ", price_per_segment: 0.01",
            "max_cost 0.04: this plan costs about 0.05 USD",
        ),
        ("max_recipients: 4", "", "max_recipients 4: this plan sends 5 messages"),
    ],
)
def test_each_limit_kind_is_refused_with_its_figure(
    tmp_path: Path,
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    limits: str,
    price: str,
    said: str,
) -> None:
    root = config(tmp_path, sandbox, 5, limits=limits, price=price)
    assert apply(root, tmp_path / "l.sqlite") == 1
    assert f"greet: {said}" in capsys.readouterr().err
    assert sandbox.state.snapshot() == []


def test_a_plan_at_its_limit_is_not_over_it(tmp_path: Path, sandbox: Sandbox) -> None:
    limits = "max_recipients: 5, max_segments: 5, max_cost: 0.05, max_per_day: 5"
    root = config(tmp_path, sandbox, 5, limits=limits, price=", price_per_segment: 0.01")
    assert apply(root, tmp_path / "l.sqlite") == 0
    assert len(sandbox.state.snapshot()) == 5


def test_max_per_day_counts_what_the_ledger_sent_in_the_last_24_hours(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "l.sqlite"
    root = config(tmp_path, sandbox, 5, limits="max_per_day: 7")
    assert apply(root, ledger) == 0
    root = config(tmp_path, sandbox, 8, limits="max_per_day: 7")  # 3 more recipients
    capsys.readouterr()
    assert apply(root, ledger) == 1
    said = "max_per_day 7: 5 in the 24 hours before and 3 in this plan make 8 messages"
    assert said in capsys.readouterr().err
    assert len(sandbox.state.snapshot()) == 5
    assert apply(root, ledger, "--approve", "greet") == 0
    assert len(sandbox.state.snapshot()) == 8


def test_config_wide_default_applies_and_a_schedule_overrides_it(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "l.sqlite"
    root = config(tmp_path, sandbox, 5, defaults="max_recipients: 3, max_segments: 100")
    assert apply(root, ledger) == 1
    assert "greet: max_recipients 3: this plan sends 5 messages" in capsys.readouterr().err
    # The schedule's own kind wins; the default's other kinds still hold.
    root = config(
        tmp_path,
        sandbox,
        5,
        defaults="max_recipients: 3, max_segments: 4",
        limits="max_recipients: 10",
    )
    assert apply(root, ledger) == 1
    err = capsys.readouterr().err
    assert "max_segments 4" in err
    assert "max_recipients" not in err
    # null turns a default kind off for one schedule.
    root = config(tmp_path, sandbox, 5, defaults="max_recipients: 3", limits="max_recipients: null")
    assert apply(root, ledger) == 0
    assert len(sandbox.state.snapshot()) == 5


def test_every_plan_view_shows_the_schedule_needs_approval(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    root = config(tmp_path, sandbox, 5, limits="max_recipients: 3")
    ledger = str(tmp_path / "l.sqlite")
    assert main(["plan", str(root), "--format", "markdown", "--ledger", ledger]) == 0
    markdown = capsys.readouterr().out
    lines = markdown.splitlines()
    assert lines[0] == "<!-- smsops-plan -->"
    # Prominent: before the heading and the tables, as a GitHub warning.
    assert lines[1:3] == [
        "> [!WARNING]",
        "> **Needs approval: 1 schedule over its limits: apply sends nothing without "
        "--approve SCHEDULE for each; run holds them.**",
    ]
    assert "> - `greet`: `max_recipients 3: this plan sends 5 messages`" in lines
    assert markdown.index("[!WARNING]") < markdown.index("## smsops plan")
    assert "| `greet` | once **needs approval** | 5 |" in markdown
    assert "- **needs approval**: `max_recipients 3: this plan sends 5 messages`" in lines

    assert main(["plan", str(root), "--format", "json", "--ledger", ledger]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["needs_approval"] == ["greet"]
    (greet,) = plan["schedules"]
    assert greet["needs_approval"] == [
        {
            "limit": "max_recipients",
            "allowed": 3,
            "figure": 5,
            "detail": "this plan sends 5 messages",
        }
    ]

    assert main(["plan", str(root), "--ledger", ledger]) == 0
    text = capsys.readouterr().out
    assert "! needs approval: max_recipients 3: this plan sends 5 messages" in text
    assert "Needs approval: 1 schedule over its limits (greet)" in text


def test_a_plan_within_its_limits_says_nothing_of_approval(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    root = config(tmp_path, sandbox, 2, limits="max_recipients: 3")
    ledger = str(tmp_path / "l.sqlite")
    assert main(["plan", str(root), "--format", "markdown", "--ledger", ledger]) == 0
    assert "approval" not in capsys.readouterr().out.lower()
    assert main(["plan", str(root), "--format", "json", "--ledger", ledger]) == 0
    assert json.loads(capsys.readouterr().out)["needs_approval"] == []


def test_max_cost_without_a_price_is_a_located_error(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    root = config(tmp_path, sandbox, 2, defaults="max_cost: 10")
    assert main(["validate", str(root)]) == 1
    err = capsys.readouterr().err
    yaml = root / "smsops.yaml"
    line = yaml.read_text().splitlines().index("defaults:") + 2
    assert f"{yaml}:{line}:" in err
    assert "schedule 'greet': max_cost is compared with the plan's cost estimate" in err
    assert "provider 'ot' (its first) has no price_per_segment" in err


def test_limits_are_strict_numbers(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    root = config(tmp_path, sandbox, 2, limits="max_recipients: '5', max_per_day: true")
    assert main(["validate", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.count("write a number") == 2


def test_a_cost_exactly_at_max_cost_is_within_it(tmp_path: Path, sandbox: Sandbox) -> None:
    # 3 x 0.1 is 0.30000000000000004 in binary floats: the limit compares exact sums.
    root = config(tmp_path, sandbox, 3, limits="max_cost: 0.3", price=", price_per_segment: 0.1")
    assert apply(root, tmp_path / "l.sqlite") == 0
    assert len(sandbox.state.snapshot()) == 3


def test_nothing_sent_for_quiet_hours_says_so_not_that_the_ledger_has_it(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    root = config(tmp_path, sandbox, 3)
    yaml = root / "smsops.yaml"
    quiet = "quiet_hours: {start: '21:00', end: '08:00'}"
    yaml.write_text(yaml.read_text().replace("provider: ot}", f"provider: ot, {quiet}}}"))
    ledger = tmp_path / "l.sqlite"
    assert apply(root, ledger, "--at", "2027-03-01T23:00:00Z") == 0
    out = capsys.readouterr().out
    assert "the ledger already has" not in out
    said = (
        "Nothing to send: 3 due messages skipped (quiet hours 3): quiet hours 21:00-08:00 "
        "in Europe/"  # the zone of the numbers' region
    )
    assert said in out
    assert out.rstrip().endswith("; a later run inside the window sends it.")
    assert sandbox.state.snapshot() == []
    assert rows(ledger) == 0


def test_nothing_to_send_names_what_the_ledger_has(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    root = config(tmp_path, sandbox, 2)
    ledger = tmp_path / "l.sqlite"
    assert apply(root, ledger) == 0
    capsys.readouterr()
    assert apply(root, ledger) == 0
    assert "Nothing to send: the ledger already has all 2 due messages (2 sent)." in (
        capsys.readouterr().out
    )

"""plan/apply/ledger from the command line: formats, exit codes, secrets, sandbox."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from smsops.cli import main
from smsops.core.errors import Location
from smsops.core.skips import Skip, SkipReason
from smsops.engine.plan import Disposition, Plan, Sample, SchedulePlan
from smsops.report.plan_markdown import MARKDOWN_LIMIT, as_markdown
from smsops.sandbox.server import Sandbox
from tests.apply.conftest import write_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = str(ROOT / "examples" / "configs")
AT = "2026-11-22T18:30:00Z"  # order-shipped (once) and the 18:00 Lisbon reminder are due


def test_markdown_plan_of_the_examples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], snapshot: SnapshotAssertion
) -> None:
    ledger = str(tmp_path / "none.sqlite")
    assert main(["plan", EXAMPLES, "--at", AT, "--format", "markdown", "--ledger", ledger]) == 0
    out = capsys.readouterr().out.replace(str(ROOT) + "/", "").replace(str(tmp_path), "TMP")
    assert "Planned against the ledger `TMP/none.sqlite` (0 rows)." in out
    assert "+44 74** ***456" in out
    assert "+447400123456" not in out  # never a whole number
    assert out == snapshot


def test_markdown_plan_after_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], snapshot: SnapshotAssertion
) -> None:
    ledger = str(tmp_path / "l.sqlite")
    assert main(["apply", EXAMPLES, "--at", AT, "--sandbox", "--yes", "--ledger", ledger]) == 0
    capsys.readouterr()
    assert main(["plan", EXAMPLES, "--at", AT, "--format", "markdown", "--ledger", ledger]) == 0
    out = capsys.readouterr().out.replace(str(ROOT) + "/", "").replace(str(tmp_path), "TMP")
    assert "Planned against the ledger `TMP/l.sqlite` (6 rows)." in out
    assert "- 5 already sent" in out
    assert "- 1 already sent" in out
    assert out == snapshot


def test_json_plan_is_stable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "plan.json"
    args = ["plan", EXAMPLES, "--at", AT, "--format", "json", "--report", str(out_file)]
    assert main([*args, "--ledger", str(tmp_path / "l.sqlite"), "--detailed-exitcode"]) == 2
    assert "plan written to" in capsys.readouterr().err
    plan = json.loads(out_file.read_text())
    assert plan["format_version"] == 1
    assert plan["to_send"] == 6
    assert set(plan["summary"]) == {*(d.value for d in Disposition), "skipped", "segments", "cost"}
    assert plan["ledger"] == {"name": str(tmp_path / "l.sqlite"), "rows": 0}
    reminder = next(s for s in plan["schedules"] if s["schedule"] == "appointment-reminder")
    assert reminder["occurrences"] == ["2026-11-22T18:00:00Z"]
    assert reminder["providers"] == ["sky", "ot"]
    assert reminder["samples"][0]["masked_phone"] == "+351 91** **678"


def million_recipient_plan() -> Plan:
    """A plan whose counts add up to a million recipients, over many schedules."""
    schedules = []
    for i in range(2000):
        s = SchedulePlan(
            schedule=f"campaign-{i:04d}-with-a-rather-long-descriptive-name",
            template="t",
            audience="everyone",
            providers=["ses", "aoc"],
            occurrences=["2026-11-22T09:00:00Z"],
            next_fires=["2026-11-23T09:00:00Z"],
            counts=Counter({Disposition.NEW: 400, Disposition.SENT: 100}),
            segments=800,
            cost=3.2,
            priced=Counter({0.004: 800}),  # what `exact_cost`, the figure shown, is summed from
            currency="USD",
            encodings=Counter({"GSM-7": 400}),
        )
        s.samples = [Sample("+44 74** ***456", "x", "GSM-7", 2, "y" * 400)] * 3
        for _ in range(60):
            s.skip(
                Skip(
                    SkipReason.INVALID_NUMBER, "not a valid number", Location(Path("a.csv"), row=9)
                )
            )
        schedules.append(s)
    return Plan(datetime(2026, 11, 22, 9, tzinfo=UTC), schedules)


def test_a_million_recipient_plan_stays_under_the_comment_limit() -> None:
    plan = million_recipient_plan()
    assert sum(s.to_send + s.counts[Disposition.SENT] for s in plan.schedules) == 1_000_000
    text = as_markdown(plan)
    assert len(text) < MARKDOWN_LIMIT < 65_000
    assert "**800,000 messages to send (1,600,000 segments, about 6400.0000 USD)" in text
    assert "more schedules are not in this table" in text
    assert "schedules are not detailed here" in text
    assert "### `campaign-0000-with-a-rather-long-descriptive-name`" in text


def test_dry_run_prints_requests_without_secrets_and_writes_nothing(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "cfg", sandbox, 3))
    ledger = tmp_path / "l.sqlite"
    assert main(["apply", config, "--dry-run", "--ledger", str(ledger)]) == 0
    out = capsys.readouterr().out
    requests = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(requests) == 3
    assert requests[0]["headers"]["X-Auth-Token"] == "***"
    # numbers are masked by default (opentact's integer `to` becomes the masked text)
    assert requests[0]["json"] == {
        "from": 12017771234,
        "to": "+44 74** ***000",
        "message": "Hello P0",
    }
    assert "447400000000" not in out
    assert "jwt-test" not in out
    assert not ledger.exists()
    assert sandbox.state.snapshot() == []

    assert main(["apply", config, "--dry-run", "--unmask", "--ledger", str(ledger)]) == 0
    out = capsys.readouterr().out
    requests = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert requests[0]["json"] == {"from": 12017771234, "to": 447400000000, "message": "Hello P0"}
    assert "jwt-test" not in out
    assert not ledger.exists()


@pytest.mark.parametrize(
    ("provider", "field"), [("aoc", "to"), ("sky", "to"), ("ot", "to")], ids=["aoc", "sky", "ot"]
)
def test_dry_run_masks_every_spelling_of_a_number(
    tmp_path: Path,
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    provider: str,
    field: str,
) -> None:
    config = write_config(tmp_path / "cfg", sandbox, 3, provider=provider)
    # the number in the text too: a template may say it (aoc: one text for all, one bulk request)
    body = "Hello all" if provider == "aoc" else "Hi {{ recipient.phone }}"
    text = (config / "smsops.yaml").read_text().replace("Hello {{ name }}", body)
    (config / "smsops.yaml").write_text(text)
    assert main(["apply", str(config), "--dry-run", "--ledger", str(tmp_path / "l.sqlite")]) == 0
    out = capsys.readouterr().out
    for n in range(3):
        assert f"447400000{n:03d}" not in out
    requests = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    shown = [r["json"][field] for r in requests]
    if provider == "aoc":  # one bulk request: comma-separated digits
        assert shown == ["+44 74** ***000,+44 74** ***001,+44 74** ***002"]
    else:
        assert shown == ["+44 74** ***000", "+44 74** ***001", "+44 74** ***002"]
    if provider != "aoc":
        sent_text = requests[0]["json"].get("message") or requests[0]["json"]["message-text"]
        assert sent_text == "Hi +44 74** ***000"


def test_unmask_without_dry_run_is_a_usage_error(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "cfg", sandbox, 1))
    assert main(["apply", config, "--yes", "--unmask", "--ledger", str(tmp_path / "l")]) == 1
    assert "--unmask only changes what --dry-run prints" in capsys.readouterr().err
    assert sandbox.state.snapshot() == []


def test_a_missing_secret_stops_apply_before_any_send(
    tmp_path: Path,
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OT_TOKEN")
    config = str(write_config(tmp_path / "cfg", sandbox, 3))
    assert main(["apply", config, "--yes", "--ledger", str(tmp_path / "l.sqlite")]) == 1
    err = capsys.readouterr().err
    assert "needs the environment variable OT_TOKEN" in err
    assert "Traceback" not in err
    assert sandbox.state.snapshot() == []


def test_apply_lists_every_missing_secret_with_its_place_and_creates_no_ledger(
    tmp_path: Path,
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As `run` does: every unset (or empty) variable the sends need, file:line:col each,
    before anything is sent; the ledger that would have been written is not created."""
    monkeypatch.delenv("OT_TOKEN")
    monkeypatch.setenv("AOC_KEY", "")  # empty is as good as unset (run says the same)
    config = write_config(tmp_path / "cfg", sandbox, 3, provider="[ot, aoc]")
    ledger = tmp_path / "state" / "l.sqlite"
    assert main(["apply", str(config), "--yes", "--ledger", str(ledger)]) == 1
    err = capsys.readouterr().err
    yaml = str(config / "smsops.yaml")
    assert f"{yaml}:2:" in err  # ot's token
    assert "environment variable OT_TOKEN" in err
    assert f"{yaml}:3:" in err  # aoc's key
    assert "environment variable AOC_KEY" in err
    assert "nothing was sent" in err
    assert "Traceback" not in err
    assert sandbox.state.snapshot() == []
    assert not ledger.parent.exists()  # no empty ledger (nor its folder) left behind


def test_apply_that_stops_before_sending_creates_no_ledger(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "cfg", sandbox, 3))
    ledger = tmp_path / "l.sqlite"
    assert main(["apply", config, "--ledger", str(ledger)]) == 1  # cannot ask, no --yes
    assert "pass --yes" in capsys.readouterr().err
    empty = str(write_config(tmp_path / "empty", sandbox, 0))
    assert main(["apply", empty, "--yes", "--ledger", str(ledger)]) == 0
    assert "Nothing to send" in capsys.readouterr().out
    assert list(tmp_path.glob("l.sqlite*")) == []


def test_apply_names_the_ledger_it_writes(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "cfg", sandbox, 3))
    ledger = str(tmp_path / "l.sqlite")
    assert main(["apply", config, "--yes", "--ledger", ledger]) == 0
    assert f"apply writes the ledger {ledger} (0 rows)" in capsys.readouterr().err
    assert main(["apply", config, "--yes", "--ledger", ledger]) == 0
    assert f"apply writes the ledger {ledger} (3 rows)" in capsys.readouterr().err


def test_apply_without_yes_refuses_when_it_cannot_ask(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "cfg", sandbox, 3))
    assert main(["apply", config, "--ledger", str(tmp_path / "l.sqlite")]) == 1
    assert "pass --yes" in capsys.readouterr().err
    assert sandbox.state.snapshot() == []


def test_ledger_commands(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "cfg", sandbox, 3))
    ledger = str(tmp_path / "l.sqlite")
    assert main(["apply", config, "--yes", "--ledger", ledger]) == 0
    capsys.readouterr()

    assert main(["ledger", "stats", "--ledger", ledger, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"greet": {"sent": 3}}

    assert main(["ledger", "list", "--ledger", ledger, "--status", "sent"]) == 0
    listed = capsys.readouterr().out
    assert "+44 74** ***000" in listed
    assert "+447400000000" not in listed

    export = tmp_path / "out.csv"
    assert main(["ledger", "export", "--ledger", ledger, "--out", str(export)]) == 0
    lines = export.read_text().splitlines()
    assert lines[0].startswith("key,schedule,occurrence,recipient")
    assert len(lines) == 4
    assert "+44 74** ***000" in export.read_text()  # masked unless asked
    assert "447400000000" not in export.read_text()
    assert main(["ledger", "export", "--ledger", ledger, "--out", str(export), "--unmask"]) == 0
    assert "+447400000000" in export.read_text()

    assert (
        main(["ledger", "export", "--ledger", ledger, "--format", "jsonl", "--status", "failed"])
        == 0
    )
    assert capsys.readouterr().out == ""

    assert main(["ledger", "stats", "--ledger", str(tmp_path / "missing.sqlite")]) == 1
    assert "no ledger at" in capsys.readouterr().err

"""Guardrails on the forecast: a schedule whose next fire (or a day of the
horizon) is over its `limits` is flagged in every view before the merge, by
the same check a due plan gets (engine/limits.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smsops.cli import main
from tests.forecast.test_forecast_acceptance import AT, DAILY, _config, _plan_json

LIMITED = DAILY.replace("window: 2h}", "window: 2h, limits: {max_recipients: 2}}")


def test_a_daily_cron_over_max_recipients_is_flagged_by_the_forecast_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan_json(_config(tmp_path / "c", 10, LIMITED), capsys)
    assert plan["needs_approval"] == []  # due now: nothing (the 09:00 window closed)
    forecast = plan["forecast"]
    assert forecast["needs_approval"] == ["daily-promo"]
    (daily,) = forecast["schedules"]
    assert daily["needs_approval"] == [
        {
            "limit": "max_recipients",
            "allowed": 2,
            "figure": 10,
            "detail": "its next fire (2027-03-02T09:00:00Z) sends 10 messages",
        }
    ]


def test_text_and_markdown_flag_the_forecast_over_a_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path / "c", 10, LIMITED)
    assert main(["plan", str(config), "--at", AT, "--ledger", "memory://"]) == 0
    text = capsys.readouterr().out
    assert (
        "! needs approval: max_recipients 2: its next fire (2027-03-02T09:00:00Z) sends "
        "10 messages" in text
    )
    assert "Needs approval at its next fires: 1 schedule over its limits (daily-promo)" in text
    args = ["plan", str(config), "--at", AT, "--ledger", "memory://", "--format", "markdown"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    # The reviewer's question, first in the comment: the merge will be held.
    assert lines[1] == "> [!WARNING]"
    assert "Needs approval" in lines[2]
    assert (
        "> - `daily-promo` (forecast): `max_recipients 2: its next fire "
        "(2027-03-02T09:00:00Z) sends 10 messages`" in lines
    )
    assert any(line.startswith("| `daily-promo` **needs approval** |") for line in lines)
    assert (
        "- **needs approval**: `max_recipients 2: its next fire (2027-03-02T09:00:00Z) "
        "sends 10 messages`" in lines
    )


def test_max_per_day_is_checked_on_the_forecasts_busiest_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    minutely = (
        "  minutely: {template: promo, audience: people, provider: ot,"
        " trigger: {cron: '* * * * *'}, window: 1m, limits: {max_per_day: 15}}\n"
    )
    plan = _plan_json(_config(tmp_path / "c", 5, minutely), capsys, "--horizon", "2d")
    forecast = plan["forecast"]
    assert forecast["needs_approval"] == ["minutely"]
    (minute,) = forecast["schedules"]
    busiest = max(minute["per_day"], key=lambda day: day["messages"])
    assert busiest["messages"] == 5 * 1440
    (over,) = minute["needs_approval"]
    assert over["limit"] == "max_per_day"
    assert over["allowed"] == 15
    assert over["figure"] == 7200  # 1440 fires in any 24 hours, 5 messages each
    assert "7,200 messages in the 24 hours to 2027-03-0" in over["detail"]


def test_within_its_limits_or_disabled_the_forecast_flags_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan_json(_config(tmp_path / "a", 2, LIMITED), capsys)  # exactly at the limit
    assert plan["forecast"]["needs_approval"] == []
    assert plan["forecast"]["schedules"][0]["needs_approval"] == []
    disabled = LIMITED.replace("window: 2h,", "window: 2h, enabled: false,")
    plan = _plan_json(_config(tmp_path / "b", 10, disabled), capsys)
    assert plan["forecast"]["needs_approval"] == []  # it sends nothing: nothing to hold
    args = ["plan", str(tmp_path / "b"), "--at", AT, "--ledger", "memory://"]
    args += ["--format", "markdown"]
    assert main(args) == 0
    assert "approval" not in capsys.readouterr().out.lower()


def test_max_per_day_counts_any_24_hours_with_the_due_now_sends_as_a_due_plan_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Due at 09:30 (5 messages), again at 09:00 tomorrow (5 more): 10 in 24 hours, over 8,
    though no UTC day holds more than 5 of them."""
    limited = DAILY.replace("window: 2h}", "window: 2h, limits: {max_per_day: 8}}")
    config = _config(tmp_path / "c", 5, limited)
    args = ["plan", str(config), "--at", "2027-03-01T09:30:00Z", "--format", "json"]
    assert main([*args, "--ledger", "memory://"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["needs_approval"] == []  # due now: 5 in the 24 hours to 09:30
    (daily,) = plan["forecast"]["schedules"]
    assert max(day["messages"] for day in daily["per_day"]) == 5
    assert daily["needs_approval"] == [
        {
            "limit": "max_per_day",
            "allowed": 8,
            "figure": 10,
            "detail": "5 claimed by 2027-03-01T09:30:00Z and 5 at its fires make 10 messages "
            "in the 24 hours to 2027-03-02T09:00:00Z",
        }
    ]

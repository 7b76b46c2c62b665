"""Issue 20: a forecast in every plan, and targeting with --schedule (plan and apply).

The forecast answers a reviewer's question the due-now plan cannot: what a
schedule will send at its next fires, even when nothing is due now.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smsops.cli import main
from smsops.sandbox.server import Sandbox
from tests.apply.conftest import ledger_counts, numbers

AT = "2027-03-01T12:00:00Z"  # a Monday, noon UTC: the 09:00 cron is not due


def _config(
    root: Path, count: int, schedules: str, *, base_url: str = "http://127.0.0.1:9/opentact"
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = "\n".join(f"{n},P{i}" for i, n in enumerate(numbers(count)))
    (root / "people.csv").write_text("phone,name\n" + rows + "\n")
    (root / "smsops.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{base_url}', token: '${{env:OT_TOKEN}}',"
        " from: '+12017771234', price_per_segment: {default: 0.01, currency: USD}}\n"
        "templates:\n"
        "  promo: {category: transactional, body: 'Hello {{ name }}, our daily offer.'}\n"
        "audiences:\n"
        "  people: {source: people.csv}\n"
        "schedules:\n" + schedules
    )
    return root


def _plan_json(config: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    code = main(
        ["plan", str(config), "--at", AT, "--format", "json", "--ledger", "memory://", *extra]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


DAILY = "  daily-promo: {template: promo, audience: people, provider: ot, trigger: {cron: '0 9 * * *'}, window: 2h}\n"


def test_a_new_daily_cron_on_20000_recipients_shows_tomorrows_sends_and_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path / "c", 20_000, DAILY)
    plan = _plan_json(config, capsys)
    assert plan["to_send"] == 0  # due now: nothing (noon, the 09:00 window closed)
    forecast = plan["forecast"]
    assert forecast["horizon"] == "7d"
    (daily,) = forecast["schedules"]
    assert daily["schedule"] == "daily-promo"
    assert daily["enabled"] is True
    assert daily["next_occurrence"] == "2027-03-02T09:00:00Z"
    assert daily["fires"][:2] == ["2027-03-02T09:00:00Z", "2027-03-03T09:00:00Z"]
    assert daily["fire_count"] == 7
    nxt = daily["next"]
    assert nxt["to_send"] == 20_000
    assert nxt["segments"] == 20_000
    assert nxt["encodings"] == {"GSM-7": 20_000}
    assert nxt["cost"] == pytest.approx(200.0)
    assert nxt["currency"] == "USD"
    assert nxt["samples"][0]["masked_phone"] == "+44 74** ***000"
    assert "*" in nxt["samples"][0]["masked_phone"]
    assert nxt["samples"][0]["text"] == "Hello P0, our daily offer."
    per_day = {d["day"]: d for d in daily["per_day"]}
    assert per_day["2027-03-02"]["messages"] == 20_000
    assert per_day["2027-03-02"]["cost"] == {"USD": pytest.approx(200.0)}
    total = {d["day"]: d for d in forecast["per_day"]}
    assert total["2027-03-08"]["messages"] == 20_000  # day 7 of the horizon
    assert forecast["messages"] == 7 * 20_000
    assert forecast["cost"] == {"USD": pytest.approx(1400.0)}


def test_text_and_markdown_show_the_forecast(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path / "c", 50, DAILY)
    assert main(["plan", str(config), "--at", AT, "--ledger", "memory://"]) == 0
    text = capsys.readouterr().out
    assert "nothing due" in text  # the due-now section as it was
    assert "Forecast" in text
    assert "2027-03-02T09:00:00Z" in text
    assert "50 to send" in text
    assert "0.5000 USD" in text
    assert (
        main(["plan", str(config), "--at", AT, "--ledger", "memory://", "--format", "markdown"])
        == 0
    )
    markdown = capsys.readouterr().out
    assert "## Forecast" in markdown
    assert "2027-03-02T09:00:00Z" in markdown
    assert "| `daily-promo` |" in markdown


def test_a_disabled_schedule_appears_marked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schedules = DAILY.replace("window: 2h}", "window: 2h, enabled: false}")
    config = _config(tmp_path / "c", 10, schedules)
    plan = _plan_json(config, capsys)
    assert plan["schedules"] == []  # due now: disabled schedules are not planned
    (daily,) = plan["forecast"]["schedules"]
    assert daily["enabled"] is False
    assert daily["next"]["to_send"] == 10  # what it would send once enabled
    assert plan["forecast"]["messages"] == 0  # a disabled schedule sends nothing
    assert main(["plan", str(config), "--at", AT, "--ledger", "memory://"]) == 0
    assert "daily-promo (disabled" in capsys.readouterr().out
    assert (
        main(["plan", str(config), "--at", AT, "--ledger", "memory://", "--format", "markdown"])
        == 0
    )
    assert "`daily-promo` (disabled" in capsys.readouterr().out


def test_recipient_local_schedule_shows_the_spread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "c"
    _config(
        root,
        0,
        "  local: {template: promo, audience: people, provider: ot, trigger: {cron: '0 9 * * *', timezone: recipient}, window: 2h}\n",
    )
    # a UK, a New York and a Tokyo number
    (root / "people.csv").write_text(
        "phone,name,tz\n+447400000001,A,Europe/London\n+12125550100,B,America/New_York\n"
        "+81312345678,C,Asia/Tokyo\n"
    )
    yaml = root / "smsops.yaml"
    yaml.write_text(
        yaml.read_text().replace(
            "{source: people.csv}", "{source: people.csv, timezone_column: tz}"
        )
    )
    plan = _plan_json(root, capsys)
    (local,) = plan["forecast"]["schedules"]
    assert local["recipient_local"] is True
    assert local["next_occurrence"] == "2027-03-02T09:00:00"
    assert local["next"]["to_send"] == 3
    spread = local["spread"]
    assert spread["zones"] == {"America/New_York": 1, "Asia/Tokyo": 1, "Europe/London": 1}
    assert spread["earliest"] == "2027-03-02T00:00:00Z"  # 09:00 in Tokyo
    assert spread["latest"] == "2027-03-02T14:00:00Z"  # 09:00 in New York (EST)
    assert main(["plan", str(root), "--at", AT, "--ledger", "memory://"]) == 0
    assert "2027-03-02T00:00:00Z to 2027-03-02T14:00:00Z" in capsys.readouterr().out


@pytest.mark.parametrize("horizon", ["0s", "30m", "32d", "1000d", "soon"])
def test_horizon_is_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], horizon: str
) -> None:
    config = _config(tmp_path / "c", 1, DAILY)
    with pytest.raises(SystemExit):
        main(["plan", str(config), "--at", AT, "--horizon", horizon])
    err = capsys.readouterr().err
    assert "--horizon" in err
    assert "from 1h to 31d" in err


def test_horizon_limits_the_fires(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path / "c", 1, DAILY)
    plan = _plan_json(config, capsys, "--horizon", "2d")
    assert plan["forecast"]["horizon"] == "2d"
    assert plan["forecast"]["schedules"][0]["fires"] == [
        "2027-03-02T09:00:00Z",
        "2027-03-03T09:00:00Z",
    ]


TWO = DAILY + "  welcome: {template: promo, audience: people, provider: ot}\n"


def test_plan_targets_schedules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path / "c", 5, TWO)
    plan = _plan_json(config, capsys, "--schedule", "daily-promo")
    assert plan["to_send"] == 0  # welcome (due now) is not considered
    assert plan["not_considered"] == 1
    assert [s["schedule"] for s in plan["forecast"]["schedules"]] == ["daily-promo"]
    plan = _plan_json(config, capsys, "--schedule", "welcome")
    assert plan["to_send"] == 5
    assert plan["not_considered"] == 1
    assert (
        main(["plan", str(config), "--at", AT, "--ledger", "memory://", "--schedule", "welcome"])
        == 0
    )
    assert "1 schedule not considered (--schedule)" in capsys.readouterr().out


def test_an_unknown_target_names_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path / "c", 5, TWO)
    for command in ("plan", "apply"):
        assert main([command, str(config), "--at", AT, "--schedule", "nope"]) == 1
        err = capsys.readouterr().err
        assert "no schedule named 'nope'" in err
        assert "the config has: 'daily-promo', 'welcome'" in err


def test_apply_sends_only_the_targeted_schedule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OT_TOKEN", "jwt-test")
    ledger = tmp_path / "ledger.sqlite"
    with Sandbox() as sandbox:
        schedules = (
            "  welcome: {template: promo, audience: people, provider: ot}\n"
            "  again: {template: promo, audience: people, provider: ot}\n"
        )
        config = _config(tmp_path / "c", 4, schedules, base_url=sandbox.base_url("opentact"))
        args = ["apply", str(config), "--at", AT, "--ledger", str(ledger), "--yes"]
        assert main([*args, "--schedule", "again"]) == 0
        assert ledger_counts(ledger) == {"sent": 4}
        assert len(sandbox.state.messages) == 4
        out = capsys.readouterr().out
        assert "1 schedule not considered (--schedule)" in out
        assert main(args) == 0  # untargeted: the other schedule's 4 now
        assert len(sandbox.state.messages) == 8


ONCE_MARKETING = "  launch: {template: offer, audience: people, provider: ot}\n"


def _once_config(root: Path) -> Path:
    config = _config(root, 3, ONCE_MARKETING)
    yaml = config / "smsops.yaml"
    yaml.write_text(
        yaml.read_text().replace(
            "templates:\n",
            "templates:\n  offer: {category: marketing, body: 'Hi {{ name }}. Reply STOP to opt out'}\n",
        )
    )
    return config


def test_a_once_schedule_held_by_quiet_hours_forecasts_its_send_when_they_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _once_config(tmp_path / "c")
    plan = _plan_json(config, capsys, "--at", "2027-03-01T22:00:00Z")  # the last --at wins
    (now,) = plan["schedules"]
    assert now["to_send"] == 0
    assert now["skipped"] == {"quiet_hours": 3}  # what apply does at 22:00: holds them
    (launch,) = plan["forecast"]["schedules"]
    assert launch["triggered"] is False
    assert launch["next"]["to_send"] == 3  # sent by the first run after 08:00
    assert launch["next"]["skipped"] == {}
    assert launch["spread"]["earliest"] == "2027-03-02T08:00:00Z"  # 08:00 in the UK zones
    assert launch["per_day"][0]["day"] == "2027-03-02"
    assert launch["per_day"][0]["messages"] == 3
    assert plan["forecast"]["messages"] == 3
    assert main(["plan", str(config), "--at", "2027-03-01T22:00:00Z", "--ledger", "memory://"]) == 0
    text = capsys.readouterr().out
    assert "3 held by quiet hours now (see due now): sent when they end" in text
    assert "reaches recipients from 2027-03-02T08:00:00Z" in text


def test_a_once_schedule_outside_quiet_hours_is_all_in_due_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan_json(_once_config(tmp_path / "c"), capsys, "--at", "2027-03-01T12:00:00Z")
    assert plan["schedules"][0]["to_send"] == 3
    (launch,) = plan["forecast"]["schedules"]
    assert launch["next"] is None  # nothing held: nothing more to forecast
    assert plan["forecast"]["messages"] == 0


def test_every_view_shows_times_to_the_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plan` at now (microseconds and all): each time it shows is to the second, as the
    documented formats are (the forecast's heading printed `12:00:00.123456Z`)."""
    hourly = (
        "  hourly: {template: promo, audience: people, provider: ot,"
        " trigger: {every: 1h}, window: 30m, limits: {max_per_day: 3}}\n"
    )
    config = _config(tmp_path / "c", 2, hourly)
    at = "2027-03-01T12:00:00.123456Z"
    for fmt in ("text", "markdown", "json"):
        base = ["plan", str(config), "--at", at, "--ledger", "memory://", "--format", fmt]
        assert main(base) == 0
        out = capsys.readouterr().out
        assert ".123" not in out, fmt
        assert "2027-03-01T12:00:00Z" in out, fmt  # the plan's time
        assert "2027-03-08T12:00:00Z" in out, fmt  # the forecast's end
        assert "claimed by 2027-03-01T12:00:00Z" in " ".join(out.split()), fmt

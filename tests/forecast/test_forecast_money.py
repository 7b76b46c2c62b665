"""The forecast's money is exact: `decimal.Decimal` from the config's prices to every view.

Binary floats summed per day, per schedule and per provider drift: 3 x 0.1
is 0.30000000000000004, a price of 350.55 (a currency with small units) over
a million recipients and a week loses cents, and rounding each day to 6
places loses a fraction of a cent per day. Every figure here is compared
with the same sum done in `Decimal`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from smsops.cli import main
from smsops.core.terminal import json_text
from smsops.engine.forecast import Before, Forecast, forecast_from, next_to_plan
from smsops.engine.plan import Disposition, SchedulePlan
from smsops.engine.planner import PlanOptions
from smsops.engine.project import load_project
from smsops.report.forecast_format import forecast_json, forecast_text
from smsops.report.forecast_markdown import forecast_markdown

AT = datetime(2027, 3, 1, 12, tzinfo=UTC)
RECIPIENTS = 1_000_001
PARTS = 3  # segments per message
# provider -> (price as the config writes it, currency)
PRICES = {
    "ot": ("0.0075", "USD"),
    "ot2": ("0.0079", "USD"),
    "idr": ("350.55", "IDR"),
    "tiny": ("0.0000075", "EUR"),
}
BODY = "A" * 400  # 3 GSM-7 segments (153 characters each)


def _config(root: Path, contacts: str = "[{phone: '+447400123456'}]") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    providers = "".join(
        f"  {name}: {{type: opentact, base_url: 'http://127.0.0.1:9/opentact', "
        f"token: '${{env:OT_TOKEN}}', from: '+12017771234', "
        f"price_per_segment: {{default: {price}, currency: {currency}}}}}\n"
        for name, (price, currency) in PRICES.items()
    )
    schedules = "".join(
        f"  daily-{name}: {{template: t, audience: people, provider: {name}, "
        "trigger: {cron: '0 9 * * *'}, window: 2h}\n"
        for name in PRICES
    )
    (root / "smsops.yaml").write_text(
        f"providers:\n{providers}"
        f"templates:\n  t: {{category: transactional, body: '{BODY}'}}\n"
        f"audiences:\n  people: {{contacts: {contacts}}}\n"
        f"schedules:\n{schedules}"
    )
    return root


def _expected(recipients: int, fires: int) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for price, currency in PRICES.values():
        cost = Decimal(price) * PARTS * recipients * fires
        total[currency] = total.get(currency, Decimal(0)) + cost
    return total


def _forecast(root: Path) -> Forecast:
    """The week's forecast, each schedule's next fire planned as a million recipients."""
    config = load_project(root)
    horizon = timedelta(days=7)
    fires, _ = next_to_plan(config, AT, horizon, None, PlanOptions())
    planned = {}
    for name, schedule in config.schedules.items():
        price = config.providers[schedule.providers[0]].price()
        assert price is not None
        plan = SchedulePlan(name, "t", "people", schedule.providers, [], [], cost=0.0)
        plan.counts[Disposition.NEW] = RECIPIENTS
        plan.segments = PARTS * RECIPIENTS
        plan.currency = price.currency
        plan.priced[price.default] = PARTS * RECIPIENTS
        plan.cost = float(plan.exact_cost or 0)  # as the planner leaves it
        planned[name] = plan
    return forecast_from(config, fires, planned, Before(None, AT, horizon, {}))  # type: ignore[arg-type]


def _decimal_json(value: Any) -> Any:
    return json.loads(json_text(value), parse_float=Decimal, parse_int=Decimal)


def test_a_million_recipients_cost_what_decimal_arithmetic_says(tmp_path: Path) -> None:
    forecast = _forecast(_config(tmp_path / "c"))
    expected = _expected(RECIPIENTS, fires=7)
    assert forecast.cost() == expected
    day = _expected(RECIPIENTS, fires=1)
    assert all(d.cost == day for d in forecast.per_day())

    shown = _decimal_json(forecast_json(forecast))  # the numbers' exact digits
    assert shown["cost"] == expected
    assert all(d["cost"] == day for d in shown["per_day"])
    for s in shown["schedules"]:
        price, currency = PRICES[s["schedule"].removeprefix("daily-")]
        assert all(
            d["cost"] == {currency: Decimal(price) * PARTS * RECIPIENTS} for d in s["per_day"]
        )

    text = forecast_text(forecast)
    total = " + ".join(f"{value:.4f} {currency}" for currency, value in sorted(expected.items()))
    assert f"about {total})" in text, text
    markdown = forecast_markdown(forecast)
    for price, currency in PRICES.values():
        one = Decimal(price) * PARTS * RECIPIENTS
        assert f"| {one:.4f} {currency} |" in markdown, markdown


def test_plan_json_writes_the_forecast_costs_with_exact_digits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OT_TOKEN", "t")
    contacts = "[{phone: '+447400123456'}, {phone: '+447400123457'}, {phone: '+447400123458'}]"
    root = _config(tmp_path / "c", contacts)
    at = "2027-03-01T12:00:00Z"
    args = ["plan", str(root), "--at", at, "--ledger", "memory://", "--format", "json"]
    assert main(args) == 0
    out = capsys.readouterr().out
    forecast = json.loads(out, parse_float=Decimal)["forecast"]
    assert forecast["cost"] == _expected(3, fires=7)
    assert all(d["cost"] == _expected(3, fires=1) for d in forecast["per_day"])
    assert '"EUR": 0.0000675' in out  # the digits themselves, not a float's rounding

"""Apply's money is exact, as the plan's is: `decimal.Decimal` from the config's prices.

Binary floats summed per send drift: 0.0075 x 3 parts over 5 sends is
0.11249999999999999, and 0.00035 x 3 parts over 7 sends shows as 0.0073
where the plan says 0.0074. Every figure here is compared with the same
sum done in `Decimal`; the summary shows it to 4 places, as plan's text does.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from smsops.cli.plan_commands import _summary
from smsops.engine.apply import ApplyOptions, ApplyReport, Sender
from smsops.engine.diff_samples import samples
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.ledger.memory import MemoryLedger
from smsops.render.renderer import compile_templates

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
PARTS = 3  # segments per message
BODY = "A" * 400  # 3 GSM-7 segments (153 characters each)
FAST = ApplyOptions(max_attempts=1, backoff_base=0.001, backoff_cap=1.0, claimed_by="h:1:r")


def _config(root: Path, price: str, count: int) -> Path:
    contacts = "".join(f"      - {{phone: '+4474001234{n:02d}'}}\n" for n in range(count))
    (root / "c.yaml").write_text(
        "providers:\n"
        "  ot: {type: opentact, base_url: 'http://ot.test', token: '${env:OT}', "
        f"from: '+12017771234', price_per_segment: {{default: {price}, currency: USD}}}}\n"
        f"templates:\n  t: {{category: transactional, body: '{BODY}'}}\n"
        f"audiences:\n  a:\n    contacts:\n{contacts}"
        "schedules:\n  s: {template: t, audience: a, provider: ot}\n"
    )
    return root


def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, json={"success": True, "payload": {"uuid": "u-1", "state": "x"}})


def _apply(root: Path) -> ApplyReport:
    config = load_project(root)
    ledger = MemoryLedger()
    plan = make_plan(config, ledger, AT, lambda _: False, PlanOptions(keep_sends=True))
    sender = Sender(config, ledger, {"OT": "jwt"}, FAST, transport=httpx.MockTransport(_ok))
    return asyncio.run(sender.run(plan.sends))


@pytest.mark.parametrize(("price", "count"), [("0.0075", 5), ("0.0075", 40), ("0.00035", 7)])
def test_apply_sums_its_cost_exactly(
    tmp_path: Path, price: str, count: int, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _apply(_config(tmp_path, price, count))
    exact = Decimal(price) * PARTS * count

    assert report.sent == count
    assert report.segments == PARTS * count
    assert report.cost == {"USD": exact}
    assert all(isinstance(v, Decimal) for v in report.cost.values())

    _summary(report)
    out = capsys.readouterr().out
    assert f"({PARTS * count} segments, about {exact:.4f} USD)." in out


def test_a_diff_sample_costs_exactly(tmp_path: Path) -> None:
    config = load_project(_config(tmp_path, "0.0079", 1))
    compiled = compile_templates(config)
    [change] = samples(config, config, "t", AT, None, (compiled, compiled))

    for side in (change.before, change.after):
        assert side.cost == Decimal("0.0079") * PARTS  # a float makes 0.023700000000000002
        assert isinstance(side.cost, Decimal)

"""The forecast made in the due-now plan's read of the audience equals a second full planning.

`plan_with_forecast` plans a schedule's next occurrence in the same pass over
its audience as its due-now plan, and takes the due-now render of a recipient
when the template reads nothing that moves between occurrences. Checked here
against the independent path (`make_plan`, then `make_forecast` planning each
next occurrence on its own) on generated configs: templates with and without
`now` / `occurrence`, quiet hours, fixed and recipient-local zones, exclusions,
duplicates, bad rows, ledger rows on both occurrences.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import smsops.engine.schedule_planner as planner_module
from smsops.config.loader import Config
from smsops.engine.forecast import make_forecast, plan_with_forecast
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.memory import MemoryLedger
from smsops.render.renderer import Rendered, compile_templates

HORIZON = timedelta(days=3)
BODIES = [
    "Hi {{ name }}, your offer.",
    "Hi {{ name }}, it is {{ now.hour }} o'clock.",
    "{{ occurrence }}: {{ name }}",
    "{{ name|upper }} via {{ schedule }} in {{ recipient.region }}",
    "Привет {{ name }}",
    "{{ name }} " * 40,
    "{% if name == 'P3' %}{{ 1 / 0 }}{% endif %}Hi {{ name }}",
    "Hi {{ nick }}",  # empty for some rows: a missing variable
    "{% set t = now %}{{ name }} {{ t.day }}",
]
ZONES = ["UTC", "Europe/London", "America/New_York", "Asia/Tokyo", "recipient"]
PHONES = ["+447400000{:03d}", "+1201555{:04d}", "+49151000{:04d}"]


def _config(root: Path, rng: random.Random) -> tuple[Config, int]:
    """A generated config, and the hour its schedule fires at."""
    root.mkdir(parents=True)
    rows = []
    for i in range(rng.randint(5, 40)):
        phone = rng.choice(PHONES).format(i)
        if rng.random() < 0.05:
            phone = "12"  # not a number
        name = "" if rng.random() < 0.05 else f"P{i}"
        nick = "" if rng.random() < 0.3 else f"N{i}"
        tz = rng.choice(["Europe/London", "America/New_York", "Asia/Tokyo", "", "Mars/Base"])
        rows.append(f"{phone},{name},{nick},{tz}")
        if rng.random() < 0.1:
            rows.append(f"{phone},Twin{i},,{tz}")  # a duplicate: the first row wins
    (root / "people.csv").write_text("phone,name,nick,tz\n" + "\n".join(rows) + "\n")
    blocked = rng.sample(range(40), 3)
    contacts = ", ".join(f"{{phone: '{PHONES[0].format(i)}'}}" for i in blocked)
    body = rng.choice(BODIES).replace("'", "''")
    category = rng.choice(["transactional", "marketing"])
    zone = rng.choice(ZONES)
    quiet = rng.choice(["", ", quiet_hours: {start: '21:00', end: '08:00'}"])
    quiet = quiet or rng.choice(["", ", quiet_hours: {start: '06:00', end: '12:00'}"])
    hour = rng.randint(0, 23)
    window = rng.choice(["1h", "3h", "12h"])
    trigger = rng.choice(
        [
            f"trigger: {{cron: '0 {hour} * * *', timezone: {zone}}}, window: {window}, ",
            f"trigger: {{cron: '30 {hour} * * 1-5', timezone: {zone}}}, window: {window}, ",
            f"trigger: {{every: 6h, timezone: {zone}}}, window: {window}, ",
        ]
        + [""] * (rng.random() < 0.1)  # once
    )
    (root / "smsops.yaml").write_text(
        "providers:\n"
        "  ot: {type: opentact, base_url: 'http://127.0.0.1:9/ot', token: '${env:OT}',"
        " from: '+12017771234',"
        " price_per_segment: {default: 0.01, regions: {GB: 0.04, DE: 0.07}, currency: EUR}}\n"
        "templates:\n"
        f"  t: {{category: {category}, body: '{body}'}}\n"
        "  other: {category: transactional, body: 'Other {{ name }} {{ occurrence }}'}\n"
        "audiences:\n"
        "  people: {source: people.csv, timezone_column: tz, exclude: [blocked]}\n"
        f"  blocked: {{contacts: [{contacts}]}}\n"
        "schedules:\n"
        f"  s: {{template: t, audience: people, provider: ot, {trigger}"
        f"enabled: true{quiet}}}\n"
        "  d: {template: other, audience: people, provider: ot,"
        " trigger: {cron: '0 9 * * *'}, enabled: false}\n"
    )
    return load_project(root, None), hour


def _seed(ledger: MemoryLedger, config: Config, occurrence: str, rng: random.Random) -> None:
    """Ledger rows for some members of `occurrence`: sent, failed, pending, uncertain."""
    now = datetime(2027, 3, 1, tzinfo=UTC)
    for line in (config.root / "people.csv").read_text().splitlines()[1:]:
        phone = line.split(",")[0]
        status = rng.choice([None, None, Status.SENT, Status.FAILED, Status.UNCERTAIN, None])
        if status is None or not phone.startswith("+"):
            continue
        (claimed,) = ledger.claim(
            [
                SendRecord.claim(
                    "s",
                    occurrence,
                    phone,
                    provider="ot",
                    template="t",
                    text_hash="x",
                    segments=1,
                    now=now,
                    claimed_by="test",
                )
            ]
        ) or [None]
        if claimed is not None:
            ledger.settle([replace(claimed, status=status)])


def _never_stale(_: SendRecord) -> bool:
    return False


@pytest.mark.parametrize("seed", range(80))
def test_the_forecast_from_the_plans_pass_equals_a_second_planning(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    config, hour = _config(tmp_path / "c", rng)
    hour = hour if rng.random() < 0.8 else rng.randint(0, 23)  # mostly due now
    trigger = config.schedules["s"].trigger
    zone = "UTC" if trigger is None or trigger.timezone == "recipient" else trigger.timezone
    at = datetime(2027, 3, 1, hour, rng.choice([0, 31, 59]), tzinfo=ZoneInfo(zone))
    at = at.astimezone(UTC)
    ledger = MemoryLedger()
    options = PlanOptions(samples=rng.choice([0, 3, 50]), keep_sends=rng.random() < 0.5)
    alone = make_plan(config, ledger, at, _never_stale, options)
    ahead = make_forecast(config, ledger, at, HORIZON, _never_stale, None, options)
    for occurrence in alone.schedules[0].occurrences[:1]:
        _seed(ledger, config, occurrence, rng)
    if (nxt := ahead.schedules[0].next_occurrence) is not None and rng.random() < 0.5:
        _seed(ledger, config, nxt, rng)

    plan, forecast = plan_with_forecast(config, ledger, at, HORIZON, _never_stale, None, options)

    assert plan == make_plan(config, ledger, at, _never_stale, options)
    due = {s.schedule: s.to_send for s in plan.schedules}
    alone_ahead = make_forecast(config, ledger, at, HORIZON, _never_stale, None, options, due)
    assert forecast == alone_ahead


def _counting_renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    rendered: list[str] = []
    real = planner_module.render

    def counted(*args: object, **kwargs: object) -> Rendered | object:
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        rendered.append(str(args[4]))  # the occurrence
        return result

    monkeypatch.setattr(planner_module, "render", counted)
    return rendered


def _daily(tmp_path: Path, body: str) -> Config:
    root = tmp_path / "c"
    root.mkdir()
    rows = "\n".join(f"+447400000{i:03d},P{i}" for i in range(20))
    (root / "people.csv").write_text("phone,name\n" + rows + "\n")
    (root / "smsops.yaml").write_text(
        "providers:\n"
        "  ot: {type: opentact, base_url: 'http://127.0.0.1:9/ot', token: '${env:OT}',"
        " from: '+12017771234'}\n"
        f"templates:\n  t: {{category: transactional, body: '{body}'}}\n"
        "audiences:\n  people: {source: people.csv}\n"
        "schedules:\n  s: {template: t, audience: people, provider: ot,"
        " trigger: {cron: '0 9 * * *'}, window: 2h}\n"
    )
    return load_project(root, None)


AT = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)  # the 09:00 fire is due; the next is tomorrow


def test_a_template_that_reads_no_occurrence_is_rendered_once_for_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _daily(tmp_path, "Hi {{ name }}")
    rendered = _counting_renders(monkeypatch)
    plan, forecast = plan_with_forecast(
        config, MemoryLedger(), AT, HORIZON, _never_stale, None, PlanOptions()
    )
    assert plan.to_send == 20
    nxt = forecast.schedules[0].next
    assert nxt is not None
    assert nxt.to_send == 20
    assert rendered == ["2027-03-01T09:00:00Z"] * 20  # the forecast took the plan's renders


@pytest.mark.parametrize(
    "body", ["{{ now.day }} {{ name }}", "{{ occurrence }}", "{{ name|random }}", "{{ lipsum(1) }}"]
)
def test_a_template_that_moves_between_occurrences_is_rendered_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str
) -> None:
    config = _daily(tmp_path, body)
    assert not compile_templates(config)["t"].same_every_occurrence
    rendered = _counting_renders(monkeypatch)
    plan_with_forecast(config, MemoryLedger(), AT, HORIZON, _never_stale, None, PlanOptions())
    assert sorted(set(rendered)) == ["2027-03-01T09:00:00Z", "2027-03-02T09:00:00Z"]
    assert len(rendered) == 40

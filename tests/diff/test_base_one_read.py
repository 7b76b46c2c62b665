"""`plan --base` planned in the head's read equals the diff planned side by side.

`plan_and_diff` (engine/diff_pass.py) forecasts the base side of a changed
schedule in the head plan's read of an unchanged audience, and takes the
member sets an audience diff compares from the passes that read them.
Checked here against the independent path (`plan_with_forecast`, then
`make_diff`, which forecasts the base apart and reads changed audiences
again) on generated base/head pairs: wording, rows added and removed,
duplicates and bad rows, a cron moved into quiet hours, a template that
reads `now`, a schedule enabled, a price change, exclusions, inline
contacts, recipient-local zones, ledger rows. Base and head live in two
directories, so every skip's file differs between the sides.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import smsops.engine.audience_read as audience_read
import smsops.engine.diff_samples as samples_module
from smsops.config.loader import Config
from smsops.engine.diff import Sides, make_diff
from smsops.engine.diff_pass import plan_and_diff
from smsops.engine.forecast import plan_with_forecast
from smsops.engine.planner import PlanOptions
from smsops.engine.project import load_project
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.memory import MemoryLedger

HORIZON = timedelta(days=3)
BODIES = [
    "Hi {{ name }}, your offer.",
    "Hi {{ name }}, it is {{ now.hour }} o''clock.",
    "{{ occurrence }}: {{ name }}",
    "Привет {{ name }}",
    "{% if name == ''P3'' %}{{ 1 / 0 }}{% endif %}Hi {{ name }}",
    "Hi {{ nick }}",
]
TRIGGERS = [
    "trigger: {cron: '0 9 * * *'}, window: 2h",
    "trigger: {cron: '0 22 * * *'}, window: 2h",  # into quiet hours 21:00-08:00
    "trigger: {cron: '0 9 * * *', timezone: recipient}, window: 3h",
    "trigger: {every: 6h}, window: 1h",
    "",  # once
]


def _rows(rng: random.Random, count: int) -> list[str]:
    rows = []
    for i in range(count):
        phone = f"+447400000{i:03d}" if rng.random() < 0.95 else "12"
        tz = rng.choice(["Europe/London", "America/New_York", "Asia/Tokyo", "", "Mars/Base"])
        rows.append(f"{phone},P{i},{'' if rng.random() < 0.3 else f'N{i}'},{tz}")
        if rng.random() < 0.1:
            rows.append(f"{phone},Twin{i},,{tz}")
    return rows


def _write(root: Path, rows: list[str], knobs: dict[str, str]) -> Config:
    root.mkdir(parents=True)
    (root / "people.csv").write_text("phone,name,nick,tz\n" + "\n".join(rows) + "\n")
    (root / "smsops.yaml").write_text(
        "providers:\n"
        "  ot: {type: opentact, base_url: 'http://127.0.0.1:9/ot', token: '${env:OT}',"
        " from: '+12017771234',"
        f" price_per_segment: {{default: {knobs['price']}, regions: {{GB: 0.04}}, currency: EUR}}}}\n"
        "templates:\n"
        f"  t: {{category: {knobs['category']}, body: '{knobs['body']}'}}\n"
        "  other: {category: transactional, body: 'Other {{ name }}'}\n"
        "audiences:\n"
        f"  people: {{source: people.csv, timezone_column: tz, exclude: [{knobs['exclude']}]}}\n"
        "  blocked: {contacts: [{phone: '+447400000003'}, {phone: '+447400000007'}]}\n"
        f"  inline: {{contacts: [{knobs['contacts']}]}}\n"
        "schedules:\n"
        f"  s: {{template: t, audience: people, provider: ot, {knobs['trigger']}"
        f"{', ' if knobs['trigger'] else ''}enabled: {knobs['enabled']},"
        " quiet_hours: {start: '21:00', end: '08:00'}}\n"
        "  d: {template: other, audience: people, provider: ot,"
        f" trigger: {{cron: '0 10 * * *'}}, enabled: {knobs['d_enabled']}}}\n"
        f"  c: {{template: {knobs['c_template']}, audience: inline, provider: ot,"
        " trigger: {cron: '30 9 * * *'}}\n"
    )
    return load_project(root, None)


def _knobs(rng: random.Random) -> dict[str, str]:
    return {
        "price": rng.choice(["0.01", "0.02"]),
        "category": rng.choice(["transactional", "marketing"]),
        "body": rng.choice(BODIES),
        "exclude": rng.choice(["", "blocked"]),
        "contacts": rng.choice(
            [
                "{phone: '+447400000001', name: A, nick: a}",
                "{phone: '+447400000002', name: B, nick: b}",
            ]
        ),
        "trigger": rng.choice(TRIGGERS),
        "enabled": rng.choice(["true", "true", "false"]),
        "d_enabled": rng.choice(["true", "false"]),
        "c_template": rng.choice(["t", "other"]),
    }


def _changed(rng: random.Random, rows: list[str], knobs: dict[str, str]) -> tuple[list, dict]:
    """The head: one to three of the base's settings or rows changed (or none)."""
    rows, knobs = list(rows), dict(knobs)
    for _ in range(rng.randint(0, 3)):
        what = rng.choice(["rows", *knobs])
        if what == "rows":
            if rows and rng.random() < 0.5:
                del rows[rng.randrange(len(rows))]
            else:
                rows.insert(rng.randint(0, len(rows)), f"+447400009{rng.randint(0, 999):03d},New,,")
        else:
            knobs[what] = _knobs(rng)[what]
    return rows, knobs


def _seed(ledger: MemoryLedger, rng: random.Random) -> None:
    now = datetime(2027, 3, 1, tzinfo=UTC)
    for i in rng.sample(range(30), 8):
        status = rng.choice([Status.SENT, Status.FAILED, Status.UNCERTAIN])
        for occurrence in ("2027-03-01T09:00:00Z", "2027-03-02T09:00:00Z"):
            record = SendRecord.claim(
                "s", occurrence, f"+447400000{i:03d}", provider="ot", template="t",
                text_hash="x", segments=1, now=now, claimed_by="test",
            )  # fmt: skip
            for claimed in ledger.claim([record]):
                ledger.settle([replace(claimed, status=status)])


def _never_stale(_: SendRecord) -> bool:
    return False


def _pair(tmp_path: Path, seed: int) -> tuple[Config, Config, MemoryLedger, datetime]:
    rng = random.Random(seed)
    rows, knobs = _rows(rng, rng.randint(5, 30)), _knobs(rng)
    base = _write(tmp_path / "base", rows, knobs)
    head = _write(tmp_path / "head", *_changed(rng, rows, knobs))
    ledger = MemoryLedger()
    if rng.random() < 0.5:
        _seed(ledger, rng)
    at = datetime(2027, 3, 1, rng.choice([9, 12, 22]), 30, tzinfo=UTC)
    return base, head, ledger, at


@pytest.mark.parametrize("seed", range(120))
def test_the_diff_from_the_heads_read_equals_the_diff_planned_apart(
    tmp_path: Path, seed: int
) -> None:
    base, head, ledger, at = _pair(tmp_path, seed)
    options = PlanOptions(samples=random.Random(seed).choice([0, 3, 50]))
    plan, forecast = plan_with_forecast(head, ledger, at, HORIZON, _never_stale, None, options)
    apart = make_diff("base", base, head, Sides(ledger, at, forecast, options, _never_stale))

    got = plan_and_diff("base", base, head, ledger, at, HORIZON, _never_stale, None, options)

    assert got == (plan, forecast, apart)


def _counted(monkeypatch: pytest.MonkeyPatch, module: object) -> list[str]:
    calls: list[str] = []
    real = module.recipients  # type: ignore[attr-defined]

    def counted(config: Config, name: str, cache_dir: Path | None = None) -> object:
        calls.append(name)
        return real(config, name, cache_dir)

    monkeypatch.setattr(module, "recipients", counted)
    return calls


def _daily(root: Path, rows: int, body: str = "Hi {{ name }}") -> Config:
    root.mkdir(parents=True)
    lines = "\n".join(f"+447400000{i:03d},P{i}" for i in range(rows))
    (root / "people.csv").write_text("phone,name\n" + lines + "\n")
    (root / "smsops.yaml").write_text(
        "providers:\n  ot: {type: opentact, base_url: 'http://127.0.0.1:9/ot',"
        " token: '${env:OT}', from: '+12017771234'}\n"
        f"templates:\n  t: {{category: transactional, body: '{body}'}}\n"
        "audiences:\n  people: {source: people.csv}\n"
        "schedules:\n  s: {template: t, audience: people, provider: ot,"
        " trigger: {cron: '0 9 * * *'}, window: 2h}\n"
    )
    return load_project(root, None)


AT = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)


def test_a_changed_wording_reads_the_audience_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _daily(tmp_path / "base", 20)
    head = _daily(tmp_path / "head", 20, "Changed: Hi {{ name }}")
    reads = _counted(monkeypatch, audience_read)
    _, _, diff = plan_and_diff(
        "base", base, head, MemoryLedger(), AT, HORIZON, _never_stale, None, PlanOptions()
    )
    (change,) = diff.section("schedules").changes
    assert change.before is not None
    assert change.before.next is not None
    assert change.before.next.to_send == 20
    assert reads == ["people"]  # the due-now plan, its forecast and the base's, together


def test_a_changed_audience_is_read_once_a_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _daily(tmp_path / "base", 20)
    head = _daily(tmp_path / "head", 21)
    reads = _counted(monkeypatch, audience_read)
    member_reads = _counted(monkeypatch, samples_module)
    _, _, diff = plan_and_diff(
        "base", base, head, MemoryLedger(), AT, HORIZON, _never_stale, None, PlanOptions()
    )
    (audience,) = diff.section("audiences").changes
    assert audience.audience is not None
    assert audience.audience.added == 1
    assert reads == ["people", "people"]  # the head's pass and the base's forecast
    assert member_reads == []  # the members compared were taken from those passes

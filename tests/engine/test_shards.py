"""Shards (audience/shards.py) and the planner's `part`: stable, and the shards of one count
cover the unsharded plan exactly once, on generated audiences (bad rows, a CSV and inline
contacts, two due occurrences, a recipient-local schedule)."""

from __future__ import annotations

import random
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsops.audience.shards import (
    LOCAL,
    MAX_SHARDS,
    SHARD_ROWS,
    Part,
    audience_rows,
    default_shards,
    shard_of,
    shards_for,
)
from smsops.config.loader import Config
from smsops.core.errors import ConfigError
from smsops.core.skips import SkipReason
from smsops.engine.plan import Plan
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.ledger.memory import MemoryLedger

AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def project(root: Path, rows: list[str], schedules: str) -> Config:
    root.mkdir(parents=True, exist_ok=True)
    (root / "people.csv").write_text("phone,name,tz\n" + "\n".join(rows) + "\n")
    (root / "c.yaml").write_text(
        "providers:\n"
        "  ot: {type: opentact, token: '${env:T}', from: '+12017771234'}\n"
        "templates:\n"
        "  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        "audiences:\n"
        "  a: {source: people.csv, timezone_column: tz, contacts: [{phone: '+447400999999'}]}\n"
        "schedules:\n" + textwrap.indent(textwrap.dedent(schedules), "  ")
    )
    return load_project(root)


def audience(seed: int, size: int) -> list[str]:
    pick = random.Random(seed)
    zones = ["Europe/London", "America/New_York", "Asia/Tokyo"]
    rows = []
    for i in range(size):
        if pick.random() < 0.05:
            rows.append(f"not a number {i},P{i},UTC")  # a skip: counted once, by shard 0
        else:
            number = f"+4474{pick.randrange(10**8):08d}"  # duplicates too, now and then
            rows.append(f"{number},P{i},{pick.choice(zones)}")
    return rows


def plan(config: Config, part: Part | None) -> Plan:
    options = PlanOptions(keep_sends=True, part=part)
    return make_plan(config, MemoryLedger(), AT, lambda record: False, options)


SCHEDULES = {
    # two occurrences due at AT (overlapping windows): each is its own unit
    "two due": "s: {template: t, audience: a, provider: ot, trigger: {every: 30m}, window: 2h}\n",
    "recipient-local": "s: {template: t, audience: a, provider: ot, "
    "trigger: {cron: '0 * * * *', timezone: recipient}, window: 1h}\n",
}


@pytest.mark.parametrize("kind", sorted(SCHEDULES))
@pytest.mark.parametrize("seed", range(2))
def test_the_shards_cover_the_unsharded_plan_exactly_once(
    tmp_path: Path, kind: str, seed: int
) -> None:
    config = project(tmp_path, audience(seed, 150 + 97 * seed), SCHEDULES[kind])
    whole = plan(config, None)
    (due,) = whole.schedules
    occurrences = [LOCAL] if due.recipient_local else due.occurrences
    assert whole.sends
    for count in (1, 3, 7):
        keys: list[str] = []
        skips = 0
        for occurrence in occurrences:
            for shard in range(count):
                part = plan(config, Part(occurrence, count, frozenset({shard})))
                keys += [send.key for send in part.sends]
                skips += sum(part.schedules[0].skip_counts.values())
        assert sorted(keys) == sorted(send.key for send in whole.sends), count  # once each
        # a skip of a number: in its shard's unit, once; of no number: by shard 0 of each unit
        bad = due.skip_counts[SkipReason.INVALID_NUMBER]
        assert skips == sum(due.skip_counts.values()) + bad * (len(occurrences) - 1)
        # several shards of one unit planned in one read: the same as their plans apart
        both = plan(config, Part(occurrences[0], count, frozenset(range(0, count, 2))))
        apart = [
            send.key
            for shard in range(0, count, 2)
            for send in plan(config, Part(occurrences[0], count, frozenset({shard}))).sends
        ]
        assert sorted(send.key for send in both.sends) == sorted(apart)
    assert due.skip_counts[SkipReason.INVALID_NUMBER] > 0


def test_a_number_keeps_its_shard() -> None:
    # pinned: a release that moved numbers between shards would re-plan half-sent occurrences
    assert [shard_of("+447400123456", n) for n in (1, 2, 6, 64)] == [0, 0, 2, 26]
    pick = random.Random(7)
    numbers = [f"+1202{pick.randrange(10**7):07d}" for _ in range(6000)]
    sizes = [sum(1 for n in numbers if shard_of(n, 6) == s) for s in range(6)]
    assert min(sizes) > 800  # spread evenly enough (~1000 each)


def test_the_default_count_follows_the_audience_size(tmp_path: Path) -> None:
    assert [default_shards(n) for n in (0, 1, 3_999, 4_000, 12_000, 10**6)] == [
        1,
        1,
        1,
        2,
        6,
        MAX_SHARDS,
    ]
    rows = [f"+4474{i:08d},P{i},UTC" for i in range(3 * SHARD_ROWS)]
    config = project(tmp_path / "big", rows, "s: {template: t, audience: a, provider: ot}\n")
    assert audience_rows(config, "a") == 3 * SHARD_ROWS + 2  # the header and one contact
    assert shards_for(config, "s") == 3
    given = project(
        tmp_path / "given", rows, "s: {template: t, audience: a, provider: ot, shards: 5}\n"
    )
    assert shards_for(given, "s") == 5
    limited = project(
        tmp_path / "limited",
        rows,
        "s: {template: t, audience: a, provider: ot, shards: 5, limits: {max_recipients: 9}}\n",
    )
    assert shards_for(limited, "s") == 1  # its guardrails judge the whole occurrence


@pytest.mark.parametrize(
    ("given", "said"),
    [("0", "greater than or equal to 1"), ("1025", "less than or equal to 1024"), ("true", "")],
)
def test_a_wrong_shard_count_is_a_located_config_error(
    tmp_path: Path, given: str, said: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        project(tmp_path, [], f"s: {{template: t, audience: a, provider: ot, shards: {given}}}\n")
    text = str(caught.value)
    assert "c.yaml:8:" in text
    assert "shards" in text
    assert said in text

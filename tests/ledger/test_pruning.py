"""`ledger prune` keeps every row a plan needs, on memory, SQLite and PostgreSQL.

The storage side (ledger/pruning.py) is checked against a model (`settled_of`
over the rows read back); the rules (engine/retention.py) by planning the
same config before and after a prune of a generated ledger: every schedule's
plan, and the ledger reads a plan makes besides (max_per_day's count, run
mode's newest occurrence), are the same.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.core.errors import LedgerError
from smsops.core.reserved import API_MESSAGES
from smsops.engine import retention
from smsops.engine.limits import DAY
from smsops.engine.planner import make_plan
from smsops.engine.project import load_project
from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.ledger.policy import Operation
from smsops.ledger.pruning import Pruning, settled_of
from smsops.ledger.sqlite import SqliteLedger
from smsops.schedule.occurrences import occurrence_label

AT = datetime(2027, 3, 20, 10, 0, tzinfo=UTC)  # the daily schedule's 09:00 window is open
PEOPLE = [f"+4474{i:08d}" for i in range(12)]
DAYS = 40
STATUSES = [Status.SENT, Status.SENT, Status.FAILED, Status.EXPIRED, Status.DELIVERED]


Rows = list[tuple[str, str, datetime, str, Status]]  # schedule, occurrence, written, phone, status


def write(ledger: Ledger, wanted: Rows) -> None:
    """These rows, as runs write them (claim, settle, expire, receipt), in one call of each."""
    claims = [
        (SendRecord.claim(
            schedule, occurrence, phone, provider="ot", template=schedule, text_hash="h",
            segments=1, now=at, claimed_by="host:1:a",
        ), at, status)
        for schedule, occurrence, at, phone, status in wanted
    ]  # fmt: skip
    expired = [c.settled(Status.EXPIRED, at) for c, at, s in claims if s is Status.EXPIRED]
    assert ledger.move(Operation.EXPIRE, expired) == []
    ledger.claim([c for c, _, s in claims if s is not Status.EXPIRED])
    settled = {Status.SENT, Status.FAILED, Status.UNCERTAIN, Status.DELIVERED}
    sent = {Status.DELIVERED: Status.SENT}
    ledger.settle(
        c.settled(sent.get(s, s), at, message_id=f"m{c.key}") for c, at, s in claims if s in settled
    )
    ledger.receipt(
        c.settled(s, at, message_id=f"m{c.key}") for c, at, s in claims if s is Status.DELIVERED
    )


def generated(ledger: Ledger, seed: int) -> None:
    """Forty days of a daily and a twice-daily schedule, today's open window, API sends, `once`."""
    rng = random.Random(seed)
    wanted: Rows = []
    for days in range(DAYS, -1, -1):
        fire = (AT - timedelta(days=days)).replace(hour=9)
        for schedule, fires in (("daily", [fire]), ("hourly", [fire, fire + timedelta(hours=3)])):
            for when in (w for w in fires if w <= AT):
                people = rng.sample(PEOPLE, rng.randrange(1, 6))
                statuses = [rng.choice(STATUSES) for _ in people]
                if rng.random() < 0.1:  # now and then a send nobody has decided yet
                    statuses[0] = rng.choice([Status.UNCERTAIN, Status.PENDING])
                label, at = occurrence_label(when), when + timedelta(minutes=1)
                wanted.extend(
                    (schedule, label, at, p, s) for p, s in zip(people, statuses, strict=True)
                )
        day = AT - timedelta(days=days)
        wanted.append((API_MESSAGES, f"order-{days}", day, PEOPLE[days % 12], Status.SENT))
    wanted.extend(("welcome", "once", AT - timedelta(days=50), p, Status.SENT) for p in PEOPLE[:4])
    write(ledger, wanted)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "people.csv").write_text("phone\n" + "\n".join(PEOPLE) + "\n")
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        "  ot: {type: opentact, base_url: 'http://ot.test', token: '${env:OT}', "
        "from: '+12017771234'}\n"
        "templates:\n"
        "  daily: {category: transactional, body: 'daily'}\n"
        "  hourly: {category: transactional, body: 'hourly'}\n"
        "  welcome: {category: transactional, body: 'welcome'}\n"
        "audiences:\n  people: {source: people.csv}\n"
        "schedules:\n"
        "  daily: {template: daily, audience: people, provider: ot, window: 2h,\n"
        "    trigger: {cron: '0 9 * * *', timezone: UTC}, limits: {max_per_day: 1000}}\n"
        "  hourly: {template: hourly, audience: people, provider: ot, window: 30m,\n"
        "    trigger: {cron: '0 9,12 * * *', timezone: UTC}}\n"
        "  welcome: {template: welcome, audience: people, provider: ot}\n"
    )
    return tmp_path


def rows(ledger: Ledger) -> dict[str, SendRecord]:
    return {r.key: r for r in ledger.records()}


def test_settled_occurrences_and_prune_match_the_model(
    open_ledger_handle: Callable[[], Ledger],
) -> None:
    ledger = open_ledger_handle()
    assert isinstance(ledger, Pruning)
    generated(ledger, seed=1)
    before = rows(ledger)
    cutoff = AT - timedelta(days=20)
    model = list(settled_of(before.values(), cutoff))
    assert list(ledger.settled_occurrences(cutoff)) == model
    assert any(item.rows > 1 for item in model)
    # Every occurrence asked for, settled or not: only the settled ones go, whole.
    everything = sorted({(r.schedule, r.occurrence) for r in before.values()})
    done = ledger.prune(everything, cutoff, None)
    going = {(m.schedule, m.occurrence) for m in model}
    left = {k: r for k, r in before.items() if (r.schedule, r.occurrence) not in going}
    assert rows(ledger) == left
    assert done.rows == len(before) - len(left)
    assert any(r.status in {Status.UNCERTAIN, Status.PENDING} for r in left.values())


def test_a_row_the_archive_lacks_stops_its_step_and_nothing_unarchived_goes(
    open_ledger_handle: Callable[[], Ledger],
) -> None:
    ledger = open_ledger_handle()
    assert isinstance(ledger, Pruning)
    generated(ledger, seed=2)
    before = rows(ledger)
    cutoff = AT - timedelta(days=20)
    pairs = [(m.schedule, m.occurrence) for m in ledger.settled_occurrences(cutoff)]
    archived = {r.key for r in ledger.occurrence_rows(pairs)}
    assert len(archived) == sum(
        1 for r in before.values() if (r.schedule, r.occurrence) in set(pairs)
    )
    lacking = min(archived)
    with pytest.raises(LedgerError, match="not in the archive"):
        ledger.prune(pairs, cutoff, archived - {lacking})
    after = rows(ledger)
    assert after[lacking] == before[lacking]
    # Steps before the refused one may have gone (PostgreSQL: a month a step): all archived.
    assert set(before) - set(after) <= archived
    lost = before[lacking]
    assert all(r == before[k] for k, r in after.items())
    assert {
        k
        for k, r in before.items()
        if (r.schedule, r.occurrence) == (lost.schedule, lost.occurrence)
    } <= set(after)


def test_a_plan_needs_nothing_prune_removes(
    open_ledger_handle: Callable[[], Ledger], config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planned at AT, before and after a prune at AT of everything it allows: the same plans."""
    monkeypatch.setenv("OT", "x")
    config = load_project(config_dir / "c.yaml", None)
    ledger = open_ledger_handle()
    assert isinstance(ledger, Pruning)
    generated(ledger, seed=3)
    windows = {name: s.effective_window for name, s in config.schedules.items()}

    def reads() -> object:
        plans = [
            make_plan(config, ledger, AT + timedelta(hours=h), lambda r: False) for h in (0, 1, 3)
        ]
        return (
            [p.schedules for p in plans],
            {n: ledger.claimed_since(n, AT - DAY) for n in config.schedules},
            retention.newest_occurrences(ledger, config.schedules),
        )

    planned = reads()
    found = list(ledger.settled_occurrences(retention.cutoff(AT, AT, [])))
    newest = retention.newest_occurrences(ledger, {i.schedule for i in found})
    selection = retention.select(found, before=AT, now=AT, windows=windows, plans=[], newest=newest)
    assert len(selection.chosen) > 40
    assert retention.Kept.ONCE in selection.kept
    kept = rows(ledger)
    done = retention.prune(ledger, selection.chosen, retention.cutoff(AT, AT, []), None)
    assert done.pruned.rows > 0
    assert reads() == planned
    # What stayed: every undecided row, the open window, `once`, the API sends of the last day.
    after = rows(ledger)
    for key, row in kept.items():
        if row.status in {Status.UNCERTAIN, Status.PENDING} or row.occurrence == "once":
            assert after[key] == row
        if row.created_at >= AT - DAY:
            assert after[key] == row


def test_the_archive_round_trips_through_ledger_migrate(
    open_ledger_handle: Callable[[], Ledger], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smsops.ledger.copy import CopyTarget, copy_ledger

    monkeypatch.setattr(retention, "STEP_ROWS", 200)  # a few steps

    ledger = open_ledger_handle()
    assert isinstance(ledger, Pruning)
    generated(ledger, seed=4)
    before = rows(ledger)
    cutoff = AT - timedelta(days=10)
    found = list(ledger.settled_occurrences(cutoff))
    archive = SqliteLedger(tmp_path / "archive.sqlite")
    try:
        done = retention.prune(ledger, found, cutoff, archive)
        assert done.archive is not None
        assert done.archive.verified == done.pruned.rows == len(before) - len(rows(ledger))
        removed = {k: r for k, r in before.items() if k not in rows(ledger)}
        assert rows(archive) == removed
        if not isinstance(ledger, CopyTarget):
            return  # memory: `ledger migrate` takes stored ledgers only
        back = copy_ledger(archive, ledger)
    finally:
        archive.close()
    assert back.verified_ok
    assert rows(ledger) == before
    # Rows back from the archive are rows again: no occurrence of them reads as pruned.
    assert not any(ledger.known(r.schedule, r.occurrence).pruned for r in removed.values())

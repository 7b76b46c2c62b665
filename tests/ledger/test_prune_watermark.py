"""A pruned occurrence is never sent again, on memory, SQLite and PostgreSQL.

The attacks: after a prune, `apply --at` a time inside a pruned
occurrence's old window, and a config that widens the window so the pruned
occurrences are due again. Both plan and send through a MockTransport that
counts requests: nothing pruned goes; what was never sent (today's
occurrence) still does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from smsops.core.reserved import API_MESSAGES
from smsops.engine import retention
from smsops.engine.apply import ApplyOptions, ApplyReport, Sender
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.ledger.base import Ledger, Status
from smsops.ledger.postgres import PostgresLedger
from smsops.ledger.pruning import Pruning, label_time
from smsops.schedule.occurrences import occurrence_label
from tests.fakeclock import FakeClock
from tests.ledger.test_pruning import Rows, write

AT = datetime(2027, 3, 20, 10, 0, tzinfo=UTC)  # today's 09:00 occurrence: window open, unsent
PEOPLE = ["+447400123450", "+447400123451"]
DAYS = 40
ENV = {"SKY": "sky-key"}


def config(tmp_path: Path, window: str) -> Path:
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        "  sky: {type: skycore, base_url: 'http://sky.test/api', api_key: '${env:SKY}', "
        "from: '12025550100'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi'}\n"
        "audiences:\n  a:\n    contacts:\n"
        + "".join(f"      - {{phone: '{p}'}}\n" for p in PEOPLE)
        + "schedules:\n  s:\n    template: t\n    audience: a\n    provider: sky\n"
        f"    trigger: {{cron: '0 9 * * *', timezone: UTC}}\n    window: {window}\n"
    )
    return tmp_path / "c.yaml"


def fire(days: int) -> datetime:
    return (AT - timedelta(days=days)).replace(hour=9)


def sent_ledger(ledger: Ledger) -> None:
    """Every daily occurrence of the last DAYS days sent to both; API sends of each day."""
    wanted: Rows = []
    for days in range(DAYS, 0, -1):
        label = occurrence_label(fire(days))
        wanted.extend(
            ("s", label, fire(days) + timedelta(minutes=1), p, Status.SENT) for p in PEOPLE
        )
        wanted.append((API_MESSAGES, f"order-{days}", fire(days), PEOPLE[0], Status.SENT))
    write(ledger, wanted)


def pruned(ledger: Ledger, path: Path) -> retention.Done:
    """`ledger prune --before AT --yes` at AT, the config's windows."""
    assert isinstance(ledger, Pruning)
    windows = {n: s.effective_window for n, s in load_project(path).schedules.items()}
    cutoff = retention.cutoff(AT, AT, [])
    found = list(ledger.settled_occurrences(cutoff))
    newest = retention.newest_occurrences(ledger, {i.schedule for i in found})
    chosen = retention.select(found, before=AT, now=AT, windows=windows, plans=[], newest=newest)
    return retention.prune(ledger, chosen.chosen, cutoff, None)


def apply_at(path: Path, ledger: Ledger, at: datetime) -> tuple[ApplyReport, int, dict[str, int]]:
    """Plan at `at` and send: the report, the requests made, the plan's skips by reason."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"status": "Success", "tracking-id": "trk"})

    loaded = load_project(path)
    plan = make_plan(loaded, ledger, at, lambda _: False, PlanOptions(keep_sends=True))
    skips: dict[str, int] = {}
    for schedule in plan.schedules:
        for reason, count in schedule.skip_counts.items():
            skips[reason.value] = skips.get(reason.value, 0) + count
    options = ApplyOptions(max_attempts=1, clock=FakeClock(at))
    sender = Sender(loaded, ledger, ENV, options, transport=httpx.MockTransport(handler))
    return asyncio.run(sender.run(plan.sends)), len(requests), skips


def test_a_pruned_occurrence_is_not_sent_at_its_old_time_nor_in_a_widened_window(
    open_ledger_handle: Callable[[], Ledger], tmp_path: Path
) -> None:
    ledger = open_ledger_handle()
    assert isinstance(ledger, Pruning)
    sent_ledger(ledger)
    path = config(tmp_path, "10m")
    old = occurrence_label(fire(30))
    ledger.note_skips(
        {  # the old occurrence's skips from two shards' plans: both go with it
            ("s", old, 0): {"opted_out": 1},
            ("s", old, 1): {"opted_out": 1},
            ("s", occurrence_label(fire(1)), -1): {"duplicate": 1},
        }
    )
    done = pruned(ledger, path)
    assert done.pruned.rows > 0
    if isinstance(ledger, PostgresLedger):  # February emptied whole: TRUNCATE's path too
        assert done.pruned.months >= 1
    assert not any(r.occurrence == old for r in ledger.records("s"))
    # Only the kept occurrences' skips stay.
    assert set(ledger.recent_skips(100).get("s", {})) == {occurrence_label(fire(1))}
    # The watermark: the newest occurrence pruned; API sends name no time and set none.
    through = ledger.pruned_through("s")
    assert through is not None
    assert through >= label_time(old)
    assert ledger.pruned_through(API_MESSAGES) is None
    assert ledger.known("s", old).pruned
    assert not ledger.known("s", occurrence_label(fire(1))).pruned  # its rows are kept

    # `apply --at` inside the pruned occurrence's old window: nothing goes, and why.
    report, requests, skips = apply_at(path, ledger, fire(30) + timedelta(minutes=1))
    assert (report.sent, requests) == (0, 0)
    assert skips == {"pruned": len(PEOPLE)}

    # A pull request widens the window to the longest allowed: every pruned occurrence
    # is due again and none goes; today's, never sent, does (a legitimate send).
    wide = config(tmp_path, "31d")
    held = {r.key: r for r in ledger.records("s")}
    report, requests, skips = apply_at(wide, ledger, AT)
    assert (report.sent, requests) == (len(PEOPLE), len(PEOPLE))
    assert skips["pruned"] > 20 * len(PEOPLE)
    new = [r for r in ledger.records("s") if r.key not in held]
    assert {r.occurrence for r in new} == {occurrence_label(fire(0))}
    # A second prune never lowers the watermark.
    assert ledger.pruned_through("s") is not None
    assert ledger.pruned_through("s") >= through


def test_api_sends_younger_than_their_retention_stay(
    open_ledger_handle: Callable[[], Ledger], tmp_path: Path
) -> None:
    """An idempotency key is remembered while its row is: API rows stay API_RETENTION."""
    ledger = open_ledger_handle()
    sent_ledger(ledger)
    pruned(ledger, config(tmp_path, "10m"))
    kept = sorted(int(r.occurrence[6:]) for r in ledger.records(API_MESSAGES))
    young = [d for d in range(1, DAYS + 1) if fire(d) + retention.API_RETENTION > AT]
    assert kept == sorted(young)
    assert len(kept) < DAYS


def test_skips_of_an_occurrence_that_had_no_sends_go_with_the_old_ones(
    open_ledger_handle: Callable[[], Ledger], tmp_path: Path
) -> None:
    """Every recipient skipped (all opted out): skips and no sends row. Such an occurrence
    goes by the same rules as one with rows, and raises the watermark; one that gets a row
    between the look and the delete keeps its skips (the delete checks again)."""
    ledger = open_ledger_handle()
    assert isinstance(ledger, Pruning)
    sent_ledger(ledger)
    lone = occurrence_label(fire(DAYS + 5))  # older than every row
    late = occurrence_label(fire(DAYS + 3))  # a row of it comes while the prune runs
    today = occurrence_label(fire(0))  # its window is open: kept
    other = "2027-01-05T09:00:00"  # a wall-clock label of a schedule with no rows at all
    ledger.note_skips(
        {
            ("s", lone, -1): {"opted_out": 2},
            ("s", late, -1): {"opted_out": 2},
            ("s", today, -1): {"opted_out": 2},
            ("quiet", other, 0): {"invalid_number": 1},
        }
    )
    windows = {
        n: s.effective_window for n, s in load_project(config(tmp_path, "10m")).schedules.items()
    }
    cutoff = retention.cutoff(AT, AT, [])
    found = list(ledger.settled_occurrences(cutoff))
    assert {(i.schedule, i.occurrence, i.rows) for i in found} >= {
        ("s", lone, 0), ("s", late, 0), ("quiet", other, 0),
    }  # fmt: skip
    newest = retention.newest_occurrences(ledger, {i.schedule for i in found})
    chosen = retention.select(found, before=AT, now=AT, windows=windows, plans=[], newest=newest)
    write(ledger, [("s", late, AT, PEOPLE[0], Status.SENT)])  # written meanwhile, at now
    retention.prune(ledger, chosen.chosen, cutoff, None)
    left = ledger.recent_skips(1000)
    assert set(left["s"]) == {late, today}
    assert "quiet" not in left
    assert ledger.pruned_through("quiet") == label_time(other)
    assert ledger.known("s", lone).pruned
    assert [r.occurrence for r in ledger.records("s") if r.occurrence == late] == [late]


def test_labels_with_and_without_a_zone_mark_only_occurrences_closed_at_the_prune() -> None:
    """A wall-clock label (no zone) is read as UTC for the watermark, raise and check alike.

    Generated schedules whose labels mix both forms (a config moved to or from
    `timezone: recipient`), pruned by retention's rules at a random time: every
    pruned label is marked pruned (never due again: no resend), and any other
    label the watermark marks had its window closed when the prune ran, its
    latest instant (a wall-clock label's is 14 hours on) counted: the day rule 3
    keeps beyond a window covers the 14 hours a reading of a wall-clock label
    can be off. So no send that was still due is dropped.
    """
    import random

    from smsops.ledger.base import Known
    from smsops.ledger.pruning import LONE_WRITTEN, Settled, marked, watermarks

    rng = random.Random(19)
    start = datetime(2027, 1, 1, tzinfo=UTC)

    def label(at: datetime) -> str:
        return at.strftime("%Y-%m-%dT%H:%M:%S") + rng.choice(["", "Z", "+00:00"])

    nothing = Known(frozenset(), {})
    checked = 0
    for _ in range(400):
        window = timedelta(minutes=rng.choice([10, 600, 2 * 1440]))
        now = start + timedelta(hours=rng.randrange(48, 24 * 40))
        labels = [label(start + timedelta(minutes=rng.randrange(60 * 24 * 40))) for _ in range(12)]
        found = [Settled("s", each, 1, LONE_WRITTEN) for each in labels]
        chosen = retention.select(
            found, before=now, now=now, windows={"s": window}, plans=[], newest={"s": None}
        ).chosen
        through = watermarks(("s", item.occurrence) for item in chosen).get("s")
        gone = {item.occurrence for item in chosen}
        for each in gone:
            assert marked(nothing, "s", each, through).pruned
        for other in [
            label(start + timedelta(minutes=rng.randrange(60 * 24 * 40))) for _ in range(12)
        ]:
            if other not in gone and marked(nothing, "s", other, through).pruned:
                latest = retention.occurrence_time(Settled("s", other, 0, LONE_WRITTEN))
                assert latest is not None
                assert latest + window < now, (other, through, now, window)
                checked += 1
    assert checked > 100  # the case the test is about happened often

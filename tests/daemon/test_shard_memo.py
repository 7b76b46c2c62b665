"""Run mode's settled memo (daemon/settled.py) for whole occurrences and for shards.

A resync plans nothing that is settled: neither a whole occurrence (SQLite, one
writer) nor a shard a replica planned as part of an occurrence (PostgreSQL,
units). Replicas are the in-process equivalent: one runner on a PostgreSQL
ledger beside two more live `smsops run` leases, so its fair share is a third
of the shards and every occurrence is planned in parts. Whatever can make a
settled occurrence or shard owe a send again (a retryable failure, `ledger
resolve --as failed`, another run's claim, a changed audience file) plans it
again; a receipt or a resolve that reopens nothing does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from smsops.config.loader import Config
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.engine import round as round_module
from smsops.engine.plan import SENDING, Disposition
from smsops.engine.planned_send import disposition
from smsops.engine.project import load_project
from smsops.ledger.base import Decision, Ledger, SendRecord, Status, reopens
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.postgres import PostgresLedger
from smsops.ledger.records import send_key
from smsops.ledger.runs import run_id
from smsops.ledger.sqlite import SqliteLedger
from smsops.sandbox.server import Sandbox
from tests.apply.conftest import numbers
from tests.leases import other_replicas

COUNT, SHARDS = 24, 6
OCCURRENCE = "2026-11-22T09:00:00Z"
NUMBERS = numbers(COUNT)
DAY = datetime(2026, 11, 22, tzinfo=UTC)


def at(minute: int) -> datetime:
    return DAY + timedelta(hours=9, minutes=minute)


def write(root: Path, sandbox: Sandbox, people: list[str]) -> Config:
    (root / "people.csv").write_text("phone,name\n" + "".join(f"{n},P\n" for n in people))
    (root / "c.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
        "token: '${env:OT}', from: '+12017771234'}\n"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        "audiences:\n  a: {source: people.csv}\n"
        "schedules:\n  daily: {template: t, audience: a, provider: ot, "
        f"trigger: {{cron: '0 9 * * *', timezone: UTC}}, window: 2h, shards: {SHARDS}}}\n"
    )
    return load_project(root)


class Replica:
    """A runner resyncing at given minutes of the 22nd; counts the plans each resync made."""

    def __init__(self, config: Config, ledger: Ledger, plans: list[int]) -> None:
        self.now = [at(0)]
        self.ledger, self.plans = ledger, plans
        self.runner = Runner(config, ledger, {"OT": "jwt"}, Metrics(), clock=lambda: self.now[0])

    async def resync(self, minute: int) -> int:
        """The plans (audience reads) the resync at 09:`minute` made."""
        self.now[0] = at(minute)
        before = self.plans[0]
        await self.runner.reconcile(None, "resync")
        return self.plans[0] - before


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every plan a round makes, counted (each reads the whole audience)."""
    real, calls = round_module.plan_against, [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(round_module, "plan_against", counted)
    return calls


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """SQLite: occurrences planned whole. PostgreSQL: as units, a third of them each take."""
    if request.param == "sqlite":
        found: Ledger = SqliteLedger(tmp_path / "l.sqlite")
    else:
        url = request.getfixturevalue("postgres_db")
        found = PostgresLedger(url, command="smsops run")
        other_replicas(url, 2)
    yield found
    found.close()


def seeded(ledger: Ledger, *recipients: str, status: Status) -> list[SendRecord]:
    """Rows of the 22nd's occurrence in `status`, as an earlier run left them."""
    rows = [claim(n) for n in recipients]
    ledger.claim(rows)
    ledger.settle([r.settled(status, at(0), error="dropped", retryable=False) for r in rows])
    return rows


def sent(sandbox: Sandbox) -> list[str]:
    return sorted(m["recipient"] for m in sandbox.state.snapshot())


def test_idle_resyncs_plan_nothing_settled(
    tmp_path: Path, sandbox: Sandbox, ledger: Ledger, plans: list[int]
) -> None:
    replica = Replica(write(tmp_path, sandbox, NUMBERS), ledger, plans)

    async def resyncs() -> list[int]:
        return [await replica.resync(minute) for minute in range(30, 35)]

    made = asyncio.run(resyncs())
    assert sent(sandbox) == sorted(NUMBERS)
    parts = 1 if isinstance(ledger, SqliteLedger) else 3  # a third of the shards each time
    # sends all; finds nothing left (settled); then reads nothing
    assert made == [parts, parts, 0, 0, 0]


def test_a_retryable_failure_in_the_window_is_sent_again(
    tmp_path: Path, sandbox: Sandbox, ledger: Ledger, plans: list[int]
) -> None:
    """Some sends fail retryably (a 503 asking for longer than a run waits): the shards
    that owe them are planned and sent again, the settled ones are left alone."""
    replica = Replica(write(tmp_path, sandbox, NUMBERS), ledger, plans)

    async def resyncs() -> list[int]:
        sandbox.state.faults.update({"status_every": 4, "status": 503, "retry_after": 3600})
        made = [await replica.resync(30)]
        failed = [r for r in ledger.records() if r.status is Status.FAILED]
        assert 0 < len(failed) < COUNT
        assert all(r.retryable for r in failed)
        sandbox.state.faults.update({"status_every": 0})
        return made + [await replica.resync(minute) for minute in range(31, 35)]

    made = asyncio.run(resyncs())
    assert {r.status for r in ledger.records()} == {Status.SENT}
    assert sent(sandbox) == sorted(NUMBERS)  # each once
    assert made[-2:] == [0, 0]


@pytest.mark.parametrize("how", ["resolve", "another run's claim"])
def test_a_settled_occurrence_that_owes_a_send_again_is_planned_and_sent(
    tmp_path: Path, sandbox: Sandbox, ledger: Ledger, plans: list[int], how: str
) -> None:
    """An uncertain row counts as settled; decided `failed` by a person, or claimed by another
    run that then fails retryably, it is sent again while the window is open."""
    first, second, third = NUMBERS[:3]
    seeded(ledger, first, second, third, status=Status.UNCERTAIN)
    replica = Replica(write(tmp_path, sandbox, NUMBERS), ledger, plans)

    async def resyncs() -> list[int]:
        made = [await replica.resync(minute) for minute in range(30, 33)]
        # A resolve that reopens nothing (as sent) and a receipt are no reason to plan.
        ledger.resolve(decision(Status.SENT), keys=[send_key("daily", OCCURRENCE, third)])
        delivered = next(iter(ledger.records(status=Status.SENT)))
        ledger.receipt([delivered.settled(Status.DELIVERED, at(33))])
        made.append(await replica.resync(33))
        if how == "resolve":
            ledger.resolve(decision(Status.FAILED), keys=[send_key("daily", OCCURRENCE, first)])
        else:  # claimed again (`apply --resend-uncertain`), the answer a retryable failure
            (claimed,) = ledger.claim([claim(first, minute=34)], resend_uncertain=True)
            made.append(await replica.resync(34))  # in flight: not settled, nothing sent
            ledger.settle([claimed.settled(Status.FAILED, at(34), error="503", retryable=True)])
        return made + [await replica.resync(minute) for minute in range(35, 38)]

    made = asyncio.run(resyncs())
    assert sent(sandbox) == sorted([first, *NUMBERS[3:]])  # the second stays uncertain
    parts = 1 if isinstance(ledger, SqliteLedger) else 3
    assert made[:4] == [parts, parts, 0, 0]
    assert made[-3] >= 1  # planned again (only the reopened shard, on PostgreSQL)
    assert made[-1] == 0
    if isinstance(ledger, PostgresLedger):  # the one shard alone, not the occurrence
        assert made[-3] == 1


def decision(status: Status) -> Decision:
    return Decision(status, "checked with the provider", "ops@host", at(33))


def claim(
    recipient: str, schedule: str = "daily", occurrence: str = OCCURRENCE, minute: int = 0
) -> SendRecord:
    """A claim of this run, as `apply` makes it (`--resend-uncertain`: of an uncertain row)."""
    return SendRecord.claim(
        schedule,
        occurrence,
        recipient,
        provider="ot",
        template="t",
        text_hash="h",
        segments=1,
        now=at(minute),
        claimed_by=run_id(),
    )


def test_a_changed_audience_file_voids_the_memo(
    tmp_path: Path, sandbox: Sandbox, ledger: Ledger, plans: list[int]
) -> None:
    replica = Replica(write(tmp_path, sandbox, NUMBERS[:-1]), ledger, plans)

    async def resyncs() -> list[int]:
        made = [await replica.resync(minute) for minute in range(30, 33)]
        replica.runner.config = write(tmp_path, sandbox, NUMBERS)  # the reload a file change makes
        return made + [await replica.resync(minute) for minute in range(33, 36)]

    made = asyncio.run(resyncs())
    assert sent(sandbox) == sorted(NUMBERS)
    assert made[2] == 0
    assert made[3] >= 1
    assert made[-1] == 0


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"])
def test_the_ledger_names_the_rows_that_reopen_an_occurrence(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    """Pending (another run's claim) and retryable failures; not final failures, sent,
    delivered, uncertain or expired rows, nor another occurrence's or schedule's."""
    if backend == "memory":
        found: Ledger = MemoryLedger()
    elif backend == "sqlite":
        found = SqliteLedger(tmp_path / "l.sqlite")
    else:
        found = PostgresLedger(request.getfixturevalue("postgres_db"))
    people = numbers(9)
    rows = [
        claim(n, schedule, occurrence)
        for n, schedule, occurrence in [
            *[(n, "daily", OCCURRENCE) for n in people[:7]],
            (people[7], "daily", "2026-11-23T09:00:00Z"),
            (people[8], "other", OCCURRENCE),
        ]
    ]
    found.claim(rows)
    found.settle(
        [
            rows[1].settled(Status.FAILED, at(1), error="503", retryable=True),
            rows[2].settled(Status.FAILED, at(1), error="400", retryable=False),
            rows[3].settled(Status.SENT, at(1), message_id="m"),
            rows[4].settled(Status.UNCERTAIN, at(1), error="dropped"),
            rows[5].settled(Status.EXPIRED, at(1), error="window"),
            rows[6].settled(Status.SENT, at(1), message_id="m6"),
            rows[7].settled(Status.FAILED, at(1), error="503", retryable=True),
            rows[8].settled(Status.FAILED, at(1), error="503", retryable=True),
        ]
    )
    try:
        assert sorted(found.reopening("daily", OCCURRENCE)) == sorted(people[:2])
        assert found.reopening("daily", "2026-11-24T09:00:00Z") == []
    finally:
        found.close()


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("retryable", [False, True])
def test_a_row_reopens_exactly_when_a_plan_would_send_it_or_wait_for_it(
    status: Status, retryable: bool
) -> None:
    """`reopens` against the planner's own judgement of a row (a live run's claim)."""
    row = claim(NUMBERS[0])
    if status is not Status.PENDING:
        row = row.settled(status, at(1), retryable=retryable)
    waits_or_sends = {Disposition.IN_FLIGHT, *SENDING}
    judged = disposition(row, lambda _: False, resend_uncertain=False)
    assert reopens(row.status.value, row.retryable) is (judged in waits_or_sends)

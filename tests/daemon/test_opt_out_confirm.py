"""The reply to an opt-out in run mode (`defaults.opt_out.confirm_template`): one text per opt-out.

A STOP recorded by the hook sink (`Hearing`) asks the runner for a
confirmation round; the confirmation is claimed in the ledger like any send
(schedule `opt-out:confirm`, the opt-out's time as occurrence), so a STOP
posted twice, or seen by two replicas over one ledger, sends one text. Sent
over real loopback sockets to the sandbox's Opentact emulator.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.config.loader import Config
from smsops.core.hooks import Inbound, InboundResult
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.engine.confirmations import CONFIRM_SCHEDULE
from smsops.engine.hearing import Hearing
from smsops.engine.project import load_project
from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.ledger.postgres import PostgresLedger
from smsops.ledger.sqlite import SqliteLedger
from smsops.sandbox.server import Sandbox

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
SAM, ANA = "+447400123450", "+447400123451"
BYE = "You will get no more texts from us"


def project(root: Path, sandbox: Sandbox, confirm: str | None = "bye") -> Config:
    root.mkdir(exist_ok=True)
    defaults = f"defaults:\n  opt_out: {{confirm_template: {confirm}}}\n" if confirm else ""
    base = sandbox.base_url("opentact")
    (root / "c.yaml").write_text(
        textwrap.dedent(
            f"""\
            providers:
              ot: {{type: opentact, base_url: '{base}', token: '${{env:OT}}', from: '+12017771234'}}
            templates:
              promo: {{category: marketing, body: 'Sale! Reply STOP to opt out'}}
              bye: {{category: transactional, body: '{BYE}'}}
            audiences:
              a: {{contacts: [{{phone: '{ANA}'}}]}}
            schedules:
              promo: {{template: promo, audience: a, provider: ot, quiet_hours: null}}
            """
        )
        + defaults
    )
    return load_project(root)


class Replica:
    """One `smsops run`'s runner and hook sink over `ledger`, as run_command wires them."""

    def __init__(self, config: Config, ledger: Ledger) -> None:
        self.ledger = ledger
        self.runner = Runner(config, ledger, {"OT": "jwt"}, Metrics(), clock=lambda: NOW)
        self.hearing = Hearing(
            ledger, lambda: self.runner.config.opt_out(), opted_out=self.runner.confirm_soon
        )

    async def start(self) -> None:
        await self.runner.reconcile(None, "start")

    async def hear(self, body: str, sender: str = SAM) -> InboundResult:
        """An inbound text, handed over off the loop as the HTTP side does; then its rounds."""
        message = Inbound("ot", sender, "+12017771234", body, NOW - timedelta(minutes=1))
        result = await asyncio.to_thread(self.hearing.inbound, message)
        await asyncio.sleep(0)  # the loop callback `confirm_soon` queued
        await self.runner.idle()
        return result


def confirmations(ledger: Ledger) -> list[SendRecord]:
    return list(ledger.records(CONFIRM_SCHEDULE))


def texts_to(sandbox: Sandbox, number: str) -> list[str]:
    return [m["text"] for m in sandbox.state.snapshot() if m["recipient"] == number]


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    yield ledger
    ledger.close()


def test_a_stop_brings_one_confirmation_through_its_provider(
    tmp_path: Path, sandbox: Sandbox, sqlite_ledger: SqliteLedger
) -> None:
    replica = Replica(project(tmp_path / "c", sandbox), sqlite_ledger)

    async def main() -> None:
        await replica.start()
        assert await replica.hear("Stop") is InboundResult.OPTED_OUT

    asyncio.run(main())
    assert texts_to(sandbox, SAM) == [BYE]  # it bypasses the list it was just put on
    (row,) = confirmations(sqlite_ledger)
    assert (row.status, row.provider, row.template) == (Status.SENT, "ot", "bye")
    assert row.occurrence == (NOW - timedelta(minutes=1)).isoformat(timespec="microseconds")
    assert texts_to(sandbox, ANA) == ["Sale! Reply STOP to opt out"]  # the schedule as ever


def test_the_same_stop_twice_and_every_later_round_still_send_one(
    tmp_path: Path, sandbox: Sandbox, sqlite_ledger: SqliteLedger
) -> None:
    replica = Replica(project(tmp_path / "c", sandbox), sqlite_ledger)

    async def main() -> None:
        await replica.start()
        await replica.hear("STOP")
        await replica.hear("STOP")  # the provider posted it again
        await replica.runner.reconcile(None, "resync")  # every round looks for owed ones

    asyncio.run(main())
    assert texts_to(sandbox, SAM) == [BYE]
    assert len(confirmations(sqlite_ledger)) == 1


def test_stop_start_stop_is_two_opt_outs_two_confirmations(
    tmp_path: Path, sandbox: Sandbox, sqlite_ledger: SqliteLedger
) -> None:
    replica = Replica(project(tmp_path / "c", sandbox), sqlite_ledger)
    times = iter([NOW - timedelta(minutes=3), NOW - timedelta(minutes=2), NOW])

    async def main() -> None:
        await replica.start()
        for body in ("STOP", "START", "STOP"):
            message = Inbound("ot", SAM, "+12017771234", body, next(times))
            await asyncio.to_thread(replica.hearing.inbound, message)
            await asyncio.sleep(0)
            await replica.runner.idle()

    asyncio.run(main())
    assert texts_to(sandbox, SAM) == [BYE, BYE]
    assert len(confirmations(sqlite_ledger)) == 2


def both_replicas_hear_one_stop(
    tmp_path: Path, sandbox: Sandbox, first: Ledger, second: Ledger
) -> None:
    config = project(tmp_path / "c", sandbox)
    one, two = Replica(config, first), Replica(config, second)

    async def main() -> None:
        await asyncio.gather(one.start(), two.start())
        await asyncio.gather(one.hear("STOP"), two.hear("STOP"))  # one STOP, both replicas
        await asyncio.gather(one.runner.reconcile(), two.runner.reconcile())

    asyncio.run(main())
    assert texts_to(sandbox, SAM) == [BYE]
    assert [row.status for row in confirmations(first)] == [Status.SENT]


def test_two_replicas_over_one_sqlite_file_send_one(tmp_path: Path, sandbox: Sandbox) -> None:
    first, second = SqliteLedger(tmp_path / "l.sqlite"), SqliteLedger(tmp_path / "l.sqlite")
    try:
        both_replicas_hear_one_stop(tmp_path, sandbox, first, second)
    finally:
        first.close()
        second.close()


def test_two_replicas_over_one_postgresql_ledger_send_one(
    tmp_path: Path, sandbox: Sandbox, postgres_db: str
) -> None:
    first, second = PostgresLedger(postgres_db), PostgresLedger(postgres_db)
    try:
        both_replicas_hear_one_stop(tmp_path, sandbox, first, second)
    finally:
        first.close()
        second.close()


def test_a_provider_that_fails_leaves_the_row_saying_so(
    tmp_path: Path, sandbox: Sandbox, sqlite_ledger: SqliteLedger
) -> None:
    replica = Replica(project(tmp_path / "c", sandbox), sqlite_ledger)

    async def main() -> None:
        await replica.start()
        # Every request now answered with a body no adapter can read (taken, then garbled).
        sandbox.state.faults.update({"raw_every": 1, "raw_status": 200, "raw_body": "{not json"})
        await replica.hear("STOP")

    asyncio.run(main())
    (row,) = confirmations(sqlite_ledger)
    assert row.status is Status.UNCERTAIN  # it may have gone out: never resent
    assert row.error
    assert not replica.runner.jobs.errors  # the round went on: no crash, nothing unhealthy


def test_a_rejected_confirmation_is_failed_and_not_retried(
    tmp_path: Path, sandbox: Sandbox, sqlite_ledger: SqliteLedger
) -> None:
    replica = Replica(project(tmp_path / "c", sandbox), sqlite_ledger)

    async def main() -> None:
        await replica.start()
        sandbox.state.faults.update({"status_every": 1, "status": 400})
        await replica.hear("STOP")
        sandbox.state.faults.update({"status_every": 0})
        await replica.runner.reconcile()

    asyncio.run(main())
    (row,) = confirmations(sqlite_ledger)
    assert row.status is Status.FAILED
    assert "400" in (row.error or "")
    assert texts_to(sandbox, SAM) == []


def test_without_confirm_template_nothing_is_sent(
    tmp_path: Path, sandbox: Sandbox, sqlite_ledger: SqliteLedger
) -> None:
    replica = Replica(project(tmp_path / "c", sandbox, confirm=None), sqlite_ledger)

    async def main() -> None:
        await replica.start()
        assert await replica.hear("STOP") is InboundResult.OPTED_OUT
        await replica.runner.reconcile()

    asyncio.run(main())
    assert sqlite_ledger.suppressed() == {SAM}
    assert texts_to(sandbox, SAM) == []
    assert confirmations(sqlite_ledger) == []


def test_a_stop_before_a_crash_is_confirmed_by_the_next_start(
    tmp_path: Path, sandbox: Sandbox, sqlite_ledger: SqliteLedger
) -> None:
    """The STOP was recorded, the process died before its confirmation round: the next
    start's round finds it owed (recent, on the list, no row) and sends it once."""
    config = project(tmp_path / "c", sandbox)
    Hearing(sqlite_ledger, config.opt_out, now=lambda: NOW).inbound(
        Inbound("ot", SAM, "+12017771234", "STOP", NOW - timedelta(minutes=10))
    )
    replica = Replica(config, sqlite_ledger)
    asyncio.run(replica.start())
    asyncio.run(replica.start())
    assert texts_to(sandbox, SAM) == [BYE]

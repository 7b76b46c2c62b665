"""What a provider tells us, end to end below the HTTP side: `Hearing` (the HookSink) records
receipts and STOP / START in the ledger, and the next plan skips opted-out numbers as
`opted_out` (marketing always, other categories when the schedule says `respect_opt_out`).
On every backend."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.config.loader import Config
from smsops.core.hooks import Delivery, HookSink, Inbound, InboundResult, Receipt, ReceiptResult
from smsops.core.skips import SkipReason
from smsops.engine.hearing import Hearing
from smsops.engine.plan import Disposition
from smsops.engine.planner import make_plan
from smsops.engine.project import load_project
from smsops.ledger.base import Ledger, SendRecord, Status
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.postgres import PostgresLedger
from smsops.ledger.sqlite import SqliteLedger
from smsops.ledger.suppressions import OptAction

AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
SAM, ANA = "+447400123450", "+447400123451"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    opened: Ledger
    if request.param == "memory":
        opened = MemoryLedger()
    elif request.param == "sqlite":
        opened = SqliteLedger(tmp_path / "l.sqlite")
    else:
        opened = PostgresLedger(request.getfixturevalue("postgres_db"))
    yield opened
    opened.close()


def project(tmp_path: Path, schedules: str, defaults: str = "") -> Config:
    root = tmp_path / "config"
    root.mkdir()
    (root / "c.yaml").write_text(
        "providers:\n"
        "  ot: {type: opentact, token: '${env:T}', from: '+12017771234'}\n"
        "templates:\n"
        "  promo: {category: marketing, body: 'Sale! Reply STOP to opt out'}\n"
        "  note: {category: transactional, body: 'Your order shipped'}\n"
        "  bye: {category: transactional, body: 'You will get no more texts'}\n"
        "audiences:\n"
        f"  a: {{contacts: [{{phone: '{SAM}'}}, {{phone: '{ANA}'}}]}}\n"
        "schedules:\n" + textwrap.indent(textwrap.dedent(schedules), "  ") + defaults
    )
    return load_project(root)


SCHEDULES = """\
promo: {template: promo, audience: a, provider: ot, quiet_hours: null}
note: {template: note, audience: a, provider: ot}
careful: {template: note, audience: a, provider: ot, respect_opt_out: true}
"""


def hearing(ledger: Ledger, config: Config) -> Hearing:
    return Hearing(ledger, config.opt_out, now=lambda: AT)


def text(body: str, sender: str = SAM) -> Inbound:
    return Inbound("ot", sender, "+12017771234", body, AT - timedelta(minutes=5))


def planned(config: Config, ledger: Ledger) -> dict[str, tuple[int, int]]:
    """Per schedule: (new sends, skipped as opted_out)."""
    plan = make_plan(config, ledger, AT, lambda _: False)
    return {
        s.schedule: (s.counts[Disposition.NEW], s.skip_counts.get(SkipReason.OPTED_OUT, 0))
        for s in plan.schedules
    }


def test_hearing_is_a_hook_sink(ledger: Ledger, tmp_path: Path) -> None:
    sink: HookSink = hearing(ledger, project(tmp_path, SCHEDULES))
    assert sink.inbound(text("hello")) is InboundResult.OTHER


def test_stop_skips_marketing_and_respecting_schedules_then_start_undoes_it(
    ledger: Ledger, tmp_path: Path
) -> None:
    config = project(tmp_path, SCHEDULES)
    ear = hearing(ledger, config)
    assert planned(config, ledger) == {"promo": (2, 0), "note": (2, 0), "careful": (2, 0)}
    assert ear.inbound(text("  Stop ")) is InboundResult.OPTED_OUT
    assert planned(config, ledger) == {"promo": (1, 1), "note": (2, 0), "careful": (1, 1)}
    assert ear.inbound(text("start")) is InboundResult.OPTED_IN
    assert planned(config, ledger) == {"promo": (2, 0), "note": (2, 0), "careful": (2, 0)}
    history = [(e.number, e.action, e.source, e.keyword) for e in ledger.opt_history()]
    assert history == [(SAM, OptAction.OUT, "ot", "STOP"), (SAM, OptAction.IN, "ot", "START")]
    assert ledger.opt_history()[0].at == AT - timedelta(minutes=5)  # the provider's time


def test_keywords_match_whole_texts_collapsed_in_any_case(ledger: Ledger, tmp_path: Path) -> None:
    ear = hearing(ledger, project(tmp_path, SCHEDULES))
    assert ear.inbound(text("please stop")) is InboundResult.OTHER
    assert ear.inbound(text("opt\t  OUT")) is InboundResult.OPTED_OUT
    assert ear.inbound(text("STOP")) is InboundResult.OPTED_OUT  # again: no second event
    assert ear.inbound(text("unstop", sender=ANA)) is InboundResult.OPTED_IN  # nothing to lift
    assert [e.keyword for e in ledger.opt_history()] == ["OPT OUT"]
    assert ledger.suppressed() == {SAM}


def test_configured_keywords_replace_the_defaults(ledger: Ledger, tmp_path: Path) -> None:
    defaults = "defaults:\n  opt_out: {keywords: [ARRET], opt_in_keywords: [reprise]}\n"
    ear = hearing(ledger, project(tmp_path, SCHEDULES, defaults))
    assert ear.inbound(text("stop")) is InboundResult.OTHER
    assert ear.inbound(text("arret")) is InboundResult.OPTED_OUT
    assert ear.inbound(text("Reprise")) is InboundResult.OPTED_IN


def test_a_sender_that_is_no_e164_number_changes_nothing(ledger: Ledger, tmp_path: Path) -> None:
    ear = hearing(ledger, project(tmp_path, SCHEDULES))
    assert ear.inbound(text("STOP", sender="12345")) is InboundResult.OTHER
    assert ledger.suppressed() == frozenset()


def test_receipts_go_to_the_ledger_once(ledger: Ledger, tmp_path: Path) -> None:
    ear = hearing(ledger, project(tmp_path, SCHEDULES))
    record = SendRecord.claim(
        "note", "once", SAM, provider="ot", template="note", text_hash="h", segments=1, now=AT,
        claimed_by="r",
    )  # fmt: skip
    ledger.claim([record])
    done = Receipt("ot", "m-1", Delivery.DELIVERED, "delivered", None, AT)
    assert ear.receipts([done]) == [ReceiptResult.PARKED]
    ledger.settle([record.settled(Status.SENT, AT, message_id="m-1")])
    assert ear.receipts([done]) == [ReceiptResult.DUPLICATE]
    assert ledger.get([record.key])[record.key].status is Status.DELIVERED

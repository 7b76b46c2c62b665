"""The planner: due occurrences times audience, diffed against the ledger, never writing."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.config.loader import Config
from smsops.core.skips import SkipReason
from smsops.engine.plan import Disposition
from smsops.engine.planner import PlanOptions, make_plan
from smsops.engine.project import load_project
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.records import send_key
from smsops.report.plan_format import as_text

AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
NUMBERS = ["+447400123450", "+447400123451", "+447400123452", "+447400123453", "+447400123454"]


def project(tmp_path: Path, schedules: str, contacts: str = "", audience: str = "") -> Config:
    people = contacts or "\n".join(
        f"      - {{phone: '{n}', name: P{i}}}" for i, n in enumerate(NUMBERS)
    )
    (tmp_path / "c.yaml").write_text(
        "providers:\n"
        "  ot: {type: opentact, token: '${env:T}', from: '+12017771234', price_per_segment: 0.01}\n"
        "templates:\n"
        "  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        "audiences:\n"
        "  a:\n" + audience + "    contacts:\n" + people + "\n"
        "schedules:\n" + textwrap.indent(textwrap.dedent(schedules), "  ")
    )
    return load_project(tmp_path)


def claimed(
    recipient: str, status: Status, *, schedule: str = "s", **changes: object
) -> SendRecord:
    record = SendRecord.claim(
        schedule,
        "once",
        recipient,
        provider="ot",
        template="t",
        text_hash=str(changes.pop("text_hash", "h")),
        segments=1,
        now=AT - timedelta(hours=1),
        claimed_by="otherhost:1",
    )
    if status is Status.PENDING:
        return record
    return record.settled(status, AT, **changes)  # type: ignore[arg-type]


def stored(ledger: MemoryLedger, rows: list[SendRecord]) -> None:
    """The rows as a run leaves them: claimed (pending), then settled by that run."""
    ledger.claim([replace(row, status=Status.PENDING) for row in rows])
    ledger.settle(rows)


def test_a_fresh_ledger_sends_everyone_once(tmp_path: Path) -> None:
    config = project(tmp_path, "s: {template: t, audience: a, provider: ot}\n")
    plan = make_plan(config, MemoryLedger(), AT, lambda _: False, PlanOptions(keep_sends=True))
    (s,) = plan.schedules
    assert s.occurrences == ["once"]
    assert s.counts == {Disposition.NEW: 5}
    assert (plan.to_send, s.segments, s.encodings) == (5, 5, {"GSM-7": 5})
    assert s.cost == pytest.approx(0.05)
    assert [x.masked_phone for x in s.samples] == [
        "+44 74** ***450",
        "+44 74** ***451",
        "+44 74** ***452",
    ]
    first = plan.sends[0]
    assert first.key == send_key("s", "once", NUMBERS[0])
    assert (first.message.text, first.message.recipient, first.providers) == (
        "Hi P0",
        NUMBERS[0],
        ("ot",),
    )


def test_the_ledger_decides_each_disposition(tmp_path: Path) -> None:
    config = project(tmp_path, "s: {template: t, audience: a, provider: ot}\n")
    ledger = MemoryLedger()
    rows = [
        claimed(NUMBERS[0], Status.SENT, message_id="m"),
        claimed(NUMBERS[1], Status.FAILED, error="invalid"),
        claimed(NUMBERS[2], Status.FAILED, error="HTTP 429", retryable=True),
        claimed(NUMBERS[3], Status.UNCERTAIN, error="timeout"),
    ]
    stored(ledger, rows)
    in_flight = claimed(NUMBERS[4], Status.PENDING)
    ledger.claim([in_flight])

    plan = make_plan(config, ledger, AT, lambda _: False)  # its claimer still runs
    assert plan.schedules[0].counts == {
        Disposition.SENT: 1,
        Disposition.FAILED: 1,
        Disposition.RETRY: 1,
        Disposition.UNCERTAIN: 1,
        Disposition.IN_FLIGHT: 1,
    }
    assert plan.to_send == 1

    # The pending row's run died: it is uncertain, resent only when asked.
    plan = make_plan(config, ledger, AT, lambda _: True, PlanOptions(resend_uncertain=True))
    counts = plan.schedules[0].counts
    assert (counts[Disposition.RESEND], counts[Disposition.IN_FLIGHT]) == (2, 0)
    assert plan.to_send == 3


def test_an_edited_template_is_reported_not_resent(tmp_path: Path) -> None:
    config = project(tmp_path, "s: {template: t, audience: a, provider: ot}\n")
    ledger = MemoryLedger()
    old = [claimed(n, Status.SENT, text_hash="old text") for n in NUMBERS[:2]]
    stored(ledger, old)
    (s,) = make_plan(config, ledger, AT, lambda _: False).schedules
    assert (s.counts[Disposition.SENT], s.changed, s.checked, s.to_send) == (2, 2, 2, 3)


def test_only_the_first_sent_messages_are_rendered_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smsops.engine import schedule_planner

    monkeypatch.setattr(schedule_planner, "CHANGE_CHECKS", 1)
    config = project(tmp_path, "s: {template: t, audience: a, provider: ot}\n")
    ledger = MemoryLedger()
    old = [claimed(n, Status.SENT, text_hash="old text") for n in NUMBERS[:2]]
    stored(ledger, old)
    plan = make_plan(config, ledger, AT, lambda _: False)
    (s,) = plan.schedules
    assert (s.counts[Disposition.SENT], s.changed, s.checked) == (2, 1, 1)
    assert "1 of 1 checked would read differently today" in as_text(plan)


def test_a_schedule_not_due_reads_no_audience_and_shows_next_fires(tmp_path: Path) -> None:
    config = project(
        tmp_path,
        """
        s:
          template: t
          audience: a
          provider: ot
          trigger: {cron: '0 9 * * *', timezone: Europe/London}
          window: 15m
        """,
    )
    (s,) = make_plan(config, MemoryLedger(), AT, lambda _: False).schedules
    assert (s.occurrences, s.to_send, s.skipped) == ([], 0, 0)
    assert s.next_fires == [
        "2026-11-23T09:00:00Z",
        "2026-11-24T09:00:00Z",
        "2026-11-25T09:00:00Z",
    ]
    (due,) = make_plan(
        config, MemoryLedger(), AT - timedelta(minutes=20), lambda _: False
    ).schedules
    assert (due.occurrences, due.to_send) == (["2026-11-22T09:00:00Z"], 5)


def test_quiet_hours_hold_in_the_recipients_time(tmp_path: Path) -> None:
    contacts = (
        "      - {phone: '+447400123450', name: London}\n"
        "      - {phone: '+919820012345', name: Mumbai}\n"
        "      - {phone: '+919820012346', name: Sent}"
    )
    config = project(
        tmp_path,
        "s: {template: t, audience: a, provider: ot, quiet_hours: {start: '21:00', end: '08:00'}}\n",
        contacts,
    )
    ledger = MemoryLedger()
    done = claimed("+919820012346", Status.SENT)
    stored(ledger, [done])
    late = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)  # 17:00 London, 22:30 Mumbai
    (s,) = make_plan(config, ledger, late, lambda _: False).schedules
    assert s.counts == {Disposition.NEW: 1, Disposition.SENT: 1}
    (skip,) = s.skips
    assert skip.reason is SkipReason.QUIET_HOURS
    assert "21:00-08:00 in Asia/" in skip.detail


def test_recipient_local_trigger_fires_at_each_recipients_clock(tmp_path: Path) -> None:
    contacts = (
        "      - {phone: '+447400123450', name: London}\n"
        "      - {phone: '+919820012345', name: Mumbai}\n"
        "      - {phone: '+61412345678', name: Australia}\n"
        "      - {phone: '+61412345679', name: Perth, tz: Australia/Perth}\n"
        "      - {phone: '+61412345670', name: Nowhere, tz: Mars/Olympus}"
    )
    config = project(
        tmp_path,
        """
        s:
          template: t
          audience: a
          provider: ot
          trigger: {cron: '0 9 * * *', timezone: recipient}
        """,
        contacts,
        audience="    timezone_column: tz\n",
    )
    # 09:30 UTC: 09:30 in London (due), 15:00 in Mumbai, 17:30 in Perth (not due).
    plan = make_plan(config, MemoryLedger(), AT, lambda _: False, PlanOptions(keep_sends=True))
    (s,) = plan.schedules
    assert [(x.message.text, x.occurrence) for x in plan.sends] == [
        ("Hi London", "2026-11-22T09:00:00")
    ]
    assert s.occurrences == ["2026-11-22T09:00:00"]
    # The Australian mobile may be anywhere from Perth to Lord Howe: 09:xx in none.
    (unknown,) = s.skips
    assert unknown.reason is SkipReason.UNKNOWN_TIMEZONE
    assert "unknown time zone 'Mars/Olympus'" in unknown.detail
    # 01:30 UTC is 09:30 in Perth.
    early = AT - timedelta(hours=8)
    sends = make_plan(config, MemoryLedger(), early, lambda _: False, PlanOptions(keep_sends=True))
    assert [x.message.text for x in sends.sends] == ["Hi Perth"]


@pytest.mark.parametrize(
    ("window", "at", "sent", "skipped"),
    [
        # 09:00 is 16:00 UTC in Boise, 17:00 UTC in Los Angeles; a 2 h window is open in both
        # from 17:00 to 18:00 UTC.
        ("2h", datetime(2026, 11, 22, 16, 30, tzinfo=UTC), False, False),
        ("2h", datetime(2026, 11, 22, 17, 30, tzinfo=UTC), True, False),
        ("2h", datetime(2026, 11, 22, 18, 30, tzinfo=UTC), False, False),
        # A 1 h window is never open in both: said, not left to wait forever.
        ("1h", datetime(2026, 11, 22, 16, 30, tzinfo=UTC), False, True),
    ],
)
def test_a_number_in_several_zones_gets_its_message_when_due_in_all(
    tmp_path: Path, window: str, at: datetime, sent: bool, skipped: bool
) -> None:
    idaho = "      - {phone: '+12085550123', name: Idaho}"  # America/Boise or Los_Angeles
    config = project(
        tmp_path,
        f"""
        s:
          template: t
          audience: a
          provider: ot
          trigger: {{cron: '0 9 * * *', timezone: recipient}}
          window: {window}
        """,
        idaho,
    )
    plan = make_plan(config, MemoryLedger(), at, lambda _: False, PlanOptions(keep_sends=True))
    assert [(x.message.text, x.occurrence) for x in plan.sends] == (
        [("Hi Idaho", "2026-11-22T09:00:00")] if sent else []
    )
    (s,) = plan.schedules
    if skipped:
        (skip,) = s.skips
        assert skip.reason is SkipReason.UNKNOWN_TIMEZONE
        assert "America/Boise, America/Los_Angeles" in skip.detail
        assert "never open in all of them at once" in skip.detail
    else:
        assert s.skips == []


def test_disabled_schedules_are_left_out(tmp_path: Path) -> None:
    config = project(tmp_path, "s: {template: t, audience: a, provider: ot, enabled: false}\n")
    assert make_plan(config, MemoryLedger(), AT, lambda _: False).schedules == []


def test_marketing_gets_default_quiet_hours_unless_the_schedule_says_otherwise(
    tmp_path: Path,
) -> None:
    late = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)  # 22:00 in London
    marketing = "t: {category: marketing, body: 'Hi {{ name }}. Reply STOP to opt out.'}"

    def plan_for(schedule: str) -> dict[SkipReason, int]:
        project(tmp_path, schedule)
        text = (tmp_path / "c.yaml").read_text()
        (tmp_path / "c.yaml").write_text(
            text.replace("t: {category: transactional, body: 'Hi {{ name }}'}", marketing)
        )
        config = load_project(tmp_path)
        return dict(
            make_plan(config, MemoryLedger(), late, lambda _: False).schedules[0].skip_counts
        )

    assert plan_for("s: {template: t, audience: a, provider: ot}\n") == {SkipReason.QUIET_HOURS: 5}
    assert plan_for("s: {template: t, audience: a, provider: ot, quiet_hours: null}\n") == {}
    custom = (
        "s: {template: t, audience: a, provider: ot, quiet_hours: {start: '23:00', end: '07:00'}}\n"
    )
    assert plan_for(custom) == {}


@pytest.mark.parametrize("status", [None, *Status])
@pytest.mark.parametrize("retryable", [False, True])
@pytest.mark.parametrize("resend", [False, True])
@pytest.mark.parametrize("stale", [False, True])
def test_disposition_follows_the_policy_table(
    tmp_path: Path, status: Status | None, retryable: bool, resend: bool, stale: bool
) -> None:
    """The plan counts a send exactly when apply's claim (after its stale mark) will win it."""
    config = project(tmp_path, "s: {template: t, audience: a, provider: ot}\n")
    ledger = MemoryLedger()
    row = replace(claimed(NUMBERS[0], Status.PENDING), retryable=retryable)
    if status is not None:
        ledger.claim([replace(row, status=status)])  # planted as given
    options = PlanOptions(resend_uncertain=resend, only=["s"])
    plan = make_plan(config, ledger, AT, lambda _: stale, options)
    planned = plan.to_send == len(NUMBERS)  # the other four are new
    assert plan.to_send in (len(NUMBERS) - 1, len(NUMBERS))
    ledger.mark_stale(lambda _: stale, AT)  # what apply does first
    won = ledger.claim([replace(row, claimed_by="me")], resend_uncertain=resend)
    assert planned == bool(won)


def test_a_plan_reports_its_progress_in_audience_rows(tmp_path: Path) -> None:
    """Every `progress_every` rows read, and the rest at the end: the counts add up."""
    config = project(
        tmp_path,
        "s: {template: t, audience: a, provider: ot}\nu: {template: t, audience: a, provider: ot}\n",
    )
    reported: list[int] = []
    options = PlanOptions(progress=reported.append, progress_every=2)
    make_plan(config, MemoryLedger(), AT, lambda _: False, options)
    assert reported == [2, 2, 1, 2, 2, 1]  # two schedules of five rows each

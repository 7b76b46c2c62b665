"""Run mode with an injected clock: DST, restarts mid-occurrence, missed occurrences."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.config.loader import Config
from smsops.core.expiry import ExpiryReason
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.engine import round as round_module
from smsops.engine.project import load_project
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.records import send_key
from smsops.ledger.sqlite import SqliteLedger
from smsops.sandbox.server import Sandbox
from smsops.schedule.occurrences import CLOSED_KEPT, LOOKBACK
from smsops.schedule.triggers import trigger_for

NUMBERS = [f"+44740012345{i}" for i in range(6)]
DAILY = "{cron: '0 9 * * *', timezone: Europe/London}"


def project(
    root: Path, sandbox: Sandbox, trigger: str = DAILY, window: str = "2h", provider: str = ""
) -> Config:
    contacts = "\n".join(f"      - {{phone: '{n}', name: P{i}}}" for i, n in enumerate(NUMBERS))
    (root / "c.yaml").write_text(
        textwrap.dedent(
            f"""\
            providers:
              ot: {{type: opentact, base_url: '{sandbox.base_url("opentact")}', token: '${{env:OT}}', from: '+12017771234'{provider}}}
            templates:
              t: {{category: transactional, body: 'Hi {{{{ name }}}}'}}
            audiences:
              a:
                contacts:
            """
        )
        + contacts
        + f"\nschedules:\n  daily: {{template: t, audience: a, provider: ot, trigger: {trigger}, window: {window}}}\n"
    )
    return load_project(root)


def test_cron_fires_at_local_nine_across_the_dst_change() -> None:
    from smsops.config.models import Schedule

    schedule = Schedule.model_validate(
        {
            "template": "t",
            "audience": "a",
            "provider": "ot",
            "trigger": {"cron": "0 9 * * *", "timezone": "Europe/London"},
        }
    )
    trigger = trigger_for(schedule)
    fires, previous, now = [], None, datetime(2026, 10, 23, tzinfo=UTC)
    for _ in range(4):
        fire = trigger.get_next_fire_time(previous, now)
        fires.append(fire.astimezone(UTC).strftime("%m-%d %H:%M"))
        previous = now = fire
    # British Summer Time ends on 25 October 2026: 09:00 local moves from 08:00 to 09:00 UTC.
    assert fires == ["10-23 08:00", "10-24 08:00", "10-25 09:00", "10-26 09:00"]


def runner_at(config: Config, ledger: SqliteLedger, when: datetime) -> tuple[Runner, Metrics]:
    metrics = Metrics()
    return Runner(config, ledger, {"OT": "jwt"}, metrics, clock=lambda: when), metrics


def dead_pid() -> int:
    """A pid that is certainly not running: a child that has exited."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_a_restart_mid_occurrence_sends_only_the_rest(tmp_path: Path, sandbox: Sandbox) -> None:
    config = project(tmp_path, sandbox)
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    occurrence = "2026-11-23T09:00:00Z"
    t1 = datetime(2026, 11, 23, 9, 5, tzinfo=UTC)
    # The previous process, now dead, sent two and had a third in flight.
    owner = f"{socket.gethostname()}:{dead_pid()}:gone"
    done = [
        SendRecord.claim(
            "daily",
            occurrence,
            n,
            provider="ot",
            template="t",
            text_hash="h",
            segments=1,
            now=t1,
            claimed_by=owner,
        )
        for n in NUMBERS[:3]
    ]
    ledger.claim(done)
    ledger.settle([r.settled(Status.SENT, t1, message_id="m") for r in done[:2]])

    runner, _metrics = runner_at(config, ledger, t1 + timedelta(minutes=30))
    asyncio.run(runner.reconcile(None, "start"))
    asyncio.run(runner.reconcile(["daily"], "fire"))  # a duplicate fire changes nothing

    sent = [m["recipient"] for m in sandbox.state.snapshot()]
    assert sorted(sent) == NUMBERS[3:]
    rows = {r.recipient: r.status for r in ledger.records() if r.occurrence == occurrence}
    assert rows[NUMBERS[2]] is Status.UNCERTAIN
    assert [rows[n] for n in NUMBERS[3:]] == [Status.SENT] * 3
    assert ledger.get([send_key("daily", occurrence, NUMBERS[5])])[
        send_key("daily", occurrence, NUMBERS[5])
    ].claimed_by.endswith(runner_owner_suffix())
    # The look-back starts at the ledger's newest occurrence (today's, open): before it,
    # the run that reached today accounted for the days it ran. Nothing closed since.
    assert {r.occurrence for r in ledger.records()} == {occurrence}
    ledger.close()


def runner_owner_suffix() -> str:
    from smsops.engine.owner import this_run

    return this_run()


def test_a_missed_occurrence_is_reported_not_sent(
    tmp_path: Path, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    config = project(tmp_path, sandbox)
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    runner, metrics = runner_at(config, ledger, datetime(2026, 11, 22, 9, 30, tzinfo=UTC))
    asyncio.run(runner.reconcile(None, "start"))
    assert len(sandbox.state.snapshot()) == 6  # the 22nd, inside its window

    # Down from 10:00 on the 22nd until 12:00 on the 23rd: the 23rd's window (09-11) closed.
    later, metrics = runner_at(config, ledger, datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    with caplog.at_level(logging.WARNING, logger="smsops.run"):
        plan = asyncio.run(later.reconcile(None, "start"))
    assert plan is not None
    assert plan.to_send == 0
    assert len(sandbox.state.snapshot()) == 6
    assert "missed occurrence 2026-11-23T09:00:00Z of daily" in caplog.text
    assert metrics.missed.labels("daily")._value.get() == 1
    ledger.close()


def test_every_window_closed_while_down_is_recorded_expired_and_counted(
    tmp_path: Path, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """Down four days: each closed day is accounted for in the ledger, none sent late."""
    config = project(tmp_path, sandbox)
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    runner, _ = runner_at(config, ledger, datetime(2026, 11, 22, 9, 30, tzinfo=UTC))
    asyncio.run(runner.reconcile(None, "start"))
    assert len(sandbox.state.snapshot()) == 6

    # Down from the 22nd until 12:00 on the 26th: the windows of the 23rd to the 26th closed.
    later, metrics = runner_at(config, ledger, datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    with caplog.at_level(logging.WARNING, logger="smsops.run"):
        asyncio.run(later.reconcile(None, "start"))
        asyncio.run(later.reconcile(None, "resync"))  # said and counted once per process
    assert len(sandbox.state.snapshot()) == 6  # nothing sent late
    days = [f"2026-11-{day}T09:00:00Z" for day in (23, 24, 25, 26)]
    for day in days:  # the invariant: every closed occurrence holds the whole audience
        rows = [r for r in ledger.records() if r.occurrence == day]
        assert sorted(r.recipient for r in rows) == sorted(NUMBERS)
        assert {(r.status, r.error) for r in rows} == {
            (Status.EXPIRED, ExpiryReason.NOT_REACHED.value)
        }
    said = f"missed 4 occurrences of daily ({days[0]} to {days[-1]})"
    assert caplog.text.count(said) == 1
    assert metrics.missed.labels("daily")._value.get() == 4

    # Started again the same afternoon: nothing more closed since the newest occurrence.
    again, metrics = runner_at(config, ledger, datetime(2026, 11, 26, 15, 0, tzinfo=UTC))
    asyncio.run(again.reconcile(None, "start"))
    assert metrics.missed.labels("daily")._value.get() == 0
    assert len(list(ledger.records())) == 5 * 6
    ledger.close()


def test_a_long_downtime_records_the_newest_windows_and_counts_a_week(
    tmp_path: Path, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """A minutely schedule down ten days: bounded work, every missed window still counted."""
    config = project(tmp_path, sandbox, trigger="{every: 1m}", window="1m")
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    start = datetime(2026, 11, 12, 9, 0, 30, tzinfo=UTC)
    runner, _ = runner_at(config, ledger, start)
    asyncio.run(runner.reconcile(None, "start"))
    assert len(sandbox.state.snapshot()) == 6
    (sent,) = {r.occurrence for r in ledger.records()}

    later, metrics = runner_at(config, ledger, start + timedelta(days=10))
    with caplog.at_level(logging.WARNING, logger="smsops.run"):
        asyncio.run(later.reconcile(None, "start"))
    assert len(sandbox.state.snapshot()) == 12  # the minute now open is sent, none late
    expired = {r.occurrence for r in ledger.records() if r.status is Status.EXPIRED}
    assert len(expired) == CLOSED_KEPT  # the newest hundred, each the whole audience
    assert len(list(ledger.records(status=Status.EXPIRED))) == CLOSED_KEPT * 6
    assert max(expired) == "2026-11-22T08:59:00Z"  # the last window closed by 09:00:30
    assert min(expired) > sent
    week = int(LOOKBACK / timedelta(minutes=1))
    assert metrics.missed.labels("daily")._value.get() == week
    assert f"missed {week} occurrences of daily" in caplog.text
    assert f"the sends of the newest {CLOSED_KEPT} are recorded expired" in caplog.text
    ledger.close()


def sent_on_the_22nd(
    tmp_path: Path, sandbox: Sandbox, provider: str = ""
) -> tuple[Config, SqliteLedger]:
    config = project(tmp_path, sandbox, provider=provider)
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    runner, _ = runner_at(config, ledger, datetime(2026, 11, 22, 9, 30, tzinfo=UTC))
    asyncio.run(runner.reconcile(None, "start"))
    assert len(sandbox.state.snapshot()) == 6
    return config, ledger


DOWN_DAYS = [f"2026-11-{day}T09:00:00Z" for day in (23, 24, 25)]


def expired_days(ledger: SqliteLedger) -> dict[str, int]:
    days: dict[str, int] = {}
    for row in ledger.records(status=Status.EXPIRED):
        days[row.occurrence] = days.get(row.occurrence, 0) + 1
    return days


def test_a_stop_during_the_first_round_after_downtime_keeps_the_closed_windows(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """Closed windows are recorded before the open one is sent: a SIGTERM mid-send loses none."""
    # One request at a time: four workers, so the round's units go out in their order.
    config, ledger = sent_on_the_22nd(tmp_path, sandbox, provider=", max_in_flight: 1")
    sandbox.state.faults.update({"latency_ms": 400})
    restarted, _ = runner_at(config, ledger, datetime(2026, 11, 26, 9, 30, tzinfo=UTC))

    async def stopped_mid_send() -> None:
        round_ = asyncio.ensure_future(restarted.reconcile(None, "start"))
        await asyncio.sleep(0.2)  # the 26th's requests are on the wire
        restarted.stop()
        await round_

    asyncio.run(stopped_mid_send())
    assert expired_days(ledger) == dict.fromkeys(DOWN_DAYS, 6)
    ledger.close()


def test_rows_whose_label_names_no_fire_time_do_not_hide_the_downtime(
    tmp_path: Path, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    config, ledger = sent_on_the_22nd(tmp_path, sandbox)
    odd = ["2026-11-25", "Backfill", "2099-01-01T00:00:00Z", "2026-11-25T09:00:00"]
    now = datetime.now(UTC)
    rows = [
        SendRecord.claim(
            "daily",
            label,
            NUMBERS[0],
            provider="ot",
            template="t",
            text_hash="h",
            segments=1,
            now=now,
        )
        for label in odd
    ]
    ledger.claim(rows)
    ledger.settle([row.settled(Status.SENT, now, message_id="m") for row in rows])
    later, metrics = runner_at(config, ledger, datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    with caplog.at_level(logging.WARNING, logger="smsops.run"):
        asyncio.run(later.reconcile(None, "start"))
    assert expired_days(ledger) == dict.fromkeys([*DOWN_DAYS, "2026-11-26T09:00:00Z"], 6)
    assert metrics.missed.labels("daily")._value.get() == 4
    ledger.close()


def test_a_catch_up_records_its_budget_a_round_and_the_next_rounds_take_the_rest(
    tmp_path: Path,
    sandbox: Sandbox,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each window is a plan of the whole audience: a big one down long must stay bounded."""
    monkeypatch.setattr(round_module, "CATCH_UP_SENDS", 12)  # two windows of six a round
    config, ledger = sent_on_the_22nd(tmp_path, sandbox)
    now = [datetime(2026, 11, 26, 12, 0, tzinfo=UTC)]
    metrics = Metrics()
    later = Runner(config, ledger, {"OT": "jwt"}, metrics, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="smsops.run"):
        asyncio.run(later.reconcile(None, "start"))
    # oldest first: the 22nd (complete: nothing to record), the 23rd and the 24th
    assert expired_days(ledger) == dict.fromkeys(DOWN_DAYS[:2], 6)
    assert "daily: 2 closed windows wait for the next round (this one records 3" in caplog.text
    assert metrics.missed.labels("daily")._value.get() == 4  # all four counted at once
    now[0] += timedelta(minutes=1)
    asyncio.run(later.reconcile(None, "resync"))  # a settled schedule still owes its backlog
    assert expired_days(ledger) == dict.fromkeys([*DOWN_DAYS, "2026-11-26T09:00:00Z"], 6)
    assert metrics.missed.labels("daily")._value.get() == 4
    ledger.close()


def test_windows_left_past_the_budget_while_running_are_recorded_later(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round that comes late (slow, or held) finds several closed windows: none is lost."""
    monkeypatch.setattr(round_module, "CATCH_UP_SENDS", 6)  # one window a round
    config = project(tmp_path, sandbox, trigger="{every: 1m}", window="1m")
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    now = [datetime(2026, 11, 22, 9, 0, 30, tzinfo=UTC)]
    runner = Runner(config, ledger, {"OT": "jwt"}, Metrics(), clock=lambda: now[0])
    asyncio.run(runner.reconcile(None, "start"))
    for minutes in (4, 5, 6, 7, 8):  # the schedule's next round only at 09:04:30
        now[0] = datetime(2026, 11, 22, 9, minutes, 30, tzinfo=UTC)
        asyncio.run(runner.reconcile(None, "resync"))
    by_minute = {r.occurrence[11:16] for r in ledger.records()}
    assert by_minute == {f"09:{m:02}" for m in range(9)}  # 09:01-09:03 too
    for minute in ("09:01", "09:02", "09:03"):
        rows = [r for r in ledger.records() if r.occurrence[11:16] == minute]
        assert {r.status for r in rows} == {Status.EXPIRED}
        assert len(rows) == 6
    ledger.close()


def test_the_rest_of_an_occurrence_a_stopped_run_left_expires_naming_the_stopped_run(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """Half of the 22nd was sent when smsops stopped; restarted after its window closed."""
    config = project(tmp_path, sandbox)
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    now = datetime(2026, 11, 22, 9, 5, tzinfo=UTC)
    rows = [
        SendRecord.claim(
            "daily",
            "2026-11-22T09:00:00Z",
            n,
            provider="ot",
            template="t",
            text_hash="h",
            segments=1,
            now=now,
        )
        for n in NUMBERS[:3]
    ]
    ledger.claim(rows)
    ledger.settle([row.settled(Status.SENT, now, message_id="m") for row in rows])
    later, metrics = runner_at(config, ledger, datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    asyncio.run(later.reconcile(None, "start"))
    assert sandbox.state.snapshot() == []  # never sent late
    rest = {r.recipient: (r.status, r.error) for r in ledger.records(status=Status.EXPIRED)}
    # not "still sending": no round was sending it any more
    assert rest == dict.fromkeys(NUMBERS[3:], (Status.EXPIRED, ExpiryReason.STOPPED.value))
    assert metrics.missed.labels("daily")._value.get() == 0  # it was reached, not missed
    ledger.close()


def test_a_settled_schedule_is_not_replanned_until_something_changes(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    config = project(tmp_path, sandbox)
    ledger = SqliteLedger(tmp_path / "l.sqlite")
    now = [datetime(2026, 11, 22, 9, 30, tzinfo=UTC)]
    runner = Runner(config, ledger, {"OT": "jwt"}, Metrics(), clock=lambda: now[0])

    def resync_at(when: datetime) -> bool:
        """Whether the round planned (read the audience) at `when`."""
        now[0] = when
        return asyncio.run(runner.reconcile(None, "resync")) is not None

    assert resync_at(datetime(2026, 11, 22, 9, 30, tzinfo=UTC))  # sends the six
    assert resync_at(datetime(2026, 11, 22, 9, 31, tzinfo=UTC))  # finds nothing left
    assert not resync_at(datetime(2026, 11, 22, 9, 32, tzinfo=UTC))  # settled: skipped
    runner.config = project(tmp_path, sandbox)  # a reload, even of the same files
    assert resync_at(datetime(2026, 11, 22, 9, 33, tzinfo=UTC))
    assert not resync_at(datetime(2026, 11, 22, 9, 34, tzinfo=UTC))
    # The next occurrence is a new due set: planned, and sent.
    assert resync_at(datetime(2026, 11, 23, 9, 1, tzinfo=UTC))
    assert len(sandbox.state.snapshot()) == 12
    ledger.close()


def test_metrics_drop_skip_reasons_and_schedules_that_are_gone() -> None:
    from smsops.core.skips import SkipReason
    from smsops.engine.plan import Plan, SchedulePlan

    def plan(**skips: int) -> Plan:
        s = SchedulePlan("daily", "t", "a", ["ot"], [], [])
        s.skip_counts.update({SkipReason(reason): n for reason, n in skips.items()})
        return Plan(datetime(2026, 11, 22, tzinfo=UTC), [s])

    metrics = Metrics()
    value = metrics.registry.get_sample_value
    metrics.observe_plan(plan(quiet_hours=3, excluded=1))
    assert value("smsops_plan_skipped", {"schedule": "daily", "reason": "quiet_hours"}) == 3
    metrics.observe_plan(plan(excluded=1))
    assert value("smsops_plan_skipped", {"schedule": "daily", "reason": "quiet_hours"}) is None
    assert value("smsops_plan_skipped", {"schedule": "daily", "reason": "excluded"}) == 1
    metrics.keep_only(["other"])
    assert value("smsops_plan_skipped", {"schedule": "daily", "reason": "excluded"}) is None
    assert value("smsops_plan_to_send", {"schedule": "daily"}) is None


def test_closed_windows_a_failed_round_did_not_record_are_recorded_by_the_next(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, ledger = sent_on_the_22nd(tmp_path, sandbox)
    now = [datetime(2026, 11, 26, 12, 0, tzinfo=UTC)]
    later = Runner(config, ledger, {"OT": "jwt"}, Metrics(), clock=lambda: now[0])
    real = round_module.plan_against
    calls = [0]

    def flaky(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        if calls[0] == 3:  # the round's plan, the 22nd's window, then the 23rd's fails
            raise OSError("the disk hiccuped")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(round_module, "plan_against", flaky)
    asyncio.run(later.reconcile(None, "start"))
    assert expired_days(ledger) == {}
    now[0] += timedelta(minutes=1)
    asyncio.run(later.reconcile(None, "resync"))
    assert expired_days(ledger) == dict.fromkeys([*DOWN_DAYS, "2026-11-26T09:00:00Z"], 6)
    ledger.close()

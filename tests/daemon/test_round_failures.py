"""Rounds that raise, in-process: one scrubbed line, the counter, isolation, recovery."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from smsops.cli.common import SANDBOX_SECRET
from smsops.config.loader import Config
from smsops.core.envref import Placeholders
from smsops.daemon.logs import setup_logging
from smsops.daemon.metrics import Metrics
from smsops.daemon.readiness import missing_secrets, secret_values
from smsops.daemon.runner import Runner
from smsops.engine.project import load_project
from smsops.ledger.base import SendRecord
from smsops.ledger.sqlite import SqliteLedger
from smsops.sandbox.server import Sandbox

NUMBERS = [f"+44740012345{i}" for i in range(3)]
SECRET = "jwt-SECRET-77aa"


class BrokenLedger(SqliteLedger):
    """A ledger whose writes fail while `broken` (a full disk, a lost volume)."""

    broken = False

    def claim(
        self, records: Iterable[SendRecord], *, resend_uncertain: bool = False
    ) -> list[SendRecord]:
        if self.broken:
            # What a careless driver might say: the row's number and a secret.
            raise sqlite3.OperationalError(f"disk I/O error claiming {NUMBERS[0]} ({SECRET})")
        return super().claim(records, resend_uncertain=resend_uncertain)


def config(root: Path, sandbox: Sandbox, schedules: str, extra: str = "") -> Config:
    contacts = ", ".join(f"{{phone: '{n}', name: P{i}}}" for i, n in enumerate(NUMBERS))
    (root / "c.yaml").write_text(
        "providers:\n"
        f"  ot: {{type: opentact, base_url: '{sandbox.base_url('opentact')}', "
        "token: '${env:OT}', from: '+12017771234'}\n"
        f"{extra}"
        "templates:\n  t: {category: transactional, body: 'Hi {{ name }}'}\n"
        f"audiences:\n  a: {{contacts: [{contacts}]}}\n"
        "  f: {source: people.csv}\n"
        "schedules:\n" + schedules
    )
    (root / "people.csv").write_text("phone,name\n" + "".join(f"{n},X\n" for n in NUMBERS))
    return load_project(root)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[BrokenLedger]:
    opened = BrokenLedger(tmp_path / "l.sqlite")
    yield opened
    opened.close()


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_unwritable_ledger_is_one_scrubbed_line_counted_until_a_round_succeeds(
    tmp_path: Path, sandbox: Sandbox, ledger: BrokenLedger, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics()
    runner = Runner(
        config(tmp_path, sandbox, "  s: {template: t, audience: a, provider: ot}\n"),
        ledger,
        {"OT": SECRET},
        metrics,
    )
    ledger.broken = True
    with caplog.at_level(logging.INFO, logger="smsops.run"):
        asyncio.run(runner.reconcile(None, "start"))  # must not raise
    [line] = errors(caplog)
    assert line.getMessage() == (
        "round failed [start]: s: OperationalError: disk I/O error claiming +44 74** ***450 (***)"
    )
    assert line.exc_info is None
    assert not hasattr(line, "traceback")
    assert SECRET not in caplog.text
    assert all(n not in caplog.text for n in NUMBERS)
    assert runner.failures.errors == {"s": line.getMessage().split("s: ", 1)[1]}
    assert metrics.registry.get_sample_value("smsops_round_failures_total", {"schedule": "s"}) == 1
    assert sandbox.state.snapshot() == []  # nothing claimed, nothing sent

    caplog.clear()
    ledger.broken = False
    with caplog.at_level(logging.INFO, logger="smsops.run"):
        asyncio.run(runner.reconcile(None, "resync"))
    assert len(sandbox.state.snapshot()) == 3
    assert runner.failures.errors == {}
    assert "schedule s recovered: its round succeeded" in caplog.text
    assert errors(caplog) == []
    assert metrics.registry.get_sample_value("smsops_round_failures_total", {"schedule": "s"}) == 1


def test_one_schedules_missing_audience_does_not_stop_the_others(
    tmp_path: Path, sandbox: Sandbox, ledger: BrokenLedger, caplog: pytest.LogCaptureFixture
) -> None:
    runner = Runner(
        config(
            tmp_path,
            sandbox,
            "  good: {template: t, audience: a, provider: ot}\n"
            "  bad: {template: t, audience: f, provider: ot}\n",
        ),
        ledger,
        {"OT": SECRET},
        Metrics(),
    )
    runner.config.snapshots[tmp_path / "people.csv"].copy.unlink()  # what rounds read
    with caplog.at_level(logging.INFO, logger="smsops.run"):
        plan = asyncio.run(runner.reconcile(None, "resync"))
    assert plan is not None
    assert [s.schedule for s in plan.schedules] == ["good"]
    assert len(sandbox.state.snapshot()) == 3  # `good` sent all three
    [line] = errors(caplog)
    assert line.getMessage().startswith("round failed [resync]: bad: ")
    assert "people.csv': the copy of this file taken when" in line.getMessage()
    assert "is missing" in line.getMessage()
    assert list(runner.failures.errors) == ["bad"]


def test_at_debug_level_the_traceback_is_logged_scrubbed(
    tmp_path: Path, sandbox: Sandbox, ledger: BrokenLedger, caplog: pytest.LogCaptureFixture
) -> None:
    runner = Runner(
        config(tmp_path, sandbox, "  s: {template: t, audience: a, provider: ot}\n"),
        ledger,
        {"OT": SECRET},
        Metrics(),
    )
    ledger.broken = True
    with caplog.at_level(logging.DEBUG, logger="smsops.run"):
        asyncio.run(runner.reconcile(None, "start"))
    [line] = errors(caplog)
    trace = getattr(line, "traceback")  # noqa: B009 - an `extra` field
    assert trace.startswith("Traceback (most recent call last):")
    assert "sqlite3.OperationalError: disk I/O error claiming +44 74** ***450 (***)" in trace
    assert SECRET not in trace
    assert NUMBERS[0] not in trace


@pytest.mark.usefixtures("restored_logging")
def test_apscheduler_logs_one_line_with_no_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("text", "debug")
    try:
        raise RuntimeError(f"token {SECRET} for {NUMBERS[0]}")
    except RuntimeError:
        logging.getLogger("apscheduler.executors.default").exception(
            'Job "%s" raised an exception', "s"
        )
    logging.getLogger("apscheduler.scheduler").info('Added job "s" to job store "default"')
    err = capsys.readouterr().err
    [line] = err.splitlines()
    assert line.endswith(
        'apscheduler.executors.default: Job "s" raised an exception (RuntimeError)'
    )
    assert SECRET not in err
    assert NUMBERS[0] not in err


@pytest.mark.usefixtures("restored_logging")
def test_a_missed_fire_is_smsops_line_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """APScheduler's own "Run time of job ... was missed by" doubled smsops's line (the
    job_event's "did not start on time (missed)"): that one message of its is dropped."""
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from apscheduler.events import EVENT_JOB_MISSED
    from apscheduler.executors.base import run_job

    setup_logging("text", "info")
    job = SimpleNamespace(id="schedule:s", misfire_grace_time=1)
    late = datetime.now(UTC) - timedelta(hours=1)
    events = run_job(job, "default", [late], "apscheduler.executors.default")
    assert [e.code for e in events] == [EVENT_JOB_MISSED]  # the library's path, run for real
    logging.getLogger("apscheduler.executors.default").warning("another word of %s", "its")
    err = capsys.readouterr().err
    assert "was missed by" not in err
    [line] = err.splitlines()  # its other warnings still reach the log
    assert line.endswith("apscheduler.executors.default: another word of its")


SECOND = (
    "  ot2: {type: opentact, base_url: 'http://127.0.0.1:1', token: '${env:OT2}', from: '+1'}\n"
)


def test_only_providers_of_enabled_schedules_are_checked_and_empty_is_missing(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    loaded = config(
        tmp_path,
        sandbox,
        "  on: {template: t, audience: a, provider: ot}\n"
        "  off: {template: t, audience: a, provider: ot2, enabled: false}\n",
        extra=SECOND,
    )
    assert missing_secrets(loaded, {"OT": SECRET}) == []  # ot2 serves no enabled schedule
    [missing] = missing_secrets(loaded, {"OT": ""})
    assert (missing.provider, missing.variable, missing.schedules) == ("ot", "OT", ("on",))
    written = (tmp_path / "c.yaml").read_text().splitlines()[1]
    column = written.index("'${env:OT}'") + 1
    assert str(missing.where) == f"{tmp_path / 'c.yaml'}:2:{column}"  # where the reference is
    assert missing_secrets(loaded, Placeholders(SANDBOX_SECRET)) == []  # --sandbox
    assert secret_values(loaded, {"OT": SECRET, "OT2": "x2", "UNUSED": "u"}) == [SECRET, "x2"]


def test_a_change_the_loader_chokes_on_is_refused_in_one_scrubbed_line(
    tmp_path: Path, sandbox: Sandbox, ledger: BrokenLedger, caplog: pytest.LogCaptureFixture
) -> None:
    from smsops.daemon.service import Service

    loaded = config(tmp_path, sandbox, "  s: {template: t, audience: a, provider: ot}\n")
    metrics = Metrics()
    runner = Runner(loaded, ledger, {"OT": SECRET}, metrics)

    def load(root: Path) -> Config:
        raise RecursionError(f"while reading {NUMBERS[1]} with {SECRET}")

    async def watch_one_change() -> None:
        service = Service(tmp_path, load, ledger, runner, metrics, poll=0.01)
        watching = asyncio.create_task(service.watch())
        (tmp_path / "c.yaml").write_text((tmp_path / "c.yaml").read_text() + "\n")
        while service.health.reload_error is None:
            await asyncio.sleep(0.01)
        (tmp_path / "c.yaml").write_text((tmp_path / "c.yaml").read_text() + "\n")
        await asyncio.sleep(0.1)  # the watch lives on after it
        assert not watching.done()
        service.stop()
        await watching

    with caplog.at_level(logging.INFO, logger="smsops.run"):
        asyncio.run(watch_one_change())
    lines = [r.getMessage() for r in errors(caplog)]
    assert (
        lines[0] == "config change refused: RecursionError: while reading +44 74** ***451 with ***"
    )
    assert len(lines) == 2  # one per change
    assert SECRET not in caplog.text
    assert metrics.registry.get_sample_value("smsops_config_reload_failures_total") == 2


def test_a_held_schedule_plans_nothing_and_says_so_when_it_fires(
    tmp_path: Path, sandbox: Sandbox, ledger: BrokenLedger, caplog: pytest.LogCaptureFixture
) -> None:
    loaded = config(tmp_path, sandbox, "  s: {template: t, audience: a, provider: ot}\n")
    with caplog.at_level(logging.INFO, logger="smsops.run"):
        runner = Runner(loaded, ledger, {}, Metrics())
        assert asyncio.run(runner.reconcile(None, "start")) is None  # not even planned
        assert asyncio.run(runner.reconcile(["s"], "fire")) is None
    assert [r.getMessage().split(": ", 1)[0] for r in errors(caplog)] == ["secret missing"]
    assert "s fired but sends nothing: a secret it needs is not set (see /readyz)" in caplog.text
    assert runner.held() == {"s"}
    assert sandbox.state.snapshot() == []

    runner.env = {"OT": SECRET}
    runner.config = loaded  # what a reload does: checked again, released
    assert runner.missing == []
    asyncio.run(runner.reconcile(None, "resync"))
    assert len(sandbox.state.snapshot()) == 3


def test_a_round_that_fails_mid_send_settles_what_it_claimed(
    tmp_path: Path,
    sandbox: Sandbox,
    ledger: BrokenLedger,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug after a request went out (here: writing its result) escapes the round: the row
    it claimed is settled `uncertain` with the reason, never left `pending` while the daemon
    lives; the round is a failure; the next round sends the rest and never that one again."""
    from smsops.engine.apply import Sender
    from smsops.ledger.base import Status

    real = Sender._settle
    broken = [True]

    def settle(self: Sender, *args: object, **kwargs: object) -> None:
        if broken[0]:
            broken[0] = False
            raise ZeroDivisionError("a bug while writing a result")
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Sender, "_settle", settle)
    runner = Runner(
        config(tmp_path, sandbox, "  s: {template: t, audience: a, provider: ot}\n"),
        ledger,
        {"OT": SECRET},
        Metrics(),
    )
    with caplog.at_level(logging.INFO, logger="smsops.run"):
        asyncio.run(runner.reconcile(None, "start"))
    rows = list(ledger.records("s"))
    assert [r.status for r in rows if r.status is Status.PENDING] == []
    [abandoned] = [r for r in rows if r.status is Status.UNCERTAIN]
    assert abandoned.error == (
        "the round stopped on an error (ZeroDivisionError) after claiming it; "
        "its request may have gone out"
    )
    assert list(runner.failures.errors) == ["s"]  # /healthz degraded

    asyncio.run(runner.reconcile(None, "resync"))
    assert len(sandbox.state.snapshot()) == 3  # the rest, never the uncertain one again
    statuses = sorted(r.status.value for r in ledger.records("s"))
    assert statuses == ["sent", "sent", "uncertain"]
    assert runner.failures.errors == {}


@pytest.mark.usefixtures("restored_logging")
def test_a_sandbox_run_logs_through_smsops_handlers_and_a_drop_says_nothing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """`run --sandbox`: the sandbox's uvicorn, started after setup_logging, installed its
    own handlers on uvicorn's loggers (scrubbing nothing, tracebacks whole), and the
    drop_every fault printed "Exception in ASGI application" and a traceback per drop."""
    import httpx
    import uvicorn
    from starlette.applications import Starlette

    from smsops.sandbox.server import Sandbox

    setup_logging("text", "info")
    with Sandbox() as sandbox:
        # the run server's own uvicorn config, made after the sandbox's (core.frontdoor)
        uvicorn.Config(Starlette(), log_config=None, log_level="warning")
        sandbox.state.faults.update({"drop_every": 1})
        with pytest.raises(httpx.TransportError):
            httpx.post(
                sandbox.url + "/aoc/sms",
                headers={"apiKey": "k"},
                json={"sender": "A", "to": "919820012345", "text": "hi", "type": "TRANS"},
            )
    assert logging.getLogger("uvicorn").handlers == []
    err = capfd.readouterr().err
    assert "Traceback" not in err
    assert "DropConnection" not in err
    assert "Exception in ASGI application" not in err

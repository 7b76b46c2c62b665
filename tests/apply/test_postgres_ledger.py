"""plan, apply, `ledger` and run-mode rounds on a `postgresql://` ledger, against the sandbox.

The CLI runs in process with the URL as a user gives it (a password in it,
over loopback TCP, where the throwaway server asks for one); the plan runs as
a role that may only SELECT, as a pull-request job would.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from smsops.cli import main
from smsops.daemon.metrics import Metrics
from smsops.daemon.runner import Runner
from smsops.engine.project import load_project
from smsops.ledger.base import Status
from smsops.ledger.postgres import PostgresLedger
from smsops.sandbox.server import Sandbox
from tests.apply.conftest import SECRETS, numbers, write_config
from tests.postgres import Cluster

READER_PASSWORD = "reader-pw-5f1c9a"  # the throwaway server's test role


@pytest.fixture
def urls(postgres_cluster: Cluster, postgres_db: str) -> Iterator[tuple[str, str]]:
    """(read-write URL, read-only URL), both over TCP with their passwords in them."""
    database = conninfo_to_dict(postgres_db)["dbname"]
    role = f"r_{database}"
    writer = postgres_cluster.tcp_url(database, password=postgres_cluster.password)
    PostgresLedger(writer).close()  # the schema, so the reader can be granted SELECT on it
    with postgres_cluster.admin(database) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(READER_PASSWORD)
            )
        )
        admin.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
                sql.Identifier(role)
            )
        )
    yield writer, postgres_cluster.tcp_url(database, role, READER_PASSWORD)
    with postgres_cluster.admin(database) as admin:
        admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    with postgres_cluster.admin() as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM sends GROUP BY status").fetchall())


def test_apply_then_a_read_only_plan_shows_exactly_the_next_apply(
    tmp_path: Path,
    sandbox: Sandbox,
    urls: tuple[str, str],
    postgres_cluster: Cluster,
    capsys: pytest.CaptureFixture[str],
) -> None:
    writer, reader = urls
    root = write_config(tmp_path / "cfg", sandbox, 30)
    assert main(["apply", str(root), "--yes", "--ledger", writer]) == 0
    assert "Applied: 30 sent, 0 failed, 0 uncertain" in capsys.readouterr().out

    write_config(tmp_path / "cfg", sandbox, 37)  # seven more people
    plan_file = tmp_path / "plan.json"
    plan = ["plan", str(root), "--ledger", reader, "--detailed-exitcode", "--format", "json"]
    assert main([*plan, "--report", str(plan_file)]) == 2

    planned = json.loads(plan_file.read_text())
    assert planned["to_send"] == 7
    # the delivery of the last occurrence sent, read through the SELECT-only role
    (delivery,) = [s["last_delivery"] for s in planned["schedules"]]
    assert (delivery["sent"], delivery["awaiting"], delivery["rate"]) == (30, 30, None)
    # the comment says what it was planned against: user, host and database, no password
    assert planned["ledger"]["rows"] == 30
    assert planned["ledger"]["name"].startswith("postgresql://")
    assert "@127.0.0.1:" in planned["ledger"]["name"]
    markdown = tmp_path / "plan.md"
    assert main([*plan[:-2], "--format", "markdown", "--report", str(markdown)]) == 2
    assert "Planned against the ledger `postgresql://" in markdown.read_text()
    assert "(30 rows)" in markdown.read_text()
    assert main(["ledger", "stats", "--ledger", reader]) == 0
    # a plan file made through the read-only role applies through the writing one: one
    # database, whichever role reads it (the ledger's identity has no user, no password)
    saved = tmp_path / "saved.json"
    assert main(["plan", str(root), "--ledger", reader, "--out", str(saved)]) == 0
    assert main(["apply", str(root), "--yes", "--ledger", writer, "--plan", str(saved)]) == 0
    assert "Applied: 7 sent" in capsys.readouterr().out
    assert Counter(m["recipient"] for m in sandbox.state.snapshot()) == Counter(numbers(37))
    assert counts(writer) == {"sent": 37}
    assert main([*plan, "--report", str(plan_file)]) == 0  # nothing left to send

    out = capsys.readouterr()
    for shown in (out.out, out.err, plan_file.read_text(), markdown.read_text()):
        assert postgres_cluster.password not in shown
        assert READER_PASSWORD not in shown


def test_run_mode_rounds_on_postgres(tmp_path: Path, sandbox: Sandbox, postgres_db: str) -> None:
    """A run-mode round sends everyone once; the next round finds them all in the ledger."""
    config = load_project(write_config(tmp_path / "cfg", sandbox, 12))
    ledger = PostgresLedger(postgres_db)
    at = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    run = Runner(config, ledger, SECRETS, Metrics(), clock=lambda: at)
    asyncio.run(run.reconcile(None, "resync"))
    asyncio.run(run.reconcile(None, "resync"))
    assert Counter(m["recipient"] for m in sandbox.state.snapshot()) == Counter(numbers(12))
    assert {r.status for r in ledger.records()} == {Status.SENT}
    assert ledger.stats() == {"greet": {"sent": 12}}
    ledger.close()

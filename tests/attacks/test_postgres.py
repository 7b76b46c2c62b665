"""A `postgresql://` ledger URL with a password, and a server that refuses, hangs or says no.

Each case runs the real CLI in a fresh, bounded process (the harness). The
promise: one clear line naming the ledger as `postgresql://user@host:port/db`
(the password removed), exit 1, no traceback, and the password nowhere in
the output, whichever way it was given (in the URL, through SMSOPS_LEDGER).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.attacks.harness import BASE_NUMBERS, BASE_PROVIDERS, BASE_REST, run_cli, write_config
from tests.postgres import Cluster

PASSWORD = "pg-SECRET-9d41e7"  # the attack's own value, never a real one


@pytest.fixture
def refusing_port() -> int:
    """A loopback port nothing listens on: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def config(tmp_path: Path) -> str:
    return str(write_config(tmp_path, {"smsops.yaml": BASE_PROVIDERS + BASE_REST}))


def assert_named_without_password(outcome_output: str, port: int) -> None:
    assert f"postgresql://ops@127.0.0.1:{port}/sms" in outcome_output
    assert PASSWORD not in outcome_output


@pytest.mark.parametrize(
    "command",
    [
        ["plan", "{config}", "--ledger", "{url}"],
        ["apply", "{config}", "--yes", "--ledger", "{url}"],
        ["ledger", "list", "--ledger", "{url}"],
    ],
)
def test_a_refusing_server_is_one_clear_line_without_the_password(
    tmp_path: Path, refusing_port: int, command: list[str]
) -> None:
    url = f"postgresql://ops:{PASSWORD}@127.0.0.1:{refusing_port}/sms?sslmode=disable"
    args = [part.format(config=config(tmp_path), url=url) for part in command]
    outcome = run_cli(args, cwd=tmp_path)
    outcome.assert_safe(code=1, located=r"cannot open the ledger .*Connection refused")
    assert_named_without_password(outcome.output, refusing_port)


def test_a_password_in_smsops_ledger_never_shows(tmp_path: Path, refusing_port: int) -> None:
    url = f"postgres://ops:{PASSWORD}@127.0.0.1:{refusing_port}/sms"
    outcome = run_cli(
        ["apply", config(tmp_path), "--yes"], cwd=tmp_path, env={"SMSOPS_LEDGER": url}
    )
    outcome.assert_safe(code=1, located="cannot open the ledger", numbers=BASE_NUMBERS)
    assert_named_without_password(outcome.output, refusing_port)


def test_a_hung_server_times_out_with_a_clear_line(tmp_path: Path, silent_port: int) -> None:
    url = f"postgresql://ops:{PASSWORD}@127.0.0.1:{silent_port}/sms"
    outcome = run_cli(
        ["plan", config(tmp_path), "--ledger", url],
        cwd=tmp_path,
        env={"SMSOPS_LEDGER_WAIT": "1"},  # connect_timeout: 2 s at least
    )
    outcome.assert_safe(code=1, located=r"cannot open the ledger .*timeout", max_seconds=15)
    assert_named_without_password(outcome.output, silent_port)


def test_a_wrong_password_is_refused_and_not_repeated(
    tmp_path: Path, postgres_cluster: Cluster, postgres_db: str
) -> None:
    database = conninfo_to_dict(postgres_db)["dbname"]
    url = f"postgresql://smsops_admin:{PASSWORD}@127.0.0.1:{postgres_cluster.port}/{database}"
    outcome = run_cli(["apply", config(tmp_path), "--yes", "--ledger", url], cwd=tmp_path)
    outcome.assert_safe(code=1, located="password authentication failed", numbers=BASE_NUMBERS)
    assert PASSWORD not in outcome.output
    assert f"postgresql://smsops_admin@127.0.0.1:{postgres_cluster.port}/{database}" in (
        outcome.output
    )


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://ops:{PASSWORD}%zz@127.0.0.1:5/sms",
        # found by review: libpq reads these as host `ops`, port `Zm9v...`, database `...@host`
        f"postgresql://ops:Zm9v/{PASSWORD}+x@localhost:5432/sms?sslmode=disable",
        f"postgresql://ops:ab/{PASSWORD}@/sms?host=/tmp",
        f"postgresql://ops@localhost:{PASSWORD}/sms",  # a password typed in the port
    ],
    ids=["bad escape", "unencoded slash", "slash, socket", "password as port"],
)
def test_a_malformed_url_is_refused_without_echoing_it(tmp_path: Path, url: str) -> None:
    outcome = run_cli(["plan", config(tmp_path), "--ledger", url], cwd=tmp_path)
    outcome.assert_safe(code=None, located="not a valid PostgreSQL URL")
    assert outcome.code != 0
    assert PASSWORD not in outcome.output

"""The ledger and the CLI when things go wrong: a clear error and the right exit, never a traceback.

Each case runs the real CLI in a fresh, bounded process (the harness) against
a ledger that is locked, full, new to several processes at once, not a
ledger at all, a directory or from a newer smsops; with stdout closed early;
at a confirmation prompt that gets end-of-input; and with a usage error where
`--detailed-exitcode` would say "sends pending".
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsops.ledger.base import SendRecord, Status
from smsops.ledger.sqlite import SqliteLedger
from smsops.sandbox.server import Sandbox
from tests.attacks.harness import (
    BASE_NUMBERS,
    BASE_PROVIDERS,
    BASE_REST,
    MEMORY_MB,
    TIMEOUT_S,
    Outcome,
    attack_env,
    memory_cap,
    run_cli,
    write_config,
)

NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)
FAST_WAIT = {"SMSOPS_LEDGER_WAIT": "1"}


def sandbox_config(root: Path, sandbox: Sandbox, count: int) -> Path:
    """One schedule to `count` CSV recipients through Opentact on the test's sandbox."""
    rows = "".join(f"+4474{i:08d},P{i}\n" for i in range(count))
    return write_config(
        root,
        {
            "people.csv": "phone,name\n" + rows,
            "smsops.yaml": f"""\
            providers:
              ot:
                type: opentact
                base_url: {sandbox.base_url("opentact")}
                token: ${{env:OT_JWT}}
                from: "+12017771234"
            templates:
              hello: {{category: transactional, body: "Hello {{{{ name }}}}"}}
            audiences:
              people: {{source: people.csv}}
            schedules:
              greet: {{template: hello, audience: people, provider: ot}}
            """,
        },
    )


def base_config(root: Path) -> Path:
    return write_config(root, {"providers.yaml": BASE_PROVIDERS, "rest.yaml": BASE_REST})


def statuses(ledger: Path) -> dict[str, int]:
    db = sqlite3.connect(ledger)
    try:
        return dict(db.execute("SELECT status, count(*) FROM sends GROUP BY status").fetchall())
    finally:
        db.close()


def filled_ledger(path: Path, rows: int) -> Path:
    """A ledger holding `rows` sent rows (enough output to outlast a pipe's buffer)."""
    ledger = SqliteLedger(path)
    claimed = ledger.claim(
        SendRecord.claim(
            "greet",
            "once",
            f"+4474{i:08d}",
            provider="ot",
            template="hello",
            text_hash="h",
            segments=1,
            now=NOW,
        )
        for i in range(rows)
    )
    ledger.settle(r.settled(Status.SENT, NOW, message_id=f"m-{i}") for i, r in enumerate(claimed))
    ledger.close()
    return path


@contextlib.contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Another writer mid-transaction on `path`, plus a registered `smsops run` on it."""
    running = SqliteLedger(path, command="smsops run")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()
        running.close()


def test_locked_ledger_names_its_writer_after_a_bounded_wait(tmp_path: Path) -> None:
    config = base_config(tmp_path)
    ledger = tmp_path / "ledger.sqlite"
    SqliteLedger(ledger).close()
    with write_locked(ledger):
        outcome = run_cli(
            ["apply", str(config), "--sandbox", "--yes", "--ledger", str(ledger)],
            cwd=tmp_path,
            env=FAST_WAIT,
        )
    outcome.assert_safe(code=1, numbers=BASE_NUMBERS, ledger=ledger, max_seconds=20)
    assert f"the ledger {str(ledger)!r}: it is locked" in outcome.stderr
    assert "another process is writing it and did not finish within 1 s" in outcome.stderr
    assert re.search(rf"smsops run \(pid {os.getpid()} on \S+, since 20\d\d-", outcome.stderr)
    assert "Applied" not in outcome.output  # nothing was sent
    assert statuses(ledger) == {}


MAX_PAGES = """\
import os, sqlite3

_connect = sqlite3.connect


def connect(*args, **kwargs):  # the ledger may grow by only a few pages: then SQLITE_FULL
    db = _connect(*args, **kwargs)
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    db.execute(f"PRAGMA max_page_count = {pages + int(os.environ['ATTACK_EXTRA_PAGES'])}")
    return db


sqlite3.connect = connect
"""


def test_disk_full_mid_apply_sends_nothing_without_a_row(tmp_path: Path, sandbox: Sandbox) -> None:
    count = 1500
    config = sandbox_config(tmp_path, sandbox, count)
    ledger = tmp_path / "ledger.sqlite"
    SqliteLedger(ledger).close()
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(MAX_PAGES)
    full = {"PYTHONPATH": str(hook), "ATTACK_EXTRA_PAGES": "6"}

    outcome = run_cli(
        ["apply", str(config), "--yes", "--ledger", str(ledger)], cwd=tmp_path, env=full
    )
    outcome.assert_safe(code=1, ledger=ledger, numbers=[f"+4474{i:08d}" for i in (0, 1, 1499)])
    assert "cannot rollback" not in outcome.output
    assert "The ledger could not be written" in outcome.stdout
    assert "the disk is full" in outcome.stdout
    assert re.search(r"\d+ not sent: stopped", outcome.stdout)
    accepted = {m["recipient"] for m in sandbox.state.snapshot()}
    rows = statuses(ledger)
    assert 0 < len(accepted) < count  # it did fill up mid-apply
    assert set(rows) <= {"sent", "pending"}
    assert sum(rows.values()) >= len(accepted)  # every accepted message has its row

    again = run_cli(["apply", str(config), "--yes", "--ledger", str(ledger)], cwd=tmp_path)
    again.assert_safe(code=0, ledger=ledger)
    # Which write finds the disk full first is batch timing. A claim: nothing is left
    # pending. A settlement: its rows stay `pending` (tried once more, not waited out),
    # their messages accepted; the next apply leaves them to the lease (then `uncertain`),
    # never sends them again.
    after = statuses(ledger)
    assert after["sent"] + after.get("pending", 0) == count
    assert after.get("pending", 0) == rows.get("pending", 0)
    sent = [m["recipient"] for m in sandbox.state.snapshot()]
    assert len(sent) == len(set(sent)) == count  # the rest went out once, nothing twice


def test_concurrent_first_use_migrates_once_and_sends_once(tmp_path: Path) -> None:
    config = base_config(tmp_path)
    ledger = tmp_path / "new" / "ledger.sqlite"
    args = ["apply", str(config), "--sandbox", "--yes", "--ledger", str(ledger)]
    outcomes: list[Outcome] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(run_cli(args, cwd=tmp_path)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 4
    sent = 0
    for outcome in outcomes:
        outcome.assert_safe(code=0, numbers=BASE_NUMBERS, ledger=ledger)
        assert "already exists" not in outcome.output
        if found := re.search(r"Applied: (\d+) sent", outcome.stdout):
            sent += int(found[1])
    assert sent == len(BASE_NUMBERS)
    assert statuses(ledger) == {"sent": len(BASE_NUMBERS)}


@pytest.mark.parametrize(
    ("setup", "wanted"),
    [
        ("garbage", r"not an SQLite database"),
        ("directory", r"is a directory; --ledger / SMSOPS_LEDGER names the ledger file"),
        ("fifo", r"is a FIFO \(named pipe\), not a regular file; --ledger / SMSOPS_LEDGER"),
        ("newer", r"schema version 99, newer than this smsops knows \(\d+\).*upgrade smsops"),
    ],
)
@pytest.mark.parametrize("command", ["apply", "plan", "ledger list", "ledger resolve"])
def test_a_ledger_smsops_cannot_use_is_a_clear_error(
    tmp_path: Path, setup: str, wanted: str, command: str
) -> None:
    config = base_config(tmp_path)
    ledger = tmp_path / "ledger.sqlite"
    if setup == "garbage":
        ledger.write_bytes(b"\x89PNG not a database\x00" * 400)
    elif setup == "directory":
        ledger.mkdir()
    elif setup == "fifo":  # SQLite's open waited on it for a writer, forever
        os.mkfifo(ledger)
    else:
        SqliteLedger(ledger).close()
        db = sqlite3.connect(ledger)
        db.execute("PRAGMA user_version = 99")
        db.close()
    before = ledger.read_bytes() if ledger.is_file() else b""
    args = {
        "apply": ["apply", str(config), "--sandbox", "--yes"],
        "plan": ["plan", str(config), "--detailed-exitcode"],
        "ledger list": ["ledger", "list"],
        "ledger resolve": ["ledger", "resolve", "--as", "sent", "--schedule", "greet"],
    }[command]
    if command == "ledger resolve":
        args += ["--reason", "checked"]
    outcome = run_cli([*args, "--ledger", str(ledger)], cwd=tmp_path)
    outcome.assert_safe(code=1, located=re.escape(str(ledger)), numbers=BASE_NUMBERS)
    assert re.search(wanted, outcome.stderr), outcome.stderr
    assert "Applied" not in outcome.output
    if ledger.is_file():
        assert ledger.read_bytes() == before  # never overwritten or "upgraded"


def run_raw(
    args: Sequence[str],
    *,
    cwd: Path,
    read_lines: int | None = None,
    eof_on_tty: bool = False,
) -> Outcome:
    """Like `run_cli`, for what it cannot do: a reader that closes stdout early, or a terminal.

    `read_lines`: read that many lines of stdout, then close it (0: close it
    at once, as `smsops ... | true` does). `eof_on_tty`: stdin is a terminal
    on which Ctrl-D is typed.
    """
    master = slave = -1
    if eof_on_tty:
        master, slave = pty.openpty()

    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "smsops", *args],
        cwd=cwd,
        env=attack_env(cwd),
        stdin=slave if eof_on_tty else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=memory_cap(MEMORY_MB),
        start_new_session=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        if eof_on_tty:
            os.close(slave)
            os.write(master, b"\x04")  # Ctrl-D at the start of a line: end of input
        if read_lines is not None:
            stdout = b"".join(process.stdout.readline() for _ in range(read_lines))
            process.stdout.close()
            stderr = process.stderr.read()
            code = process.wait(timeout=TIMEOUT_S)
        else:
            stdout, stderr = process.communicate(timeout=TIMEOUT_S)
            code = process.returncode
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        if eof_on_tty:
            os.close(master)
        process.stderr.close()
        if not process.stdout.closed:
            process.stdout.close()
    return Outcome(tuple(args), code, stdout.decode(), stderr.decode(), time.monotonic() - started)


@pytest.mark.parametrize(
    ("command", "read_lines"),
    [
        ("ledger export", 1),  # `smsops ledger export | head -1`
        ("ledger export", 0),  # `smsops ledger export | true`
        ("ledger export jsonl", 3),
        ("ledger list", 2),
        ("ledger stats", 0),  # small outputs: closed before the first write
        ("plan", 0),
        ("plan json", 0),
        ("plan markdown", 0),
        ("render", 0),
        ("validate", 0),
        ("schema", 0),
    ],
)
def test_a_closed_stdout_ends_quietly(tmp_path: Path, command: str, read_lines: int) -> None:
    config = base_config(tmp_path)
    ledger = filled_ledger(tmp_path / "ledger.sqlite", 3000)
    args = {
        "ledger export": ["ledger", "export", "--ledger", str(ledger)],
        "ledger export jsonl": ["ledger", "export", "--format", "jsonl", "--ledger", str(ledger)],
        "ledger list": ["ledger", "list", "--limit", "0", "--ledger", str(ledger)],
        "ledger stats": ["ledger", "stats", "--ledger", str(ledger)],
        "plan": ["plan", str(config), "--ledger", str(ledger)],
        "plan json": ["plan", str(config), "--format", "json", "--ledger", str(ledger)],
        "plan markdown": ["plan", str(config), "--format", "markdown", "--ledger", str(ledger)],
        "render": ["render", str(config)],
        "validate": ["validate", str(config)],
        "schema": ["schema"],
    }[command]
    outcome = run_raw(args, cwd=tmp_path, read_lines=read_lines)
    outcome.assert_safe(code=141, numbers=BASE_NUMBERS)
    assert outcome.stderr == ""  # quiet, the Unix way
    assert len(outcome.stdout.splitlines()) == read_lines


def test_end_of_input_at_the_prompt_sends_nothing(tmp_path: Path) -> None:
    config = base_config(tmp_path)
    ledger = tmp_path / "ledger.sqlite"
    outcome = run_raw(
        ["apply", str(config), "--sandbox", "--ledger", str(ledger)], cwd=tmp_path, eof_on_tty=True
    )
    outcome.assert_safe(code=1, numbers=BASE_NUMBERS, ledger=ledger)
    assert "Only 'yes' sends" in outcome.stdout  # it did ask
    assert "error: no answer (end of input); nothing was sent" in outcome.stderr
    assert not ledger.exists()  # nothing claimed, and no empty ledger left behind


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "{config}", "--detailed-exitcode", "--formt", "json"],
        ["plan", "--detailed-exitcode"],
        ["plan", "{config}", "--detailed-exitcode", "--at", "tomorrow"],
        ["plan", "{config}", "--detailed-exitcode", "--format", "yaml"],
        ["apply", "{config}", "--yes", "--dryrun"],
        ["ledger", "resolve", "--as", "maybe", "--schedule", "greet", "--reason", "x"],
        ["ledger", "resolve", "--as", "sent", "--reason", "x"],
        ["smsops-typo"],
    ],
)
def test_usage_errors_exit_1_never_2(tmp_path: Path, args: list[str]) -> None:
    config = base_config(tmp_path)
    outcome = run_cli([a.format(config=config) for a in args], cwd=tmp_path)
    outcome.assert_safe(code=1, numbers=BASE_NUMBERS)
    assert re.search(r"^smsops.*: error: ", outcome.stderr, re.M), outcome.stderr
    assert outcome.stderr.startswith("usage: smsops")  # argparse's own message, kept


def test_resolve_refuses_rows_that_are_not_uncertain(tmp_path: Path) -> None:
    ledger = filled_ledger(tmp_path / "ledger.sqlite", 2)
    db = sqlite3.connect(ledger)
    (key,) = db.execute("SELECT key FROM sends LIMIT 1").fetchone()
    db.close()
    before = statuses(ledger)
    outcome = run_cli(
        [
            "ledger",
            "resolve",
            "--as",
            "failed",
            "--key",
            key,
            "--reason",
            "x",
            "--ledger",
            str(ledger),
        ],
        cwd=tmp_path,
    )
    outcome.assert_safe(code=1, ledger=ledger, numbers=["+447400000000", "+447400000001"])
    assert f"{key} (greet once) is sent, not uncertain" in outcome.stderr
    assert "nothing was changed" in outcome.stderr
    assert statuses(ledger) == before


KILLED_AFTER_SETTLING = """\
import os, signal, sys
from datetime import UTC, datetime
from pathlib import Path
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.sqlite import SqliteLedger
ledger, now = SqliteLedger(Path(sys.argv[1])), datetime.now(UTC)
new = SendRecord.claim("s", "once", "+447400123456", provider="ot", template="t",
                       text_hash="h", segments=1, now=now)
(won,) = ledger.claim([new])
ledger.settle([won.settled(Status.SENT, now, message_id="m-1")])
os.kill(os.getpid(), signal.SIGKILL)  # before any later commit could sync the settlement
"""


def test_a_settlement_not_yet_synced_survives_a_kill_9_of_its_process(tmp_path: Path) -> None:
    """A settlement is committed without a sync of its own (sqlite_file.py): only a power
    loss can take it back, never the death of the process, whose writes the OS holds."""
    path = tmp_path / "ledger.sqlite"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_SETTLING, str(path)],
        env=attack_env(tmp_path),
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert (path.parent / (path.name + "-wal")).stat().st_size > 0  # never checkpointed
    ledger = SqliteLedger(path)
    try:
        (row,) = ledger.records()
    finally:
        ledger.close()
    assert (row.status, row.provider_message_id) == (Status.SENT, "m-1")

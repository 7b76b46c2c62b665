"""`plan` and the ledger reads on a SQLite ledger in a read-only place (a read-only volume).

A WAL ledger is read through its `-shm` index, which a reader creates next
to the file when none is there: on a read-only file system SQLite then
cannot open it at all ("unable to open database file"). The tests run as
root, which no chmod stops, so the place is made read-only for real: the
CLI runs in a mount namespace of its own (`unshare --mount`, private by
default) where the ledger's folder is bind-mounted read-only; the mount
ends with that process. Without `unshare` (or the right to use it) they skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsops.ledger.base import SendRecord, Status
from smsops.ledger.sqlite import SqliteLedger
from tests.test_ledger_cli import CONFIG  # greet: Sam and Alex, through one provider

NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)
NUMBERS = ["+447400123456", "+447400123457"]
# `sh -c` with $0 the folder to make read-only, then the command to run there.
READ_ONLY = 'mount --bind -o ro "$0" "$0" && exec "$@"'


def _can_mount_read_only() -> bool:
    if shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as folder:
        tried = subprocess.run(
            ["unshare", "--mount", "sh", "-c", READ_ONLY, folder, "true"],
            capture_output=True,
            check=False,
        )
    return tried.returncode == 0


pytestmark = pytest.mark.skipif(
    not _can_mount_read_only(), reason="needs `unshare --mount` and the right to mount"
)


def on_read_only(folder: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m smsops *args` where `folder` is a read-only file system."""
    return subprocess.run(
        [
            "unshare",
            "--mount",
            "sh",
            "-c",
            READ_ONLY,
            str(folder),
            sys.executable,
            "-m",
            "smsops",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "OT_TOKEN": "t", "NO_COLOR": "1", "SMSOPS_CACHE_DIR": str(cwd)},
        timeout=60,
        check=False,
    )


def ledger_with_one_sent(path: Path) -> SqliteLedger:
    """A ledger (still open: the caller closes it) where Sam's greeting was sent."""
    writer = SqliteLedger(path)
    (claimed,) = writer.claim(
        [
            SendRecord.claim(
                "greet",
                "once",
                NUMBERS[0],
                provider="ot",
                template="hello",
                text_hash="h",
                segments=1,
                now=NOW,
            )
        ]
    )
    writer.settle([claimed.settled(Status.SENT, NOW, message_id="m-1")])
    return writer


def test_plan_and_ledger_reads_open_a_ledger_on_a_read_only_file_system(tmp_path: Path) -> None:
    (tmp_path / "smsops.yaml").write_text(CONFIG)
    folder = tmp_path / "volume"
    folder.mkdir()
    ledger = folder / "ledger.sqlite"
    ledger_with_one_sent(ledger).close()  # closed cleanly: no -wal, no -shm left
    assert sorted(p.name for p in folder.iterdir()) == ["ledger.sqlite"]

    plan = on_read_only(folder, tmp_path, "plan", "smsops.yaml", "--ledger", str(ledger))
    assert plan.returncode == 0, plan.stderr
    assert "1 already sent" in plan.stdout
    assert "+ 1 to send" in plan.stdout
    listed = on_read_only(folder, tmp_path, "ledger", "list", "--ledger", str(ledger))
    assert listed.returncode == 0, listed.stderr
    assert "sent" in listed.stdout
    assert "+44 74** ***456" in listed.stdout
    stats = on_read_only(folder, tmp_path, "ledger", "stats", "--ledger", str(ledger))
    assert stats.returncode == 0, stats.stderr
    for done in (plan, listed, stats):
        assert "Traceback" not in done.stderr
        assert NUMBERS[0] not in done.stdout + done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["ledger.sqlite"]


def test_a_ledger_whose_write_ahead_log_cannot_be_read_there_is_refused_not_misread(
    tmp_path: Path,
) -> None:
    """A -wal with commits but no -shm (a writer's copy, a crash) on a read-only volume.

    Reading the file alone would miss the commits in the log (a sent row
    shown as still to send), so the read is refused, saying what to do.
    """
    (tmp_path / "smsops.yaml").write_text(CONFIG)
    folder = tmp_path / "volume"
    folder.mkdir()
    writer = ledger_with_one_sent(tmp_path / "live.sqlite")
    try:  # copied while the writer is open: its commits are still in the log
        shutil.copyfile(tmp_path / "live.sqlite", folder / "ledger.sqlite")
        shutil.copyfile(tmp_path / "live.sqlite-wal", folder / "ledger.sqlite-wal")
    finally:
        writer.close()
    ledger = str(folder / "ledger.sqlite")
    plan = on_read_only(folder, tmp_path, "plan", "smsops.yaml", "--ledger", ledger)
    assert plan.returncode == 1
    assert "Traceback" not in plan.stderr
    assert "ledger.sqlite-wal" in plan.stderr
    assert "read-only" in plan.stderr
    assert "to send" not in plan.stdout

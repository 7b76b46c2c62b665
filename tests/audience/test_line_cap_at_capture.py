"""The line-length cap known from the snapshot's bytes: the same refusals, the same errors.

Where capture proves that no line of a CSV file can reach the cap (every
window of its bytes holds a line break, and the encoding makes a character
of at least one byte with the break bytes meaning only breaks), the rows are
read without the capped per-line read. What is refused, and where, must stay
exactly what the capped read refuses: checked on generated files in several
encodings (with and without byte-order marks), with the cap and the window
made small so that lines at, below and past the cap are cheap to write.
"""

from __future__ import annotations

import codecs
import random
from pathlib import Path

import pytest

from smsops.audience import csvfile
from smsops.audience.recipients import _csv_rows
from smsops.config.models import Audience
from smsops.core import snapshots
from smsops.core.errors import ConfigError, Location
from smsops.core.snapshots import SnapshotStore

CAP = 17
WINDOW = 8  # 2 * WINDOW < CAP: a file with a break in every window has no line near the cap

ENCODINGS = ["utf-8", "utf8", "UTF-8-SIG", "latin-1", "cp1252", "utf-16", "shift_jis", "cp037"]
PIECES = ["+4474", "x", "é", "中", "€", ",", '"', " ", "ab" * 4]
ENDINGS = ["\n", "\r\n", "\r", ""]


def _text(chance: random.Random) -> str:
    """Lines mostly well under the cap, now and then one near it or past it."""
    lines = [chance.choice(["phone\n", "phone,n\r\n", "\ufeffphone\n"])]
    for _ in range(chance.randint(0, 8)):
        longest = chance.choice([1, 2, 3, 12])  # pieces: up to ~48 characters
        body = "".join(chance.choice(PIECES) for _ in range(chance.randint(0, longest)))
        lines.append(body + chance.choice(ENDINGS))
    return "".join(lines)


def _outcome(
    store: SnapshotStore, path: Path, audience: Audience
) -> list[tuple[int, list[str], str]] | tuple[str, str]:
    snapshot = store.capture(path, path.parent, 1 << 20)
    try:
        return [
            (n, cells, phone)
            for (_, cells, n), phone in _csv_rows(snapshot, audience, Location(path))
        ]
    except ConfigError as exc:
        (problem,) = exc.problems
        return str(problem.location), problem.message


@pytest.mark.parametrize("seed", range(4))
def test_the_cap_known_at_capture_refuses_what_the_capped_read_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setattr(csvfile, "CSV_MAX_LINE", CAP)
    monkeypatch.setattr(snapshots, "BREAK_WINDOW", WINDOW)
    store = SnapshotStore(tmp_path / "store")
    chance = random.Random(seed)
    fast = {"taken": 0}
    decide = csvfile.within_cap

    def counted(snapshot: snapshots.Snapshot, encoding: str) -> bool:
        taken = decide(snapshot, encoding)
        fast["taken"] += taken
        return taken

    refused = 0
    for case in range(120):
        encoding = chance.choice(ENCODINGS)
        text = _text(chance)
        data = text.encode(encoding, errors="replace")
        if chance.random() < 0.2 and codecs.lookup(encoding).name == "utf-8":
            data = codecs.BOM_UTF8 + data  # a mark the reader drops
        if chance.random() < 0.1:
            data += b"\xff\xfe\x81"  # bytes some of the encodings cannot decode
        path = tmp_path / f"people-{case}.csv"
        path.write_bytes(data)
        audience = Audience(source=path.name, encoding=encoding, phone_column="phone")
        monkeypatch.setattr(csvfile, "within_cap", counted)
        got = _outcome(store, path, audience)
        monkeypatch.setattr(csvfile, "within_cap", lambda snapshot, encoding: False)
        expected = _outcome(store, path, audience)  # the capped read, line by line
        assert got == expected, (encoding, data)
        refused += isinstance(expected, tuple) and "longer than" in expected[1]
    assert fast["taken"] >= 10, fast  # the shortcut was taken, not only the capped read
    assert refused >= 5, refused  # and lines past the cap were refused by both


def test_a_window_without_a_line_break_keeps_the_capped_read(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "store")
    path = tmp_path / "people.csv"
    path.write_bytes(b"phone\n" + b"1" * (3 * snapshots.BREAK_WINDOW) + b"\n")
    assert store.capture(path, tmp_path, 1 << 22).break_window == 0
    path.write_bytes(b"phone\n+447400123456\n" * (snapshots.BREAK_WINDOW // 4))
    snapshot = store.capture(path, tmp_path, 1 << 22)
    assert snapshot.break_window == snapshots.BREAK_WINDOW
    assert csvfile.within_cap(snapshot, "utf-8")
    for encoding in ("utf-16", "utf-32", "utf-7", "cp037", "shift_jis", "no-such-codec"):
        assert not csvfile.within_cap(snapshot, encoding)
    for encoding in ("utf-8", "UTF8", "utf-8-sig", "ascii", "latin-1", "cp1252", "iso8859-15"):
        assert csvfile.within_cap(snapshot, encoding)

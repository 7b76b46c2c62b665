"""A ledger row in a state the policy table does not know: refused clearly, never sent again.

The ledger file is shared state: another program, a newer smsops or a hand
edit may leave a row whose status is none of this smsops's. Reading it is a
located error (the row's key), never a traceback; and since no transition of
the policy table starts from an unknown status, apply never claims (so never
sends) that recipient again, while the others are sent.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsops.ledger.base import SendRecord
from smsops.ledger.records import send_key
from smsops.ledger.sqlite import SqliteLedger
from tests.attacks.harness import BASE_NUMBERS, BASE_PROVIDERS, BASE_REST, run_cli, write_config

NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)


def tampered_ledger(path: Path, status: str) -> str:
    """A ledger whose row for the first number has `status`, written behind smsops's back."""
    ledger = SqliteLedger(path)
    (row,) = ledger.claim(
        [
            SendRecord.claim(
                "greet",
                "once",
                BASE_NUMBERS[0],
                provider="ses",
                template="hello",
                text_hash="h",
                segments=1,
                now=NOW,
            )
        ]
    )
    ledger.close()
    db = sqlite3.connect(path)
    try:
        db.execute("UPDATE sends SET status = ? WHERE key = ?", (status, row.key))
        db.commit()
    finally:
        db.close()
    return row.key


def stored_statuses(path: Path) -> dict[str, str]:
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("SELECT key, status FROM sends").fetchall())
    finally:
        db.close()


@pytest.mark.parametrize(
    "status",
    [
        "bogus",  # another program's word
        "SENT",  # a near miss: statuses are lower case
        "",  # emptied
        "sent\x1b[2J\u202e",  # terminal control and bidi override in the row
    ],
)
def test_a_row_in_an_unknown_state_is_refused_and_never_resent(tmp_path: Path, status: str) -> None:
    config = write_config(tmp_path, {"providers.yaml": BASE_PROVIDERS, "rest.yaml": BASE_REST})
    ledger = tmp_path / "ledger.sqlite"
    key = tampered_ledger(ledger, status)

    listing = run_cli(["ledger", "list", "--ledger", str(ledger)], cwd=tmp_path)
    listing.assert_safe(code=1, located=key, numbers=BASE_NUMBERS, ledger=ledger)
    assert (
        "none of pending, sent, failed, uncertain, expired, delivered, undelivered"
        in listing.stderr
    )
    assert "\x1b" not in listing.output
    assert "\u202e" not in listing.output

    applied = run_cli(
        ["apply", str(config), "--sandbox", "--yes", "--ledger", str(ledger)], cwd=tmp_path
    )
    applied.assert_safe(code=0, numbers=BASE_NUMBERS, ledger=ledger)
    assert "Applied: 1 sent" in applied.stdout
    other = send_key("greet", "once", BASE_NUMBERS[1])
    assert stored_statuses(ledger) == {key: status, other: "sent"}  # the unknown row untouched

"""`plan` (and the plan `apply` prints) shows each schedule's last delivery, read-only.

The examples applied on the sandbox, then receipts recorded as the webhooks
would: a plan shows the rate of the occurrence sent, in text, markdown and
JSON, and leaves the ledger file as it was.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsops.cli import main
from smsops.core.hooks import Delivery, Receipt
from smsops.ledger.base import Status
from smsops.ledger.receipts import received
from smsops.ledger.sqlite import SqliteLedger

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = str(ROOT / "examples" / "configs")
AT = "2026-11-22T18:30:00Z"


@pytest.fixture
def ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The examples sent once; of order-shipped's five, three delivered and one undelivered."""
    path = tmp_path / "l.sqlite"
    assert main(["apply", EXAMPLES, "--at", AT, "--sandbox", "--yes", "--ledger", str(path)]) == 0
    capsys.readouterr()
    opened = SqliteLedger(path)
    try:
        sent = [r for r in opened.records("order-shipped") if r.status is Status.SENT]
        assert len(sent) == 5
        # SES answers with no message id: the rows are moved as a matched receipt moves them.
        words = [Delivery.DELIVERED] * 3 + [Delivery.UNDELIVERED]
        now = datetime(2026, 11, 22, 18, 40, tzinfo=UTC)
        opened.receipt(
            received(r, Receipt(r.provider, "id", word, "x"), now)
            for r, word in zip(sent, words, strict=False)
        )
    finally:
        opened.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_view_of_the_plan_shows_the_last_delivery(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = digest(ledger)
    plan = ["plan", EXAMPLES, "--at", AT, "--ledger", str(ledger)]
    assert main([*plan, "--format", "json"]) == 0
    planned = json.loads(capsys.readouterr().out)["schedules"]
    found = {s["schedule"]: s["last_delivery"] for s in planned}
    assert found["order-shipped"] == {
        "occurrence": "once", "sent": 5, "delivered": 3, "undelivered": 1, "awaiting": 1,
        "rate": 0.75,
    }  # fmt: skip
    assert found["appointment-reminder"] == {
        "occurrence": "2026-11-22T18:00:00Z", "sent": 1, "delivered": 0, "undelivered": 0,
        "awaiting": 1, "rate": None,
    }  # fmt: skip
    assert found["spring-launch"] == {
        "occurrence": None, "sent": 0, "delivered": 0, "undelivered": 0, "awaiting": 0,
        "rate": None,
    }  # fmt: skip

    assert main([*plan, "--format", "text"]) == 0
    text = capsys.readouterr().out
    assert (
        "  delivery of occurrence once: 75.0% delivered (3 delivered, 1 undelivered, 1 awaiting a "
        "receipt, of 5 sent)"
    ) in text
    assert "  delivery of occurrence 2026-11-22T18:00:00Z: 1 sent, no receipts yet" in text
    assert "  delivery: never sent, no receipts yet" in text

    assert main([*plan, "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert "| `order-shipped` | once | 0 | 5 | 0 | 0 | 0 | 6 | 0 | - | 75.0% |" in md
    assert "- delivery of occurrence `once`: 75.0% delivered (3 delivered" in md
    assert digest(ledger) == before  # read-only: not a byte written


def test_apply_prints_the_same_plan_with_it(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["apply", EXAMPLES, "--at", AT, "--sandbox", "--yes", "--ledger", str(ledger)]
    assert main(args) == 0
    assert "delivery of occurrence once: 75.0% delivered" in capsys.readouterr().out

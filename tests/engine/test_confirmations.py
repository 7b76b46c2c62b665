"""Which opt-outs are owed a confirmation (engine/confirmations.py), on the memory ledger:
recent ones, through a provider, still on the list, without a row; the checks of any send."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsops.config.loader import Config
from smsops.core.errors import ConfigError
from smsops.core.skips import SkipReason
from smsops.engine.confirmations import (
    CONFIRM_SCHEDULE,
    CONFIRM_WITHIN,
    confirmation_plan,
    occurrence_of,
)
from smsops.engine.project import load_project
from smsops.ledger.base import SendRecord, Status
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.records import send_key
from smsops.ledger.suppressions import CLI, OptAction, OptEvent

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
SAM = "+447400123450"


def project(tmp_path: Path, body: str = "Bye", unicode: str = "true") -> Config:
    root = tmp_path / "config"
    root.mkdir(parents=True)
    (root / "c.yaml").write_text(
        textwrap.dedent(
            f"""\
            providers:
              ot: {{type: opentact, token: '${{env:T}}', from: '+12017771234'}}
            templates:
              bye: {{category: transactional, body: '{body}', unicode: {unicode}}}
            audiences:
              a: {{contacts: [{{phone: '{SAM}'}}]}}
            schedules:
              s: {{template: bye, audience: a, provider: ot, vars: {{name: x}}}}
            defaults:
              opt_out: {{confirm_template: bye}}
            """
        )
    )
    return load_project(root)


def stop(at: datetime, source: str = "ot", number: str = SAM, keyword: str = "STOP") -> OptEvent:
    return OptEvent(number, OptAction.OUT, at, source, keyword)


def owed(config: Config, ledger: MemoryLedger) -> tuple[list[str], dict[SkipReason, int]]:
    plan = confirmation_plan(config, ledger, NOW, lambda _: False)
    return [s.message.recipient for s in plan.sends], {
        reason: n for s in plan.schedules for reason, n in s.skip_counts.items()
    }


def test_a_recent_stop_through_a_provider_is_owed_one_keyed_by_its_event(tmp_path: Path) -> None:
    ledger = MemoryLedger()
    event = stop(NOW - timedelta(minutes=5))
    ledger.opt([event])
    plan = confirmation_plan(project(tmp_path), ledger, NOW, lambda _: False)
    (send,) = plan.sends
    assert send.key == send_key(CONFIRM_SCHEDULE, occurrence_of(event), SAM)
    assert (send.providers, send.template, send.message.text) == (("ot",), "bye", "Bye")
    assert send.closes == event.at + CONFIRM_WITHIN


def test_what_is_not_owed(tmp_path: Path) -> None:
    config, ledger = project(tmp_path), MemoryLedger()
    ledger.opt([stop(NOW - CONFIRM_WITHIN - timedelta(seconds=1))])  # too old to answer now
    ledger.opt([stop(NOW, source=CLI, number="+447400123451", keyword="")])  # a person's add
    ledger.opt([stop(NOW, source="gone", number="+447400123452")])  # a provider no longer there
    ledger.opt([stop(NOW, number="+447400123453")])
    ledger.opt([OptEvent("+447400123453", OptAction.IN, NOW, "ot", "START")])  # lifted
    assert owed(config, ledger) == ([], {})


def test_a_row_already_there_is_not_owed_again(tmp_path: Path) -> None:
    config, ledger = project(tmp_path), MemoryLedger()
    event = stop(NOW - timedelta(minutes=1))
    ledger.opt([event])
    row = SendRecord.claim(
        CONFIRM_SCHEDULE, occurrence_of(event), SAM, provider="ot", template="bye",
        text_hash="h", segments=1, now=NOW,
    )  # fmt: skip
    ledger.claim([row], resend_uncertain=False)
    ledger.settle([row.settled(Status.UNCERTAIN, NOW, error="the answer could not be read")])
    assert owed(config, ledger) == ([], {})


def test_the_checks_of_any_send_still_apply(tmp_path: Path) -> None:
    ledger = MemoryLedger()
    ledger.opt([stop(NOW, number="+4474001")])  # not a valid number
    ledger.opt([stop(NOW, number="+447400123455")])
    assert owed(project(tmp_path / "a"), ledger) == (
        ["+447400123455"],
        {SkipReason.INVALID_NUMBER: 1},
    )
    no_ucs2 = project(tmp_path / "b", body="Bye 👋", unicode="false")
    assert owed(no_ucs2, ledger) == ([], {SkipReason.INVALID_NUMBER: 1, SkipReason.ENCODING: 1})


def test_validate_refuses_a_confirm_template_that_needs_an_audience_column(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as refused:
        project(tmp_path, body="Bye {{ name }}")  # no audience row to fill it
    assert "confirm template 'bye' uses name, which no opt-out has" in str(refused.value)

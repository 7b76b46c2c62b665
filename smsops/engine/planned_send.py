"""What a plan makes of one desired send: what the claim will do with its ledger row
(`disposition`), and its sample text as plans show it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from smsops.config.models import Audience
from smsops.core.phone import hide_number
from smsops.engine.plan import Disposition
from smsops.ledger.base import DONE, SendRecord, Status
from smsops.ledger.policy import may_claim
from smsops.render.renderer import CompiledTemplate

# A template that reads the number can print it transformed (`|reverse`,
# `|join('-')`, `|int + 1`), which masking by spelling cannot find: its
# sample texts are withheld in every view; counts, segments and encodings stay.
WITHHELD = "(not shown: the template uses the recipient's number)"


def withholds(template: CompiledTemplate, audience: Audience) -> bool:
    """Whether the template reads the recipient's number (its samples are withheld)."""
    return bool(template.variables & {"recipient", "phone", audience.phone_column})


def sample_text(withhold: bool, text: str, phone: str) -> str:
    """A sample as plans show it: never a full number, nor one a template transformed."""
    return WITHHELD if withhold else hide_number(text, phone)


def disposition(
    record: SendRecord | None, is_stale: Callable[[SendRecord], bool], resend_uncertain: bool
) -> Disposition:
    """What the claim will do with this row, asked of the policy table (`may_claim`)."""
    if record is not None and record.status in DONE:
        return Disposition.SENT
    if record is not None and record.status is Status.EXPIRED:
        return Disposition.EXPIRED
    if record is not None and record.status is Status.PENDING:
        if not is_stale(record):
            return Disposition.IN_FLIGHT
        # a run that died: apply marks it uncertain first, then the claim sees that
        record = replace(record, status=Status.UNCERTAIN)
    if may_claim(record, resend_uncertain=resend_uncertain):
        if record is None:
            return Disposition.NEW
        return Disposition.RETRY if record.status is Status.FAILED else Disposition.RESEND
    assert record is not None  # a missing row is always claimable
    return Disposition.FAILED if record.status is Status.FAILED else Disposition.UNCERTAIN

"""What providers tell us after a send, recorded in the ledger: the run server's `HookSink`.

The HTTP side (daemon/http.py) parses each webhook body into the types of
core/hooks.py and hands them here; this writes the ledger and never sees a
body. Receipts go to `Ledger.receipts` (ledger/receipts.py: matched by
provider and message id, moved by the policy table, the first final word
wins, early ones parked). An inbound text whose whole text is an opt-out
keyword of the config (`defaults.opt_out.keywords`, compared as
`config.opt_out.keyword` spells them: trimmed, inner whitespace collapsed,
any case) puts the sender on the ledger's suppression list, with the
provider's name as its source; an opt-in keyword takes them off. Any other
text changes nothing and is not stored: a person's messages are not the
ledger's business. After an opt-out that changed the list, `opted_out` is
told (run mode requests a confirmation round: engine/confirmations.py).

The config is read through a callable on every text, so a reloaded config's
keywords apply to the next text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from smsops.config.opt_out import OptOut, keyword
from smsops.core.hooks import Inbound, InboundResult, Receipt, ReceiptResult
from smsops.core.phone import is_e164
from smsops.ledger.base import Ledger
from smsops.ledger.suppressions import OptAction, OptEvent


def utc_now() -> datetime:
    return datetime.now(UTC)


class Hearing:
    """The `HookSink` over a ledger and the config's opt-out settings."""

    def __init__(
        self,
        ledger: Ledger,
        opt_out: Callable[[], OptOut],
        now: Callable[[], datetime] = utc_now,
        opted_out: Callable[[], None] = lambda: None,
    ) -> None:
        self.ledger, self.opt_out, self.now = ledger, opt_out, now
        # Told after an opt-out changed the list (run mode: a confirmation round, soon).
        self.opted_out = opted_out

    def receipts(self, items: Sequence[Receipt]) -> list[ReceiptResult]:
        return self.ledger.receipts(items, self.now()) if items else []

    def inbound(self, message: Inbound) -> InboundResult:
        settings, said = self.opt_out(), keyword(message.text)
        if said in settings.stops:
            action, result = OptAction.OUT, InboundResult.OPTED_OUT
        elif said in settings.starts:
            action, result = OptAction.IN, InboundResult.OPTED_IN
        else:
            return InboundResult.OTHER
        if not is_e164(message.sender):  # the parser normalises; a list holds numbers
            return InboundResult.OTHER
        at = message.at or self.now()
        event = OptEvent(message.sender, action, at, message.provider, said)
        if self.ledger.opt([event]) == [True] and action is OptAction.OUT:
            self.opted_out()
        return result

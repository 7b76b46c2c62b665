"""The reply to an opt-out (`defaults.opt_out.confirm_template`): the plan of a tiny round.

A confirmation is a send like any other, so it goes through the one path
that never sends twice (engine/round.py, engine/apply.py): the ledger's
claim, the provider's pace and in-flight cap, the per-request guard. Its
identity is `(CONFIRM_SCHEDULE, the opt-out's time, the number)`:

- CONFIRM_SCHEDULE is a schedule name no config can hold (a `:` is outside
  NAME_PATTERN), so `ledger list` and `ledger stats` show the confirmations
  as what they are and no schedule's keys ever meet theirs;
- the occurrence is the time of the opt-out event the ledger recorded. The
  suppression list records one event per opt-out (a STOP from a number
  already on it records none, suppressions.py), and every replica reads the
  same event back from the ledger, never the webhook it happened to get: a
  STOP posted twice, or seen by two replicas, is one event, one key, one
  claim, one message. STOP, START, STOP again is two opt-outs: two replies.

What is confirmed is read from the ledger, not handed over by the webhook:
the list's entries whose opt-out is under CONFIRM_WITHIN old, came through
a provider of the config (source = its name, with the keyword said; `cli`
and `import` entries are never texted) and have no row yet (or one the
policy table lets a claim take again). So a confirmation the process did not
get to send (a crash right after the STOP) goes out with the next round of
any replica, while the opt-out is recent; an old one is not answered late,
and turning `confirm_template` on does not text last year's opt-outs. A number
taken off the list again (START) is no longer confirmed.

It goes through the provider the STOP came in on, alone (no failover): the
reply comes from the number the person wrote to. It bypasses the
suppression list (it is the reply to being put on it) and nothing else: a
number that is not a valid one, that the provider cannot reach, or a text
the template cannot render or encode is skipped with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from smsops.config.loader import Config
from smsops.core.errors import Location
from smsops.core.phone import PhoneNumber, normalize
from smsops.core.recipient import Recipient
from smsops.core.reserved import OPT_OUT_CONFIRM
from smsops.core.skips import Skip, SkipReason
from smsops.engine.messages import message_for
from smsops.engine.plan import Plan, SchedulePlan, Send
from smsops.engine.planned_send import disposition as planned
from smsops.engine.sendable import NO_SECRETS, ProviderCheck
from smsops.ledger.base import Ledger, SendRecord
from smsops.ledger.records import send_key
from smsops.ledger.suppressions import OptEvent
from smsops.providers.registry import adapter_for
from smsops.render.renderer import compile_templates, render

CONFIRM_SCHEDULE = OPT_OUT_CONFIRM  # smsops/core/reserved.py: the names no config can use
# How long after an opt-out its confirmation may still go (a later round's catch-up).
CONFIRM_WITHIN = timedelta(hours=1)
SUPPRESSION_LIST = "(suppression list)"  # the audience a confirmation plan shows
_WHERE = Location(Path(SUPPRESSION_LIST))


def occurrence_of(event: OptEvent) -> str:
    """The confirmation's occurrence: the opt-out's time in UTC (one key per opt-out event)."""
    return event.at.astimezone(UTC).isoformat(timespec="microseconds")


def confirmation_plan(
    config: Config, ledger: Ledger, now: datetime, is_stale: Callable[[SendRecord], bool]
) -> Plan:
    """The confirmations still owed at `now` (an empty plan without `confirm_template`)."""
    name = config.opt_out().confirm_template
    if name is None or name not in config.templates:
        return Plan(now, [])
    owed = [
        event
        for event in ledger.suppressions(since=now - CONFIRM_WITHIN)
        if event.keyword and event.source in config.providers
    ]
    template = compile_templates(config, {name})[name]
    result = SchedulePlan(
        schedule=CONFIRM_SCHEDULE,
        template=name,
        audience=SUPPRESSION_LIST,
        providers=sorted({event.source for event in owed}),
        occurrences=sorted({occurrence_of(event) for event in owed}),
        next_fires=[],
    )
    keys = {send_key(CONFIRM_SCHEDULE, occurrence_of(e), e.number): e for e in owed}
    rows = ledger.get(keys)
    checks = {
        p: ProviderCheck([adapter_for(p, config.providers[p], NO_SECRETS)])
        for p in result.providers
    }
    for key, event in sorted(keys.items(), key=lambda item: item[1].at):
        disposition = planned(rows.get(key), is_stale, resend_uncertain=False)
        if not disposition.sends:
            result.counts[disposition] += 1
            continue
        number = normalize(event.number)
        if not isinstance(number, PhoneNumber):
            result.skip(Skip(SkipReason.INVALID_NUMBER, number, _WHERE))
            continue
        recipient = Recipient.contact(number.e164, number.region, {}, _WHERE)
        if (blocked := checks[event.source].skip(recipient)) is not None:
            result.skip(blocked)
            continue
        occurrence = occurrence_of(event)
        rendered = render(template, CONFIRM_SCHEDULE, {}, recipient, occurrence, now)
        if isinstance(rendered, Skip):
            result.skip(rendered)
            continue
        result.counts[disposition] += 1
        result.segments += rendered.segments
        result.encodings[rendered.encoding] += 1
        result.sends.append(
            Send(
                key=key,
                schedule=CONFIRM_SCHEDULE,
                occurrence=occurrence,
                template=name,
                providers=(event.source,),
                message=message_for(rendered, recipient, template.config),
                text_hash=rendered.text_hash,
                segments=rendered.segments,
                closes=event.at + CONFIRM_WITHIN,
            )
        )
    return Plan(now, [result])

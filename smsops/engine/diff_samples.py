"""The recipients side of a config diff: a template's text before -> after, an audience's members.

A changed template is rendered by the renderer `plan` uses, base and head
each with its own template and schedule, for the same recipients: the first
SAMPLES members of the head's audience of a schedule using it. Texts are
shown as plans show samples (numbers masked; withheld when the template
reads the number). An audience's members are compared as sets of numbers,
read by `recipients` on each side (exclusions applied): counts are exact,
samples masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import islice
from pathlib import Path

from smsops.audience.recipients import recipients
from smsops.config.loader import Config
from smsops.core.phone import mask
from smsops.core.recipient import Recipient
from smsops.core.skips import Skip
from smsops.engine.plan import exact
from smsops.engine.planned_send import sample_text, withholds
from smsops.render.renderer import CompiledTemplate, render

SAMPLES = 3


@dataclass(frozen=True)
class SideText:
    """One recipient's message on one side, or why it would not be sent."""

    text: str | None  # None: skipped (see `skipped`)
    encoding: str | None
    segments: int
    cost: Decimal | None  # exact, as the plan's (`exact`); None: no price configured
    currency: str | None
    skipped: str | None = None  # the skip reason's label


@dataclass(frozen=True)
class SampleChange:
    masked_phone: str
    schedule: str  # whose vars and provider price were used
    before: SideText
    after: SideText


@dataclass(frozen=True)
class AudienceDelta:
    added: int
    removed: int
    added_samples: list[str]  # masked, in the head's file order
    removed_samples: list[str]  # masked, in the base's file order
    exclusions_added: list[str]
    exclusions_removed: list[str]


def samples(
    base: Config,
    head: Config,
    template: str,
    at: datetime,
    cache_dir: Path | None,
    compiled: tuple[dict[str, CompiledTemplate], dict[str, CompiledTemplate]],
) -> list[SampleChange]:
    """`template` rendered at base and head for the same first members of its head audience."""
    users = [n for n, s in head.schedules.items() if s.template == template]
    users += [n for n, s in base.schedules.items() if s.template == template and n not in users]
    if not users:
        return []
    name = users[0]
    owner = head if name in head.schedules else base
    audience = owner.schedules[name].audience
    members = (r for r in recipients(owner, audience, cache_dir) if isinstance(r, Recipient))
    chosen = list(islice(members, SAMPLES))
    old, new = compiled[0][template], compiled[1][template]
    return [
        SampleChange(
            mask(member.phone),
            name,
            _side(base if name in base.schedules else head, old, name, member, at),
            _side(head if name in head.schedules else base, new, name, member, at),
        )
        for member in chosen
    ]


def _side(
    config: Config, compiled: CompiledTemplate, name: str, member: Recipient, at: datetime
) -> SideText:
    schedule = config.schedules[name]
    made = render(compiled, name, schedule.vars, member, "preview", at)
    price = config.providers[schedule.providers[0]].price()
    currency = None if price is None else price.currency
    if isinstance(made, Skip):
        return SideText(None, None, 0, None, currency, made.reason.label)
    cost = None if price is None else exact(price.for_region(member.region)) * made.segments
    withhold = withholds(compiled, config.audiences[schedule.audience])
    text = sample_text(withhold, made.text, member.phone)
    return SideText(text, made.encoding, made.segments, cost, currency)


# An audience's numbers in file order (a dict: ordered, and a set to test against).
Members = dict[str, None]


def audience_delta(
    base: Config,
    head: Config,
    name: str,
    cache_dir: Path | None,
    read: tuple[Members, Members] | None = None,
) -> AudienceDelta:
    """Who joins and who leaves audience `name`: its members on both sides, as `read`
    by the plan's passes (engine/diff_pass.py), else read in full here."""
    old, new = read or (_numbers(base, name, cache_dir), _numbers(head, name, cache_dir))
    gone, joined = set(old) - set(new), set(new) - set(old)
    was, now = set(base.audiences[name].exclude), set(head.audiences[name].exclude)
    return AudienceDelta(
        added=len(joined),
        removed=len(gone),
        added_samples=[mask(n) for n in islice((n for n in new if n in joined), SAMPLES)],
        removed_samples=[mask(n) for n in islice((n for n in old if n in gone), SAMPLES)],
        exclusions_added=sorted(now - was),
        exclusions_removed=sorted(was - now),
    )


def _numbers(config: Config, name: str, cache_dir: Path | None) -> Members:
    """The audience's numbers in file order (what `MemberList` collects in a pass)."""
    return {r.phone: None for r in recipients(config, name, cache_dir) if isinstance(r, Recipient)}

"""Render every message of a schedule without sending: samples, counts, skips, cost.

The planner builds on this: what a schedule would send, before the ledger
says what was already sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from smsops.config.audience import Recipient, recipients
from smsops.config.loader import Config
from smsops.config.models import Schedule
from smsops.core.phone import mask
from smsops.core.skips import Skip, SkipReason
from smsops.engine.occurrences import ONCE, next_fire, occurrence_label
from smsops.providers.base import Adapter, Message
from smsops.providers.registry import adapter_for
from smsops.render.renderer import CompiledTemplate, compile_templates, render

# Previews build no requests, so they need no secrets.
NO_SECRETS: Mapping[str, str] = {}
KEPT_SKIPS = 50
NO_FUTURE_FIRE = (
    "none (no fire time after --at)"  # skip details kept per schedule; counts are always complete
)


@dataclass(frozen=True)
class Sample:
    masked_phone: str
    encoding: str
    segments: int
    text: str


@dataclass
class SchedulePreview:
    schedule: str
    template: str
    audience: str
    provider: str
    occurrence: str
    messages: int = 0
    segments: int = 0
    cost: float | None = None
    currency: str | None = None
    encodings: Counter[str] = field(default_factory=Counter)
    samples: list[Sample] = field(default_factory=list)
    skip_counts: Counter[SkipReason] = field(default_factory=Counter)
    skips: list[Skip] = field(default_factory=list)

    def skip(self, skip: Skip) -> None:
        self.skip_counts[skip.reason] += 1
        if len(self.skips) < KEPT_SKIPS:
            self.skips.append(skip)


def preview(
    config: Config, now: datetime, only: list[str] | None = None, samples: int = 3
) -> list[SchedulePreview]:
    """A preview of each enabled schedule (or of `only`), rendered as of `now`."""
    names = only or [name for name, s in config.schedules.items() if s.enabled]
    compiled = compile_templates(config)
    return [_preview_one(config, compiled, name, now, samples) for name in names]


def _preview_one(
    config: Config,
    compiled: dict[str, CompiledTemplate],
    name: str,
    now: datetime,
    samples: int,
) -> SchedulePreview:
    schedule = config.schedules[name]
    template = compiled[schedule.template]
    adapters = [adapter_for(p, config.providers[p], NO_SECRETS) for p in schedule.providers]
    price = config.providers[schedule.providers[0]].price()
    result = SchedulePreview(
        schedule=name,
        template=schedule.template,
        audience=schedule.audience,
        provider=schedule.providers[0],
        occurrence=_occurrence(schedule, now),
        cost=0.0 if price else None,
        currency=price.currency if price else None,
    )
    for member in recipients(config, schedule.audience):
        if isinstance(member, Skip):
            result.skip(member)
            continue
        blocked = _provider_skip(adapters, member)
        if blocked is not None:
            result.skip(blocked)
            continue
        outcome = render(template, name, schedule, member, result.occurrence, now)
        if isinstance(outcome, Skip):
            result.skip(outcome)
            continue
        result.messages += 1
        result.segments += outcome.segments
        result.encodings[outcome.encoding] += 1
        if price is not None and result.cost is not None:
            result.cost += price.for_region(member.region) * outcome.segments
        if len(result.samples) < samples:
            sample = Sample(mask(member.phone), outcome.encoding, outcome.segments, outcome.text)
            result.samples.append(sample)
    return result


def _occurrence(schedule: Schedule, now: datetime) -> str:
    """`once` only for a schedule with no trigger; a trigger with no future fire says so."""
    if schedule.trigger is None:
        return ONCE
    fire = next_fire(schedule, now)
    return occurrence_label(fire) if fire is not None else NO_FUTURE_FIRE


def _provider_skip(adapters: list[Adapter], member: Recipient) -> Skip | None:
    """A recipient no provider in the failover list can take (e.g. US without origination)."""
    probe = Message(recipient=member.phone, text="", region=member.region)
    reasons = [adapter.skip_reason(probe) for adapter in adapters]
    first = reasons[0]
    if first is not None and all(reasons):
        return Skip(first[0], first[1], member.where)
    return None

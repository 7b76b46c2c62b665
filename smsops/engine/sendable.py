"""Whether any provider of a schedule can take a recipient at all, before rendering."""

from __future__ import annotations

from collections.abc import Mapping

from smsops.config.audience import Recipient
from smsops.core.skips import Skip
from smsops.providers.base import Adapter, Message

# Planning builds no requests, so it needs no secrets.
NO_SECRETS: Mapping[str, str] = {}


def provider_skip(adapters: list[Adapter], member: Recipient) -> Skip | None:
    """A recipient no provider in the failover list can take (e.g. US without origination)."""
    probe = Message(recipient=member.phone, text="", region=member.region)
    reasons = [adapter.skip_reason(probe) for adapter in adapters]
    first = reasons[0]
    if first is not None and all(reasons):
        return Skip(first[0], first[1], member.where)
    return None

"""Whether any provider of a schedule can take a recipient at all, before rendering."""

from __future__ import annotations

from collections.abc import Mapping

from smsops.core.recipient import Recipient
from smsops.core.skips import Skip, SkipReason
from smsops.providers.base import Adapter

# Planning builds no requests, so it needs no secrets.
NO_SECRETS: Mapping[str, str] = {}


class ProviderCheck:
    """Recipients no provider in a failover list can take (e.g. US without origination).

    The answer depends on the region alone: it is worked out once per region.
    """

    def __init__(self, adapters: list[Adapter]) -> None:
        self.adapters = adapters
        self.by_region: dict[str | None, tuple[SkipReason, str] | None] = {}

    def skip(self, member: Recipient) -> Skip | None:
        region = member.region
        try:
            blocked = self.by_region[region]
        except KeyError:
            blocked = self.by_region[region] = self._blocked(region)
        return None if blocked is None else Skip(blocked[0], blocked[1], member.where)

    def _blocked(self, region: str | None) -> tuple[SkipReason, str] | None:
        reasons = [adapter.skip_reason(region) for adapter in self.adapters]
        return reasons[0] if all(reasons) else None

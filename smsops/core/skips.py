"""Why a recipient is not sent a message: a closed set, so every report can count them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from smsops.core.errors import Location


class SkipReason(StrEnum):
    INVALID_NUMBER = "invalid_number"
    DUPLICATE = "duplicate"
    EXCLUDED = "excluded"
    MISSING_VARIABLE = "missing_variable"
    RENDER_ERROR = "render_error"
    ENCODING = "encoding"
    NO_ORIGINATION_NUMBER = "no_origination_number"
    QUIET_HOURS = "quiet_hours"
    UNKNOWN_TIMEZONE = "unknown_timezone"
    # On the ledger's suppression list (STOP): marketing always, others by `respect_opt_out`.
    OPTED_OUT = "opted_out"
    # Its occurrence was removed by `ledger prune` (at or before the prune watermark): a
    # window reopened by a later config or `apply --at` never sends it again.
    PRUNED = "pruned"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


@dataclass(frozen=True, slots=True)
class Skip:
    """One recipient left out, why, and where it came from (CSV row or YAML place)."""

    reason: SkipReason
    detail: str
    where: Location
    # For EXCLUDED: the audience that excluded it (each plan view counts them).
    excluded_by: str | None = None

"""Why a round holds a schedule, as the ledger records it (ledger/held.py) and status shows it.

One home for the words of a hold, so the round that decides it, the daemon
that skips a schedule for a missing secret and the status view that reads
it say the same thing: each limit, missing variable or unreachable provider
is one line of the hold's detail.

A `provider` hold is decided after the sends, not before: a round that goes
ahead ends the other holds when it plans, but only its requests can say
whether a provider it found down answers again (`provider_holds`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from smsops.audience.shards import Part
from smsops.config.loader import Config
from smsops.config.secret_refs import missing_secrets
from smsops.engine.plan import OverLimit, Plan
from smsops.ledger.base import Ledger
from smsops.ledger.held import WHOLE, Hold, HoldReason, SkipsNoted

if TYPE_CHECKING:  # a type only: reach.py imports the HTTP stack, which `status` never needs
    from smsops.engine.reach import Reach

Noted = dict[str, tuple[HoldReason, str] | None]


def guardrail(over: Iterable[OverLimit]) -> tuple[HoldReason, str]:
    """The hold of a plan over these limits (one line each)."""
    return ("guardrail", "\n".join(map(str, over)))


def secrets_held(config: Config, env: Mapping[str, str]) -> dict[str, list[str]]:
    """The schedules a missing secret holds, each with what is missing (one line each)."""
    held: dict[str, list[str]] = {}
    for missing in missing_secrets(config, env):
        detail = f"{missing.variable} of provider {missing.provider} is not set"
        for name in missing.schedules:
            held.setdefault(name, []).append(detail)
    return held


def secret_holds(
    config: Config, env: Mapping[str, str], names: Collection[str]
) -> dict[str, tuple[HoldReason, str]]:
    """The holds of `names` a missing secret holds."""
    return {
        name: ("secret", "\n".join(lines))
        for name, lines in secrets_held(config, env).items()
        if name in names
    }


def decided(
    plan: Plan, held: Mapping[str, tuple[HoldReason, str]], failed: Collection[str]
) -> Noted:
    """What a round records of each planned schedule: its hold, or (None) it went ahead.

    A schedule whose plan failed decided nothing: its hold, if any, stays.
    """
    noted: Noted = {
        s.schedule: None
        for s in plan.schedules
        if s.schedule not in failed and s.schedule not in held
    }
    noted.update(held)
    return noted


def provider_holds(reach: Mapping[tuple[str, str], Reach]) -> Noted:
    """What a round's requests say of each schedule that made some, by (schedule, provider):
    going ahead (None) if any provider answered any of them (a failover provider that
    answered keeps the schedule sending; the page shows the down one's errors), held if
    none answered and a provider it used could not be reached by any; neither (left out)
    when nothing is known (requests that may have reached it, unanswered)."""
    per: dict[str, dict[str, Reach]] = {}
    for (schedule, provider), seen in sorted(reach.items()):
        per.setdefault(schedule, {})[provider] = seen
    noted: Noted = {}
    for schedule, providers in per.items():
        down = [_unreachable(name, seen) for name, seen in providers.items() if seen.down]
        if any(seen.answered for seen in providers.values()):
            noted[schedule] = None
        elif down:
            noted[schedule] = ("provider", "\n".join(down))
    return noted


def _unreachable(provider: str, seen: Reach) -> str:
    plural = "" if seen.requests == 1 else "s"
    return (
        f"provider {provider!r} unreachable: {seen.requests} request{plural}, "
        f"none answered ({seen.cause})"
    )


def skips_of(plan: Plan, part: Part | None = None) -> SkipsNoted:
    """The plan's skips per (schedule, occurrence, part), by reason (`Ledger.note_skips`).

    A plan of some shards (`part`, daemon/units.py) records each of its shards,
    which replace only their own rows: the other shards' holders record theirs,
    and status sums them. Only the occurrence the part covers: another due one
    is another unit's, and this plan saw none of its per-occurrence skips.
    """
    parts = [WHOLE] if part is None or part.whole else sorted(part.shards)
    return {
        (s.schedule, occurrence, shard): counts
        for s in plan.schedules
        for (occurrence, shard), counts in s.skips_by_occurrence(parts).items()
        if part is None or part.covers(occurrence)
    }


def note(
    ledger: Ledger,
    noted: Mapping[str, tuple[HoldReason, str] | None],
    at: datetime,
    *,
    reached: bool = False,
) -> None:
    """Record `noted` (`Ledger.note_holds`), writing only what changes: a round that goes
    ahead as the last one did (the usual case, every resync) reads and writes nothing more.

    Going ahead (None) ends a `provider` hold only when `reached` (`provider_holds`: a
    provider answered). The same providers down again is no change: their counts stay
    those of the round that first held it, with its `since`.
    """
    if not noted:
        return
    current = ledger.holds()
    changed = {
        name: hold
        for name, hold in noted.items()
        if (hold is None and name in current and (reached or current[name].reason != "provider"))
        or (hold is not None and (name not in current or not _same(current[name], hold)))
    }
    if changed:
        ledger.note_holds(changed, at)


def _same(hold: Hold, said: tuple[HoldReason, str]) -> bool:
    reason, detail = said
    if hold.reason != reason:
        return False
    if reason == "provider":  # which providers, not how many requests
        return _down(hold.detail) == _down(detail)
    return hold.detail == detail


def _down(detail: str) -> list[str]:
    return [line.partition(":")[0] for line in detail.splitlines()]

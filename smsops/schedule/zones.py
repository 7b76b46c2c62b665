"""Recipients' local time, for quiet hours and `timezone: recipient` triggers.

Where a recipient is, first match wins: the audience's `timezone_column`;
the zones `phonenumbers` knows for the number; the zones of the number's
country (the system's zone.tab); the schedule's own zone. Several candidates
stay several: quiet hours hold when it is quiet in any of them (never text
someone at night), and a recipient-local occurrence waits until it is due
in all of them.
"""

from __future__ import annotations

import contextlib
import zoneinfo
from datetime import datetime, time, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from smsops.config.models import QuietHours, zone_info
from smsops.core.recipient import Recipient

UNKNOWN = "Etc/Unknown"


def recipient_zones(
    recipient: Recipient, column: str | None, fallback: ZoneInfo
) -> tuple[ZoneInfo, ...] | str:
    """The recipient's candidate zones, or why the given one cannot be used."""
    named = recipient.variables.get(column, "").strip() if column else ""
    if named:
        try:
            return (zone_info(named),)
        except ValueError as exc:
            return f"column {column!r}: {exc}"
    return _number_zones(recipient.phone) or _country_zones(recipient.region) or (fallback,)


def quiet_zone(quiet: QuietHours, zones: tuple[ZoneInfo, ...], at: datetime) -> ZoneInfo | None:
    """The first candidate zone where `at` falls in the quiet hours, if any."""
    for zone in zones:
        if _within(at.astimezone(zone).time(), quiet.start, quiet.end):
            return zone
    return None


def quiet_end(quiet: QuietHours, zone: ZoneInfo, after: datetime) -> datetime:
    """The first time after `after` when the quiet hours end in `zone` (their `end`, local)."""
    local = after.astimezone(zone)
    end = datetime.combine(local.date(), quiet.end, tzinfo=zone)
    return end if end > local else datetime.combine(end.date() + timedelta(days=1), quiet.end, zone)


def _within(now: time, start: time, end: time) -> bool:
    """start <= now < end, where the range may wrap past midnight (21:00-08:00)."""
    if start <= end:
        return start <= now < end
    return now >= start or now < end


def _number_zones(e164: str) -> tuple[ZoneInfo, ...]:
    import phonenumbers
    from phonenumbers import timezone

    names = timezone.time_zones_for_number(phonenumbers.parse(e164))
    return _zones(tuple(name for name in names if name != UNKNOWN))


@cache
def _country_zones(region: str | None) -> tuple[ZoneInfo, ...]:
    return _zones(_zone_tab().get(region or "", ()))


@cache
def _zones(names: tuple[str, ...]) -> tuple[ZoneInfo, ...]:
    found = []
    for name in names:
        try:
            found.append(ZoneInfo(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue  # phonenumbers may name a zone this system lacks
    return tuple(found)


@cache
def _zone_tab() -> dict[str, tuple[str, ...]]:
    """ISO country → zones, from the system's zone.tab, else the `tzdata` package's."""
    candidates = [Path(directory) / "zone.tab" for directory in zoneinfo.TZPATH]
    with contextlib.suppress(ModuleNotFoundError):
        candidates.append(Path(str(resources.files("tzdata") / "zoneinfo" / "zone.tab")))
    for table in candidates:
        if table.is_file():
            countries: dict[str, list[str]] = {}
            for line in table.read_text(encoding="utf-8").splitlines():
                fields = line.split("\t")
                if len(fields) >= 3 and not line.startswith("#"):
                    countries.setdefault(fields[0], []).append(fields[2])
            return {country: tuple(zones) for country, zones in countries.items()}
    return {}

"""Occurrences of a schedule: its fire times (from `smsops.schedule`), windows and labels.

Everything is computed from a given `now`, never the clock. Fire times
themselves come from `smsops.schedule.fires`, the one implementation run
mode's wake-ups use too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from smsops.config.models import RECIPIENT_TIMEZONE, Schedule, zone_info
from smsops.core.occurrence import ONCE as ONCE
from smsops.schedule.fires import fire_times
from smsops.schedule.fires import fires_between as fire_times_between

LOOKBACK = timedelta(days=7)  # how far back run mode looks for missed occurrences
CLOSED_KEPT = 100  # closed occurrences one catch-up records at most (the newest)


def next_fire(schedule: Schedule, after: datetime, zone: ZoneInfo | None = None) -> datetime | None:
    """The first fire time strictly after `after` (aware), or None when there is none.

    `zone` is the recipient's zone for `timezone: recipient` (UTC when not given).
    """
    trigger = schedule.trigger
    if trigger is None:
        return None
    return fire_times(trigger, zone or trigger_zone(schedule)).next_after(after)


def trigger_zone(schedule: Schedule) -> ZoneInfo:
    """The schedule's own zone: UTC for untriggered and recipient-local schedules."""
    trigger = schedule.trigger
    if trigger is None or trigger.timezone == RECIPIENT_TIMEZONE:
        return zone_info("UTC")
    return zone_info(trigger.timezone)


def is_recipient_local(schedule: Schedule) -> bool:
    return schedule.trigger is not None and schedule.trigger.timezone == RECIPIENT_TIMEZONE


def occurrence_label(fire: datetime | None, local: bool = False) -> str:
    """The ledger's occurrence: ISO 8601 in UTC, or `once`.

    `local` gives the recipient's wall-clock fire time with no zone (for
    `timezone: recipient`): "09:00 local" is one occurrence for everyone.
    """
    if fire is None:
        return ONCE
    if local:
        return fire.replace(tzinfo=None).isoformat()
    return fire.astimezone(zone_info("UTC")).isoformat().replace("+00:00", "Z")


def next_fires(
    schedule: Schedule, after: datetime, count: int, zone: ZoneInfo | None = None
) -> list[datetime]:
    """Up to `count` fire times after `after`."""
    fires: list[datetime] = []
    cursor = after
    while len(fires) < count and (fire := next_fire(schedule, cursor, zone)) is not None:
        fires.append(fire)
        cursor = fire
    return fires


def due_fires(schedule: Schedule, at: datetime, zone: ZoneInfo | None = None) -> list[datetime]:
    """Fire times whose window is open at `at`: fire <= at < fire + window, oldest first.

    An untriggered schedule has no fire times (its one occurrence is `once`,
    due from the first apply); see `due_occurrences`.
    """
    window = schedule.effective_window
    if schedule.trigger is None or window is None:
        return []
    # fire > at - window  <=>  at < fire + window
    return fires_between(schedule, at - window, at, zone)


def due_occurrences(schedule: Schedule, at: datetime, zone: ZoneInfo | None = None) -> list[str]:
    """The occurrence labels a plan at `at` should send (for a recipient in `zone`)."""
    if schedule.trigger is None:
        return [ONCE]
    local = zone is not None and is_recipient_local(schedule)
    return [occurrence_label(fire, local) for fire in due_fires(schedule, at, zone)]


def window_fits_all(schedule: Schedule, label: str, zones: tuple[ZoneInfo, ...]) -> bool:
    """Whether a recipient-local occurrence's window is open somewhere in all `zones` at once."""
    window = schedule.effective_window
    if window is None:
        return False
    fires = [datetime.fromisoformat(label).replace(tzinfo=zone) for zone in zones]
    return max(fires) < min(fires) + window


def window_closes(
    schedule: Schedule, label: str, zones: tuple[ZoneInfo, ...] = ()
) -> datetime | None:
    """When the window of occurrence `label` closes; None for `once` (no window).

    A recipient-local label is a wall-clock time: it closes first in the
    earliest of the recipient's `zones` (a number that may be in several).
    """
    window = schedule.effective_window
    if window is None or label == ONCE:
        return None
    fire = datetime.fromisoformat(label)
    if fire.tzinfo is not None:
        return fire + window
    return min(fire.replace(tzinfo=zone) + window for zone in zones or (zone_info("UTC"),))


def closed_between(
    schedule: Schedule, since: datetime, until: datetime, limit: int = CLOSED_KEPT
) -> list[datetime]:
    """Fire times whose window closed in (since, until], oldest first: the newest `limit`.

    What a catch-up round records as expired. Bounded twice: the density rule
    caps the fires one window can hold, and only the newest `limit` are kept
    (a week of a minutely schedule is 10,080; older ones stay unrecorded and
    `smsops_missed_occurrences_total` still counts them). Recipient-local
    schedules have no single close per occurrence: theirs are found by the
    sender only, when a round reaches them (empty here).
    """
    window = schedule.effective_window
    if schedule.trigger is None or window is None or is_recipient_local(schedule):
        return []
    # fire + window in (since, until]  <=>  fire in (since - window, until - window]
    return fires_between(schedule, since - window, until - window)[-limit:]


def fire_of(label: str | None) -> datetime | None:
    """The fire time a UTC occurrence label names; None for `once`, a wall-clock label or None."""
    if label is None or label == ONCE:
        return None
    try:
        fire = datetime.fromisoformat(label)
    except ValueError:  # not one of ours: a ledger row written by hand
        return None
    return fire if fire.tzinfo is not None else None


def missed_since(schedule: Schedule, newest: datetime, now: datetime) -> list[datetime]:
    """Fire times after `newest` whose window closed by `now`, oldest first (a week back at most).

    With `newest` the newest occurrence the ledger holds for the schedule,
    these are the occurrences no run ever reached: their windows closed while
    smsops was not running. Bounded by `LOOKBACK` (a minutely schedule: 10,080).
    """
    window = schedule.effective_window
    if schedule.trigger is None or window is None or is_recipient_local(schedule):
        return []
    return fires_between(schedule, max(newest, now - LOOKBACK - window), now - window)


def fires_between(
    schedule: Schedule, start: datetime, end: datetime, zone: ZoneInfo | None = None
) -> list[datetime]:
    """Fire times in (start, end], oldest first."""
    trigger = schedule.trigger
    if trigger is None:
        return []
    return fire_times_between(fire_times(trigger, zone or trigger_zone(schedule)), start, end)

"""Schedule checks that need fire times: cron text, and how many fires a window holds."""

from __future__ import annotations

from smsops.config.loader import Config
from smsops.config.models import RECIPIENT_TIMEZONE, zone_info
from smsops.core.errors import Problem
from smsops.core.units import format_duration
from smsops.schedule.cron import CronTextError, normalise
from smsops.schedule.density import MAX_FIRES_PER_WINDOW, too_many_fires


def check_schedules(config: Config) -> list[Problem]:
    """Every cron expression parses (Vixie cron), and no window holds too many fires."""
    problems: list[Problem] = []
    for name, schedule in config.schedules.items():
        trigger = schedule.trigger
        if trigger is None:
            continue
        if trigger.cron is not None:
            try:
                normalise(trigger.cron)
            except CronTextError as exc:
                where = config.locate("schedules", name, "trigger", "cron")
                quoted = repr(trigger.cron) if len(trigger.cron) <= 60 else "(too long to quote)"
                message = f"schedule {name!r}: invalid cron expression {quoted}: {exc}"
                problems.append(Problem(where, message))
                continue
        window = schedule.effective_window
        assert window is not None  # a schedule with a trigger has a window
        local = trigger.timezone == RECIPIENT_TIMEZONE
        most = too_many_fires(trigger, window, None if local else zone_info(trigger.timezone))
        if most is not None:
            written = "window" in schedule.model_fields_set
            where = (
                config.locate("schedules", name, "window")
                if written
                else config.locate("schedules", name, "trigger")
            )
            length = format_duration(window) + ("" if written else " (the default)")
            problems.append(
                Problem(
                    where,
                    f"schedule {name!r}: a window of {length} can hold {most} fires of this "
                    f"trigger, more than {MAX_FIRES_PER_WINDOW}; each due fire is planned and "
                    "sent separately, so shorten the window or fire less often",
                )
            )
    return problems

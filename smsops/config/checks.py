"""Checks across entries: references, exclusions, provider capabilities.

CSV headers are read and checked by `smsops.audience.headers` (data access).
"""

from __future__ import annotations

from collections.abc import Iterator

from smsops.config.diagnostics import did_you_mean
from smsops.config.loader import Config
from smsops.config.models import Audience, Schedule
from smsops.config.providers import Capabilities
from smsops.core.errors import Location, Problem


def check_config(config: Config) -> list[Problem]:
    """Every cross-entry problem of a config whose entries validated one by one."""
    problems: list[Problem] = []
    for name, schedule in config.schedules.items():
        problems.extend(_schedule_references(config, name, schedule))
        problems.extend(_capabilities(config, name, schedule))
        problems.extend(_priced_cost_limit(config, name, schedule))
    for name, audience in config.audiences.items():
        problems.extend(_exclusions(config, name, audience))
    confirm = config.opt_out().confirm_template
    if confirm is not None and not config.defined("templates", confirm):
        where = config.locate("defaults", "opt_out", "confirm_template")
        problems.append(_missing(config, "templates", confirm, where, "defaults.opt_out"))
    for index, provider in enumerate(config.api.providers or [] if config.api else []):
        if not config.defined("providers", provider):
            where = config.locate("api", "providers", index)
            problems.append(_missing(config, "providers", provider, where, "api"))
    return problems


def _missing(config: Config, section: str, wanted: str, where: Location, subject: str) -> Problem:
    """`subject: no <kind> named 'x' (did you mean 'y'?)`."""
    known = config.names(section)
    hint = did_you_mean(wanted, known)
    options = f"; defined: {', '.join(sorted(known))}" if known and not hint else ""
    kind = section.removesuffix("s")
    return Problem(where, f"{subject}: no {kind} named {wanted!r}{hint}{options}")


def _schedule_references(config: Config, name: str, schedule: Schedule) -> Iterator[Problem]:
    subject = f"schedule {name!r}"
    # A name that is defined but invalid was reported where it is defined.
    if not config.defined("templates", schedule.template):
        where = config.locate("schedules", name, "template")
        yield _missing(config, "templates", schedule.template, where, subject)
    if not config.defined("audiences", schedule.audience):
        where = config.locate("schedules", name, "audience")
        yield _missing(config, "audiences", schedule.audience, where, subject)
    for index, provider in enumerate(schedule.providers):
        if not config.defined("providers", provider):
            path: tuple[str | int, ...] = ("provider", index)
            if isinstance(schedule.provider, str):
                path = ("provider",)
            where = config.locate("schedules", name, *path)
            yield _missing(config, "providers", provider, where, subject)


def _capabilities(config: Config, name: str, schedule: Schedule) -> Iterator[Problem]:
    """A template feature that a schedule's provider lacks is an error naming the provider."""
    template = config.templates.get(schedule.template)
    if template is None:
        return
    needs = Capabilities(
        flash=template.flash,
        provider_templates=template.provider_template is not None,
        otp=template.category == "otp",
    )
    for provider_name in schedule.providers:
        provider = config.providers.get(provider_name)
        if provider is None:
            continue
        where = config.locate("schedules", name, "provider")
        for label in provider.capabilities.lacking(needs):
            yield Problem(
                where,
                f"schedule {name!r}: template {schedule.template!r} uses {label}, "
                f"which provider {provider_name!r} ({provider.type}) does not support",
            )
        lacking = provider.lacks(template.category)
        if lacking is not None:
            yield Problem(
                where,
                f"schedule {name!r}: provider {provider_name!r} has no {lacking}, needed for "
                f"{template.category} template {schedule.template!r}",
            )


def _priced_cost_limit(config: Config, name: str, schedule: Schedule) -> Iterator[Problem]:
    """`max_cost` is checked against the plan's estimate: the first provider needs a price."""
    first = config.providers.get(schedule.providers[0])
    if config.limits(name).max_cost is None or first is None or first.price() is not None:
        return
    own = schedule.limits is not None and "max_cost" in schedule.limits.model_fields_set
    where = (
        config.locate("schedules", name, "limits", "max_cost")
        if own
        else config.locate("defaults", "limits", "max_cost")
    )
    yield Problem(
        where,
        f"schedule {name!r}: max_cost is compared with the plan's cost estimate, and provider "
        f"{schedule.providers[0]!r} (its first) has no price_per_segment: give it one, or "
        "set max_cost: null for this schedule",
    )


def _exclusions(config: Config, name: str, audience: Audience) -> Iterator[Problem]:
    for index, excluded in enumerate(audience.exclude):
        where = config.locate("audiences", name, "exclude", index)
        if excluded == name:
            yield Problem(where, f"audience {name!r} cannot exclude itself")
        elif not config.defined("audiences", excluded):
            yield _missing(config, "audiences", excluded, where, f"audience {name!r}")
    cycle = _exclusion_cycle(config, name, [name])
    if cycle:
        yield Problem(
            config.locate("audiences", name, "exclude"),
            f"audience {name!r}: exclusions form a cycle: {' -> '.join(cycle)}",
        )


def _exclusion_cycle(config: Config, name: str, trail: list[str]) -> list[str] | None:
    audience = config.audiences.get(name)
    for excluded in audience.exclude if audience else []:
        if excluded == trail[0] and len(trail) > 1:
            return [*trail, excluded]
        if excluded not in trail and excluded != name:
            found = _exclusion_cycle(config, excluded, [*trail, excluded])
            if found:
                return found
    return None

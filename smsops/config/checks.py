"""Checks across entries: references, exclusions, provider capabilities, CSV headers."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from smsops.config.diagnostics import did_you_mean
from smsops.config.loader import Config
from smsops.config.models import Audience, Schedule
from smsops.config.providers import Capabilities
from smsops.core.csvfile import LineTooLong, csv_lines
from smsops.core.errors import FileRefused, Location, Problem
from smsops.core.phone import scrub_numbers

# A header cell quoted in an error is cut to this many characters.
QUOTED_CELL = 40


def check_config(config: Config) -> list[Problem]:
    """Every cross-entry problem of a config whose entries validated one by one."""
    problems: list[Problem] = []
    for name, schedule in config.schedules.items():
        problems.extend(_schedule_references(config, name, schedule))
        problems.extend(_capabilities(config, name, schedule))
    for name, audience in config.audiences.items():
        problems.extend(_exclusions(config, name, audience))
        problems.extend(_csv_header(config, name, audience))
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


def _csv_header(config: Config, name: str, audience: Audience) -> Iterator[Problem]:
    """The source file exists, decodes, and has the phone (and time zone) column."""
    path = audience.source_path()
    if path is None:
        return
    where = config.locate("audiences", name, "source")
    try:
        header = read_header(audience)
    except FileNotFoundError:
        yield Problem(where, f"audience {name!r}: CSV file {str(path)!r} does not exist")
        return
    except FileRefused as exc:
        yield Problem(where, f"audience {name!r}: CSV file {str(path)!r} refused: {exc.reason}")
        return
    except LineTooLong as exc:
        yield Problem(Location(path, exc.line, 1), f"audience {name!r}: {exc}")
        return
    except OSError as exc:
        yield Problem(where, f"audience {name!r}: cannot read {str(path)!r}: {exc.strerror}")
        return
    except (UnicodeDecodeError, LookupError, csv.Error) as exc:
        # These messages name a codec, a byte value or a limit, never the file's text.
        yield Problem(where, f"audience {name!r}: cannot read {str(path)!r}: {exc}")
        return
    config.csv_headers[name] = header
    if not header:
        yield Problem(where, f"audience {name!r}: {str(path)!r} is empty; it needs a header row")
    else:
        for field in ("phone_column", "timezone_column"):
            yield from _column(config, name, audience, field, header, where)


def _column(
    config: Config, name: str, audience: Audience, field: str, header: list[str], where: Location
) -> Iterator[Problem]:
    column = getattr(audience, field)
    if column is None or column in header:
        return
    path = audience.source_path()
    hint = did_you_mean(column, header)
    columns = ", ".join(quoted_cell(cell) for cell in header[:20])
    more = f" and {len(header) - 20} more" if len(header) > 20 else ""
    yield Problem(
        config.locate("audiences", name, field) if field in audience.model_fields_set else where,
        f"audience {name!r}: {str(path)!r} has no column {column!r}{scrub_numbers(hint)}; "
        f"its columns are {columns}{more} (set {field})",
    )


def quoted_cell(cell: str) -> str:
    """A CSV cell as an error may quote it: numbers masked, cut short.

    A file without a header row has a contact as its first row: its phone
    number must not reach a PR comment.
    """
    text = scrub_numbers(cell)
    return text if len(text) <= QUOTED_CELL else text[: QUOTED_CELL - 1] + "…"


def read_header(audience: Audience) -> list[str]:
    """The header row of an audience's CSV file (empty when the file is empty)."""
    path = audience.source_path()
    assert path is not None
    lines = csv_lines(path, audience.source_root(), audience.encoding)
    try:
        row = next(csv.reader(lines, delimiter=audience.delimiter), [])
    finally:
        lines.close()  # the file is closed now, not when the generator is collected
    return [column.strip() for column in row]

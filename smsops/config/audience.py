"""Audiences as a stream of recipients: CSV rows and inline contacts, normalised.

A CSV file is read row by row (a million rows are never all in memory as
rows); numbers become E.164; an invalid number, a repeated number (the first
row wins) and an excluded number become a `Skip` with its row and reason.
Row numbers count the header as row 1, like a spreadsheet.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from smsops.config import numbers
from smsops.config.loader import Config
from smsops.config.models import Audience
from smsops.core.csvfile import csv_lines
from smsops.core.errors import ConfigError, Location, Problem
from smsops.core.phone import PhoneNumber, normalize
from smsops.core.skips import Skip, SkipReason


@dataclass(frozen=True, slots=True)
class Recipient:
    phone: str  # E.164
    region: str | None
    variables: dict[str, str]
    where: Location


@dataclass(frozen=True, slots=True)
class _Row:
    raw_phone: str
    variables: dict[str, str]
    where: Location


def recipients(config: Config, name: str) -> Iterator[Recipient | Skip]:
    """Every member of audience `name`, in file order, minus its exclusions."""
    audience = config.audiences[name]
    excluded = _excluded_numbers(config, audience)
    # E.164 digits as an int -> where its first row is, as an int (a CSV row
    # number, or -1-i for inline contact i): a million of them take a third of
    # the memory of strings mapped to Locations.
    first_seen: dict[int, int] = {}
    for index, (row, found) in enumerate(_normalised(config, name, audience)):
        if isinstance(found, str):
            yield Skip(SkipReason.INVALID_NUMBER, found, row.where)
            continue
        here = row.where.row if row.where.row is not None else -1 - index
        first = first_seen.setdefault(int(found.e164[1:]), here)
        if first != here:
            # contacts come first, so a first CSV row means this row is in the same file
            if first >= 0:
                where = Location(row.where.file, row=first)
            else:
                where = config.locate("audiences", name, "contacts", -1 - first)
            yield Skip(SkipReason.DUPLICATE, f"same number as {where}", row.where)
            continue
        if found.e164 in excluded:
            detail = f"in excluded audience {excluded[found.e164]!r}"
            yield Skip(SkipReason.EXCLUDED, detail, row.where)
            continue
        yield Recipient(found.e164, found.region, row.variables, row.where)


def _excluded_numbers(config: Config, audience: Audience) -> dict[str, str]:
    """E.164 → the excluded audience that holds it (opt-out lists are small)."""
    numbers: dict[str, str] = {}
    for other in audience.exclude:
        for member in _members(config, other):
            numbers.setdefault(member.e164, other)
    return numbers


def _members(config: Config, name: str) -> Iterator[PhoneNumber]:
    """The valid numbers of an audience, without its own exclusions (no recursion)."""
    audience = config.audiences[name]
    for _, found in _normalised(config, name, audience):
        if not isinstance(found, str):
            yield found


def _normalised(
    config: Config, name: str, audience: Audience
) -> Iterator[tuple[_Row, PhoneNumber | str]]:
    """Each row with its number in E.164 (or why not); CSV numbers via the cache."""
    region = audience.default_region
    for row in _contact_rows(config, name, audience):
        yield row, normalize(row.raw_phone, region)
    path = audience.source_path()
    if path is not None:
        rows = _csv_rows(path, audience, config.locate("audiences", name, "source"))
        yield from numbers.normalised(path, region, ((row, row.raw_phone) for row in rows))


def _contact_rows(config: Config, name: str, audience: Audience) -> Iterator[_Row]:
    for index, contact in enumerate(audience.contacts):
        where = config.locate("audiences", name, "contacts", index)
        variables = {key: _text(value) for key, value in contact.variables().items()}
        yield _Row(contact.phone, variables, where)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv_rows(path: Path, audience: Audience, declared: Location) -> Iterator[_Row]:
    row_number = 1
    try:
        reader = csv.reader(csv_lines(path, audience.encoding), delimiter=audience.delimiter)
        header = [column.strip() for column in next(reader, [])]
        if audience.phone_column not in header:
            raise _problem(declared, f"{path} has no column {audience.phone_column!r}")
        phone_at = header.index(audience.phone_column)
        for row_number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue  # blank lines are not contacts
            cells = dict(zip(header, row, strict=False))
            phone = row[phone_at] if phone_at < len(row) else ""
            yield _Row(phone, cells, Location(path, row=row_number))
    except FileNotFoundError:
        raise _problem(declared, f"CSV file {str(path)!r} does not exist") from None
    except UnicodeDecodeError as exc:
        raise _problem(
            Location(path, row=row_number + 1),
            f"not {audience.encoding} text ({exc.reason}); set `encoding` on the audience "
            "(e.g. latin-1) or save the file as UTF-8",
        ) from None
    except csv.Error as exc:
        raise _problem(Location(path, row=row_number + 1), f"malformed CSV: {exc}") from None


def _problem(where: Location, message: str) -> ConfigError:
    return ConfigError([Problem(where, message)])

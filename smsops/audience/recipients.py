"""Audiences as a stream of recipients: CSV rows and inline contacts, normalised.

A CSV file is read row by row (a million rows are never all in memory as
rows); numbers become E.164; an invalid number, a repeated number (the first
row wins) and an excluded number become a `Skip` with its row and reason.
Row numbers count the header as row 1, like a spreadsheet. Rows are read
from the file's snapshot taken at load (`Config.snapshots`), never from the
file on disk: an edit made since reaches only the next generation.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from smsops.audience import csvfile, numbers
from smsops.audience.csvfile import (
    FieldRunsOver,
    LineTooLong,
    open_text,
    records,
    text_lines,
    undecodable_row,
)
from smsops.config.loader import Config
from smsops.config.models import Audience
from smsops.core.errors import ConfigError, Location, Problem, SnapshotBroken
from smsops.core.phone import PhoneNumber, normalize
from smsops.core.recipient import Recipient, Source
from smsops.core.skips import Skip, SkipReason
from smsops.core.snapshots import Snapshot

# A CSV row as read: the file's source (header, path), the row's cells, its row number.
_Row = tuple[Source, list[str], int]


def recipients(
    config: Config, name: str, cache_dir: Path | None = None
) -> Iterator[Recipient | Skip]:
    """Every member of audience `name`, in file order, minus its exclusions.

    `cache_dir`: where normalised numbers of CSV files are kept (see
    `numbers`); None normalises every number and writes nothing.
    """
    audience = config.audiences[name]
    members = _Members(config, name, _excluded_numbers(config, audience, cache_dir))
    for index, (variables, where, found) in enumerate(_contacts(config, name, audience)):
        if isinstance(found, str):
            yield Skip(SkipReason.INVALID_NUMBER, found, where)
            continue
        skip = members.refused(found.e164, -1 - index, where)
        yield (
            Recipient.contact(found.e164, found.region, variables, where) if skip is None else skip
        )
    path = audience.source_path()
    if path is None:
        return
    first_seen, excluded = members.first_seen, members.excluded
    for (source, cells, row), found in _rows(config, name, audience, path, cache_dir):
        if isinstance(found, str):
            yield Skip(SkipReason.INVALID_NUMBER, found, Location(path, row=row))
            continue
        e164 = found.e164
        # `refused`'s test of a member let in, inlined (a call a row: ~0.1 s a million);
        # the row's Location is made only for a row left out (a frozen dataclass: ~0.4 µs,
        # ~0.4 s of a million-row re-plan if made for every row)
        if first_seen.setdefault(int(e164[1:]), row) == row and e164 not in excluded:
            yield Recipient(e164, found.region, source, cells, row)
        else:
            skip = members.refused(e164, row, None)
            assert skip is not None  # the same test, left out: it says why
            yield skip


class _Members:
    """Who is in already: a repeated number (the first row wins) and an excluded one."""

    def __init__(self, config: Config, name: str, excluded: dict[str, str]) -> None:
        self.config, self.name, self.excluded = config, name, excluded
        self.path = config.audiences[name].source_path()
        # E.164 digits as an int -> where its first row is, as an int (a CSV
        # row number, or -1-i for inline contact i): a million of them take a
        # third of the memory of strings mapped to Locations.
        self.first_seen: dict[int, int] = {}

    def refused(self, e164: str, here: int, where: Location | None) -> Skip | None:
        """Why the member at `here` (its row, or -1-i for inline contact i) is left out.

        `where` None: row `here` of the audience's CSV file, made only for a skip.
        """
        first = self.first_seen.setdefault(int(e164[1:]), here)
        if first == here and e164 not in self.excluded:
            return None
        if where is None:
            assert self.path is not None  # rows are numbered only in a CSV file
            where = Location(self.path, row=here)
        if first != here:
            # contacts come first, so a first CSV row means this row is in the same file
            if first >= 0 and self.path is not None:
                seen = Location(self.path, row=first)
            else:
                seen = self.config.locate("audiences", self.name, "contacts", -1 - first)
            return Skip(SkipReason.DUPLICATE, f"same number as {seen}", where)
        if e164 in self.excluded:
            by = self.excluded[e164]
            return Skip(SkipReason.EXCLUDED, f"in excluded audience {by!r}", where, by)
        return None


def _excluded_numbers(config: Config, audience: Audience, cache_dir: Path | None) -> dict[str, str]:
    """E.164 → the excluded audience that holds it (opt-out lists are small).

    An entry of an excluded audience that is not a number refuses the plan
    (`exclusion_problems`): dropped, it would send to someone who opted out.
    """
    numbers: dict[str, str] = {}
    problems: list[Problem] = []
    for other in audience.exclude:
        for member in _members(config, other, cache_dir):
            if isinstance(member, Problem):
                problems.append(member)
            elif not problems:
                numbers.setdefault(member.e164, other)
    if problems:
        raise ConfigError(_capped(problems))
    return numbers


# Unreadable entries reported per excluded audience; the rest are counted.
EXCLUSION_PROBLEMS_SHOWN = 20


def exclusion_problems(config: Config, cache_dir: Path | None = None) -> list[Problem]:
    """Every entry of an audience used as an exclusion that is not a phone number.

    validate reports them, and a plan refuses them (`_excluded_numbers`): an
    opt-out list written in national format without `default_region` would
    otherwise exclude nobody, silently.
    """
    excluded = {other for audience in config.audiences.values() for other in audience.exclude}
    problems: list[Problem] = []
    for name in sorted(excluded & config.audiences.keys()):
        try:
            found = [m for m in _members(config, name, cache_dir) if isinstance(m, Problem)]
        except ConfigError:
            continue  # the file cannot be read: read_headers() says why
        problems.extend(_capped(found))
    return problems


def _capped(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= EXCLUSION_PROBLEMS_SHOWN:
        return problems
    last = problems[EXCLUSION_PROBLEMS_SHOWN - 1]
    more = len(problems) - EXCLUSION_PROBLEMS_SHOWN + 1
    return [
        *problems[: EXCLUSION_PROBLEMS_SHOWN - 1],
        Problem(last.location, f"{last.message} (and {more - 1:,} more such entries after this)"),
    ]


def _members(config: Config, name: str, cache_dir: Path | None) -> Iterator[PhoneNumber | Problem]:
    """The numbers of an audience used as an exclusion, without its own exclusions (no
    recursion); an entry that is not a number is a located `Problem`."""
    audience = config.audiences[name]
    for _, where, number in _contacts(config, name, audience):
        yield _unreadable(config, name, where, number) if isinstance(number, str) else number
    path = audience.source_path()
    if path is None:
        return
    for (_, _, row), number in _rows(config, name, audience, path, cache_dir):
        yield (
            _unreadable(config, name, Location(path, row=row), number)
            if isinstance(number, str)
            else number
        )


def _unreadable(config: Config, name: str, where: Location, why: str) -> Problem:
    """An excluded entry that is not a number: refusing is the safe choice."""
    audience = config.audiences[name]
    users = sorted(other for other, a in config.audiences.items() if name in a.exclude)
    by = ", ".join(repr(user) for user in users)
    fix = (
        f"set default_region on audience {name!r} or write the number as +E.164"
        if audience.default_region is None
        else "correct the number (as +E.164) or delete the entry"
    )
    return Problem(
        where,
        f"audience {name!r} is excluded from {by}, but this entry is {why} (never dropped "
        f"from an exclusion: it would exclude nobody in its place); {fix}",
    )


def _contacts(
    config: Config, name: str, audience: Audience
) -> Iterator[tuple[dict[str, str], Location, PhoneNumber | str]]:
    """(variables, where, E.164 number or why not) of each inline contact."""
    for index, contact in enumerate(audience.contacts):
        where = config.locate("audiences", name, "contacts", index)
        variables = {key: _text(value) for key, value in contact.variables().items()}
        yield variables, where, normalize(contact.phone, audience.default_region)


def _rows(
    config: Config, name: str, audience: Audience, path: Path, cache_dir: Path | None
) -> Iterator[tuple[_Row, PhoneNumber | str]]:
    """((source, cells, row number), E.164 number or why not) of each CSV row; numbers cached."""
    declared = config.locate("audiences", name, "source")
    snapshot = config.snapshots.get(path)
    if snapshot is None:  # a Config not made by the loader: never read the live file instead
        raise _problem(declared, f"CSV file {str(path)!r} was not captured when it was loaded")
    rows = _csv_rows(snapshot, audience, declared)
    return numbers.normalised(snapshot, audience.default_region, rows, cache_dir)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv_rows(
    snapshot: Snapshot, audience: Audience, declared: Location
) -> Iterator[tuple[_Row, str]]:
    """((source, cells, row number), raw phone) of each non-blank data row of the snapshot."""
    path = snapshot.original
    row_number = 1
    try:
        with open_text(snapshot, audience.encoding) as text:
            # Lines known at capture to be under the cap are read as they are (its check
            # per line, ~0.05 s a million rows, could refuse none of them).
            short = csvfile.within_cap(snapshot, audience.encoding)
            lines = csv.reader(text if short else text_lines(text), delimiter=audience.delimiter)
            header = tuple(column.strip() for column in next(records(lines), []))
            if audience.phone_column not in header:
                raise _problem(declared, f"{path} has no column {audience.phone_column!r}")
            phone_at = header.index(audience.phone_column)
            source = Source(header, Location(path))  # shared by every row of the file
            # `records`' check, inlined (a generator less per row: ~0.4 s a million), in
            # two parts. A row read over more lines than one: row and line numbers part,
            # checked on every row. A last field ending in a line break: a quote still
            # open where the input ended (with more input, the row would have gone on
            # over the next line), so only the file's last row can have one: each row is
            # held back until the next is read, and the last row read is checked before
            # the last is yielded (per row, that check was ~0.1 s a million).
            offset = lines.line_num - 1
            held: tuple[_Row, str] | None = None
            row: list[str] = []
            for row_number, row in enumerate(lines, start=2):
                if lines.line_num - row_number != offset:
                    raise FieldRunsOver(row_number)
                if held is not None:
                    yield held
                phone = row[phone_at] if phone_at < len(row) else ""
                if not phone.strip() and not any(cell.strip() for cell in row):
                    held = None
                    continue  # blank lines are not contacts
                held = (source, row, row_number), phone
            if row and row[-1][-1:] in ("\n", "\r"):  # the last row read, blank or not
                raise FieldRunsOver(row_number)
            if held is not None:
                yield held
    except SnapshotBroken as exc:
        raise _problem(declared, f"CSV file {str(path)!r}: {exc.reason}") from None
    except LineTooLong as exc:
        raise _problem(Location(path, exc.line, 1), str(exc)) from None
    except FieldRunsOver as exc:
        raise _problem(Location(path, row=exc.row), str(exc)) from None
    except OSError as exc:
        raise _problem(declared, f"cannot read CSV file {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        bad = undecodable_row(snapshot, audience.encoding, audience.delimiter)
        raise _problem(
            Location(path, row=bad or row_number + 1),
            f"not {audience.encoding} text ({exc.reason}); set `encoding` on the audience "
            "(e.g. latin-1) or save the file as UTF-8",
        ) from None
    except csv.Error as exc:
        raise _problem(Location(path, row=row_number + 1), f"malformed CSV: {exc}") from None


def _problem(where: Location, message: str) -> ConfigError:
    return ConfigError([Problem(where, message)])

"""The header row of each CSV audience: read once when a config is loaded, checked, returned.

The header is read from the file's snapshot (captured by the loader), so
what is checked here is what the generation's rounds will read.

Reading a CSV file is data access, so it lives here beside the rows, not
among the config's cross-checks. The headers are a return value: the
template checks (which variables can a recipient supply?) take them as an
argument, so no check depends on another having run first.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass

from smsops.audience.csvfile import FieldRunsOver, LineTooLong, csv_lines, records
from smsops.config.diagnostics import did_you_mean
from smsops.config.loader import Config
from smsops.config.models import Audience
from smsops.core.errors import Location, Problem, SnapshotBroken
from smsops.core.phone import scrub_numbers
from smsops.core.snapshots import Snapshot

# A header cell quoted in an error is cut to this many characters.
QUOTED_CELL = 40


@dataclass(frozen=True)
class Headers:
    """What the CSV files of a config hold, as far as checks need it."""

    # Audience name -> its header, for every CSV audience whose file could be read.
    columns: dict[str, list[str]]
    # Every problem met reading them (missing, refused, undecodable, no phone column).
    problems: list[Problem]


def read_headers(config: Config) -> Headers:
    """The header of every CSV audience of `config`, and what is wrong with each."""
    columns: dict[str, list[str]] = {}
    problems: list[Problem] = []
    for name, audience in config.audiences.items():
        path = audience.source_path()
        snapshot = None if path is None else config.snapshots.get(path)
        if path is None or snapshot is None:
            continue  # no file, or one that could not be captured (the loader said why)
        where = config.locate("audiences", name, "source")
        header = _header(name, audience, snapshot, where)
        if isinstance(header, Problem):
            problems.append(header)
            continue
        columns[name] = header
        problems.extend(_header_problems(config, name, audience, header, where))
    return Headers(columns, problems)


def _header(
    name: str, audience: Audience, snapshot: Snapshot, where: Location
) -> list[str] | Problem:
    """The header row of the audience's file (its snapshot), or why it cannot be read."""
    path = snapshot.original
    try:
        return read_header(audience, snapshot)
    except SnapshotBroken as exc:
        return Problem(where, f"audience {name!r}: {exc.reason}")
    except LineTooLong as exc:
        return Problem(Location(path, exc.line, 1), f"audience {name!r}: {exc}")
    except FieldRunsOver as exc:
        return Problem(Location(path, row=exc.row), f"audience {name!r}: {exc}")
    except OSError as exc:
        return Problem(where, f"audience {name!r}: cannot read {str(path)!r}: {exc.strerror}")
    except (UnicodeDecodeError, LookupError, csv.Error) as exc:
        # These messages name a codec, a byte value or a limit, never the file's text.
        return Problem(where, f"audience {name!r}: cannot read {str(path)!r}: {exc}")


def _header_problems(
    config: Config, name: str, audience: Audience, header: list[str], where: Location
) -> Iterator[Problem]:
    """The file has a header row, with the phone (and time zone) column."""
    if not header:
        path = audience.source_path()
        yield Problem(where, f"audience {name!r}: {str(path)!r} is empty; it needs a header row")
        return
    yield from _repeated(name, audience, header)
    for field in ("phone_column", "timezone_column"):
        yield from _column(config, name, audience, field, header, where)


def _repeated(name: str, audience: Audience, header: list[str]) -> Iterator[Problem]:
    """A column named twice: a row's number would come from one, its variables from another.

    Unnamed columns (a spreadsheet's trailing commas) name nothing, so they may repeat.
    """
    places: dict[str, list[int]] = {}
    for number, column in enumerate(header, start=1):
        if column:
            places.setdefault(column, []).append(number)
    path = audience.source_path()
    assert path is not None  # only CSV audiences have a header
    for column, numbers in places.items():
        if len(numbers) > 1:
            listed = ", ".join(str(n) for n in numbers[:-1]) + f" and {numbers[-1]}"
            yield Problem(
                Location(path, row=1),
                f"audience {name!r}: column {quoted_cell(column)!r} appears {len(numbers)} "
                f"times in the header (columns {listed}); rename or remove all but one",
            )


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


def read_header(audience: Audience, snapshot: Snapshot) -> list[str]:
    """The header row of an audience's CSV file, from its snapshot (empty when it is empty)."""
    lines = csv_lines(snapshot, audience.encoding)
    try:
        row = next(records(csv.reader(lines, delimiter=audience.delimiter)), [])
    finally:
        lines.close()  # the file is closed now, not when the generator is collected
    return [column.strip() for column in row]

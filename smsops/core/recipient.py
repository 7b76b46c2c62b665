"""A member of an audience: what the planner and the renderer read of it.

Made by `smsops.audience`, read by `smsops.render` and `smsops.engine`: it
lives below all three (as `Skip` does), since siblings never import each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsops.core.errors import Location


@dataclass(frozen=True, slots=True)
class Source:
    """What the recipients of one source share: the names of their values, and where it is.

    Every row of a CSV file shares one (its header; the file, each row adds
    its number); an inline contact has its own (its keys; its YAML place).
    """

    columns: tuple[str, ...]
    place: Location


@dataclass(slots=True)
class Recipient:
    """A member of an audience: its number (E.164), region, variables and where it is.

    The values stay as the source gave them (a CSV row's cells, in the order
    of `source.columns`) and become a dict of variables and a `Location`
    only when asked: a re-plan reads a million rows and needs either for
    only the tenth it renders or skips. Compared by value, never hashed (it
    holds a list).
    """

    phone: str
    region: str | None
    source: Source
    values: list[str]  # a short CSV row has fewer than its columns: those are missing
    row: int | None = None  # the CSV row number (the header is row 1), None for a contact

    @classmethod
    def contact(
        cls, phone: str, region: str | None, variables: dict[str, str], where: Location
    ) -> Recipient:
        """A recipient with its own variables and place (an inline contact)."""
        return cls(
            phone, region, Source(tuple(variables), where), list(variables.values()), where.row
        )

    @property
    def variables(self) -> dict[str, str]:
        return dict(zip(self.source.columns, self.values, strict=False))

    @property
    def where(self) -> Location:
        place = self.source.place
        return Location(place.file, place.line, place.column, self.row)

"""A member of an audience: what the planner, the renderer and the adapters read of it.

Made by `smsops.audience`, read by `smsops.render` and `smsops.engine`: it
lives below all three (as `Skip` does), since siblings never import each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smsops.core.errors import Location


@dataclass(frozen=True, slots=True)
class CsvFile:
    """A CSV audience file and its header, shared by all of its rows."""

    path: Path
    header: list[str]


class Recipient:
    """A member of an audience: its number (E.164), region, variables and where it is.

    An inline contact comes with its variables and YAML location. A CSV row
    keeps its cells and row number, and becomes a dict of variables and a
    `Location` only when asked: a re-plan reads a million rows and needs
    either for only the tenth it renders or skips.
    """

    __slots__ = ("_place", "_values", "phone", "region")

    def __init__(
        self,
        phone: str,
        region: str | None,
        variables: dict[str, str] | list[str],
        where: Location | tuple[CsvFile, int],
    ) -> None:
        self.phone = phone
        self.region = region
        self._values = variables  # or a CSV row's cells
        self._place = where  # or (the CSV file, row number)

    @property
    def variables(self) -> dict[str, str]:
        values, place = self._values, self._place
        if isinstance(values, dict):
            return values
        assert isinstance(place, tuple)
        return dict(zip(place[0].header, values, strict=False))

    @property
    def where(self) -> Location:
        place = self._place
        return place if isinstance(place, Location) else Location(place[0].path, row=place[1])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Recipient):
            return NotImplemented
        mine = (self.phone, self.region, self.variables, self.where)
        return mine == (other.phone, other.region, other.variables, other.where)

    __hash__ = None  # type: ignore[assignment]  # holds a dict of variables: compared, not hashed

    def __repr__(self) -> str:
        return f"Recipient({self.phone!r}, {self.region!r}, {self.variables!r}, {self.where!r})"

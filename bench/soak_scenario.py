"""The soak's scenario: its timeline (`Plan`), its config directory and the edits
made to it while `smsops run` runs.

One Opentact provider, one template, N schedules (`every` + `window`), each
with a CSV audience of its own (distinct numbers, all valid, so the planner
skips nobody). The template carries `[schedule occurrence]`, so the
sandbox's recorded texts say which occurrence each accepted message belongs
to (how duplicates are found).

Every write is atomic (a temporary file renamed over the old one), as
git-sync swaps a checkout: the daemon never reads a half-written file. The
valid contents of each audience are remembered with the time they were
written: the audience an occurrence owes is the one on disk at its fire.
"""

from __future__ import annotations

import bisect
import os
import time
from dataclasses import dataclass
from pathlib import Path

from common import phone

TEMPLATE = "[{{ schedule }} {{ occurrence }}] v%d: Hi {{ name }}, order {{ order }} has shipped."
HEADER = "phone,name,order"
BROKEN_HEADER = "telephone,name,order"  # no `phone` column: the loader refuses it


@dataclass
class Plan:
    """The timeline of one soak, in seconds from the daemon's first answer."""

    duration: float
    every: int  # the schedules' interval and window
    edit_every: float
    invalid_every: float
    report_timeout: float  # an invalid edit not reported by then is reverted anyway
    warmup: float
    fault_start: float
    fault_end: float


class Scenario:
    """The config directory, written at start and edited by `valid_edit`/`invalid_edit`."""

    def __init__(
        self,
        root: Path,
        base_url: str,
        *,
        schedules: int,
        recipients: int,
        every: int,
        max_in_flight: int,
    ) -> None:
        self.root, self.base_url = root, base_url
        self.every, self.max_in_flight = every, max_in_flight
        self.names = [f"s{i}" for i in range(schedules)]
        self.version = 1  # of the template text
        self.rows = [recipients] * schedules  # rows in each audience file
        # per audience: (wall time written, its numbers), valid versions only
        self.history: list[list[tuple[float, frozenset[str]]]] = [[] for _ in self.names]
        root.mkdir(parents=True, exist_ok=True)
        for leftover in root.iterdir():
            leftover.unlink()
        self.write_yaml()
        for i in range(schedules):
            self.write_audience(i)

    # --- the files --------------------------------------------------------------------

    def number(self, schedule: int, row: int) -> str:
        return phone(schedule * 1_000_000 + row)

    def yaml_text(self, template_of_first: str = "t") -> str:
        lines = [
            "providers:",
            f"  ot: {{type: opentact, base_url: '{self.base_url}', token: '${{env:OT}}', "
            f"from: '+12017771234', max_in_flight: {self.max_in_flight}}}",
            "templates:",
            f"  t: {{category: transactional, body: '{TEMPLATE % self.version}'}}",
            "audiences:",
            *(f"  a{i}: {{source: a{i}.csv}}" for i in range(len(self.names))),
            "schedules:",
        ]
        for i, name in enumerate(self.names):
            template = template_of_first if i == 0 else "t"
            lines.append(
                f"  {name}: {{template: {template}, audience: a{i}, provider: ot, "
                f"trigger: {{every: {self.every}s}}, window: {self.every}s}}"
            )
        return "\n".join(lines) + "\n"

    def write_yaml(self, template_of_first: str = "t") -> None:
        _replace(self.root / "smsops.yaml", self.yaml_text(template_of_first))

    def write_audience(self, i: int, header: str = HEADER) -> None:
        numbers = [self.number(i, row) for row in range(self.rows[i])]
        lines = [header] + [f"{n},Name{row % 997},A{row:07d}" for row, n in enumerate(numbers)]
        _replace(self.root / f"a{i}.csv", "\n".join(lines) + "\n")
        if header == HEADER:
            self.history[i].append((time.time(), frozenset(numbers)))

    def audience_at(self, i: int, when: float) -> frozenset[str]:
        """The valid numbers of audience i on disk at wall time `when`."""
        found = bisect.bisect_right([t for t, _ in self.history[i]], when)
        return self.history[i][max(found - 1, 0)][1]

    # --- the edits --------------------------------------------------------------------

    def valid_edit(self, count: int) -> str:
        """Alternately a new template text and a contact added to one audience."""
        if count % 2 == 0:
            self.version += 1
            self.write_yaml()
            return "template text"
        i = (count // 2) % len(self.names)
        self.rows[i] += 1
        self.write_audience(i)
        return f"contact added to a{i}.csv"

    def invalid_edit(self, count: int) -> str:
        """Alternately a schedule naming a missing template and a CSV without its phone column."""
        if count % 2 == 0:
            self.write_yaml(template_of_first="missing")
            return "schedule names a missing template"
        self.write_audience(count // 2 % len(self.names), header=BROKEN_HEADER)
        return "CSV header without the phone column"

    def revert(self, count: int) -> None:
        """Undo `invalid_edit(count)`: the last valid contents come back."""
        if count % 2 == 0:
            self.write_yaml()
        else:
            self.write_audience(count // 2 % len(self.names))


def _replace(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)

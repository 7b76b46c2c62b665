"""The suppression list: numbers that said STOP, and the history of every opt-out and opt-in.

Stored in the ledger beside the sends (every backend: memory, SQLite,
PostgreSQL), in two parts:

- the list itself: one entry per suppressed number (E.164, as the ledger
  stores recipients), with the opt-out that put it there (when, its source,
  the keyword);
- the history: every event that changed the list, in order, never rewritten.
  An opt-out of a number already on the list, or an opt-in of one that is
  not, changes nothing and is not recorded (`Ledger.opt` answers False): a
  provider that posts the same STOP twice leaves one event, so whatever
  follows an opt-out (the confirmation reply) happens once per event.

A source is the provider's name in the config (an inbound STOP through its
webhook), `cli` (`smsops suppressions add/remove`) or `import` (a CSV).
The planner reads the list once per plan (`Ledger.suppressed`) and skips the
numbers on it as `opted_out` (engine/planner.py, engine/schedule_planner.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

CLI = "cli"
IMPORT = "import"
MAX_KEYWORD = 100  # characters of the keyword kept with an event (config keywords are shorter)


class OptAction(StrEnum):
    OUT = "opt_out"  # the number is added to the list
    IN = "opt_in"  # the number is taken off the list


@dataclass(frozen=True, slots=True)
class OptEvent:
    """One change of the list: an opt-out, or an opt-in (START) that lifts one."""

    number: str  # E.164
    action: OptAction
    at: datetime
    source: str  # the provider's name, `cli` or `import`
    keyword: str  # the word the person sent ("STOP"); empty for `cli` and `import`


def changes(listed: set[str], events: Iterable[OptEvent]) -> list[bool]:
    """Whether each event changes the list `listed` (which is updated in place).

    The rule every backend follows (the SQL ones as an insert that does
    nothing on a listed number and a delete that finds none): an opt-out adds
    a number not on the list, an opt-in removes one that is.
    """
    changed = []
    for event in events:
        if event.action is OptAction.OUT:
            changed.append(event.number not in listed)
            listed.add(event.number)
        else:
            changed.append(event.number in listed)
            listed.discard(event.number)
    return changed

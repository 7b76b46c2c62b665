"""One read of an audience, its members given in batches to every planner that rides it
(a schedule's due plan, its forecast's next occurrence, a diff's riders)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING

from smsops.audience.recipients import recipients
from smsops.core.recipient import Recipient
from smsops.core.skips import Skip

if TYPE_CHECKING:
    from smsops.engine.schedule_planner import SchedulePlanner

# Audience members given to a planner at a time (`read_together`). Small: a member kept
# alive in a batch outlives the collector's youngest generation, and batches of 10,000 made
# a million-row re-plan ~0.5 s slower, where 64-128 make it ~0.3 s faster than one at a time.
BATCH = 128


def read_together(planners: list[SchedulePlanner]) -> None:
    """One read of the first planner's audience, each member given to every planner."""
    first = planners[0]
    for planner in planners:
        planner.start()
    audience = recipients(first.config, first.schedule.audience, first.options.cache_dir)
    # Given in batches (`_members`); several planners each member in turn, as a twin takes
    # its lender's last render (`_render`).
    members_ = planners[0]._members if len(planners) == 1 else _each(planners)
    tell, every = first.options.progress, first.options.progress_every
    read = 0  # since the last told: told every `every` rows, the rest at the end
    while batch := list(islice(audience, BATCH if tell is None else min(BATCH, every - read))):
        members_(batch)
        if tell is not None and (read := read + len(batch)) == every:
            tell(read)
            read = 0
    if tell is not None and read:
        tell(read)
    for planner in planners:
        planner.read()


def _each(planners: list[SchedulePlanner]) -> Callable[[list[Recipient | Skip]], None]:
    members = [planner._member for planner in planners]

    def each(batch: list[Recipient | Skip]) -> None:
        for member in batch:
            for member_ in members:
                member_(member)

    return each

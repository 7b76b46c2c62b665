"""The operator's view: what went out, what is stuck, what needs a person, what goes out next.

One typed value (`StatusView`), read from the config and the ledger alone,
rendered by every view: `smsops status` (text, report/status_format.py;
JSON), `GET /status.json` of `smsops run` (daemon/http.py) and the page
built on it. The JSON is `StatusView.model_dump(mode="json")`, versioned
(`STATUS_VERSION`) with its JSON Schema committed in
schemas/status.schema.json (generated from these models: `status_schema`).

Read-only and bounded whatever the ledger holds: one grouped query for
each schedule's last `RECENT` occurrences (`Ledger.recent_counts`), one
for the uncertain rows (at most `UNCERTAIN_GROUPS` groups), the recent
suppressions (at most `SUPPRESSIONS_SHOWN`) and the runs table. Every
ledger here is opened read-only or read through plain SELECTs: nothing
takes the write lock.

Held, as the rounds decided it: whoever plans and holds (`apply`, the
daemon's rounds) records the hold and its reason in the ledger (`holds`,
ledger/held.py; cleared when a round of the schedule goes ahead), and the
view reads it there: no plan, no audience read. A secret missing from the
environment of the caller is added as the runner would find it
(`secrets_held`). Skips are the ledger's too: what the latest plan of each
occurrence skipped, by reason (`recent_skips`).

Numbers are masked (`core.phone.mask`); text from the config or the ledger
is data: the text view prints it through `core.terminal.printable`, the
JSON escapes it (`core.terminal.inert_json`).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from smsops.config.loader import Config
from smsops.core.phone import mask
from smsops.core.skips import SkipReason
from smsops.core.terminal import inert_json
from smsops.engine.holds import secrets_held
from smsops.ledger.base import Ledger, Status
from smsops.ledger.held import HoldReason
from smsops.ledger.receipts import delivery_rate
from smsops.ledger.suppressions import OptAction
from smsops.schedule.occurrences import next_fires

STATUS_VERSION = 1
RECENT = 5  # occurrences shown per schedule
NEXT_FIRES = 3
UNCERTAIN_GROUPS = 50
SUPPRESSIONS_FOR = timedelta(days=7)
SUPPRESSIONS_SHOWN = 20
_REASONS = {reason.value for reason in SkipReason}  # a reason a newer smsops wrote is left out


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Counts(_View):
    """Rows of one occurrence per ledger status, the recipients its latest plan skipped
    (no row), and the delivery rate of those with a final receipt (delivered /
    (delivered + undelivered); null without any)."""

    pending: int = Field(ge=0)
    sent: int = Field(ge=0, description="Taken by the provider, no final receipt yet.")
    delivered: int = Field(ge=0)
    undelivered: int = Field(ge=0)
    failed: int = Field(ge=0)
    uncertain: int = Field(ge=0)
    expired: int = Field(ge=0)
    delivery_rate: float | None = Field(ge=0, le=1)
    skipped: int = Field(
        ge=0, description="Recipients its latest plan skipped, every reason (see `skips`)."
    )

    @classmethod
    def of(cls, counts: Mapping[str, int], skipped: int = 0) -> Counts:
        every = {status.value: counts.get(status.value, 0) for status in Status}
        return cls(**every, delivery_rate=delivery_rate(dict(counts)), skipped=skipped)

    @property
    def total(self) -> int:
        """The ledger's rows (skips are not rows)."""
        return sum(getattr(self, status.value) for status in Status)


class OccurrenceStatus(_View):
    occurrence: str = Field(description="The occurrence's label (its fire time, or `once`).")
    counts: Counts
    skips: dict[SkipReason, PositiveInt] = Field(
        description="Recipients its latest plan skipped, by reason (only reasons seen)."
    )


class Hold(_View):
    reason: HoldReason
    detail: str = Field(
        description="Which limits, which variable of which provider, or which provider "
        "could not be reached (and how many requests of the round that held it)."
    )
    since: datetime | None = Field(
        description="When a round first held it so (null: a secret missing from the "
        "environment of whoever reads the view, not recorded by a round)."
    )


class ScheduleStatus(_View):
    name: str
    enabled: bool
    held: list[Hold] = Field(description="Why nothing of it is sent now (empty: it sends).")
    next_fires: list[datetime] = Field(description="The next fire times (UTC for local ones).")
    recent: list[OccurrenceStatus] = Field(description="Its newest occurrences, newest first.")


class Uncertain(_View):
    schedule: str
    occurrence: str
    rows: int = Field(ge=1)
    resolve_sent: str = Field(description="The command that records them as sent.")
    resolve_failed: str = Field(description="The command that records them as failed.")


class OverLimits(_View):
    schedule: str
    limits: list[str]


class Suppression(_View):
    number: str = Field(description="Masked.")
    at: datetime
    source: str


class Replica(_View):
    run: str
    host: str
    command: str
    started_at: datetime
    renewed_at: datetime
    lease_ends: datetime
    live: bool = Field(description="Its lease has not lapsed at `generated_at`.")
    stopped: bool = Field(
        description="It ended its lease itself (a clean close), so it was not lost: "
        "nobody takes over from it."
    )


class NeedsPerson(_View):
    uncertain: list[Uncertain]
    uncertain_truncated: bool = Field(description=f"More than {UNCERTAIN_GROUPS} occurrences.")
    over_limits: list[OverLimits]
    suppressions: list[Suppression] = Field(description="Added in the last 7 days, newest first.")
    suppressions_total: int = Field(ge=0, description="How many were added in the last 7 days.")


class StatusView(_View):
    version: Literal[1]
    generated_at: datetime
    schedules: list[ScheduleStatus]
    needs_person: NeedsPerson
    replicas: list[Replica]

    def to_json(self) -> str:
        """The JSON twin, with no character a terminal would obey (inert_json)."""
        return inert_json(self.model_dump_json(indent=2))


def status_of(
    config: Config,
    ledger: Ledger,
    now: datetime,
    *,
    env: Mapping[str, str],
    ledger_arg: str | None = None,
) -> StatusView:
    """The view at `now`, from the config and the ledger alone (no audience is read).
    `env`: where missing secrets are looked for. `ledger_arg`: the `--ledger` the resolve
    commands name (None: they name none; the person's SMSOPS_LEDGER or default then picks
    the same ledger)."""
    held: dict[str, list[Hold]] = {}
    over: dict[str, list[str]] = {}
    for name, found in ledger.holds().items():
        lines = found.detail.splitlines()
        if found.reason == "guardrail":
            over[name] = lines
        hold = Hold(reason=found.reason, detail="; ".join(lines), since=found.since)
        held.setdefault(name, []).append(hold)
    for name, lines in secrets_held(config, env).items():
        hold = Hold(reason="secret", detail="; ".join(lines), since=None)
        if all((h.reason, h.detail) != (hold.reason, hold.detail) for h in held.get(name, [])):
            held.setdefault(name, []).append(hold)
    enabled = {name for name, schedule in config.schedules.items() if schedule.enabled}
    over = {name: limits for name, limits in over.items() if name in enabled}
    recent, skips = ledger.recent_counts(RECENT), ledger.recent_skips(RECENT)
    schedules = [
        ScheduleStatus(
            name=name,
            enabled=schedule.enabled,
            held=held.get(name, []) if schedule.enabled else [],
            next_fires=next_fires(schedule, now, NEXT_FIRES) if schedule.enabled else [],
            recent=_occurrences(recent.get(name, {}), skips.get(name, {})),
        )
        for name, schedule in config.schedules.items()
    ]
    return StatusView(
        version=STATUS_VERSION,
        generated_at=now,
        schedules=schedules,
        needs_person=_needs_person(ledger, now, over, ledger_arg),
        replicas=[
            Replica(
                run=run.id,
                host=run.host,
                command=run.command,
                started_at=run.started_at,
                renewed_at=run.heartbeat_at,
                lease_ends=run.expires_at,
                live=run.expires_at > now,
                stopped=run.stopped,
            )
            for run in ledger.runs()
        ],
    )


def _occurrences(
    counts: Mapping[str, Mapping[str, int]], skips: Mapping[str, Mapping[str, int]]
) -> list[OccurrenceStatus]:
    """The newest occurrences with rows or skips (one where every recipient was skipped
    has no row, and is shown all the same)."""
    newest = sorted(counts.keys() | skips.keys(), reverse=True)[:RECENT]
    shown = []
    for o in newest:
        found = sorted(skips.get(o, {}).items())
        skipped = {SkipReason(r): n for r, n in found if r in _REASONS and n > 0}
        total = sum(skipped.values())
        shown.append(
            OccurrenceStatus(
                occurrence=o, counts=Counts.of(counts.get(o, {}), total), skips=skipped
            )
        )
    return shown


def _needs_person(
    ledger: Ledger, now: datetime, over: Mapping[str, list[str]], ledger_arg: str | None
) -> NeedsPerson:
    groups = ledger.open_uncertain(UNCERTAIN_GROUPS + 1)
    added = [
        e for e in ledger.suppressions(since=now - SUPPRESSIONS_FOR) if e.action is OptAction.OUT
    ]
    return NeedsPerson(
        uncertain=[
            Uncertain(
                schedule=schedule,
                occurrence=occurrence,
                rows=rows,
                resolve_sent=resolve_command(schedule, occurrence, "sent", ledger_arg),
                resolve_failed=resolve_command(schedule, occurrence, "failed", ledger_arg),
            )
            for schedule, occurrence, rows in groups[:UNCERTAIN_GROUPS]
        ],
        uncertain_truncated=len(groups) > UNCERTAIN_GROUPS,
        over_limits=[OverLimits(schedule=s, limits=limits) for s, limits in sorted(over.items())],
        suppressions=[
            Suppression(number=mask(e.number), at=e.at, source=e.source)
            for e in added[:SUPPRESSIONS_SHOWN]
        ],
        suppressions_total=len(added),
    )


def resolve_command(schedule: str, occurrence: str, outcome: str, ledger_arg: str | None) -> str:
    """The `smsops ledger resolve` line for one occurrence's uncertain rows, every value
    shell-quoted (a name from the ledger is data, never a second command)."""
    words = ["smsops", "ledger", "resolve", "--as", outcome, "--schedule", schedule]
    words += ["--occurrence", occurrence, "--reason", "what you checked with the provider"]
    if ledger_arg is not None:
        words += ["--ledger", ledger_arg]
    return shlex.join(words)


def status_schema() -> str:
    """The committed schemas/status.schema.json: the JSON Schema of `StatusView`'s JSON."""
    schema = StatusView.model_json_schema(mode="serialization")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"

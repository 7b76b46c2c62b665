"""What a change to a config does: base vs head, per schedule, template, audience, provider.

A typed value (`ConfigDiff`) computed by `make_diff` from two loaded configs
(the base may have failed to load: then it says so and nothing else), the
head's forecast and a read-only ledger; every view in `smsops.report` reads
it. The forecast, the planner and the renderer are the ones `plan` uses:
the "before" of a schedule is the base config's own forecast, planned the
same way as the head's.

Entries are compared by what they mean, not how they are written: the
validated models (so a comment or a reordered key is no change), each
audience's CSV by its content digest (`Config.snapshots`) and its
exclusions, transitively. A schedule is changed when it, its template, its
audience or one of its providers is. Only changed schedules are forecast
at base, so a small change to a large config costs little.

"What anyone receives changes" (`receives_changed`, `plan --base
--detailed-exitcode` exits 2): a schedule enabled on either side is added,
removed or changed in anything but its providers' prices and pacing (rate
limit, concurrency, timeout); or a provider needs attention (a new
destination host or a newly referenced secret: whoever runs that host
receives every message and number); or the base does not load (nothing can
be said to be unchanged).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from smsops.config.loader import Config
from smsops.config.providers import credential_paths
from smsops.config.secret_refs import provider_variables
from smsops.engine.diff_samples import (
    AudienceDelta,
    Members,
    SampleChange,
    audience_delta,
    samples,
)
from smsops.engine.forecast import Forecast, ScheduleForecast, make_forecast
from smsops.engine.planner import LedgerView, PlanOptions
from smsops.ledger.base import SendRecord
from smsops.render.renderer import compile_templates

# Provider settings that change what a send costs or how fast it goes, not what is sent.
NOT_RECEIVED = frozenset({"price_per_segment", "rate_limit", "max_in_flight", "timeout"})
SCHEDULE_FIELDS = (
    *("enabled", "trigger", "window", "quiet_hours", "provider"),
    *("template", "audience", "vars", "limits"),
)


class Status(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str | None  # compact JSON of the setting; None: not set
    after: str | None


@dataclass
class Change:
    """One entry that differs; what applies to its kind is filled, the rest left empty."""

    name: str
    status: Status
    fields: list[FieldChange] = field(default_factory=list)
    receives_changed: bool = False
    # templates: the rendered text before -> after on the same recipients
    samples: list[SampleChange] = field(default_factory=list)
    # audiences: members added and removed
    audience: AudienceDelta | None = None
    # schedules: the forecast of each side (None: absent there, or no fire in the horizon)
    before: ScheduleForecast | None = None
    after: ScheduleForecast | None = None
    # providers: why a reviewer must look (a new host, a newly referenced secret)
    attention: list[str] = field(default_factory=list)


@dataclass
class Section:
    kind: str  # schedules, templates, audiences, providers
    changes: list[Change]
    unchanged: int


@dataclass
class ConfigDiff:
    base: str  # the ref or directory, as given
    base_problems: list[str] | None  # the base did not load: why (then no sections)
    sections: list[Section]

    def section(self, kind: str) -> Section:
        return next(s for s in self.sections if s.kind == kind)

    @property
    def attention(self) -> list[str]:
        providers = self.section("providers").changes if self.sections else []
        return [c.name for c in providers if c.attention]

    @property
    def receives_changed(self) -> bool:
        if self.base_problems is not None:
            return True
        return bool(self.attention) or any(
            c.receives_changed for s in self.sections for c in s.changes
        )

    @property
    def changed(self) -> bool:
        return self.base_problems is not None or any(s.changes for s in self.sections)


@dataclass(frozen=True)
class Sides:
    """What both forecasts are made with: the ledger, the time, the plan's options."""

    ledger: LedgerView
    at: datetime
    forecast: Forecast  # the head's (plan made it); reused for what it holds
    options: PlanOptions
    is_stale: Callable[[SendRecord], bool]


@dataclass(frozen=True)
class Prepared:
    """What `engine/diff_pass.py` planned in the passes that read the audiences: each
    changed schedule's forecast at base (the `before` of `changed(...)[0]`), and the
    members of changed audiences, (base, head), where a pass read them."""

    before: dict[str, ScheduleForecast]
    members: dict[str, tuple[Members, Members]]


def changed(base: Config, head: Config) -> tuple[list[str], list[str]]:
    """The schedules forecast at base (changed or removed), and the audiences changed."""
    sig_base, sig_head = _Signatures(base), _Signatures(head)
    schedules = _section("schedules", base, head, sig_base.schedule, sig_head.schedule)
    audiences = _section("audiences", base, head, sig_base.audience, sig_head.audience)
    return (
        [c.name for c in schedules.changes if c.status is not Status.ADDED],
        [c.name for c in audiences.changes if c.status is Status.CHANGED],
    )


def invalid_base(base: str, problems: list[str]) -> ConfigDiff:
    return ConfigDiff(base, problems, [])


def make_diff(
    base_name: str, base: Config, head: Config, sides: Sides, prepared: Prepared | None = None
) -> ConfigDiff:
    sig_base, sig_head = _Signatures(base), _Signatures(head)
    templates = _section("templates", base, head, sig_base.template, sig_head.template)
    audiences = _section("audiences", base, head, sig_base.audience, sig_head.audience)
    providers = _section("providers", base, head, sig_base.provider, sig_head.provider)
    schedules = _section("schedules", base, head, sig_base.schedule, sig_head.schedule)
    compiled = (compile_templates(base), compile_templates(head))
    for c in templates.changes:
        if c.status is Status.CHANGED:
            c.samples = samples(base, head, c.name, sides.at, sides.options.cache_dir, compiled)
    for c in audiences.changes:
        if c.status is Status.CHANGED:
            read = None if prepared is None else prepared.members.get(c.name)
            c.audience = audience_delta(base, head, c.name, sides.options.cache_dir, read)
    for c in providers.changes:
        c.attention = _attention(base, head, c)
    _forecasts(base, head, schedules.changes, sides, prepared)
    for c in schedules.changes:
        c.receives_changed = _receives(base, head, c, sig_base, sig_head)
    return ConfigDiff(base_name, None, [schedules, templates, audiences, providers])


def _section(kind: str, base: Config, head: Config, before: Any, after: Any) -> Section:
    old, new = base.names(kind), head.names(kind)
    changes: list[Change] = []
    unchanged = 0
    for name in [*new, *(n for n in old if n not in new)]:
        if name not in old:
            changes.append(Change(name, Status.ADDED, _fields(kind, {}, _shown(kind, head, name))))
        elif name not in new:
            changes.append(
                Change(name, Status.REMOVED, _fields(kind, _shown(kind, base, name), {}))
            )
        elif before(name) != after(name):
            shown = _fields(kind, _shown(kind, base, name), _shown(kind, head, name))
            changes.append(Change(name, Status.CHANGED, shown))
        else:
            unchanged += 1
    return Section(kind, changes, unchanged)


def _shown(kind: str, config: Config, name: str) -> dict[str, Any]:
    """An entry's settings as shown: a provider's credentials left out (its reads are listed)."""
    model: BaseModel = config.names(kind)[name]
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    if kind == "providers":
        kind_of: type[BaseModel] = type(model)
        hidden = {path.split(".")[0] for path in credential_paths(kind_of)}
        dumped = {k: v for k, v in dumped.items() if k not in hidden}
    return dumped


def _fields(kind: str, before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    keys = [k for k in SCHEDULE_FIELDS if k in before.keys() | after.keys()]
    if kind != "schedules":
        keys = sorted(before.keys() | after.keys())
    return [
        FieldChange(key, _compact(before.get(key)), _compact(after.get(key)))
        for key in keys
        if before.get(key) != after.get(key)
    ]


def _compact(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


class _Signatures:
    """Each entry of one config as what it means (see the module docstring)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._audiences: dict[str, Any] = {}
        self._reads = {
            n: sorted(v for v, _ in refs) for n, refs in provider_variables(config).items()
        }

    def template(self, name: str) -> Any:
        return _shown("templates", self.config, name)

    def provider(self, name: str, *, received_only: bool = False) -> Any:
        shown = _shown("providers", self.config, name)
        refs = self._reads[name]
        if received_only:
            shown = {k: v for k, v in shown.items() if k not in NOT_RECEIVED}
        return shown, refs

    def audience(self, name: str, seen: frozenset[str] = frozenset()) -> Any:
        if name not in self._audiences:
            audience = self.config.audiences[name]
            path = audience.source_path()
            snapshot = None if path is None else self.config.snapshots.get(path)
            excluded = [
                self.audience(x, seen | {name}) if x not in seen else x for x in audience.exclude
            ]
            digest = None if snapshot is None else snapshot.digest
            self._audiences[name] = (_shown("audiences", self.config, name), digest, excluded)
        return self._audiences[name]

    def schedule(self, name: str, *, received_only: bool = False) -> Any:
        s = self.config.schedules[name]
        providers = [self.provider(p, received_only=received_only) for p in s.providers]
        own = _shown("schedules", self.config, name)
        return own, self.template(s.template), self.audience(s.audience), providers


def _attention(base: Config, head: Config, c: Change) -> list[str]:
    if c.status is Status.REMOVED:
        return []
    after = head.providers[c.name]
    found = []
    before = base.providers.get(c.name)
    if before is None or before.destination() != after.destination():
        was = "" if before is None else f" (was {before.destination()})"
        found.append(f"sends to {after.destination()}{was}")
    old = set() if before is None else {v for v, _ in provider_variables(base)[c.name]}
    new = [v for v, _ in provider_variables(head)[c.name] if v not in old]
    found.extend(f"reads a new secret: {v}" for v in dict.fromkeys(new))
    return found


def _forecasts(
    base: Config, head: Config, changes: list[Change], sides: Sides, prepared: Prepared | None
) -> None:
    """Each changed schedule's forecast on both sides (the head's from plan's own when
    there; the base's from `prepared` when given)."""
    horizon = sides.forecast.horizon
    had = {s.schedule: s for s in sides.forecast.schedules}
    old = [c.name for c in changes if c.status is not Status.ADDED]
    new = [c.name for c in changes if c.status is not Status.REMOVED and c.name not in had]

    def forecast(config: Config, names: list[str]) -> dict[str, ScheduleForecast]:
        if not names:
            return {}
        made = make_forecast(
            config, sides.ledger, sides.at, horizon, sides.is_stale, names, sides.options
        )
        return {s.schedule: s for s in made.schedules}

    before = forecast(base, old) if prepared is None else prepared.before
    after = had | forecast(head, new)
    for c in changes:
        c.before, c.after = before.get(c.name), after.get(c.name)


def _receives(base: Config, head: Config, c: Change, old: _Signatures, new: _Signatures) -> bool:
    enabled = any(
        config.schedules[c.name].enabled for config in (base, head) if c.name in config.schedules
    )
    if not enabled:
        return False
    if c.status is not Status.CHANGED:
        return True
    return bool(
        old.schedule(c.name, received_only=True) != new.schedule(c.name, received_only=True)
    )

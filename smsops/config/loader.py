"""Load a config directory (or file): read, merge by name, validate each entry."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from smsops.config.diagnostics import did_you_mean, problems_from
from smsops.config.models import (
    Api,
    Audience,
    Defaults,
    Limits,
    OptOut,
    OtpSettings,
    Schedule,
    Server,
    StatusAccess,
    Template,
)
from smsops.config.providers import ProviderBase
from smsops.config.sources import capture_source
from smsops.config.types import check_name
from smsops.config.yamlsource import MAX_CONFIG_VALUES, MAX_FILE_VALUES, SourceMap, load_file
from smsops.core.errors import ConfigError, FileRefused, Location, Problem
from smsops.core.files import check_inside, confinement_root
from smsops.core.snapshots import Snapshot, SnapshotStore, store_for

SECTION_NAMES = (
    "api",
    "status",
    "server",
    "defaults",
    "otp",
    "providers",
    "templates",
    "audiences",
    "schedules",
)
_SUBJECT = {"providers": "provider", "templates": "template", "audiences": "audience"}
_SUBJECT |= {"schedules": "schedule", "defaults": "default", "otp": "otp setting"}
# Sections that are one map of settings, written whole in one file (not named entries).
_SINGLE_MAPS: dict[str, type[BaseModel]] = {"api": Api, "status": StatusAccess, "server": Server}
_STATIC_MODELS: dict[str, type[BaseModel]] = {
    "templates": Template,
    "audiences": Audience,
    "schedules": Schedule,
}


@dataclass
class Config:
    """A whole config: every entry that validated, and where each was written."""

    root: Path
    # The resolved directory every file of the config must lie in.
    confined_to: Path = field(init=False)
    providers: dict[str, ProviderBase] = field(default_factory=dict)
    templates: dict[str, Template] = field(default_factory=dict)
    audiences: dict[str, Audience] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    # The `defaults` section's entries by key (`limits`, `opt_out`): see the accessors.
    defaults: dict[str, Any] = field(default_factory=dict)
    # The `api` map (docs/api.md), written once in one file; None: the API is off.
    api: Api | None = None
    # The `status` map (docs/operations.md): who may read /status.json; None: it is off.
    status: StatusAccess | None = None
    # The `server` map (docs/security.md): the proxies in front of run's port; None: none.
    server: Server | None = None
    # The `otp` section's settings by key (`secret`): see `otp_secret`.
    otp: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    # Every file the config reads besides its YAML (audience CSVs), as validated at load:
    # its path as the config names it -> the snapshot that is read instead (see `snapshots`).
    snapshots: dict[Path, Snapshot] = field(default_factory=dict)
    _sources: dict[tuple[str, str], SourceMap] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.confined_to = confinement_root(self.root)

    def locate(self, section: str, name: str, *path: str | int, key: bool = False) -> Location:
        """Where `path` inside entry `section.name` is written (`api`: name is its key)."""
        source = self._sources.get((section, "" if section in _SINGLE_MAPS else name))
        if source is None:
            return Location(self.root)
        if section in _SINGLE_MAPS:  # one map, not named entries: its place is the file's
            return source.locate((section, *((name, *path) if name else path)), key=key)
        return source.locate((section, name, *path), key=key)

    def defined(self, section: str, name: str) -> bool:
        """Whether `name` is written in `section`, even if its entry did not validate."""
        return (section, name) in self._sources

    def limits(self, schedule: str) -> Limits:
        """The schedule's guardrails: its own `limits` over `defaults.limits`."""
        default: Limits = self.defaults.get("limits") or Limits()
        own = self.schedules[schedule].limits
        return default if own is None else own.over(default)

    def opt_out(self) -> OptOut:
        found: OptOut = self.defaults.get("opt_out") or OptOut()
        return found

    def otp_secret(self) -> str | None:
        """The `${env:NAME}` reference of the secret that keys one-time code hashes, if any."""
        found: str | None = self.otp.get("secret")
        return found

    def names(self, section: str) -> dict[str, Any]:
        found: dict[str, Any] = getattr(self, section)
        return found


@dataclass
class LoadResult:
    config: Config
    problems: list[Problem]


def read_as_config(path: Path) -> bool:
    """Whether the walk of a config directory reads a file of this name (hidden ones aside)."""
    return path.suffix in (".yaml", ".yml")


def config_files(root: Path) -> list[Path]:
    """Every `*.yaml`/`*.yml` below `root` (or `root` itself), skipping hidden names."""
    return walk_config(root)[0]


def walk_config(root: Path) -> tuple[list[Path], list[Problem]]:
    """The YAML files of the config at `root`, and the problems of the walk.

    Symlinked files and directories are followed when they resolve inside
    the config directory (each directory once, so a link loop ends); a
    symlinked directory or YAML file that resolves outside is a problem
    at its path, and nothing below it is read. Hidden names are skipped.
    """
    if not root.is_dir():
        return [root], []
    jail = confinement_root(root)
    found: list[Path] = []
    problems: list[Problem] = []
    seen: set[tuple[int, int]] = set()
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            info = folder.stat()
            if (info.st_dev, info.st_ino) in seen:
                continue  # a link back to a folder already walked
            seen.add((info.st_dev, info.st_ino))
            with os.scandir(folder) as listing:
                entries = [entry for entry in listing if not entry.name.startswith(".")]
        except OSError as exc:
            problems.append(Problem(Location(folder), f"cannot list this folder: {exc.strerror}"))
            continue
        for entry in entries:
            path = Path(entry.path)
            is_yaml = read_as_config(path)
            try:
                is_dir = entry.is_dir()
                if entry.is_symlink() and (is_dir or is_yaml):
                    check_inside(path, jail)
            except FileRefused as exc:
                problems.append(Problem(Location(path), f"refused: {exc.reason}"))
                continue
            except OSError:
                is_dir = False
            if is_dir:
                folders.append(path)
            elif is_yaml:
                found.append(path)
    return sorted(found), problems


def files_read(root: Path) -> list[Path]:
    """Every file the config at `root` reads: its YAML files and the CSV files they name.

    For watching the config (`smsops run`): a change to any other file is
    not a change of the config. Sources are taken from the YAML as written,
    valid or not, so fixing the CSV of a refused config is seen too.
    """
    yaml_files, refused = walk_config(root)
    found = [*yaml_files, *(problem.location.file for problem in refused)]
    jail = confinement_root(root)
    for file in yaml_files:
        try:
            data, _ = load_file(file, jail)
        except ConfigError:
            continue
        audiences = data.get("audiences") if isinstance(data, dict) else None
        for entry in audiences.values() if isinstance(audiences, dict) else ():
            source = entry.get("source") if isinstance(entry, dict) else None
            if isinstance(source, str) and "\0" not in source:  # no file has a NUL name
                found.append(file.parent / source)
    return found


ProviderModels = Mapping[str, type[ProviderBase]]


def load_config(
    root: Path,
    provider_models: ProviderModels,
    store: SnapshotStore | None = None,
    *,
    audiences: bool = True,
) -> LoadResult:
    """Read and validate every file; return what validated plus every problem found.

    `provider_models` maps each provider `type` to its model (from the registry).
    Every CSV an audience names is captured into `store` (default: this
    process's private temporary one), and only that copy is read afterwards.
    `audiences=False` (`smsops status`, which reads the ledger alone): no CSV
    is opened, so none is captured and none can be read later.
    """
    config = Config(root=root)
    if not root.exists():
        problem = Problem(Location(root), "no such file or directory")
        return LoadResult(config, [problem])
    config.files, problems = walk_config(root)
    if not config.files and not problems:
        problems.append(Problem(Location(root), "no *.yaml or *.yml files found here"))
    raw: dict[tuple[str, str], Any] = {}
    values = 0  # of all files so far: a config holds at most MAX_CONFIG_VALUES
    for file in config.files:
        budget = min(MAX_FILE_VALUES, MAX_CONFIG_VALUES - values)
        try:
            data, source = load_file(file, config.confined_to, budget)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        values += len(source.values)
        problems.extend(_collect(data, source, config, raw))
    for (section, name), data in raw.items():
        problems.extend(_validate_entry(config, section, name, data, provider_models))
    if audiences:
        problems.extend(_capture(config, store or store_for(None)))
    return LoadResult(config, problems)


def _capture(config: Config, store: SnapshotStore) -> list[Problem]:
    """Snapshot every audience's CSV once (two audiences may name one file)."""
    problems = []
    for name, audience in config.audiences.items():
        if audience.source_path() in config.snapshots:
            continue
        found = capture_source(name, audience, config.locate("audiences", name, "source"), store)
        if isinstance(found, Problem):
            problems.append(found)
        elif found is not None:
            config.snapshots[found.original] = found
    return problems


def _collect(
    data: Any, source: SourceMap, config: Config, raw: dict[tuple[str, str], Any]
) -> list[Problem]:
    """Gather the named entries of one file, reporting bad structure and duplicates."""
    if not isinstance(data, dict):
        return [Problem(source.locate(()), "a config file must be a mapping of sections")]
    problems = []
    for section, entries in data.items():
        if section not in SECTION_NAMES:
            hint = did_you_mean(section, SECTION_NAMES)
            message = f"unknown section {section!r}{hint}; sections are {', '.join(SECTION_NAMES)}"
            problems.append(Problem(source.locate((section,), key=True), message))
            continue
        if entries is None:
            continue
        if not isinstance(entries, dict):
            message = f"{section!r} must be a mapping of names to definitions"
            problems.append(Problem(source.locate((section,)), message))
            continue
        if section in _SINGLE_MAPS:  # one map of settings, in one file
            problems.extend(_collect_single(section, entries, source, config, raw))
            continue
        for name, entry in entries.items():
            where = source.locate((section, name), key=True)
            bad_name = check_name(name)
            if bad_name:
                problems.append(Problem(where, bad_name))
                continue
            if (section, name) in config._sources:
                first = config.locate(section, name, key=True)
                message = f"duplicate {_SUBJECT[section]} name {name!r}; also defined at {first}"
                problems.append(Problem(where, message))
                continue
            config._sources[(section, name)] = source
            raw[(section, name)] = entry
    return problems


def _collect_single(
    section: str,
    entries: dict[str, Any],
    source: SourceMap,
    config: Config,
    raw: dict[tuple[str, str], Any],
) -> list[Problem]:
    """A single map (`api`, `status`, `server`): written whole in one file (keys: settings)."""
    if (section, "") in config._sources:
        first = config.locate(section, "", key=True)
        message = f"`{section}` is written in two files; keep it in one (also at {first})"
        return [Problem(source.locate((section,), key=True), message)]
    config._sources[(section, "")] = source
    raw[(section, "")] = entries
    return []


def _validate_entry(
    config: Config, section: str, name: str, data: Any, provider_models: ProviderModels
) -> list[Problem]:
    if section in _SINGLE_MAPS:
        single = _SINGLE_MAPS[section]
        try:
            setattr(config, section, single.model_validate(data))
        except ValidationError as exc:
            where = config._sources[(section, "")]
            return problems_from(exc, single, data, where, (section,), section)
        return []
    subject = f"{_SUBJECT[section]} {name!r}"
    model = _STATIC_MODELS.get(section)
    if section == "otp":
        return _validate_setting(config, name, data, OtpSettings)
    if section == "defaults":
        known = Defaults.model_fields
        if name not in known:
            hint = did_you_mean(name, known)
            message = f"unknown defaults key {name!r}{hint}; keys are {', '.join(known)}"
            return [Problem(config.locate(section, name, key=True), message)]
        model = known[name].annotation  # type: ignore[assignment]
        assert model is not None
    elif model is None:
        found = _provider_model(data, provider_models)
        if isinstance(found, str):
            return [Problem(config.locate(section, name, "type"), f"{subject}: {found}")]
        model = found
    try:
        entry = model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        source = config._sources[(section, name)]
        return problems_from(exc, model, data, source, (section, name), subject)
    if isinstance(entry, Audience):
        entry._defined_in = config._sources[(section, name)].file
        entry._confined_to = config.confined_to
    config.names(section)[name] = entry
    return []


def _validate_setting(
    config: Config, name: str, data: Any, model: type[BaseModel]
) -> list[Problem]:
    """One key of a settings map (`otp`): validated as that key of `model`, errors located."""
    subject = f"{_SUBJECT['otp']} {name!r}"
    if name not in model.model_fields:
        hint = did_you_mean(name, model.model_fields)
        message = f"unknown otp key {name!r}{hint}; keys are {', '.join(model.model_fields)}"
        return [Problem(config.locate("otp", name, key=True), message)]
    try:
        entry = model.model_validate({name: data})
    except ValidationError as exc:
        source = config._sources[("otp", name)]
        return problems_from(exc, model, {name: data}, source, ("otp",), subject)
    config.otp[name] = getattr(entry, name)
    return []


def _provider_model(data: Any, provider_models: ProviderModels) -> type[ProviderBase] | str:
    """The model for a provider entry, or an error message about its `type`."""
    kinds = ", ".join(provider_models)
    if not isinstance(data, dict) or "type" not in data:
        return f"missing required key 'type' (one of {kinds})"
    kind = data["type"]
    if kind not in provider_models:
        hint = did_you_mean(str(kind), provider_models)
        return f"unknown provider type {kind!r}{hint}; use one of {kinds}"
    return provider_models[kind]

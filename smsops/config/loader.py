"""Load a config directory (or file): read, merge by name, validate each entry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from smsops.config.diagnostics import did_you_mean, problems_from
from smsops.config.models import Audience, Schedule, Template
from smsops.config.providers import ProviderBase
from smsops.config.types import check_name
from smsops.config.yamlsource import SourceMap, load_file
from smsops.core.errors import ConfigError, Location, Problem

SECTION_NAMES = ("providers", "templates", "audiences", "schedules")
_SUBJECT = {"providers": "provider", "templates": "template", "audiences": "audience"}
_SUBJECT |= {"schedules": "schedule"}
_STATIC_MODELS: dict[str, type[BaseModel]] = {
    "templates": Template,
    "audiences": Audience,
    "schedules": Schedule,
}


@dataclass
class Config:
    """A whole config: every entry that validated, and where each was written."""

    root: Path
    providers: dict[str, ProviderBase] = field(default_factory=dict)
    templates: dict[str, Template] = field(default_factory=dict)
    audiences: dict[str, Audience] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    # Audience name -> its CSV header, filled by the checks that read it once.
    csv_headers: dict[str, list[str]] = field(default_factory=dict)
    _sources: dict[tuple[str, str], SourceMap] = field(default_factory=dict)

    def locate(self, section: str, name: str, *path: str | int, key: bool = False) -> Location:
        """Where `path` inside entry `section.name` is written."""
        source = self._sources.get((section, name))
        if source is None:
            return Location(self.root)
        return source.locate((section, name, *path), key=key)

    def defined(self, section: str, name: str) -> bool:
        """Whether `name` is written in `section`, even if its entry did not validate."""
        return (section, name) in self._sources

    def names(self, section: str) -> dict[str, Any]:
        found: dict[str, Any] = getattr(self, section)
        return found


@dataclass
class LoadResult:
    config: Config
    problems: list[Problem]


def config_files(root: Path) -> list[Path]:
    """Every `*.yaml`/`*.yml` below `root` (or `root` itself), skipping hidden folders."""
    if root.is_file():
        return [root]
    found = [
        path
        for path in root.rglob("*")
        if path.suffix in (".yaml", ".yml")
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    ]
    return sorted(found)


ProviderModels = Mapping[str, type[ProviderBase]]


def load_config(root: Path, provider_models: ProviderModels) -> LoadResult:
    """Read and validate every file; return what validated plus every problem found.

    `provider_models` maps each provider `type` to its model (from the registry).
    """
    config = Config(root=root)
    if not root.exists():
        problem = Problem(Location(root), "no such file or directory")
        return LoadResult(config, [problem])
    config.files = config_files(root)
    problems: list[Problem] = []
    if not config.files:
        problems.append(Problem(Location(root), "no *.yaml or *.yml files found here"))
    raw: dict[tuple[str, str], Any] = {}
    for file in config.files:
        try:
            data, source = load_file(file)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        problems.extend(_collect(data, source, config, raw))
    for (section, name), data in raw.items():
        problems.extend(_validate_entry(config, section, name, data, provider_models))
    return LoadResult(config, problems)


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


def _validate_entry(
    config: Config, section: str, name: str, data: Any, provider_models: ProviderModels
) -> list[Problem]:
    subject = f"{_SUBJECT[section]} {name!r}"
    model = _STATIC_MODELS.get(section)
    if model is None:
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
    config.names(section)[name] = entry
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

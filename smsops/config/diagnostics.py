"""Turn pydantic validation errors into `Problem`s that point into the YAML."""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from smsops.config.yamlsource import SourceMap, YamlPath
from smsops.core.errors import Problem


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for a close match, else an empty string."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def _data_path(data: Any, loc: tuple[str | int, ...]) -> YamlPath:
    """Keep the parts of a pydantic `loc` that are real keys/indices of the data.

    Pydantic adds union member names (`str`, `list[str]`) and discriminator tags
    to `loc`; they are not places in the YAML.
    """
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        if _has(current, part):
            current = current[part]
        elif not (isinstance(current, dict | list) and index == len(loc) - 1):
            continue
        # else: the last part may be a key that is missing or unknown; keep it
        path.append(part)
    return tuple(path)


def _has(container: Any, part: str | int) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if origin in (Union, types.UnionType) or str(origin) == "typing.Annotated":
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return []


def _fields_at(model: type[BaseModel], path: YamlPath) -> set[str]:
    """The keys a model accepts at `path`, following nested models, lists and dicts."""
    current: list[type[BaseModel]] = [model]
    pending = list(path)
    while pending:
        part = pending.pop(0)
        found: list[type[BaseModel]] = []
        for candidate in current:
            for name, info in candidate.model_fields.items():
                if part in (name, info.alias):
                    annotation = info.annotation
                    if get_origin(annotation) in (list, dict) and pending:
                        pending.pop(0)
                        annotation = get_args(annotation)[-1]
                    found.extend(_models_in(annotation))
        current = found
    return {info.alias or name for m in current for name, info in m.model_fields.items()}


def problems_from(
    error: ValidationError,
    model: type[BaseModel],
    data: Any,
    source: SourceMap,
    prefix: YamlPath,
    subject: str,
) -> list[Problem]:
    """Problems for one entry (`data` at `prefix` in `source`), validated by `model`."""
    merged: dict[YamlPath, tuple[str, list[str]]] = {}
    for item in error.errors(include_url=False):
        path = _data_path(data, tuple(item["loc"]))
        kind = item["type"]
        message = str(item["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            key = str(path[-1]) if path else "?"
            message = f"unknown key {key!r}" + did_you_mean(key, _fields_at(model, path[:-1]))
        elif kind == "missing":
            message = f"missing required key {item['loc'][-1]!r}"
        merged.setdefault(path, (kind, []))[1].append(message)

    problems = []
    for path, (kind, messages) in merged.items():
        key_position = kind == "extra_forbidden"
        if kind == "missing":
            # Point at the mapping that lacks the key (its parent).
            path = path[:-1] if path and isinstance(data, dict) else path
        where = source.locate((*prefix, *path), key=key_position)
        dotted = ".".join(str(p) for p in path if kind != "extra_forbidden" or p != path[-1])
        label = f"{subject}: {dotted}: " if dotted else f"{subject}: "
        problems.append(Problem(where, label + _join(messages)))
    return problems


def _join(messages: list[str]) -> str:
    """One sentence for the errors of every member of a union at one place."""
    unique = list(dict.fromkeys(messages))
    lead = "Input should be "
    if len(unique) > 1 and all(m.startswith(lead) for m in unique):
        return lead + " or ".join(m.removeprefix(lead) for m in unique)
    return "; ".join(unique)

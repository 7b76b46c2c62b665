"""Numbers in configs are strict: `true`, `"16"` and `16.0` are not 16.

`max_in_flight: true` validated as 1. Rather than per field, every numeric field
of every config model (the sections, each registered provider's model and what
they nest) is walked here and must refuse what is not a number of its kind.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from smsops.config.models import ConfigSections
from smsops.config.settings_model import Settings
from smsops.providers.registry import provider_models


def _leaves(annotation: Any) -> Iterator[Any]:
    """The plain types a field's annotation is made of (through unions, Annotated, lists)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from _leaves(get_args(annotation)[0])
    elif origin is Literal:
        yield origin
    elif origin in (Union, types.UnionType, list, dict, tuple):
        for arg in get_args(annotation):
            yield from _leaves(arg)
    else:
        yield annotation


def _models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [ConfigSections, *provider_models().values()]
    while todo:
        model = todo.pop()
        if model in found:
            continue
        found.append(model)
        for info in model.model_fields.values():
            todo.extend(
                leaf
                for leaf in _leaves(info.annotation)
                if isinstance(leaf, type) and issubclass(leaf, BaseModel)
            )
    return found


def _numeric_fields() -> list[tuple[str, FieldInfo]]:
    fields = []
    for model in _models():
        for name, info in model.model_fields.items():
            leaves = set(_leaves(info.annotation))
            if bool in leaves:
                continue  # a field that also takes true/false (template vars) is not numeric
            if leaves & {int, float}:
                fields.append((f"{model.__name__}.{name}", info))
    return fields


NUMERIC = _numeric_fields()


def test_the_walk_finds_the_numeric_fields() -> None:
    names = {name for name, _ in NUMERIC}
    assert {"Aoc.bulk_size", "Price.default"} <= names
    assert any(name.endswith(".max_in_flight") for name in names)
    assert any(name.endswith(".price_per_segment") for name in names)


@pytest.mark.parametrize(("name", "info"), NUMERIC, ids=[name for name, _ in NUMERIC])
@pytest.mark.parametrize("value", [True, False, "1", "16"])
def test_every_numeric_field_refuses_what_is_not_a_number(
    name: str, info: FieldInfo, value: object
) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[info.annotation, info])
    if get_origin(info.annotation) is dict:
        value = {"GB": value}  # a number per key (a price per region)
    with pytest.raises(ValidationError):
        adapter.validate_python(value)


def test_settings_from_the_environment_still_read_text() -> None:
    """Settings come from environment variables, which are text: not config models."""
    assert Settings(ledger_wait="2.5").ledger_wait == 2.5  # type: ignore[arg-type]


def _duration_fields() -> list[tuple[str, FieldInfo]]:
    return [
        (f"{model.__name__}.{name}", info)
        for model in _models()
        for name, info in model.model_fields.items()
        if timedelta in set(_leaves(info.annotation))
    ]


DURATIONS = _duration_fields()


def test_the_walk_finds_the_duration_fields() -> None:
    names = {name for name, _ in DURATIONS}
    assert {"Schedule.window", "Trigger.every", "OtpPolicy.expiry"} <= names


@pytest.mark.parametrize(("name", "info"), DURATIONS, ids=[name for name, _ in DURATIONS])
@pytest.mark.parametrize("value", [True, False, {"end": "2h"}, ["1h"]])
def test_every_duration_refuses_what_is_not_a_duration(
    name: str, info: FieldInfo, value: object
) -> None:
    """`window: true` was a window of one second (a bool is an int to pydantic); a map or
    a list said only "Input should be a valid timedelta", with no spelling to write."""
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[info.annotation, info])
    with pytest.raises(ValidationError, match=r"not a duration; write e\.g\. 30s, 10m, 2h"):
        adapter.validate_python(value)

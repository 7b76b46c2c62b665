"""The JSON Schema of the config format, generated from the models (for editors)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import reduce
from operator import or_
from typing import Annotated, Any

from pydantic import BaseModel, Field, create_model

from smsops.config.models import ConfigSections
from smsops.config.providers import ProviderBase
from smsops.config.types import NAME_PATTERN

SCHEMA_ID = "https://smsops.dev/schemas/smsops.schema.json"


def config_file_model(provider_models: Mapping[str, type[ProviderBase]]) -> type[BaseModel]:
    """One YAML file: `providers` as a union discriminated on `type`, plus the other sections."""
    union: Any = reduce(or_, provider_models.values())
    provider = Annotated[union, Field(discriminator="type")]
    return create_model(
        "ConfigFile",
        __doc__="One YAML file of a config; a directory of them is merged by name.",
        __base__=ConfigSections,
        providers=(dict[str, provider], Field(default_factory=dict)),
    )


def json_schema(provider_models: Mapping[str, type[ProviderBase]]) -> dict[str, Any]:
    schema = config_file_model(provider_models).model_json_schema(mode="validation")
    for section in ("providers", "templates", "audiences", "schedules"):
        schema["properties"][section]["propertyNames"] = {"pattern": NAME_PATTERN}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "smsops config file",
    }


def schema_text(provider_models: Mapping[str, type[ProviderBase]]) -> str:
    """The schema as committed in `schemas/smsops.schema.json` (stable key order)."""
    return json.dumps(json_schema(provider_models), indent=2, ensure_ascii=False) + "\n"

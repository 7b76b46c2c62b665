"""The JSON Schema of the config format, generated from the models (for editors)."""

from __future__ import annotations

import json
from typing import Any

from smsops.config.models import ConfigFile
from smsops.config.types import NAME_PATTERN

SCHEMA_ID = "https://smsops.dev/schemas/smsops.schema.json"


def json_schema() -> dict[str, Any]:
    schema = ConfigFile.model_json_schema(mode="validation")
    for section in ("providers", "templates", "audiences", "schedules"):
        schema["properties"][section]["propertyNames"] = {"pattern": NAME_PATTERN}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "smsops config file",
    }


def schema_text() -> str:
    """The schema as committed in `schemas/smsops.schema.json` (stable key order)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"

"""The config reference, `docs/config.md`, generated from the models.

Why generated: a hand-written reference drifts from the models the loader
really enforces. Here every field, its type, default and allowed values come
from the pydantic models and their JSON Schema (the same one editors use), and
the providers come from the registry's models, so a new provider module
appears without touching this file. A test compares the committed file with
this output (`smsops schema --markdown > docs/config.md` regenerates it).

Descriptions come from the models' `description=` texts and docstrings;
`FIELD_NOTES` adds what users need for fields whose model text is missing or
thin, and `VALUE_NOTES` explains the values of closed choices such as a
template's `category`. The notes live here rather than in `models.py` to keep
that module about validation; a model description, when present, comes first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from datetime import time, timedelta
from typing import Any, get_args

from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo

from smsops.config.models import ConfigSections
from smsops.config.providers import ProviderBase
from smsops.config.schema import config_file_model
from smsops.config.types import (
    INTERVAL_RANGE,
    NAME_PATTERN,
    TIMEOUT_RANGE,
    WINDOW_RANGE,
    ClockTime,
    RateLimit,
    SecretRef,
    Window,
)
from smsops.core.units import format_duration


def _span(bounds: tuple[timedelta, timedelta]) -> str:
    return f"{format_duration(bounds[0])} to {format_duration(bounds[1])}"


# Named field types: a schema equal to one of these is shown by its name.
_NAMED_TYPES: tuple[tuple[Any, str], ...] = (
    # Window, Interval and Timeout differ only in their range (a description,
    # which a field's own replaces): the range is in each field's note.
    (Window, "duration (`10s`, `2h`, `1h30m`)"),
    (RateLimit, "rate (`20/s`, `600/min`)"),
    (SecretRef, "secret reference `${env:NAME}`"),
    (ClockTime, 'time of day (`"21:00"`, quoted)'),
)

FIELD_NOTES: dict[tuple[str, str], str] = {
    ("ProviderBase", "type"): "Which provider API this is; selects the fields below.",
    ("ProviderBase", "base_url"): "Where requests go (each type below gives its default, if "
    "any): a URL, or one whole `${env:NAME}` reference (plans show its name); never a "
    "reference inside a URL.",
    ("ProviderBase", "timeout"): "How long one request may take before it counts as uncertain "
    f"({_span(TIMEOUT_RANGE)}).",
    ("Template", "category"): "What kind of message this is; decides provider routing, the "
    "provider key or message type, and default quiet hours.",
    ("Template", "body"): "Variables: the built-ins `now`, `schedule`, `occurrence`, "
    "`recipient.phone`, `recipient.region`, then the schedule's `vars`, then the contact's "
    "columns (later ones win); a missing or empty one skips that recipient.",
    ("Template", "provider_template"): "A template registered at the provider "
    "(`aoc` only): smsops still renders `body` to count segments and cost.",
    ("Template", "flash"): "A flash SMS is shown at once and not stored by the phone.",
    ("Template", "unicode"): "`true` forces UCS-2 (70 characters a segment); `false` forces "
    "GSM-7 and skips texts that need UCS-2 (skip reason `encoding`).",
    ("ProviderTemplate", "id"): "The provider's template id (AOC `templateId`).",
    ("Audience", "phone_column"): "The CSV column holding each number.",
    ("Audience", "delimiter"): "The CSV field separator.",
    ("Audience", "contacts"): "Inline contacts, listed before the CSV rows.",
    ("Contact", "phone"): "The number; quote it in YAML. Every other key is a variable.",
    ("Trigger", "every"): f"Fire at this interval, anchored at `start` ({_span(INTERVAL_RANGE)}).",
    ("Schedule", "window"): f"From {_span(WINDOW_RANGE)}; at most 100 fires of the trigger.",
    ("QuietHours", "start"): "Local time quiet hours begin.",
    ("QuietHours", "end"): "Local time quiet hours end (may be past midnight).",
    ("Schedule", "template"): "Name of the template to send.",
    ("Schedule", "audience"): "Name of the audience to send to.",
    ("Schedule", "vars"): "Template variables for every message; a contact's columns win.",
    ("Schedule", "quiet_hours"): "No sends in these local hours; marketing templates get "
    "21:00-08:00 unless set here, `null` turns them off.",
    ("Schedule", "enabled"): "`false` keeps the schedule in the config but plans nothing.",
    ("Price", "default"): "Price of one segment.",
    ("Price", "regions"): "Per-region prices by ISO region code (`GB`, `US`...).",
    ("Price", "currency"): "Currency of the prices.",
}

VALUE_NOTES: dict[tuple[str, str], dict[str, str]] = {
    ("Template", "category"): {
        "transactional": "a message the recipient expects (order, appointment); "
        "SendWithSES key `transactional`, AOC type `TRANS`",
        "marketing": "promotional; quiet hours 21:00-08:00 by default, SendWithSES key "
        "`marketing`, AOC type `PROMO`",
        "otp": "a one-time code; only on providers that support OTP (SendWithSES "
        "`/send-otp` writes its own text, AOC type `OTP`)",
    },
}

_SECTIONS: tuple[tuple[str, str, str], ...] = (
    (
        "api",
        "Api",
        "The API of `smsops run` ([api.md](api.md)): one map, in one file; "
        "leave it out and the API is off.",
    ),
    (
        "status",
        "StatusAccess",
        "Who may read `GET /status.json` of `smsops run` ([operations.md](operations.md)) "
        "and its page `GET /` ([status-page.md](status-page.md)): "
        "one map, in one file; leave it out and it is off.",
    ),
    (
        "server",
        "Server",
        "How the HTTP port of `smsops run` is reached ([security.md]"
        "(security.md#the-run-servers-authentication)): one map, in one file; leave it out "
        "without a proxy in front.",
    ),
    ("defaults", "Defaults", "Config-wide defaults: each key written once, in any file."),
    ("otp", "OtpSettings", "One-time codes smsops makes (docs/otp.md): one map, keys once."),
    ("templates", "Template", "Message texts."),
    ("audiences", "Audience", "Who receives: a CSV file, inline contacts, or both."),
    ("schedules", "Schedule", "What is sent to whom, through which providers, and when."),
)


def reference_markdown(provider_models: Mapping[str, type[ProviderBase]]) -> str:
    """The whole reference as committed in `docs/config.md`."""
    defs = config_file_model(provider_models).model_json_schema(mode="validation")["$defs"]
    out = [
        "# Config reference",
        "",
        "<!-- Generated by `smsops schema --markdown` from the models; do not edit. -->",
        "",
        "A config is a directory (every `*.yaml`/`*.yml` below it, hidden folders "
        "skipped) or one file. Each file may hold any of the top-level maps "
        "`providers`, `templates`, `audiences`, `schedules` (each maps a name to "
        "its settings), `defaults`, `api`, `status` and `server` (each written once). "
        f"Names match `{NAME_PATTERN}` and are unique across all files. "
        "Unknown keys are errors. Types: *duration* is a number with a unit "
        "(`ms`, `s`, `m`/`min`, `h`, `d`, combinable as `1h30m`); *secret "
        "reference* is `${env:NAME}`, read from the environment only when a "
        "request is built (secrets never live in YAML). Only the fields typed *secret "
        "reference* and `base_url` (as its whole value) may name an environment "
        "variable; in any other field `${env:...}` is an error, so a reviewer sees "
        'every value that is sent. Numbers are strict: `true` or `"16"` is not a '
        "number.",
        "",
        "## providers",
        "",
        "Every provider takes these fields; `type` selects the provider's own fields below.",
        "",
        *_table(ProviderBase, defs, {}),
    ]
    common = set(ProviderBase.model_fields)
    for name, model in provider_models.items():
        out += ["", f"### type: {name}", ""]
        if model.__doc__ and model.__doc__ != ProviderBase.__doc__:
            out += [_one_line(model.__doc__), ""]
        out += [f"Supports: {_capabilities(model)}.", ""]
        own = {k: v for k, v in model.model_fields.items() if k not in common or k == "base_url"}
        out += _table(model, defs, own)
    models = _reachable(provider_models)
    for section, model_name, summary in _SECTIONS:
        out += ["", f"## {section}", "", summary, ""]
        out += _table(models[model_name], defs, {})
    top = {"ConfigSections", *(name for _, name, _ in _SECTIONS)}
    top |= {model.__name__ for model in provider_models.values()}
    for model_name, nested in sorted(models.items()):
        if model_name in top:
            continue
        out += ["", f"### {model_name}", ""]
        if nested.__doc__:
            out += [_one_line(nested.__doc__), ""]
        out += _table(nested, defs, {})
    return "\n".join(out) + "\n"


def _table(
    model: type[BaseModel], defs: Mapping[str, Any], only: Mapping[str, FieldInfo]
) -> list[str]:
    rows = ["| field | type | default | description |", "|---|---|---|---|"]
    schema = defs.get(model.__name__) or model.model_json_schema(mode="validation")
    props = schema["properties"]
    for name, info in (only or model.model_fields).items():
        key = info.alias or name
        kind = _type_text(props[key], defs)
        description = _cell(_description(model, name, info))
        rows.append(f"| `{key}` | {kind} | {_default_text(info)} | {description} |")
    return rows


def _description(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    owner = next(
        (base.__name__ for base in model.__mro__ if name in getattr(base, "__annotations__", {})),
        model.__name__,
    )
    note = FIELD_NOTES.get((owner, name)) or FIELD_NOTES.get((model.__name__, name), "")
    parts = [text for text in (info.description, note) if text]
    values = VALUE_NOTES.get((owner, name), {})
    parts += [f"`{value}`: {meaning}." for value, meaning in values.items()]
    return " ".join(part if part.endswith(".") else part + "." for part in parts)


def _type_text(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    for annotation, label in _NAMED_TYPES:
        if _strip(schema) == _strip(TypeAdapter(annotation).json_schema()):
            return label
    if "$ref" in schema:
        target = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{target}](#{target.lower()})"
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        return " or ".join(_type_text(option, defs) for option in options)
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"list of {_type_text(schema.get('items', {}), defs)}"
    if kind == "object":
        values = schema.get("additionalProperties")
        return "map" + (f" of {_type_text(values, defs)}" if isinstance(values, dict) else "")
    if kind == "string" and schema.get("format") == "date-time":
        return "date-time (ISO 8601)"
    if kind == "integer" and "minimum" in schema:
        return f"integer {schema['minimum']}-{schema.get('maximum', '')}".rstrip("-")
    if kind == "string" and schema.get("maxLength") == schema.get("minLength") == 1:
        return "one character"
    return str(kind or "any")


def _strip(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ("title", "description", "default")}


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "not set"
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    if isinstance(value, time):
        return f"`{value:%H:%M}`"
    if isinstance(value, BaseModel):
        return "its fields' defaults"
    return f"`{json.dumps(value)}`"


def _capabilities(model: type[ProviderBase]) -> str:
    supported = [f.name for f in fields(model.capabilities) if getattr(model.capabilities, f.name)]
    labels = ", ".join(name.replace("_", " ") for name in supported)
    return labels or "plain SMS only"


def _reachable(provider_models: Mapping[str, type[ProviderBase]]) -> dict[str, type[BaseModel]]:
    """Every model a config file can hold, by name (Trigger, Price... nested ones included)."""
    found: dict[str, type[BaseModel]] = {}
    pending: list[type[BaseModel]] = [ConfigSections, *provider_models.values()]
    while pending:
        model = pending.pop()
        if model.__name__ in found:
            continue
        found[model.__name__] = model
        for info in model.model_fields.values():
            pending += _models_in(info.annotation)
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")

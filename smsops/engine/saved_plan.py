"""Saved plans: `plan --out FILE` writes one, `apply --plan FILE` sends exactly its sends.

A plan file (JSON, `format: smsops-plan`, `version: 1`) holds:

- `created`: when it was written (the wall clock; `apply --max-age` reads it);
- `at`: the time it was planned at (`--at`, else `created`);
- `ledger`: the ledger it was planned against (`ledger_identity`: a file's
  resolved path, a PostgreSQL URL without its password);
- `config`: the config's path as given (for people) and `files`, each file
  it reads -> SHA-256 (`config.fingerprint.content_digests`);
- `sends`: every send it would make: the ledger `key` (which names
  schedule, occurrence and recipient), `schedule`, `occurrence`, the
  `recipient` masked as every view shows it, the `providers` in failover
  order, the SHA-256 of the `text` and its `segments`.

No full number and no text is stored: apply plans again from the same
files and sends a send only when its key is in the file and its text and
providers hash the same (`select`); the key and the text hash pin exactly
what was reviewed. The file is still written 0600, atomically: a key is a
hash of the number, which a short search recovers.

A plan file is input like any other: read with a size bound, validated
strictly (unknown fields, versions and formats refused), and every problem
is a `PlanFileRefused` naming the file, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from smsops.core.errors import SmsopsError
from smsops.core.files import MiB, describe_size
from smsops.core.phone import mask, mask_e164
from smsops.engine.plan import Plan, Send

FORMAT = "smsops-plan"
VERSION = 1
# About a million sends (a send is ~250 bytes of JSON): the largest plan apply holds anyway.
MAX_PLAN_BYTES = 256 * MiB
_NAME = r"^[^\x00-\x1f\x7f]{1,200}$"


class PlanFileRefused(SmsopsError):
    """A plan file that cannot be read, or is not a plan file this smsops can apply."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: not a usable plan file: {reason}")


def _masked(value: str) -> str:
    if mask_e164(value) != value:
        raise ValueError("a recipient must be masked (e.g. +44 74** ***123), never a full number")
    return value


def _relative(value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value or "\x00" in value:
        raise ValueError("a config file must be a relative path inside the config")
    return value


_Strict = ConfigDict(extra="forbid", strict=True, frozen=True)
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class SavedSend(BaseModel):
    model_config = _Strict

    key: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    schedule: Annotated[str, Field(pattern=_NAME)]
    occurrence: Annotated[str, Field(pattern=_NAME)]
    recipient: Annotated[str, Field(max_length=32), AfterValidator(_masked)]
    providers: tuple[Annotated[str, Field(pattern=_NAME)], ...] = Field(min_length=1, max_length=20)
    text_hash: Hex64
    segments: int = Field(ge=1, le=10_000)


class SavedConfig(BaseModel):
    model_config = _Strict

    path: Annotated[str, Field(max_length=4096)]
    files: dict[Annotated[str, Field(max_length=4096), AfterValidator(_relative)], Hex64] = Field(
        max_length=100_000
    )


class SavedPlan(BaseModel):
    model_config = _Strict

    format: Literal["smsops-plan"]
    version: Literal[1]
    created: AwareDatetime
    at: AwareDatetime
    ledger: Annotated[str, Field(max_length=4096)]
    config: SavedConfig
    sends: tuple[SavedSend, ...]

    @model_validator(mode="after")
    def _keys_once(self) -> SavedPlan:
        if len({send.key for send in self.sends}) != len(self.sends):
            raise ValueError("a send key appears twice")
        return self


class _Header(BaseModel):
    """Only what tells a plan file's format and version apart, to refuse others clearly."""

    model_config = ConfigDict(extra="ignore")
    format: object = None
    version: object = None


def saved_from(
    plan: Plan, config_path: Path, files: Mapping[str, str], ledger: str, created: datetime
) -> SavedPlan:
    """The plan file of `plan` (made with `keep_sends`)."""
    return SavedPlan(
        format=FORMAT,
        version=VERSION,
        created=created,
        at=plan.at,
        ledger=ledger,
        config=SavedConfig(path=str(config_path), files=dict(files)),
        sends=tuple(
            SavedSend(
                key=send.key,
                schedule=send.schedule,
                occurrence=send.occurrence,
                recipient=mask(send.message.recipient),
                providers=send.providers,
                text_hash=send.text_hash,
                segments=send.segments,
            )
            for send in plan.sends
        ),
    )


def write_plan_file(path: Path, saved: SavedPlan) -> None:
    """Write `saved` to `path` atomically (a temporary file renamed), mode 0600."""
    data = saved.model_dump_json(indent=1).encode() + b"\n"
    folder = path.parent
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:  # mkstemp makes it 0600
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def read_plan_file(path: Path) -> SavedPlan:
    """The plan file at `path`, or `PlanFileRefused` saying why not."""
    try:
        with path.open("rb") as file:
            content = file.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise PlanFileRefused(path, f"cannot read it: {exc.strerror}") from None
    if len(content) > MAX_PLAN_BYTES:
        raise PlanFileRefused(path, f"it is over {describe_size(MAX_PLAN_BYTES)}")
    try:
        header = _Header.model_validate_json(content)
    except ValidationError:
        raise PlanFileRefused(
            path, "it is not a JSON object (written by `smsops plan --out`)"
        ) from None
    if header.format != FORMAT:
        raise PlanFileRefused(
            path, f'its "format" is not "{FORMAT}" (written by `smsops plan --out`)'
        )
    if header.version != VERSION:
        shown = repr(header.version)[:20]
        raise PlanFileRefused(
            path,
            f"it is version {shown}; this smsops reads version {VERSION}: "
            "plan again with this smsops",
        )
    try:
        return SavedPlan.model_validate_json(content)
    except ValidationError as exc:
        raise PlanFileRefused(path, _first_problem(exc)) from None


def _first_problem(exc: ValidationError) -> str:
    """The first error, located by its JSON path; never the value (it may be anything)."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "the top level"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"at {where}: {first['msg']}{more}"


@dataclass
class Selection:
    """What `apply --plan` makes of a plan at apply time against its file."""

    sends: list[Send] = field(default_factory=list)  # planned, due, text as planned: send
    changed: list[Send] = field(default_factory=list)  # planned, but text or providers differ
    not_planned: list[Send] = field(default_factory=list)  # due now, not in the file
    elsewhere: list[str] = field(default_factory=list)  # keys planned but not to send now


def select(saved: SavedPlan, plan: Plan) -> Selection:
    """Split `plan`'s sends (made now, with `keep_sends`) by what `saved` planned.

    Only a send whose key, text hash and providers are all as planned is
    sent: whatever else is due now was not reviewed.
    """
    planned = {send.key: send for send in saved.sends}
    chosen = Selection()
    for send in plan.sends:
        was = planned.pop(send.key, None)
        if was is None:
            chosen.not_planned.append(send)
        elif was.text_hash != send.text_hash or was.providers != send.providers:
            chosen.changed.append(send)
        else:
            chosen.sends.append(send)
    chosen.elsewhere = list(planned)
    return chosen

"""Saved plans: `plan --out FILE` writes one, `apply --plan FILE` sends exactly its sends.

A plan file (JSON, `format: smsops-plan`, `version: 1`) holds:

- `created`: when it was written (the wall clock; `apply --max-age` reads it);
- `at`: the time it was planned at (`--at`, else `created`);
- `ledger`: the ledger it was planned against (`ledger_identity`: a file's
  resolved path, a PostgreSQL URL without its password);
- `config`: the config's path as given (for people) and `files`, each file
  it reads -> SHA-256 (`config.fingerprint.content_digests`);
- `needs_approval`: each limit (`limits:`) a schedule's plan was over, as
  the plan views word it: apply refuses that schedule without `--approve`;
- `sends`: every send it would make: the ledger `key` (which names
  schedule, occurrence and recipient), `schedule`, `occurrence`, the
  `recipient` masked as every view shows it, the `providers` in failover
  order, the SHA-256 of the `text` and its `segments` (for a template that
  reads `now`, of its text with `now` pinned: `renderer.review_hash`, so a
  plan applied minutes later is not "changed" because the time moved).

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
import sys
import tempfile
from collections.abc import Collection, Mapping
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
from pydantic.dataclasses import dataclass as pydantic_dataclass

from smsops.core.errors import FileRefused, SmsopsError
from smsops.core.files import read_regular
from smsops.core.phone import is_masked, mask
from smsops.engine.plan import OverLimit, Plan, Send

FORMAT = "smsops-plan"
VERSION = 1
# The bound of a plan file: a million sends (the largest audience benchmarked; apply holds
# every send of its plan in memory anyway), each at most ~256 bytes as written (a send
# with names of common length is ~230; the key and text hash are 96 of them). Reading
# one takes ~1.4 KB a send at its peak (the file, the parsed JSON, the sends): ~1.4 GB at
# the bound. A larger plan is split with --schedule.
MAX_SENDS = 1_000_000
BYTES_PER_SEND = 256
MAX_PLAN_BYTES = MAX_SENDS * BYTES_PER_SEND
_NAME = r"^[^\x00-\x1f\x7f]{1,200}$"


class PlanFileRefused(SmsopsError):
    """A plan file that cannot be read, or is not a plan file this smsops can apply."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: not a usable plan file: {reason}")


def masked_recipient(value: str) -> str:
    """`value` if it is a number masked as `mask` writes it; anything else is refused."""
    if not is_masked(value):
        raise ValueError("a recipient must be masked (e.g. +44 74** ***123), never a full number")
    return value


def _relative(value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or "\\" in value or "\x00" in value:
        raise ValueError("a config file must be a relative path inside the config")
    return value


_Strict = ConfigDict(extra="forbid", strict=True, frozen=True)
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


# A plan's names repeat on every send (a schedule, an occurrence, a masked number of a
# few shapes): one string each, not one per send, keeps a million sends in memory.
Name = Annotated[str, Field(pattern=_NAME), AfterValidator(sys.intern)]


# A slotted dataclass, not a model: a send is a few hundred bytes in memory, not a kilobyte
# (no __dict__, no set of the fields given).
@pydantic_dataclass(config=ConfigDict(extra="forbid", strict=True), frozen=True, slots=True)
class SavedSend:
    key: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    schedule: Name
    occurrence: Name
    recipient: Annotated[
        str, Field(max_length=32), AfterValidator(masked_recipient), AfterValidator(sys.intern)
    ]
    providers: Annotated[tuple[Name, ...], Field(min_length=1, max_length=20)]
    text_hash: Hex64
    segments: Annotated[int, Field(ge=1, le=10_000)]


class SavedOverLimit(BaseModel):
    """A guardrail a schedule's plan was over (`OverLimit`): apply needs --approve for it."""

    model_config = _Strict

    schedule: Annotated[str, Field(pattern=_NAME)]
    limit: Annotated[str, Field(pattern=r"^max_[a-z_]{1,40}$")]
    allowed: float
    figure: float
    detail: Annotated[str, Field(pattern=_NAME)]

    def __str__(self) -> str:
        return str(OverLimit(self.limit, self.allowed, self.figure, self.detail))


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
    # Every schedule over its limits when planned, each limit once: a reviewer of the file
    # sees what apply will refuse without --approve (apply checks the limits again).
    needs_approval: tuple[SavedOverLimit, ...] = Field(max_length=10_000)
    sends: tuple[SavedSend, ...] = Field(max_length=MAX_SENDS)

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
        needs_approval=tuple(
            SavedOverLimit(
                schedule=schedule.schedule,
                limit=over.limit,
                allowed=over.allowed,
                figure=over.figure,
                detail=over.detail,
            )
            for schedule in plan.schedules
            for over in schedule.over_limits
        ),
        sends=tuple(
            SavedSend(
                key=send.key,
                schedule=send.schedule,
                occurrence=send.occurrence,
                recipient=mask(send.message.recipient),
                providers=send.providers,
                text_hash=send.review_hash,
                segments=send.segments,
            )
            for send in plan.sends
        ),
    )


def write_plan_file(path: Path, saved: SavedPlan) -> None:
    """Write `saved` to `path` atomically (a temporary file renamed), mode 0600."""
    data = saved.model_dump_json().encode() + b"\n"  # compact: `show` is for people
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
        content = read_regular(path, MAX_PLAN_BYTES, "a plan file is one (from plan --out)")
    except FileRefused as exc:
        raise PlanFileRefused(path, f"it {exc.reason}") from None
    except OSError as exc:
        raise PlanFileRefused(path, f"cannot read it: {exc.strerror}") from None
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
    # Strictly the integer: JSON's true and 1.0 equal 1 in Python, and are not version 1.
    if type(header.version) is not int or header.version != VERSION:
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
    left_out: int = 0  # planned sends of schedules `--schedule` left out


def select(saved: SavedPlan, plan: Plan, considered: Collection[str] | None = None) -> Selection:
    """Split `plan`'s sends (made now, with `keep_sends`) by what `saved` planned.

    Only a send whose key, text hash and providers are all as planned is
    sent: whatever else is due now was not reviewed. `considered`: the
    schedules `--schedule` picked (None: all); the planned sends of the
    others are counted apart, they were not planned now at all.
    """
    chosen = Selection()
    planned = {}
    for saved_send in saved.sends:
        if considered is None or saved_send.schedule in considered:
            planned[saved_send.key] = saved_send
        else:
            chosen.left_out += 1
    for send in plan.sends:
        was = planned.pop(send.key, None)
        if was is None:
            chosen.not_planned.append(send)
        elif was.text_hash != send.review_hash or was.providers != send.providers:
            chosen.changed.append(send)
        else:
            chosen.sends.append(send)
    chosen.elsewhere = list(planned)
    return chosen

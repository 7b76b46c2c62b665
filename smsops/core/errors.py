"""The one exception tree of smsops.

Only `smsops.cli` catches these and prints them; everything below raises.
A `ConfigError` carries every problem found, each with its location, so a
user sees all of them at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Location:
    """A place in a config file; line and column are 1-based like editors show them."""

    file: Path
    line: int = 0
    column: int = 0
    # A CSV row number, when the place is inside a data file rather than YAML.
    row: int | None = None

    def __str__(self) -> str:
        if self.row is not None:
            return f"{self.file}:row {self.row}"
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return str(self.file)


# What may be a phone number inside a message that quotes a config value (a
# number pasted into `window:`, a contact's field): a `+` then digits, spaces, dots,
# slashes, dashes or brackets holding 7 digits or more (`+44 7400 123456`), or a bare
# run of 9 digits or more (limits, positions and dates in messages are shorter)
# standing alone where a number is written: not part of a name or path
# (`backup_202611281314/a.yaml` stays whole), nor a value with a unit or a fraction
# (`999999999d`, `1234567890.5s`, `1000000000/s`), which no phone number is.
_NUMBER_LIKE = re.compile(r"\+\d(?:[ ()./-]{0,2}\d){6,}(?!\d)|(?<![\w+/.])\d{9,}(?![\w/]|\.\d)")


def _masked(match: re.Match[str]) -> str:
    """`+44*******999`: at most a `+`, the first two digits and the last three."""
    text = match.group(0)
    plus = "+" if text.startswith("+") else ""
    digits = "".join(c for c in text if c.isdigit())
    return f"{plus}{digits[:2]}{'*' * (len(digits) - 5)}{digits[-3:]}"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a config, where it is, and what to do about it.

    Messages quote config values (`'tomorrow' is not a duration`), and a
    config is written by people who paste numbers where they should not:
    anything that may be a phone number is masked here, where every
    problem is made, so no output (text, JSON, logs, /healthz) shows one.
    """

    location: Location
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", _NUMBER_LIKE.sub(_masked, self.message))

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class SmsopsError(Exception):
    """Base of every error smsops raises on purpose."""


class ConfigError(SmsopsError):
    """The config is invalid; `problems` lists every problem, sorted by place."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class SecretMissing(SmsopsError):
    """A `${env:NAME}` reference was needed to build a request but is not set."""

    def __init__(self, provider: str, variable: str) -> None:
        self.provider = provider
        self.variable = variable
        super().__init__(
            f"provider {provider!r} needs the environment variable {variable} "
            f"(referenced as ${{env:{variable}}}), but it is not set"
        )


class SecretsMissing(SmsopsError):
    """Variables the sends need are unset: every one, each with where the config names it.

    Raised before the first request (and before the ledger is written), so a
    user fixes them all at once, as `run` reports them.
    """

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        count = len(missing)
        super().__init__(
            f"{count} environment variable{'s' * (count != 1)} the sends need "
            f"{'are' if count != 1 else 'is'} not set (or empty); nothing was sent:\n"
            + "\n".join(f"  {line}" for line in missing)
            + "\nSet them and run again (--dry-run and --sandbox need none)."
        )


class NeedsApproval(SmsopsError):
    """Schedules whose plan is over their `limits`: apply sends nothing without --approve."""

    def __init__(self, over: dict[str, list[str]]) -> None:
        self.over = over
        lines = [f"  {name}: {'; '.join(limits)}" for name, limits in over.items()]
        flags = " ".join(f"--approve {name}" for name in over)
        many = len(over) != 1
        super().__init__(
            f"{len(over)} schedule{'s' * many} over {'their' if many else 'its'} limits "
            f"need{'' if many else 's'} approval; nothing was sent:\n"
            + "\n".join(lines)
            + f"\nIf the plan above is what you mean to send, run again with {flags}; "
            "otherwise fix the config or raise its `limits`."
        )


class ProviderUnusable(SmsopsError):
    """A provider cannot be used as configured once its secrets are resolved; nothing is sent."""


class RenderLimitExceeded(SmsopsError):
    """A template went past one of the render bounds of `smsops.render.limits`.

    Templates come from pull requests: the message names the bound and its
    value, never the data that broke it, so a skip reason or a validate
    error cannot quote a recipient's values.
    """

    def __init__(self, bound: str, limit: int) -> None:
        self.bound = bound
        self.limit = limit
        super().__init__(
            f"exceeds the render bound on {bound} ({limit:,})"
            if limit
            else f"is refused by the render bounds: {bound}"
        )


class UsageError(SmsopsError):
    """A command-line argument or setting is wrong."""


class OtpRefused(SmsopsError):
    """A one-time code request is not one smsops can act on (its number, code, template or
    provider); nothing was sent or checked. `missing`: it names something that is not there."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        self.missing = missing
        super().__init__(reason)


class OtpUnusable(SmsopsError):
    """One-time codes cannot be made or checked as configured (the secret, the template);
    nothing was sent or checked."""


class FileRefused(SmsopsError):
    """A file a config would read is not one it may read.

    It lies outside the config directory (after symlinks), is not a regular
    file (a device, a FIFO, a directory), or is over its size limit. The
    reason never quotes the file's content: the file may be anything on the
    host (`/proc/self/environ`), so callers add only a location.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class LedgerError(SmsopsError):
    """The ledger cannot be opened, read or written (locked, full, not a ledger, too new)."""


class LedgerFull(LedgerError):
    """The ledger's disk (or its size limit) is full: unlike a lock or a lost connection,
    waiting does not end it, so a run does not wait it out (engine/ledger_writes.py)."""


class ResolveRefused(SmsopsError):
    """`ledger resolve` was asked to decide rows it may not change; nothing was changed."""


class GuardLost(SmsopsError):
    """A ledger write found its row no longer as this run left it; that row was not written.

    A settle writes only a `pending` row its own run's claim still holds (a
    stale mark, a receipt or a decision only a row in the state it expects):
    another run may have marked it uncertain, a person may have resolved it,
    or it was never claimed. The other rows of the same call are written;
    `keys` names the refused ones, and the row stays what the other party
    made it. Not a `LedgerError`: the ledger itself works.
    """

    def __init__(self, operation: str, keys: list[str]) -> None:
        self.operation = operation
        self.keys = keys
        shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
        super().__init__(
            f"{len(keys)} {operation} write(s) refused: the row is no longer as this run left "
            f"it (not pending, held by another run, or never claimed): {shown}; the ledger keeps "
            "what the other run or person wrote (see `smsops ledger list`)"
        )


class SnapshotBroken(SmsopsError):
    """The copy of a file taken when its config was loaded is gone or altered.

    A generation reads only what was validated (`smsops.core.snapshots`):
    the file on disk is never read in its place, so this stops the read.
    `original` is the config's file, `copy` the snapshot.
    """

    def __init__(self, original: Path, copy: Path, what: str) -> None:
        self.original, self.copy = original, copy
        self.reason = (
            f"the copy of this file taken when the config was loaded ({copy}) {what}; "
            "the file on disk is never read in its place: load the config again "
            "(restart, or edit a file of the config) and keep the cache directory private"
        )
        super().__init__(f"{original}: {self.reason}")


class CacheUnusable(SmsopsError):
    """The cache directory cannot hold a config's snapshots (see `smsops.core.snapshots`)."""

    def __init__(self, directory: Path, reason: str) -> None:
        self.directory = directory
        super().__init__(
            f"cannot keep config snapshots in {directory}: {reason}; set SMSOPS_CACHE_DIR to a "
            "writable directory of this user (it is created, private, if missing)"
        )


class Refused(SmsopsError):
    """A request the run server refuses (a webhook, an API call): nothing of it is recorded.

    `status` is the HTTP answer (400 malformed, 401 not authenticated, 404 not
    there, 409 conflict, 413 too large, 415 wrong media type, 422 not sendable,
    503 cannot take it now) and `reason` a short sentence for the caller that
    never quotes the body or a number from it: the body is anyone's, and may
    carry a person's number.
    """

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"HTTP {status}: {reason}")


class HookRefused(Refused):
    """A webhook request the run server refuses (daemon/hooks.py)."""

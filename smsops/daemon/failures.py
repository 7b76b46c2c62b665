"""A round that raised: one masked log line, a counter, and `/healthz` degraded.

An exception inside a round (an audience file gone, a ledger that cannot be
written, a bug) must neither kill the daemon nor reach the log as a
traceback: a traceback quotes exception texts, and those may hold a full
number (a CSV row) or a secret (a URL built with a key). So each failed
round is ONE log line naming the schedules and the error, with numbers
masked and every secret value the config refers to replaced by `***`; the
scrubbed traceback is added only with `SMSOPS_LOG_LEVEL=debug`. A schedule
stays failing (and `/healthz` degraded) until a round of it succeeds.

The same holds for anything else the daemon runs: a scheduler job, a task
it created, a callback the event loop reports (`JobErrors`, `guarded`).
Nothing reaches stderr as a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

from smsops.core import secrets as secret_registry
from smsops.core.errors import SmsopsError
from smsops.core.phone import scrub_numbers

log = logging.getLogger("smsops.run")
T = TypeVar("T")
MAX_ERROR = 500  # characters of one error in a log line or /healthz


def scrub(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret value hidden (in every spelling an echo uses) and numbers masked.

    The values are registered with the process-wide scrubber, so the log
    handler's last guard knows them too, even before a request resolved them.
    """
    for value in secrets:
        secret_registry.register(value)
    return scrub_numbers(secret_registry.scrub(text))


def describe(error: BaseException, secrets: Sequence[str]) -> str:
    """What went wrong, in one scrubbed line of at most MAX_ERROR characters.

    Our own errors already say what to do; anything else is named by its
    type, since its text was not written for a user.
    """
    if isinstance(error, SmsopsError):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    line = " | ".join(part.strip() for part in text.splitlines() if part.strip())
    line = scrub(line, secrets)
    return line if len(line) <= MAX_ERROR else line[: MAX_ERROR - 1] + "…"


class RoundFailures:
    """The schedules whose latest round failed, and why (what `/healthz` shows)."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def failed(
        self,
        errors: dict[str, BaseException],
        why: str,
        secrets: Sequence[str],
    ) -> dict[str, str]:
        """Record and log one round's failures, one line for the whole round."""
        described = {name: describe(error, secrets) for name, error in errors.items()}
        self.errors.update(described)
        causes: dict[str, list[str]] = {}
        for name, text in described.items():
            causes.setdefault(text, []).append(name)
        summary = "; ".join(f"{', '.join(names)}: {text}" for text, names in causes.items())
        extra: dict[str, object] = {"schedules": ",".join(described), "trigger": why}
        if log.isEnabledFor(logging.DEBUG):
            extra["traceback"] = scrub(
                "".join(
                    line
                    for error in {id(e): e for e in errors.values()}.values()
                    for line in traceback.format_exception(error)
                ),
                secrets,
            )
        log.error("round failed [%s]: %s", why, summary, extra=extra)
        return described

    def succeeded(self, names: Iterable[str]) -> None:
        for name in names:
            if self.errors.pop(name, None) is not None:
                log.info("schedule %s recovered: its round succeeded", name)

    def keep_only(self, names: Iterable[str]) -> None:
        """Forget schedules a reload removed or disabled."""
        kept = set(names)
        self.errors = {n: e for n, e in self.errors.items() if n in kept}


class JobErrors:
    """Scheduler jobs, daemon tasks and loop callbacks that raised: what `/healthz` shows.

    A job stays failing until it next completes (a loop callback has no next
    time: it stays until restart, like a bug should).
    """

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def failed(self, job: str, error: BaseException, secrets: Sequence[str]) -> str:
        """Record and log one failure in one masked line (the traceback only at debug)."""
        text = self.errors[job] = describe(error, secrets)
        extra: dict[str, object] = {"job": job}
        if log.isEnabledFor(logging.DEBUG):
            extra["traceback"] = scrub("".join(traceback.format_exception(error)), secrets)
        log.error("job %s failed: %s", job, text, extra=extra)
        return text

    def succeeded(self, job: str) -> None:
        if self.errors.pop(job, None) is not None:
            log.info("job %s recovered", job)


def guarded(
    job: str,
    work: Coroutine[Any, Any, T],
    report: Callable[[str, BaseException], None],
) -> asyncio.Task[T | None]:
    """`work` as a task whose exception is reported as `job`'s, never left to the loop.

    Cancelling it (at stop) is not a failure.
    """

    async def run() -> T | None:
        try:
            return await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # reported, never raised into the loop
            report(job, exc)
            return None

    return asyncio.create_task(run(), name=job)

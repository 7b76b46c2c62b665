"""Run-mode logs: JSON lines (`SMSOPS_LOG_FORMAT=json`) or human text.

Callers log counts, schedule names and masked numbers only; this module adds
no request data, so no secret or full number should reach a log line; as a
last guard for any path that forgets (an exception's text, a library's
message), the handler scrubs every registered secret from each formatted
line and masks any E.164 number left in it. Schedule names, provider
replies and exception texts come from outside: a text line shows their
controls escaped (one line per record; a traceback keeps its line breaks),
JSON lines write them as `\\uNNNN` (`smsops.core.terminal`). A failed
round's traceback (already scrubbed, see `failures`) is shown only at debug
level, as the `traceback` field. Every other logger (APScheduler, asyncio,
uvicorn, Python's warnings, any library) logs through one handler too,
warnings and up only, and never with a traceback: they know no secrets to
scrub it of (our jobs do not raise; this is the guard if one ever does). So
with `SMSOPS_LOG_FORMAT=json` every line on stderr is one JSON object.
"""

from __future__ import annotations

import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from smsops.core import secrets
from smsops.core.phone import mask_e164
from smsops.core.terminal import json_text, printable

# LogRecord attributes that are not `extra` fields (uvicorn's `color_message` is
# its message again with terminal colours).
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json_text(entry, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, the message on one line with its controls escaped.

    A debug traceback (see `failures`) follows it, indented, its line breaks kept.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return printable(super().formatException(ei), lines=True)

    def formatStack(self, stack_info: str) -> str:
        return printable(super().formatStack(stack_info), lines=True)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        trace = getattr(record, "traceback", None)
        if isinstance(trace, str) and trace:
            trace = printable(trace.rstrip(), lines=True)
            line += "\n" + "\n".join("    " + part for part in trace.splitlines())
        return line


class NoTraceback(logging.Filter):
    """Replace a foreign logger's traceback by the exception's type: one line, no text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.msg = f"{record.getMessage()} ({record.exc_info[0].__name__})"
            record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


# APScheduler's warning when a job starts past its grace time: smsops's own line says it
# (Service.job_event: "did not start on time (missed)", counted), so this one is dropped.
_APSCHEDULER_MISSED = 'Run time of job "%s" was missed by %s'


class NotMissed(logging.Filter):
    """Drop APScheduler's "was missed by" warning, and only it (see _APSCHEDULER_MISSED)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("apscheduler") and record.msg == _APSCHEDULER_MISSED)


class ScrubbingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes a record only after removing secrets and full numbers from the whole line."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_e164(secrets.scrub(super().format(record)))


FOREIGN = ("apscheduler", "asyncio", "uvicorn", "uvicorn.error", "uvicorn.access", "py.warnings")


def setup_logging(fmt: str, level: str) -> None:
    """Every line the process logs in `fmt`: ours at `level`, everyone else's at warning and up.

    Other libraries' loggers (the names in FOREIGN and any other, through
    the root logger) lose their own handlers and reach one scrubbing handler
    that writes their tracebacks as the exception's type only; Python's
    warnings are logged (`py.warnings`) instead of printed, and so is an
    exception that ends a thread. uvicorn must be built with
    `log_config=None` so it does not install its own handlers over these.
    """
    formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handler = ScrubbingHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger("smsops")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False

    foreign = ScrubbingHandler(sys.stderr)
    foreign.setFormatter(formatter)
    foreign.addFilter(NotMissed())  # before NoTraceback, which rewrites the message
    foreign.addFilter(NoTraceback())
    everyone = logging.getLogger()
    everyone.handlers[:] = [foreign]
    everyone.setLevel(logging.WARNING)
    for name in FOREIGN:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.setLevel(logging.WARNING)  # "Added job ..." at every reload is noise
        logger.propagate = True
    logging.captureWarnings(True)
    threading.excepthook = _thread_died


def _thread_died(args: threading.ExceptHookArgs) -> None:
    """An exception that ended a thread: one line (NoTraceback), not Python's printout."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("threading").error(
        "thread %s ended by an exception",
        name,
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )

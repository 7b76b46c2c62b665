"""Run-mode logs: JSON lines (`SMSOPS_LOG_FORMAT=json`) or human text.

Callers log counts, schedule names and masked numbers only; this module adds
no request data, so no secret or full number should reach a log line; as a
last guard for any path that forgets (an exception's text, a library's
message), the handler scrubs every registered secret from each formatted
line and masks any E.164 number left in it. A failed round's traceback
(already scrubbed, see `failures`) is shown only at debug level, as the
`traceback` field. APScheduler and asyncio log through the same handler,
warnings and up only, and never with a traceback: they know no secrets to
scrub it of (our jobs do not raise; this is the guard if one ever does).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from smsops.core import secrets
from smsops.core.phone import mask_e164

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


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
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """One line per record; a debug traceback (see `failures`) follows it, indented."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        trace = getattr(record, "traceback", None)
        if isinstance(trace, str) and trace:
            line += "\n" + "\n".join("    " + part for part in trace.rstrip().splitlines())
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


class ScrubbingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes a record only after removing secrets and full numbers from the whole line."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_e164(secrets.scrub(super().format(record)))


def setup_logging(fmt: str, level: str) -> None:
    formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handler = ScrubbingHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger("smsops")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False

    foreign = ScrubbingHandler(sys.stderr)
    foreign.setFormatter(formatter)
    foreign.addFilter(NoTraceback())
    for name in ("apscheduler", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [foreign]
        logger.setLevel(logging.WARNING)  # "Added job ..." at every reload is noise
        logger.propagate = False

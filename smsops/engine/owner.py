"""Who holds a `pending` claim, and whether that run is gone (its rows are stale).

A claim records `host:pid:run`, `run` being random per process. A pending row
is stale when its run is certainly dead: on this host, its process no longer
exists (or the pid is ours now, from an earlier life); anywhere, the row has
been pending longer than `STALE_AFTER`, far longer than a live run keeps a
row pending (timeout x attempts + backoff).
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from smsops.core.processes import alive
from smsops.ledger.base import SendRecord

STALE_AFTER = timedelta(minutes=15)
_RUN = secrets.token_hex(4)
_HOST = socket.gethostname()


def this_run() -> str:
    return f"{_HOST}:{os.getpid()}:{_RUN}"


def is_stale(record: SendRecord, now: datetime) -> bool:
    if record.updated_at < now - STALE_AFTER:
        return True
    parts = (record.claimed_by or "").rsplit(":", 2)
    if len(parts) != 3 or parts[0] != _HOST or not parts[1].isdigit():
        return False  # another machine's run (or an unknown claimer): only age tells
    pid, run = int(parts[1]), parts[2]
    if run == _RUN:
        return False  # ours
    return pid == os.getpid() or not alive(pid)

"""Open the ledger a `--ledger` / `SMSOPS_LEDGER` value names."""

from __future__ import annotations

import os
from pathlib import Path

from smsops.core.errors import UsageError
from smsops.ledger.base import Ledger
from smsops.ledger.deferred import CreatedOnFirstWrite
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.postgres_url import display_name, is_postgres
from smsops.ledger.sqlite import WAIT, SqliteLedger

MEMORY = "memory://"
FORMS = "a path, sqlite:///path or postgresql://user@host:port/database"


def ledger_path(location: str) -> Path | None:
    """The file a location names (None for memory:// and PostgreSQL URLs).

    A path the file system refuses to look at (a name past NAME_MAX, a
    component that is a file) is a usage error here, once, not an OSError
    from whichever command first asks whether it exists.
    """
    if location == MEMORY or is_postgres(location):
        return None
    if location.startswith("sqlite:///"):
        path = Path(location.removeprefix("sqlite:///"))
    elif "://" in location:
        scheme = location.split("://", 1)[0]  # never the rest: it may hold a password
        raise UsageError(f"unknown ledger URL scheme {scheme + '://'!r}; use {FORMS}")
    else:
        path = Path(location)
    try:
        path.exists()
    except OSError as exc:
        raise UsageError(
            f"ledger {location!r}: {exc.strerror or exc}; choose another path with --ledger "
            "or SMSOPS_LEDGER"
        ) from None
    return path


def ledger_name(location: str) -> str:
    """The location as output may show it: a PostgreSQL URL without its password."""
    return display_name(location) if is_postgres(location) else location


def ledger_identity(location: str) -> str:
    """The ledger a location names, however it is spelled: what a saved plan records.

    A file is `sqlite:///` and its resolved absolute path (`./a/../l.sqlite`, `sqlite:///...`
    and a symlink name one ledger); a PostgreSQL URL is its host, port and
    database: no password, and no user either, because a role is a way in,
    not another ledger (a pull request plans through a read-only role, the
    merge applies through the writing one). Memory is `memory://`.
    """
    if is_postgres(location):
        return display_name(location, with_user=False)
    path = ledger_path(location)
    if path is None:
        return MEMORY
    # `sqlite:///` + an absolute path: `sqlite:////abs/l.sqlite`, which names the same file
    # when passed back as --ledger from any directory (`sqlite:///x` is relative).
    return "sqlite:///" + os.path.realpath(path)


def open_ledger(
    location: str,
    *,
    readonly: bool = False,
    wait: float = WAIT,
    command: str = "smsops",
    create_on_write: bool = False,
) -> Ledger:
    """`path`, `sqlite:///path`, `postgresql://...` (or `postgres://`) or `memory://`.

    `readonly` never writes: a file that does not exist yet, or a database
    smsops never wrote, reads as an empty ledger (nothing was ever sent) and is
    not created. `create_on_write`: a file that does not exist yet is created
    by the first write, not now (see deferred.py). `wait` and `command`: see
    `SqliteLedger` and `PostgresLedger`.
    """
    if is_postgres(location):
        from smsops.ledger.postgres import open_postgres  # psycopg loads only when used

        return open_postgres(location, readonly=readonly, wait=wait, command=command)
    path = ledger_path(location)
    if path is None:
        return MemoryLedger()
    if readonly and not path.exists():
        return MemoryLedger()
    if create_on_write and not path.exists():
        return CreatedOnFirstWrite(
            lambda: SqliteLedger(path, wait=wait, command=command),
            claims_wait_on_sync=SqliteLedger.claims_wait_on_sync,
        )
    return SqliteLedger(path, readonly=readonly, wait=wait, command=command)

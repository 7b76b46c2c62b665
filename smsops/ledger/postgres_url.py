"""`postgresql://` ledger locations: recognising them, and naming them without the password.

A URL may carry a password (`postgresql://user:pw@host/db`, `?password=`),
and libpq also reads PGPASSWORD and ~/.pgpass. Whatever names the ledger to a
person (errors, the apply prompt, the PR comment) uses `display_name`, which
keeps user, host, port and database only; and every password found is
registered with the secret scrubber, which guards what leaves the process.
"""

from __future__ import annotations

import os

from smsops.core import secrets
from smsops.core.errors import UsageError

SCHEMES = ("postgresql://", "postgres://")


def is_postgres(location: str) -> bool:
    return location.startswith(SCHEMES)


def settings(url: str) -> dict[str, str]:
    """The libpq settings the URL names; a malformed URL is a UsageError that does not echo it."""
    password = os.environ.get("PGPASSWORD")
    if password:
        secrets.register(password)
    from psycopg import conninfo  # loaded only for a PostgreSQL ledger (cold start)

    try:
        found = conninfo.conninfo_to_dict(url)
    except Exception:
        raise UsageError(
            "the --ledger / SMSOPS_LEDGER value is not a valid PostgreSQL URL; the form is "
            "postgresql://USER@HOST:PORT/DATABASE?sslmode=require (a password is best given "
            "in PGPASSWORD; a special character in one written in the URL must be "
            "percent-encoded)"
        ) from None
    values = {key: str(value) for key, value in found.items() if value is not None}
    if values.get("password"):
        secrets.register(values["password"])
    return values


def display_name(url: str) -> str:
    """`postgresql://user@host:port/db`: the ledger as errors and reports name it, no password."""
    values = settings(url)
    user = values.get("user", "")
    host = values.get("host", "")
    port = values.get("port", "")
    where = f"{user}@" if user else ""
    if host.startswith("/"):  # a Unix socket directory
        return f"postgresql://{where}/{values.get('dbname', '')}?host={host}"
    return f"postgresql://{where}{host}{':' + port if port else ''}/{values.get('dbname', '')}"
